//! The fixed-layout received WebSocket message: the struct and its bytes
//! in one allocation, like `reqivo_response`.
use std::alloc::{alloc, dealloc, Layout};
use std::mem::{align_of, offset_of, size_of};

use super::handle::Castable;
use super::response::reqivo_str;
use crate::client::ws::Message;

/// A text message (`reqivo_ws_message.kind`, `reqivo_ws_send` kind): UTF-8.
pub const REQIVO_WS_TEXT: u32 = 1;
/// A binary message.
pub const REQIVO_WS_BINARY: u32 = 2;
/// The server's Close (`reqivo_ws_message.kind` only): `close_code` and
/// `close_reason` say why; the connection receives nothing after it.
pub const REQIVO_WS_CLOSE: u32 = 8;

/// A received message in one allocation: read the fields directly. It is
/// immutable and may be read from any thread; free it once with
/// `reqivo_ws_message_free`, after which every pointer in it is invalid.
#[repr(C)]
pub struct reqivo_ws_message {
    /// `sizeof(reqivo_ws_message)` of the library that made it; fields only
    /// ever get appended.
    pub struct_size: u32,
    /// `REQIVO_WS_TEXT`, `REQIVO_WS_BINARY` or `REQIVO_WS_CLOSE`.
    pub kind: u32,
    /// Reserved for extensions (per-message compression); 0 for now.
    pub flags: u32,
    /// For `REQIVO_WS_CLOSE`: the server's code, 1005 when it sent none;
    /// 0 otherwise.
    pub close_code: u16,
    /// The payload (text already validated as UTF-8; for a Close, the
    /// reason), NUL-terminated past `length` (binary may contain NULs).
    pub data: *const u8,
    /// The payload's length in bytes, without the NUL.
    pub length: usize,
    /// For `REQIVO_WS_CLOSE`: the reason (the same bytes as `data`); empty
    /// otherwise.
    pub close_reason: reqivo_str,
}

impl Castable for reqivo_ws_message {
    type Ownership = ();
    type RustType = reqivo_ws_message;
}

#[repr(C)]
struct Block {
    size: usize,
    msg: reqivo_ws_message,
}

/// Builds the single allocation for `m`; NULL if memory is exhausted.
pub(crate) fn into_c(m: &Message) -> *const reqivo_ws_message {
    let (kind, code, payload): (u32, u16, &[u8]) = match m {
        Message::Text(d) => (REQIVO_WS_TEXT, 0, d),
        Message::Binary(d) => (REQIVO_WS_BINARY, 0, d),
        Message::Close { code, reason } => (REQIVO_WS_CLOSE, *code, reason.as_bytes()),
    };
    let bytes_at = size_of::<Block>();
    let size = bytes_at + payload.len() + 1;
    let Ok(layout) = Layout::from_size_align(size, align_of::<Block>()) else {
        return std::ptr::null();
    };
    // SAFETY: `layout` has non-zero size.
    let base = unsafe { alloc(layout) };
    if base.is_null() {
        return std::ptr::null();
    }
    // SAFETY: the payload and its NUL fill [bytes_at, size) exactly; the
    // Block sits at the start, aligned by `layout`.
    unsafe {
        let data = base.add(bytes_at);
        std::ptr::copy_nonoverlapping(payload.as_ptr(), data, payload.len());
        *data.add(payload.len()) = 0;
        let close_reason = if kind == REQIVO_WS_CLOSE {
            reqivo_str {
                ptr: data.cast(),
                len: payload.len(),
            }
        } else {
            reqivo_str::EMPTY
        };
        let block = base.cast::<Block>();
        block.write(Block {
            size,
            msg: reqivo_ws_message {
                struct_size: size_of::<reqivo_ws_message>() as u32,
                kind,
                flags: 0,
                close_code: code,
                data,
                length: payload.len(),
                close_reason,
            },
        });
        &raw const (*block).msg
    }
}

/// # Safety
/// `m` is NULL or came from `into_c` and was not freed.
unsafe fn free_c(m: *const reqivo_ws_message) {
    if m.is_null() {
        return;
    }
    // SAFETY: `m` is the `msg` field of a Block made by `into_c`, whose
    // `size` field records the layout it was allocated with.
    unsafe {
        let block = m.cast::<u8>().sub(offset_of!(Block, msg)).cast_mut();
        let size = (*block.cast::<Block>()).size;
        dealloc(
            block,
            Layout::from_size_align_unchecked(size, align_of::<Block>()),
        );
    }
}

/// Frees a message from `reqivo_ws_receive`: the struct and its bytes, in
/// one release.
///
/// Ownership: every pointer in the message is invalid afterwards.
/// NULL: ignored.
/// Thread safety: no other thread may still be reading the message.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_message_free(m: *const reqivo_ws_message) {
    // SAFETY: NULL or a message the caller owns.
    ffi_boundary!({ unsafe { free_c(m) } })
}
