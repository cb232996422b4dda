//! The panic boundary and argument checks every exported function uses.
//!
//! What a function returns when it fails (a panic, a NULL argument, an
//! error from the client layer) is decided once per return type by
//! `FailValue`, so no function writes its own fallback. A handle argument
//! is checked and borrowed in one step by `borrow!`.
use std::ffi::{c_char, CString};

use super::code::reqivo_code;
use super::timeout::reqivo_timeout;

/// The value a function of this return type gives back when it fails with
/// `code`: the code itself for result codes, else a fixed "nothing" value.
pub(crate) trait FailValue {
    fn fail_value(code: reqivo_code) -> Self;
}

impl FailValue for u32 {
    #[inline]
    fn fail_value(code: reqivo_code) -> Self {
        code as u32
    }
}

/// `int` result codes (the multi API): the same codes as `u32` ones.
impl FailValue for i32 {
    #[inline]
    fn fail_value(code: reqivo_code) -> Self {
        code as i32
    }
}

/// Counts: nothing is counted when the call failed.
impl FailValue for usize {
    #[inline]
    fn fail_value(_: reqivo_code) -> Self {
        0
    }
}

impl<T> FailValue for *const T {
    #[inline]
    fn fail_value(_: reqivo_code) -> Self {
        std::ptr::null()
    }
}

impl<T> FailValue for *mut T {
    #[inline]
    fn fail_value(_: reqivo_code) -> Self {
        std::ptr::null_mut()
    }
}

impl FailValue for i64 {
    #[inline]
    fn fail_value(_: reqivo_code) -> Self {
        -1
    }
}

impl FailValue for bool {
    #[inline]
    fn fail_value(_: reqivo_code) -> Self {
        false
    }
}

impl FailValue for () {
    #[inline]
    fn fail_value(_: reqivo_code) -> Self {}
}

impl FailValue for reqivo_timeout {
    #[inline]
    fn fail_value(_: reqivo_code) -> Self {
        reqivo_timeout::DEFAULT
    }
}

impl FailValue for super::response::reqivo_str {
    #[inline]
    fn fail_value(_: reqivo_code) -> Self {
        Self::EMPTY
    }
}

/// A struct with only its size set: `max_attempts` 0, so a caller that
/// uses it anyway gets `REQIVO_ERR_INVALID_CONFIG` from
/// `reqivo_session_set_retry`.
impl FailValue for super::retry::reqivo_retry {
    fn fail_value(_: reqivo_code) -> Self {
        Self {
            struct_size: std::mem::size_of::<Self>() as u32,
            max_attempts: 0,
            base_backoff_ms: 0,
            max_backoff_ms: 0,
            flags: 0,
        }
    }
}

/// A struct with only its size set: no limit is 0, so a caller that uses
/// it anyway gets `REQIVO_ERR_INVALID_CONFIG` from `reqivo_pool_new`.
impl FailValue for super::pool::reqivo_pool_config {
    fn fail_value(_: reqivo_code) -> Self {
        Self {
            struct_size: std::mem::size_of::<Self>() as u32,
            max_per_host: 0,
            max_total: 0,
            max_idle_ms: 0,
            max_idle_per_host: 0,
        }
    }
}

/// A static string for functions returning `const char *` that must never
/// return NULL.
pub(crate) struct StaticStr(pub *const c_char);

impl FailValue for StaticStr {
    fn fail_value(code: reqivo_code) -> Self {
        match code {
            reqivo_code::REQIVO_ERR_PANIC => StaticStr(c"REQIVO_ERR_PANIC".as_ptr()),
            _ => StaticStr(c"".as_ptr()),
        }
    }
}

/// Runs `$body` inside `catch_unwind`. With an `err` pointer, the error is
/// cleared on entry and filled on panic. Nothing ever unwinds into C.
macro_rules! ffi_boundary {
    ($err:expr, $body:block) => {{
        let err_out: *mut $crate::ffi::error::reqivo_error = $err;
        $crate::ffi::error::clear(err_out);
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(payload) => {
                $crate::ffi::error::set_panic(err_out, payload);
                $crate::ffi::boundary::FailValue::fail_value(
                    $crate::ffi::code::reqivo_code::REQIVO_ERR_PANIC,
                )
            }
        }
    }};
    ($body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => $crate::ffi::boundary::FailValue::fail_value(
                $crate::ffi::code::reqivo_code::REQIVO_ERR_PANIC,
            ),
        }
    }};
}

