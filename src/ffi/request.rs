//! Requests: built once, sendable many times, used by one thread at a time.
use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::callback::{
    reqivo_progress_callback, reqivo_read_callback, CallbackBody, CallbackProgress, Userdata,
};

use super::boundary::{bytes_in, header_in, str_in};
use super::code::reqivo_code;
use super::error::{null_argument, reqivo_error, Fail};
use super::handle::{free_box, to_boxed_ptr, Castable, OwnedBox};
use super::multipart::reqivo_multipart;
use super::timeout::reqivo_timeout;
use crate::client::{is_framing_header, Progress, Request};

/// A request: method, URL, headers, body and optional timeouts. Not
/// thread-safe to modify; may be sent by one thread at a time, many times.
pub struct reqivo_request {
    _private: [u8; 0],
}

impl Castable for reqivo_request {
    type Ownership = OwnedBox;
    type RustType = Request;
}

const OK: u32 = reqivo_code::REQIVO_OK as u32;

/// Creates a request. `method` must be an HTTP token other than CONNECT;
/// `url` is an absolute http(s) URL, or a reference relative to the session's
/// base URL (joined at send time).
///
/// Ownership: the caller owns the request and frees it with
/// `reqivo_request_free`; `method` and `url` are copied.
/// NULL: `method` or `url` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `err` may be NULL.
/// Thread safety: a request is modified by one thread at a time.
/// Returns: the request, or NULL with `err` filled: `REQIVO_ERR_INVALID_METHOD`,
/// `REQIVO_ERR_INVALID_URL`, `REQIVO_ERR_UNSUPPORTED_SCHEME`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_request_new(
    method: *const c_char,
    mlen: usize,
    url: *const c_char,
    ulen: usize,
    err: *mut reqivo_error,
) -> *mut reqivo_request {
    ffi_boundary!(err, {
        require!(method, err);
        require!(url, err);
        // SAFETY: both point to the given number of bytes (API contract).
        let (method, url) = unsafe {
            (
                try_or_fail!(str_in(method, mlen, "method"), err),
                try_or_fail!(str_in(url, ulen, "url"), err),
            )
        };
        let req = try_or_fail!(Request::new(method, url), err);
        to_boxed_ptr::<reqivo_request>(req)
    })
}

/// Adds a header field; repeated names are all sent. The name must be a
/// token and the value free of CR, LF, NUL and other control bytes; nothing
/// is added otherwise. `Content-Length` and `Transfer-Encoding` are refused:
/// the library sets them from the body.
///
/// Ownership: `name` and `value` are copied.
/// NULL: `r` or `name` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `value` may be
/// NULL when `vlen` is 0.
/// Thread safety: a request is modified by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_HEADER` with `err` naming the header.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_request_add_header(
    r: *mut reqivo_request,
    name: *const c_char,
    nlen: usize,
    value: *const c_char,
    vlen: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let req = borrow!(mut r, err);
        // SAFETY: strings per contract.
        let (name, value) = try_or_fail!(unsafe { header_in(name, nlen, value, vlen) }, err);
        try_or_fail!(req.add_header(name, value), err);
        OK
    })
}

/// Sets the body, sent with a Content-Length. Replaces an earlier body.
///
/// Ownership: the `len` bytes at `data` are copied.
/// NULL: `r` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `data` may be NULL when
/// `len` is 0.
/// Thread safety: a request is modified by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_request_set_body(
    r: *mut reqivo_request,
    data: *const u8,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let req = borrow!(mut r, err);
        // SAFETY: `data` holds `len` bytes.
        let body = try_or_fail!(unsafe { bytes_in(data, len, "data") }, err);
        req.set_body(body);
        OK
    })
}

/// Sets the body to the JSON text `json`, validated as one JSON value, sent
/// as is with `Content-Type: application/json`, unless a JSON media type
/// was added before (`application/json; charset=utf-8` or a `+json` type
/// such as `application/vnd.api+json` is kept; any other Content-Type is
/// replaced). Replaces an earlier body.
///
/// Ownership: `json` is copied.
/// NULL: `r` or `json` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: a request is modified by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_JSON` with the line and column of the
/// problem in `err`, leaving the request unchanged.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_request_set_json(
    r: *mut reqivo_request,
    json: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let req = borrow!(mut r, err);
        require!(json, err);
        // SAFETY: `json` holds `len` bytes.
        let json = try_or_fail!(unsafe { str_in(json, len, "json") }, err);
        try_or_fail!(req.set_json(json), err);
        OK
    })
}

/// Sets the body to the form `mp` (multipart/form-data, RFC 7578), with
/// `Content-Type: multipart/form-data; boundary=...` (replacing an earlier
/// Content-Type) and a Content-Length computed from the parts' sizes.
/// Replaces an earlier body. The boundary is drawn now: 192 random bits,
/// checked against every field value; files are not read to check it
/// (that a file holds it by chance is at most its length times 2^-192).
/// Files are read while the request is sent, a piece at a time, on the
/// sending thread (in a multi, its `reqivo_multi_perform` thread), and
/// again for each send: a 307/308 redirect resends the form, and a
/// stale-connection retry is made as for an in-memory body.
///
/// Ownership: the request keeps its own reference to the parts `mp` holds
/// now; `mp` stays the caller's, who may change or free it at any time
/// without touching this request.
/// NULL: `r` or `mp` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: a request is modified by one thread at a time; `mp` is
/// only read.
/// Returns: 0; `REQIVO_ERR_INVALID_ARGUMENT`; `REQIVO_ERR_INVALID_CONFIG`
/// when the system gives no random bytes for the boundary.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_request_set_multipart(
    r: *mut reqivo_request,
    mp: *const reqivo_multipart,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let req = borrow!(mut r, err);
        let form = borrow!(mp, err);
        try_or_fail!(req.set_multipart(form), err);
        OK
    })
}

