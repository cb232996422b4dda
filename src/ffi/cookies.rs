//! The session cookie jar.
use std::ffi::c_char;

use super::boundary::{copy_out, str_in};
use super::config::or_default;
use super::error::{reqivo_code, reqivo_error};
use super::session::reqivo_session;
use crate::client::CookieLimits;

const OK: u32 = reqivo_code::REQIVO_OK as u32;

/// Turns the session's cookie jar on (the default) or off for later sends.
/// On, Set-Cookie fields of every response (redirect hops included) are
/// stored under RFC 6265 rules (domain and host-only, path, Secure,
/// HttpOnly, Expires, Max-Age) and matching cookies are sent. Each session
/// has its own jar. Off, nothing is stored or sent; the jar keeps its contents.
///
/// Ownership: nothing is allocated.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_cookies(s: *mut reqivo_session, on: bool) -> u32 {
    ffi_boundary!({
        borrow!(s).set_cookies(on);
        OK
    })
}

/// Empties the session's cookie jar.
///
/// Ownership: nothing is allocated.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_clear_cookies(s: *mut reqivo_session) -> u32 {
    ffi_boundary!({
        borrow!(s).cookies().clear();
        OK
    })
}

/// Writes the jar's persistent, unexpired cookies as text (JSON) into
/// `buf`, NUL-terminated, for `reqivo_session_load_cookies` in a later run.
/// Session cookies (without Expires or Max-Age) are not saved. Call with
/// `cap` 0 to learn the size: `*out_len` always receives the text length.
///
/// Ownership: `buf` and `out_len` are caller-owned.
/// NULL: `s` or `out_len` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `buf` may be
/// NULL when `cap` is 0.
/// Thread safety: callable while other threads send.
/// Returns: 0 when the text and its NUL fit, `REQIVO_ERR_BUFFER_TOO_SMALL`
/// (with `*out_len` set) when they do not.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_save_cookies(
    s: *mut reqivo_session,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        require!(out_len, err);
        let text = try_or_fail!(s.cookies().save(), err);
        // SAFETY: `out_len` checked non-NULL; `buf` holds `cap` bytes (API contract).
        try_or_fail!(
            unsafe { copy_out(&text, buf, cap, out_len, "the jar") },
            err
        );
        OK
    })
}

/// Replaces the jar's contents with cookies saved by
/// `reqivo_session_save_cookies`; expired ones, and ones the jar's limits
/// or the `__Secure-`/`__Host-` prefix rules refuse, are dropped.
///
/// Ownership: `text` is read, not kept.
/// NULL: `s` or `text` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` when the text is not a saved
/// jar (the jar is then unchanged).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_load_cookies(
    s: *mut reqivo_session,
    text: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        require!(text, err);
        // SAFETY: `text` holds `len` bytes.
        let text = try_or_fail!(unsafe { str_in(text, len, "text") }, err);
        try_or_fail!(s.cookies().load(text), err);
        OK
    })
}

/// Sets the public suffix list the jar refuses cookies with (RFC 6265 §5.3
/// step 5): a cookie whose Domain attribute is a public suffix (`co.uk`,
/// `github.io`) is dropped, unless the attribute is the request's host
/// itself, when it becomes a host-only cookie. `text` is in the list's own
/// format (https://publicsuffix.org/list/), where rules count only inside a
/// `// ===BEGIN ICANN DOMAINS===` or `// ===BEGIN PRIVATE DOMAINS===`
/// section (ended by the matching `===END ...===` line); an empty `text` goes back to
/// the default, the system's list at
/// `/usr/share/publicsuffix/public_suffix_list.dat` (read once per
/// process). Without a system list, only single-label domains (`com`) are
/// refused.
///
/// Ownership: `text` is parsed and not kept.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `text` may be NULL when
/// `len` is 0.
/// Thread safety: callable while other threads send; applies to cookies
/// received afterwards.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (non-UTF-8) or
/// `REQIVO_ERR_INVALID_CONFIG` (no rule inside a section; the message says
/// so) with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_public_suffix_list(
    s: *mut reqivo_session,
    text: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        // SAFETY: `text` holds `len` bytes.
        let text = try_or_fail!(unsafe { str_in(text, len, "text") }, err);
        try_or_fail!(s.cookies().set_suffix_list(text), err);
        OK
    })
}

/// Sets how much the session's jar holds, for received and loaded cookies
/// alike: `max_cookie_bytes` bounds one cookie's name plus value (default
/// 4096), `max_per_site` the cookies of one site, its registrable domain by
/// the public suffix list, so sibling hosts share one count (default 180),
/// and `max_cookies` the whole jar (default 3000). Past a count the oldest
/// cookies are evicted first, as browsers do; a larger cookie is refused.
/// Each value 0 takes the default, `REQIVO_NO_LIMIT` lifts that limit. A
/// jar already over the new limits is trimmed at once.
///
/// Ownership: nothing is allocated.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to cookies
/// received afterwards and to the jar as it is.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_cookie_limits(
    s: *mut reqivo_session,
    max_cookie_bytes: u32,
    max_per_site: u32,
    max_cookies: u32,
) -> u32 {
    ffi_boundary!({
        let s = borrow!(s);
        let d = CookieLimits::default();
        let limits = CookieLimits {
            max_cookie_bytes: or_default(max_cookie_bytes, d.max_cookie_bytes),
            max_per_site: or_default(max_per_site, d.max_per_site),
            max_cookies: or_default(max_cookies, d.max_cookies),
        };
        s.cookies()
            .set_limits(limits)
            .expect("every value is at least 1");
        OK
    })
}
