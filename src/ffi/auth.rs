//! Session credentials and JSON bodies.
use std::ffi::c_char;

use super::boundary::str_in;
use super::error::{reqivo_code, reqivo_error};
use super::request::reqivo_request;
use super::session::reqivo_session;

const OK: u32 = reqivo_code::REQIVO_OK as u32;

/// Sends `Authorization: Basic` (RFC 7617) built from `user` and `pass`
/// with every later request, to the origin each request addresses: it is
/// dropped on a redirect to another origin. A request's own Authorization
/// header replaces it. Credentials in a URL (`http://user:pass@host/`) are
/// used the same way and removed from the URL.
///
/// Ownership: `user` and `pass` are copied.
/// NULL: `s` or `user` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `pass` may be
/// NULL when `plen` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (a ':' in `user`, non-UTF-8)
/// with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_basic_auth(
    s: *mut reqivo_session,
    user: *const c_char,
    ulen: usize,
    pass: *const c_char,
    plen: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        require!(user, err);
        // SAFETY: strings hold the given lengths.
        let (user, pass) = unsafe {
            (
                try_or_fail!(str_in(user, ulen, "user"), err),
                try_or_fail!(str_in(pass, plen, "pass"), err),
            )
        };
        try_or_fail!(s.set_basic_auth(user, pass), err);
        OK
    })
}

/// Sends `Authorization: Bearer <token>` (RFC 6750) with every later
/// request to the origin it addresses; an empty token removes the
/// session's Authorization. A request's own Authorization header replaces it.
///
/// Ownership: `token` is copied.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `token` may be NULL when
/// `len` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_HEADER` for a token with whitespace or
/// control bytes.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_bearer_token(
    s: *mut reqivo_session,
    token: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        // SAFETY: `token` holds `len` bytes.
        let token = try_or_fail!(unsafe { str_in(token, len, "token") }, err);
        try_or_fail!(s.set_bearer_token(token), err);
        OK
    })
}

/// Sets the body to the JSON text `json`, validated as one JSON value, sent
/// as is with `Content-Type: application/json` (replacing a Content-Type
/// added before). Replaces an earlier body.
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