/// Makes the body come from `cb`, called on the sending thread whenever
/// the library is ready for more: with a Content-Length of `size`, or
/// chunked when `size` is -1. Replaces an earlier body. Such a body is
/// read once: a stale-connection retry does not happen after it was read
/// from, and a 307/308 redirect that would resend it is returned instead of
/// followed, with `REQIVO_RESPONSE_REDIRECT_NOT_FOLLOWED` set. A callback
/// that ends before `size` bytes fails the send (`REQIVO_ERR_INVALID_ARGUMENT`);
/// one that returns a negative value aborts it (`REQIVO_ERR_ABORTED_BY_CALLBACK`),
/// except `REQIVO_READ_PAUSE` in a transfer of `reqivo_multi_add_streamed`,
/// which waits for `reqivo_multi_resume` before the callback is called again.
///
/// Ownership: `userdata` stays the caller's; it must remain valid while the
/// request may be sent.
/// NULL: `r` or `cb` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `userdata` may be NULL.
/// Thread safety: `cb` runs on the thread that sends; one send at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (also for `size` < -1).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_request_set_body_callback(
    r: *mut reqivo_request,
    cb: reqivo_read_callback,
    userdata: *mut c_void,
    size: i64,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let req = borrow!(mut r, err);
        let Some(cb) = cb else {
            return null_argument(err, "cb");
        };
        let size = try_or_fail!(body_size(size), err);
        let body = CallbackBody {
            cb,
            userdata: Userdata(userdata),
        };
        req.set_body_source(Box::new(body), size);
        OK
    })
}

/// Sets (or, with `cb` NULL, removes) a progress callback, called on the
/// sending thread after each piece of request body written and each piece
/// of response body read (redirect hops are not reported).
///
/// Ownership: `userdata` stays the caller's; it must remain valid while the
/// request may be sent.
/// NULL: `r` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `cb` NULL removes the callback.
/// Thread safety: `cb` runs on the thread that sends; one send at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_request_set_progress(
    r: *mut reqivo_request,
    cb: reqivo_progress_callback,
    userdata: *mut c_void,
) -> u32 {
    ffi_boundary!({
        let req = borrow!(mut r);
        let progress = cb.map(|cb| {
            Arc::new(CallbackProgress {
                cb,
                userdata: Userdata(userdata),
            }) as Arc<dyn Progress>
        });
        req.set_progress(progress);
        OK
    })
}

/// Overrides the session's timeouts for this request: the fields set
/// replace the session's, fields left 0 keep them, `REQIVO_NO_LIMIT` lifts
/// that limit. Start from `(reqivo_timeout){0}`.
///
/// Ownership: `t` is passed by value.
/// NULL: `r` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: a request is modified by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_request_set_timeout(r: *mut reqivo_request, t: reqivo_timeout) -> u32 {
    ffi_boundary!({
        borrow!(mut r).override_timeouts(t.to_overrides());
        OK
    })
}

/// Marks the request safe to send more than once whatever its method, so
/// that the session's retry policy (`reqivo_session_set_retry`) may send
/// it again; GET, HEAD, OPTIONS, TRACE, PUT and DELETE need no mark. A
/// body from a read callback is still never sent twice.
///
/// Ownership: nothing is allocated.
/// NULL: `r` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: a request is modified by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_request_set_idempotent(r: *mut reqivo_request, on: bool) -> u32 {
    ffi_boundary!({
        borrow!(mut r).set_idempotent(on);
        OK
    })
}

/// Frees a request. Responses and streams made from it stay valid.
///
/// Ownership: the request ends; do not use `r` afterwards.
/// NULL: ignored.
/// Thread safety: no call may be using `r` in another thread.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_request_free(r: *mut reqivo_request) {
    // SAFETY: NULL or the caller's request.
    ffi_boundary!({ unsafe { free_box(r) } })
}

/// A callback body's size: its length, or `None` (chunked) for -1.
fn body_size(size: i64) -> Result<Option<u64>, Fail> {
    if size < -1 {
        let msg = format!("size is {}: give the body length, or -1 when unknown", size);
        return Err(Fail::new(reqivo_code::REQIVO_ERR_INVALID_ARGUMENT, msg));
    }
    Ok(u64::try_from(size).ok())
}

/// Whether `name` is a framing header (Content-Length, Transfer-Encoding;
/// any case): the library writes these itself from the body, and
/// `reqivo_request_add_header` refuses them. For bindings that adapt
/// another library's requests (an `http.Request`, a Faraday env), which
/// drop such fields rather than fail.
///
/// Ownership: `name` is only read.
/// NULL: `name` NULL is false.
/// Thread safety: any thread.
/// Returns: true for a framing header.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_request_header_is_framing(name: *const c_char, len: usize) -> bool {
    ffi_boundary!({
        // SAFETY: `name` holds `len` bytes, or is NULL.
        match unsafe { bytes_in(name.cast(), len, "name") } {
            Ok(b) => std::str::from_utf8(b).is_ok_and(is_framing_header),
            Err(_) => false,
        }
    })
}
