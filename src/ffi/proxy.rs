//! Proxies: an HTTP proxy for the session, the hosts that bypass it, and
//! the opt-in to the environment's `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`.
use std::ffi::c_char;

use super::boundary::str_in;
use super::error::{reqivo_code, reqivo_error};
use super::session::reqivo_session;

const OK: u32 = reqivo_code::REQIVO_OK as u32;

/// Sends later requests through the HTTP proxy at `url`
/// (`http://[user:password@]host[:port]`; the scheme may be left out, the
/// port defaults to 80). `http://` requests are forwarded with
/// absolute-form targets; `https://` requests go through a CONNECT tunnel,
/// with TLS end to end to the origin. Credentials in the URL
/// (percent-encoded) are sent as `Proxy-Authorization: Basic` to the proxy
/// only. An empty `url` connects directly again. The bypass list of
/// `reqivo_session_set_no_proxy` is kept. The environment is not read
/// unless `reqivo_session_use_env_proxy` is called.
///
/// Ownership: `url` is copied.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `url` may be NULL when
/// `len` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_URL`, `REQIVO_ERR_UNSUPPORTED_SCHEME`
/// (an https or SOCKS proxy) or `REQIVO_ERR_INVALID_ARGUMENT` with `err`
/// filled; a tunnel the proxy refuses later fails the send with
/// `REQIVO_ERR_PROXY`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_proxy(
    s: *mut reqivo_session,
    url: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        // SAFETY: `url` holds `len` bytes.
        let url = try_or_fail!(unsafe { str_in(url, len, "url") }, err);
        try_or_fail!(s.set_proxy((!url.is_empty()).then_some(url)), err);
        OK
    })
}

/// Sets the hosts that bypass the proxy, in the `NO_PROXY` form: a list
/// separated by commas or spaces of host names (each matching itself and
/// its subdomains; a leading `.` or `*.` is allowed), IP addresses and CIDR
/// ranges, each optionally with `:port`; `*` alone bypasses the proxy for
/// every host. Names are not resolved: `localhost` does not match
/// `127.0.0.1`. Entries that fit none of these forms match nothing. An empty
/// list bypasses nothing.
///
/// Ownership: `list` is copied.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `list` may be NULL when
/// `len` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (non-UTF-8) with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_no_proxy(
    s: *mut reqivo_session,
    list: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        // SAFETY: `list` holds `len` bytes.
        let list = try_or_fail!(unsafe { str_in(list, len, "list") }, err);
        s.set_no_proxy(list);
        OK
    })
}

/// Replaces the session's proxy settings with the environment's, read now:
/// `HTTP_PROXY` for `http://` URLs, `HTTPS_PROXY` for `https://` URLs,
/// `NO_PROXY` for the bypass list (each also in lower case; upper case
/// wins). `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set, since in a
/// CGI program it comes from a client's `Proxy:` header. Unset variables
/// mean no proxy. A session reads the environment only through this call.
///
/// Ownership: nothing changes hands.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later
/// sends. It reads the environment (getenv): do not call it while another
/// thread changes the environment.
/// Returns: 0, or `REQIVO_ERR_INVALID_CONFIG` naming the variable whose
/// proxy URL is unusable (the settings are then unchanged).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_use_env_proxy(
    s: *mut reqivo_session,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        try_or_fail!(s.use_env_proxy(|name| std::env::var(name).ok()), err);
        OK
    })
}
