//! Streaming downloads.
use super::error::reqivo_error;
use super::handle::{free_box, to_boxed_ptr, try_mut, try_ref, Castable, OwnedBox};
use super::response::{free_c, into_c, reqivo_response};
use crate::client::Stream;

/// A response whose body is read piece by piece. One thread at a time.
pub struct reqivo_stream {
    _private: [u8; 0],
}

pub(crate) struct StreamHandle {
    stream: Stream,
    /// The head as a `reqivo_response` with an empty body, owned here.
    head: *const reqivo_response,
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        // SAFETY: `head` came from `into_c` and is freed only here.
        unsafe { free_c(self.head) }
    }
}

impl Castable for reqivo_stream {
    type Ownership = OwnedBox;
    type RustType = StreamHandle;
}

pub(crate) fn new_stream(stream: Stream) -> *mut reqivo_stream {
    let head = into_c(stream.response());
    to_boxed_ptr::<reqivo_stream>(StreamHandle { stream, head })
}

/// The response head (status, headers, URL, timings) with an empty body.
/// Owned by the stream: valid until `reqivo_stream_free`, never freed by
/// the caller. NULL if `st` is NULL. Since 0.1.0.
#[no_mangle]
pub extern "C" fn reqivo_stream_response(st: *const reqivo_stream) -> *const reqivo_response {
    ffi_boundary!({
        // SAFETY: NULL or a live stream.
        unsafe { try_ref(st) }.map_or(std::ptr::null(), |h| h.head)
    })
}

/// Reads up to `cap` body bytes into `buf`. Returns the count (> 0), 0 at
/// the end of the body, or -1 with `err` filled; after an error every later
/// call fails the same way. Blocks under the read timeout, the total
/// timeout and the stream's cancel token. Since 0.1.0.
#[no_mangle]
pub extern "C" fn reqivo_stream_read(
    st: *mut reqivo_stream,
    buf: *mut u8,
    cap: usize,
    err: *mut reqivo_error,
) -> i64 {
    ffi_boundary!(err, {
        require!(st, err);
        require!(buf, err);
        // SAFETY: live stream used by one thread; `buf` holds `cap` writable bytes.
        let (h, buf) = unsafe {
            (
                try_mut(st).expect("checked"),
                std::slice::from_raw_parts_mut(buf, cap.min(isize::MAX as usize)),
            )
        };
        match h.stream.read(buf) {
            Ok(n) => n as i64,
            Err(e) => super::error::fail(e, err),
        }
    })
}

/// Frees a stream. Its connection goes back to the pool only if the body
/// was read to its end; otherwise it is closed. NULL is ignored.
/// Since 0.1.0.
#[no_mangle]
pub extern "C" fn reqivo_stream_free(st: *mut reqivo_stream) {
    // SAFETY: NULL or the caller's stream.
    ffi_boundary!({ unsafe { free_box(st) } })
}