/// Checks a required pointer argument and borrows what it points to, in
/// one step: `borrow!(s, err)` gives `&T`, `borrow!(mut r, err)` gives
/// `&mut T` (a Box-owned handle or a caller-owned out struct), where the
/// pointer's type says `T` through `Castable` (`handle.rs`). A NULL
/// pointer fills `err` with `REQIVO_ERR_INVALID_ARGUMENT` ("argument `s`
/// is NULL") and returns the function's `FailValue`; without `err` only
/// the value is returned. Use it inside `ffi_boundary!`.
macro_rules! borrow {
    (@with $how:ident, $p:ident, $err:expr) => {
        // SAFETY: by the API contract a non-NULL handle or struct pointer
        // is live and of its type, and one taken `mut` is used by this
        // call alone (one thread at a time).
        match unsafe { $crate::ffi::handle::$how($p) } {
            Some(v) => v,
            None => return $crate::ffi::error::null_argument($err, stringify!($p)),
        }
    };
    (mut $p:ident, $err:expr) => {
        borrow!(@with try_mut, $p, $err)
    };
    (mut $p:ident) => {
        borrow!(@with try_mut, $p, ::std::ptr::null_mut())
    };
    ($p:ident, $err:expr) => {
        borrow!(@with try_ref, $p, $err)
    };
    ($p:ident) => {
        borrow!(@with try_ref, $p, ::std::ptr::null_mut())
    };
}

/// Returns the function's failure value (and fills `err`) when `$ptr` is
/// NULL: for a required pointer that is not borrowed whole (a string for
/// `str_in`, an out pointer for `copy_out`, a versioned struct that may be
/// smaller than this version's).
macro_rules! require {
    ($ptr:ident, $err:expr) => {
        if $ptr.is_null() {
            return $crate::ffi::error::null_argument($err, stringify!($ptr));
        }
    };
    ($ptr:ident) => {
        require!($ptr, ::std::ptr::null_mut())
    };
}

/// Turns a `Result<T, (code, message)>` into `T`, or fills `err` and returns
/// the code (or NULL for pointer-returning functions).
macro_rules! try_or_fail {
    ($e:expr, $err:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $crate::ffi::error::fail(e, $err),
        }
    };
}

/// Borrows a caller's `(ptr, len)` byte string. NULL is allowed only with
/// length 0.
///
/// # Safety
/// A non-NULL `ptr` points to `len` readable bytes that stay valid for `'a`.
pub(crate) unsafe fn bytes_in<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], super::error::Fail> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(super::error::Fail::new(
            reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
            format!("argument `{}` is NULL with length {}", what, len),
        ));
    }
    if len > isize::MAX as usize {
        return Err(super::error::Fail::new(
            reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
            format!("length of `{}` is too large", what),
        ));
    }
    // SAFETY: checked non-NULL; the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows a caller's `(ptr, len)` string, which must be UTF-8.
///
/// # Safety
/// As for `bytes_in`.
pub(crate) unsafe fn str_in<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a str, super::error::Fail> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { bytes_in(ptr.cast(), len, what) }?;
    std::str::from_utf8(bytes).map_err(|e| {
        super::error::Fail::new(
            reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
            format!("argument `{}` is not UTF-8: {}", what, e),
        )
    })
}

/// Borrows a header field from a caller: `name` (`nlen` bytes, required)
/// and `value` (`vlen` bytes, NULL only when `vlen` is 0), both UTF-8.
/// Every function that takes a header name and value reads them here.
///
/// # Safety
/// As for `bytes_in`, for each string.
pub(crate) unsafe fn header_in<'a>(
    name: *const c_char,
    nlen: usize,
    value: *const c_char,
    vlen: usize,
) -> Result<(&'a str, &'a str), super::error::Fail> {
    if name.is_null() {
        return Err(super::error::Fail::new(
            reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
            "argument `name` is NULL",
        ));
    }
    // SAFETY: forwarded contract.
    unsafe { Ok((str_in(name, nlen, "name")?, str_in(value, vlen, "value")?)) }
}

/// Copies `text` and a NUL into a caller's buffer, snprintf-style:
/// `*out_len` always receives the text length; the copy happens only when
/// `cap` holds text and NUL, else `REQIVO_ERR_BUFFER_TOO_SMALL` names the
/// size needed (`what` says what the text is).
///
/// # Safety
/// `out_len` is non-NULL and writable; a non-NULL `buf` holds `cap` writable bytes.
pub(crate) unsafe fn copy_out(
    text: &str,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
    what: &str,
) -> Result<(), super::error::Fail> {
    // SAFETY: per the contract.
    unsafe { out_len.write(text.len()) };
    if buf.is_null() || cap < text.len() + 1 {
        return Err(super::error::Fail::new(
            reqivo_code::REQIVO_ERR_BUFFER_TOO_SMALL,
            format!(
                "buffer of {} bytes; {} needs {} and a NUL",
                cap,
                what,
                text.len()
            ),
        ));
    }
    // SAFETY: `buf` holds `cap` >= len + 1 writable bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
        *buf.add(text.len()) = 0;
    }
    Ok(())
}

/// A C string of `s` for a callback (methods, URLs, log lines); a NUL
/// inside, which none of them should hold, is dropped.
pub(crate) fn c_text(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}
