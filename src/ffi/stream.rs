//! Streaming downloads.
use super::code::reqivo_code;
use super::error::{reqivo_error, Fail};
use super::handle::{free_box, to_boxed_ptr, try_mut, try_ref, Castable, OwnedBox};
use super::response::{free_c, into_c, reqivo_header, reqivo_response};
use super::trailers::{self, OwnedArea};
use crate::client::Stream;

/// A response whose body is read piece by piece. One thread at a time.
pub struct reqivo_stream {
    _private: [u8; 0],
}

pub(crate) struct StreamHandle {
    stream: Stream,
    /// The head as a `reqivo_response` with an empty body, owned here.
    head: *const reqivo_response,
    /// The trailer fields in C, made once the body has ended.
    trailers: Option<OwnedArea>,
}

impl StreamHandle {
    /// The trailer fields in C, once the body has ended.
    fn trailers(&mut self) -> trailers::Fields {
        if self.trailers.is_none() {
            self.trailers = self.stream.trailers().map(OwnedArea::new);
        }
        self.trailers
            .as_ref()
            .map_or(trailers::NONE, OwnedArea::fields)
    }
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
    to_boxed_ptr::<reqivo_stream>(StreamHandle {
        stream,
        head,
        trailers: None,
    })
}

/// The response head of a stream (status, headers, URL, timings) as a
/// `reqivo_response` with an empty body.
///
/// Ownership: owned by the stream; valid until `reqivo_stream_free`; never
/// pass it to `reqivo_response_free`.
/// NULL: returns NULL if `st` is NULL.
/// Thread safety: the head is immutable; readable from any thread.
/// Returns: the head, or NULL.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_stream_response(st: *const reqivo_stream) -> *const reqivo_response {
    ffi_boundary!({
        // SAFETY: NULL or a live stream.
        unsafe { try_ref(st) }.map_or(std::ptr::null(), |h| h.head)
    })
}

/// Reads up to `cap` body bytes into `buf`, blocking under the read and
/// total timeouts and the stream's cancel token.
///
/// Ownership: `buf` is caller-owned.
/// NULL: `st` or `buf` NULL is -1 with `REQIVO_ERR_INVALID_ARGUMENT`, as is a
/// `cap` of 0; the stream itself is unaffected.
/// Thread safety: a stream is used by one thread at a time.
/// Returns: the number of bytes read (> 0), 0 at the end of the body, or -1
/// with `err` filled. After an error from the connection or the server every
/// later read fails the same way.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_stream_read(
    st: *mut reqivo_stream,
    buf: *mut u8,
    cap: usize,
    err: *mut reqivo_error,
) -> i64 {
    ffi_boundary!(err, {
        let h = borrow!(mut st, err);
        require!(buf, err);
        if cap == 0 {
            // 0 is the end-of-body answer: a zero-sized read could not be
            // told apart from it.
            let f = Fail::new(
                reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
                "cap is 0: nothing can be read into an empty buffer",
            );
            return super::error::fail(f, err);
        }
        // SAFETY: `buf` holds `cap` writable bytes.
        let buf = unsafe { std::slice::from_raw_parts_mut(buf, cap.min(isize::MAX as usize)) };
        match h.stream.read(buf) {
            Ok(n) => n as i64,
            Err(e) => super::error::fail(e, err),
        }
    })
}

/// The trailer fields of a stream's chunked body, once
/// `reqivo_stream_read` has returned 0 (the end of the body): `*count`
/// fields at the returned pointer, names as received.
///
/// Ownership: the fields belong to the stream; valid until
/// `reqivo_stream_free`.
/// NULL: `st` NULL returns NULL with `*count` 0; `count` may be NULL.
/// Thread safety: a stream is used by one thread at a time.
/// Returns: the fields, or NULL with `*count` 0 when there are none or
/// the body has not been read to its end yet.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_stream_trailers(
    st: *mut reqivo_stream,
    count: *mut usize,
) -> *const reqivo_header {
    ffi_boundary!({
        // SAFETY: NULL or a live stream used by one thread.
        let found = unsafe { try_mut(st) }.map_or(trailers::NONE, StreamHandle::trailers);
        // SAFETY: `count` NULL or writable.
        unsafe { trailers::answer(found, count) }
    })
}

/// Frees a stream and its head. The connection goes back to the pool only
/// if the body was read to its end; otherwise it is closed.
///
/// Ownership: the stream and its head end; do not use them afterwards.
/// NULL: ignored.
/// Thread safety: no other thread may be using `st`.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_stream_free(st: *mut reqivo_stream) {
    // SAFETY: NULL or the caller's stream.
    ffi_boundary!({ unsafe { free_box(st) } })
}
