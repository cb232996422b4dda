//! Sessions: configuration shared by many requests, and sending.
use std::ffi::c_char;
use std::sync::Arc;

use super::boundary::{header_in, str_in};
use super::cancel::reqivo_cancel;
use super::config::{reqivo_limits, reqivo_timeout};
use super::error::{reqivo_code, reqivo_error};
use super::handle::{clone_arc, free_box, to_arc_ptr, to_boxed_ptr, Castable, OwnedBox};
use super::pool::reqivo_pool;
use super::request::reqivo_request;
use super::response::{reqivo_response, ToC};
use super::stream::reqivo_stream;
use super::tls::reqivo_tls_config;
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

/// Creates a session: base URL, default headers, timeouts, limits and
/// redirect policy over a connection pool.
///
/// Ownership: the caller owns the session and frees it with
/// `reqivo_session_free`. The session takes its own reference to `pool`.
/// NULL: `pool` NULL gives the session a pool of its own with default
/// settings; `err` may be NULL.
/// Thread safety: the session may be used by any number of threads at once;
/// setters apply to sends that start after them.
/// Returns: the session, or NULL with `err` filled.
/// Since: 0.1.0
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

/// Frees a session. Streams opened from it stay valid.
///
/// Ownership: the session ends; do not use `s` afterwards.
/// NULL: ignored.
/// Thread safety: no call may be in flight on `s` in another thread.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_free(s: *mut reqivo_session) {
    // SAFETY: NULL or the caller's session.
    ffi_boundary!({ unsafe { free_box(s) } })
}

/// Returns a new reference to the session's pool: the one given to
/// `reqivo_session_new`, or the pool the session made for itself. Use it
/// for `reqivo_pool_get_stats`, `reqivo_pool_close_idle`, or to create more
/// sessions sharing the connections.
///
/// Ownership: the caller owns the new reference and releases it with
/// `reqivo_pool_free`; it keeps the pool alive after the session is freed.
/// NULL: returns NULL if `s` is NULL.
/// Thread safety: callable while other threads send through `s`.
/// Returns: the pool, or NULL.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_pool(s: *const reqivo_session) -> *mut reqivo_pool {
    ffi_boundary!({
        let s = borrow!(s);
        to_arc_ptr::<reqivo_pool>(Arc::new(s.pool().clone())).cast_mut()
    })
}

/// Sets the absolute http(s) URL that relative request URLs are joined to
/// (RFC 3986 resolution: "a/b" joins after the last "/" of the base).
///
/// Ownership: `url` is copied.
/// NULL: `s` or `url` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_URL` / `REQIVO_ERR_UNSUPPORTED_SCHEME`
/// with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_base_url(
    s: *mut reqivo_session,
    url: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        require!(url, err);
        // SAFETY: `url` holds `len` bytes.
        let url = try_or_fail!(unsafe { str_in(url, len, "url") }, err);
        try_or_fail!(s.set_base_url(url), err);
        OK
    })
}

/// Sets the TLS configuration of later https sends. The session takes its
/// own reference, so the caller may free `tls` at once. Connections made
/// under another config are never reused for these sends.
///
/// Ownership: the session keeps a reference to `tls` until replaced or freed.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `tls` NULL returns to the
/// default config (system roots, TLS 1.2 minimum), shared by the process.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_tls(
    s: *mut reqivo_session,
    tls: *const reqivo_tls_config,
) -> u32 {
    ffi_boundary!({
        let s = borrow!(s);
        // SAFETY: `tls` is NULL or a live config.
        s.set_tls(unsafe { clone_arc(tls) });
        OK
    })
}

/// Sets the timeouts of later sends: fields left 0 take the library's
/// defaults, `REQIVO_NO_LIMIT` lifts that limit; a request's own timeouts
/// override them.
///
/// Ownership: `t` is passed by value.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_timeout(s: *mut reqivo_session, t: reqivo_timeout) -> u32 {
    ffi_boundary!({
        borrow!(s).set_timeouts(t.to_session());
        OK
    })
}

