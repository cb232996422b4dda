//! The panic boundary and argument checks every exported function uses.
//!
//! What a function returns when it panics, or when a required pointer is
//! NULL, is decided once per return type by `FailValue`, so no function
//! writes its own fallback.
use std::ffi::c_char;

use super::config::reqivo_timeout;
use super::error::reqivo_code;

/// The value a function of this return type gives back on failure.
pub(crate) trait FailValue {
    fn panic_value() -> Self;
    fn null_argument_value() -> Self;
}

impl FailValue for u32 {
    fn panic_value() -> Self {
        reqivo_code::REQIVO_ERR_PANIC as u32
    }
    fn null_argument_value() -> Self {
        reqivo_code::REQIVO_ERR_INVALID_ARGUMENT as u32
    }
}

/// `int` result codes (the multi API): the same codes as `u32` ones.
impl FailValue for i32 {
    fn panic_value() -> Self {
        reqivo_code::REQIVO_ERR_PANIC as i32
    }
    fn null_argument_value() -> Self {
        reqivo_code::REQIVO_ERR_INVALID_ARGUMENT as i32
    }
}

/// Counts: nothing is counted when the call failed.
impl FailValue for usize {
    fn panic_value() -> Self {
        0
    }
    fn null_argument_value() -> Self {
        0
    }
}

impl<T> FailValue for *const T {
    fn panic_value() -> Self {
        std::ptr::null()
    }
    fn null_argument_value() -> Self {
        std::ptr::null()
    }
}

impl<T> FailValue for *mut T {
    fn panic_value() -> Self {
        std::ptr::null_mut()
    }
    fn null_argument_value() -> Self {
        std::ptr::null_mut()
    }
}

impl FailValue for i64 {
    fn panic_value() -> Self {
        -1
    }
    fn null_argument_value() -> Self {
        -1
    }
}

impl FailValue for bool {
    fn panic_value() -> Self {
        false
    }
    fn null_argument_value() -> Self {
        false
    }
}

impl FailValue for () {
    fn panic_value() -> Self {}
    fn null_argument_value() -> Self {}
}

impl FailValue for reqivo_timeout {
    fn panic_value() -> Self {
        reqivo_timeout::DEFAULT
    }
    fn null_argument_value() -> Self {
        reqivo_timeout::DEFAULT
    }
}

impl FailValue for super::response::reqivo_str {
    fn panic_value() -> Self {
        Self::EMPTY
    }
    fn null_argument_value() -> Self {
        Self::EMPTY
    }
}

/// A static string for functions returning `const char *` that must never
/// return NULL.
pub(crate) struct StaticStr(pub *const c_char);

impl FailValue for StaticStr {
    fn panic_value() -> Self {
        StaticStr(c"REQIVO_ERR_PANIC".as_ptr())
    }
    fn null_argument_value() -> Self {
        StaticStr(c"".as_ptr())
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
                $crate::ffi::boundary::FailValue::panic_value()
            }
        }
    }};
    ($body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => $crate::ffi::boundary::FailValue::panic_value(),
        }
    }};
}

/// Returns the function's NULL-argument value (and fills `err`) when `$ptr`
/// is NULL.
macro_rules! require {
    ($ptr:expr, $err:expr) => {
        if $ptr.is_null() {
            $crate::ffi::error::set_null_argument($err, stringify!($ptr));
            return $crate::ffi::boundary::FailValue::null_argument_value();
        }
    };
    ($ptr:expr) => {
        if $ptr.is_null() {
            return $crate::ffi::boundary::FailValue::null_argument_value();
        }
    };
}

/// Turns a `Result<T, (code, message)>` into `T`, or fills `err` and returns
/// the code (or NULL for pointer-returning functions).
macro_rules! try_or_fail {
    ($e:expr, $err:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $crate::ffi::error::Failure::fail(e, $err),
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
