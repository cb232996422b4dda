//! Sessions: configuration shared by many requests, and sending.
use std::ffi::c_char;

use super::boundary::str_in;
use super::cancel::reqivo_cancel;
use super::config::{reqivo_limits, reqivo_timeout};
use super::error::{reqivo_code, reqivo_error};
use super::handle::{clone_arc, free_box, to_boxed_ptr, try_ref, Castable, OwnedBox};
use super::pool::reqivo_pool;
use super::request::reqivo_request;
use super::response::{into_c, reqivo_response};
use super::stream::reqivo_stream;
use crate::client::Session;
use crate::net::{Pool, PoolConfig};

/// A session: base URL, default headers, timeouts, limits and redirect
/// policy over a connection pool. Thread-safe: any number of threads may
/// send through one session at once; setters apply to sends that start
/// after them.
pub struct reqivo_session {
    _private: [u8; 0],
}

impl Castable for reqivo_session {
    type Ownership = OwnedBox;
    type RustType = Session;
}

const OK: u32 = reqivo_code::REQIVO_OK as u32;

/// Creates a session on `pool` (shared; the session holds a reference), or
/// on a pool of its own with default settings when `pool` is NULL. Free
/// with `reqivo_session_free`. Since 0.1.0.
#[no_mangle]
pub extern "C" fn reqivo_session_new(
    pool: *const reqivo_pool,
    err: *mut reqivo_error,
) -> *mut reqivo_session {
    ffi_boundary!(err, {
        // SAFETY: NULL or a live pool.
        let pool = unsafe { clone_arc(pool) }
            .map_or_else(|| Pool::new(PoolConfig::default()), |p| (*p).clone());
        to_boxed_ptr::<reqivo_session>(Session::new(pool))
    })
}

/// Frees a session. NULL is ignored. No send may be in flight on it.
/// Streams opened from it stay valid. Since 0.1.0.
#[no_mangle]
pub extern "C" fn reqivo_session_free(s: *mut reqivo_session) {
    // SAFETY: NULL or the caller's session.
    ffi_boundary!({ unsafe { free_box(s) } })
}

/// Sets the base URL that relative request URLs are joined to (RFC 3986
/// reference resolution: "a/b" joins after the last "/" of the base).
/// Since 0.1.0.
#[no_mangle]
pub extern "C" fn reqivo_session_set_base_url(
    s: *mut reqivo_session,
    url: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        require!(s, err);
        require!(url, err);
        // SAFETY: live session; `url` holds `len` bytes.
        let (s, url) = unsafe {
            (
                try_ref(s).expect("checked"),
                try_or_fail!(str_in(url, len, "url"), err),
            )
        };
        try_or_fail!(s.set_base_url(url), err);
        OK
    })
}

/// Sets the default timeouts of later sends (a request's own override
/// them). Since 0.1.0.
#[no_mangle]
pub extern "C" fn reqivo_session_set_timeout(s: *mut reqivo_session, t: reqivo_timeout) -> u32 {
    ffi_boundary!({
        require!(s);
        // SAFETY: live session.
        unsafe { try_ref(s) }
            .expect("checked")
            .set_timeouts(t.into());
        OK
    })
}

/// Sets the response limits of later sends; 0 fields take the defaults.
/// Since 0.1.0.
#[no_mangle]
pub extern "C" fn reqivo_session_set_limits(s: *mut reqivo_session, l: reqivo_limits) -> u32 {
    ffi_boundary!({
        require!(s);
        let (limits, body) = l.to_rust();
        // SAFETY: live session.
        unsafe { try_ref(s) }
            .expect("checked")
            .set_limits(limits, body);
        OK
    })
}

/// Sets how many redirects a send follows; 0 returns 3xx responses as
/// they are. Default 30. Since 0.1.0.
#[no_mangle]
pub extern "C" fn reqivo_session_set_max_redirects(s: *mut reqivo_session, n: u32) -> u32 {
    ffi_boundary!({
        require!(s);
        // SAFETY: live session.
        unsafe { try_ref(s) }.expect("checked").set_max_redirects(n);
        OK
    })
}

/// Sets a default header sent with every request, replacing an earlier
/// default of the same name. Validated like `reqivo_request_add_header`.
/// Since 0.1.0.
#[no_mangle]
pub extern "C" fn reqivo_session_set_header(
    s: *mut reqivo_session,
    name: *const c_char,
    nlen: usize,
    value: *const c_char,
    vlen: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        require!(s, err);
        require!(name, err);
        // SAFETY: live session; strings per contract.
        let (s, name, value) = unsafe {
            (
                try_ref(s).expect("checked"),
                try_or_fail!(str_in(name, nlen, "name"), err),
                try_or_fail!(str_in(value, vlen, "value"), err),
            )
        };
        try_or_fail!(s.set_header(name, value), err);
        OK
    })
}

/// Sends `r` and reads the whole response. Follows redirects, retries once
/// on a stale pooled connection (idempotent methods only), and honours the
/// timeouts, limits and `cancel` (NULL for none). Returns the response
/// (free with `reqivo_response_free`) or NULL with `err` filled. Blocks the
/// calling thread. Since 0.1.0.
#[no_mangle]
pub extern "C" fn reqivo_session_send(
    s: *mut reqivo_session,
    r: *const reqivo_request,
    cancel: *const reqivo_cancel,
    err: *mut reqivo_error,
) -> *const reqivo_response {
    ffi_boundary!(err, {
        require!(s, err);
        require!(r, err);
        // SAFETY: live session, request and (NULL or live) token.
        let (s, r, cancel) = unsafe {
            (
                try_ref(s).expect("checked"),
                try_ref(r).expect("checked"),
                clone_arc(cancel),
            )
        };
        let resp = try_or_fail!(s.send(r, cancel), err);
        into_c(&resp)
    })
}

/// Sends `r` and returns once the final response head is read; read the
/// body with `reqivo_stream_read`. Same policy as `reqivo_session_send`;
/// the body limit defaults to unlimited. Free with `reqivo_stream_free`.
/// Since 0.1.0.
#[no_mangle]
pub extern "C" fn reqivo_session_open(
    s: *mut reqivo_session,
    r: *const reqivo_request,
    cancel: *const reqivo_cancel,
    err: *mut reqivo_error,
) -> *mut reqivo_stream {
    ffi_boundary!(err, {
        require!(s, err);
        require!(r, err);
        // SAFETY: live session, request and (NULL or live) token.
        let (s, r, cancel) = unsafe {
            (
                try_ref(s).expect("checked"),
                try_ref(r).expect("checked"),
                clone_arc(cancel),
            )
        };
        let stream = try_or_fail!(s.open(r, cancel), err);
        super::stream::new_stream(stream)
    })
}
