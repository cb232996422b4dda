//! multipart/form-data forms (RFC 7578), set on a request with
//! `reqivo_request_set_multipart`.
use std::ffi::c_char;
use std::path::Path;

use super::boundary::{bytes_in, str_in};
use super::code::reqivo_code;
use super::error::reqivo_error;
use super::handle::{free_box, to_boxed_ptr, Castable, OwnedBox};
use crate::client::Multipart;

/// A multipart/form-data form being built: fields held in memory, files
/// read from disk only while a request using the form is sent. Not
/// thread-safe to modify.
pub struct reqivo_multipart {
    _private: [u8; 0],
}

impl Castable for reqivo_multipart {
    type Ownership = OwnedBox;
    type RustType = Multipart;
}

const OK: u32 = reqivo_code::REQIVO_OK as u32;

/// Creates an empty form.
///
/// Ownership: the caller owns the form and frees it with
/// `reqivo_multipart_free`; a request it was set on keeps its own copy.
/// NULL: no pointer arguments.
/// Thread safety: a form is modified by one thread at a time.
/// Returns: the form.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multipart_new() -> *mut reqivo_multipart {
    ffi_boundary!({ to_boxed_ptr::<reqivo_multipart>(Multipart::new()) })
}

/// Adds a field part: `name` (UTF-8) and `value` (any bytes, sent as is,
/// without a Content-Type, which RFC 7578 reads as text/plain). In the
/// part's head `"`, CR and LF of the name are sent as `%22`, `%0D` and
/// `%0A`, as browsers do, and a backslash as `\\`; other bytes, non-ASCII
/// UTF-8 included, as they are.
///
/// Ownership: `name` and `value` are copied.
/// NULL: `mp` or `name` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `value` may be
/// NULL when `value_len` is 0.
/// Thread safety: a form is modified by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (also for a name that is
/// not UTF-8), adding nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multipart_add_field(
    mp: *mut reqivo_multipart,
    name: *const c_char,
    name_len: usize,
    value: *const c_char,
    value_len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let form = borrow!(mut mp, err);
        require!(name, err);
        // SAFETY: each points to its given number of bytes (API contract).
        let (name, value) = unsafe {
            (
                try_or_fail!(str_in(name, name_len, "name"), err),
                try_or_fail!(bytes_in(value.cast(), value_len, "value"), err),
            )
        };
        form.add_field(name, value);
        OK
    })
}

/// Adds a file part: `name` (escaped as in `reqivo_multipart_add_field`),
/// the file at `path` (UTF-8), sent with the last component of `path` as
/// its filename and `content_type` as its Content-Type, or
/// `application/octet-stream` when `content_type` is NULL or empty
/// (nothing is guessed from the name or the bytes). The file must be a
/// readable regular file now; its size is taken now and its bytes only
/// while the request is sent, a piece at a time, so a file of any size
/// costs no memory. Each send (a redirect's, a retry's) reads it again
/// from its start; a send that finds the file gone, unreadable or of
/// another size than now fails with `REQIVO_ERR_IO` (before anything is
/// written when it is found at the start; otherwise the connection is
/// closed mid-body, so no wrong length is ever sent whole).
///
/// Ownership: `name`, `path` and `content_type` are copied; the file is not
/// opened again until a send.
/// NULL: `mp`, `name` or `path` NULL is `REQIVO_ERR_INVALID_ARGUMENT`;
/// `content_type` may be NULL.
/// Thread safety: a form is modified by one thread at a time.
/// Returns: 0; `REQIVO_ERR_INVALID_ARGUMENT` for a file missing, unreadable
/// or not a regular file (the message names it and the reason), or a
/// string not UTF-8; `REQIVO_ERR_INVALID_HEADER` for a `content_type`
/// with control bytes. Nothing is added on failure.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multipart_add_file(
    mp: *mut reqivo_multipart,
    name: *const c_char,
    name_len: usize,
    path: *const c_char,
    path_len: usize,
    content_type: *const c_char,
    content_type_len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let form = borrow!(mut mp, err);
        require!(name, err);
        require!(path, err);
        // SAFETY: each points to its given number of bytes (API contract).
        let (name, path, content_type) = unsafe {
            (
                try_or_fail!(str_in(name, name_len, "name"), err),
                try_or_fail!(str_in(path, path_len, "path"), err),
                try_or_fail!(str_in(content_type, content_type_len, "content_type"), err),
            )
        };
        let content_type = Some(content_type).filter(|t| !t.is_empty());
        try_or_fail!(form.add_file(name, Path::new(path), content_type), err);
        OK
    })
}

/// Frees a form. Requests it was set on keep their copy.
///
/// Ownership: the form ends; do not use `mp` afterwards.
/// NULL: ignored.
/// Thread safety: no call may be using `mp` in another thread.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multipart_free(mp: *mut reqivo_multipart) {
    // SAFETY: NULL or the caller's form.
    ffi_boundary!({ unsafe { free_box(mp) } })
}