/// Sets the response limits of later sends; fields left 0 take the
/// defaults, `REQIVO_NO_LIMIT` (`REQIVO_NO_LIMIT_64`) lifts that limit.
///
/// Ownership: `l` is passed by value.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_limits(s: *mut reqivo_session, l: reqivo_limits) -> u32 {
    ffi_boundary!({
        let s = borrow!(s);
        let (limits, body) = l.to_rust();
        s.set_limits(limits, body);
        OK
    })
}

/// Sets how many redirects a send follows; 0 returns 3xx responses as they
/// are. The default is 30.
///
/// Ownership: nothing is allocated.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_max_redirects(s: *mut reqivo_session, n: u32) -> u32 {
    ffi_boundary!({
        borrow!(s).set_max_redirects(n);
        OK
    })
}

/// Sets a default header sent with every request, replacing an earlier
/// default of the same name (a request's own header of that name replaces it
/// in turn). Validated like `reqivo_request_add_header`.
///
/// Ownership: `name` and `value` are copied.
/// NULL: `s` or `name` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `value` may be
/// NULL when `vlen` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_HEADER` with `err` naming the header.
/// Since: 0.1.0
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
        let s = borrow!(s, err);
        // SAFETY: strings per contract.
        let (name, value) = try_or_fail!(unsafe { header_in(name, nlen, value, vlen) }, err);
        try_or_fail!(s.set_header(name, value), err);
        OK
    })
}

/// Sends `r` and reads the whole response into memory. Follows redirects
/// (per the session's policy), retries once on a pooled connection the server
/// had closed (idempotent methods only), and honours the timeouts, the limits
/// (body default 1 GiB) and `cancel`. Blocks the calling thread.
///
/// Ownership: the caller owns the response and frees it with
/// `reqivo_response_free`. `r` is only read and may be sent again.
/// NULL: `s` or `r` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `cancel` NULL means
/// no cancellation; `err` may be NULL.
/// Thread safety: any number of threads may send through one session at once;
/// one request may be sent by one thread at a time.
/// Returns: the response, or NULL with `err` filled (any class: usage,
/// network, timeout, protocol, redirect, cancelled).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_send(
    s: *mut reqivo_session,
    r: *const reqivo_request,
    cancel: *const reqivo_cancel,
    err: *mut reqivo_error,
) -> *const reqivo_response {
    ffi_boundary!(err, {
        let (s, r) = (borrow!(s, err), borrow!(r, err));
        // SAFETY: `cancel` is NULL or a live token.
        let cancel = unsafe { clone_arc(cancel) };
        // The body is read straight into the response's one allocation.
        try_or_fail!(s.send_with(r, cancel, ToC), err)
    })
}

/// Sends `r` like `reqivo_session_send` but returns once the final response
/// head is read; read the body with `reqivo_stream_read`. The body limit
/// defaults to unlimited; memory stays flat whatever the body size.
///
/// Ownership: the caller owns the stream and frees it with
/// `reqivo_stream_free`. The stream keeps `cancel` alive while it exists.
/// NULL: `s` or `r` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `cancel` NULL means
/// no cancellation; `err` may be NULL.
/// Thread safety: as `reqivo_session_send`; the stream is then used by one
/// thread at a time.
/// Returns: the stream, or NULL with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_open(
    s: *mut reqivo_session,
    r: *const reqivo_request,
    cancel: *const reqivo_cancel,
    err: *mut reqivo_error,
) -> *mut reqivo_stream {
    ffi_boundary!(err, {
        let (s, r) = (borrow!(s, err), borrow!(r, err));
        // SAFETY: `cancel` is NULL or a live token.
        let cancel = unsafe { clone_arc(cancel) };
        let stream = try_or_fail!(s.open(r, cancel), err);
        super::stream::new_stream(stream)
    })
}
