//! The fixed-layout received WebSocket message: the struct and its bytes
//! in one allocation (a `block`), like `reqivo_response`.
use std::mem::size_of;

use super::block;
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

/// Builds the single allocation for `m` (a `block`: the struct, then the
/// payload and a NUL); NULL if memory is exhausted.
pub(crate) fn into_c(m: &Message) -> *const reqivo_ws_message {
    let (kind, code, payload): (u32, u16, &[u8]) = match m {
        Message::Text(d) => (REQIVO_WS_TEXT, 0, d),
        Message::Binary(d) => (REQIVO_WS_BINARY, 0, d),
        Message::Close { code, reason } => (REQIVO_WS_CLOSE, *code, reason.as_bytes()),
    };
    let front = block::size::<reqivo_ws_message>();
    let mut buf = Vec::new();
    if buf.try_reserve_exact(front + payload.len() + 1).is_err() {
        return std::ptr::null();
    }
    buf.resize(front, 0);
    buf.extend_from_slice(payload);
    buf.push(0);
    block::build(buf, front, front, |_, data| {
        let close_reason = if kind == REQIVO_WS_CLOSE {
            reqivo_str {
                ptr: data.cast(),
                len: payload.len(),
            }
        } else {
            reqivo_str::EMPTY
        };
        reqivo_ws_message {
            struct_size: size_of::<reqivo_ws_message>() as u32,
            kind,
            flags: 0,
            close_code: code,
            data,
            length: payload.len(),
            close_reason,
        }
    })
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
    // SAFETY: NULL or a message the caller owns, made by `into_c`.
    ffi_boundary!({ unsafe { block::free(m) } })
}
