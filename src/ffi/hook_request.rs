//! The request of one hop as an `on_request` hook sees it
//! (`reqivo_hook_request`), and the functions that read and change it.
use std::ffi::{c_char, CString};

use super::boundary::{c_text, header_in};
use super::code::reqivo_code;
use super::error::reqivo_error;
use super::handle::{Castable, OwnedBox};
use super::response::reqivo_str;
use crate::client::HookRequest;

const OK: u32 = reqivo_code::REQIVO_OK as u32;

/// The request of one hop, handed to an `on_request` hook. Valid only
/// during the callback; change its headers with the `reqivo_hook_request_*`
/// functions.
pub struct reqivo_hook_request {
    _private: [u8; 0],
}

/// What the hook functions reach through a `reqivo_hook_request` pointer.
pub(crate) struct HookView<'a, 'b, 'c> {
    req: &'a mut HookRequest<'b, 'c>,
    method: CString,
    url: CString,
}

impl<'a, 'b, 'c> HookView<'a, 'b, 'c> {
    /// The view of `req`, with its method and URL as C strings.
    pub(crate) fn new(req: &'a mut HookRequest<'b, 'c>) -> Self {
        let (method, url) = (c_text(req.method()), c_text(req.url().as_str()));
        HookView { req, method, url }
    }

    /// The pointer a hook gets, valid while the view lives.
    pub(crate) fn as_c(&mut self) -> *mut reqivo_hook_request {
        (self as *mut HookView<'_, '_, '_>).cast()
    }
}

fn c_str(text: &CString) -> reqivo_str {
    reqivo_str {
        ptr: text.as_ptr(),
        len: text.as_bytes().len(),
    }
}

impl Castable for reqivo_hook_request {
    type Ownership = OwnedBox;
    type RustType = HookView<'static, 'static, 'static>;
}

/// The hop's method, NUL-terminated.
///
/// Ownership: valid during the hook call only.
/// NULL: `r` NULL gives an empty string.
/// Thread safety: the hook's thread only.
/// Returns: the method.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_hook_request_method(r: *const reqivo_hook_request) -> reqivo_str {
    ffi_boundary!({ c_str(&borrow!(r).method) })
}

/// The hop's absolute URL, NUL-terminated.
///
/// Ownership: valid during the hook call only.
/// NULL: `r` NULL gives an empty string.
/// Thread safety: the hook's thread only.
/// Returns: the URL.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_hook_request_url(r: *const reqivo_hook_request) -> reqivo_str {
    ffi_boundary!({ c_str(&borrow!(r).url) })
}

/// Replaces every field `name` of this hop with one `name: value` (added
/// when absent). Validated like `reqivo_request_add_header`.
///
/// Ownership: `name` and `value` are copied.
/// NULL: `r` or `name` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `value` may be
/// NULL when `vlen` is 0.
/// Thread safety: the hook's thread only, during the hook call.
/// Returns: 0, or `REQIVO_ERR_INVALID_HEADER`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_hook_request_set_header(
    r: *mut reqivo_hook_request,
    name: *const c_char,
    nlen: usize,
    value: *const c_char,
    vlen: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let v = borrow!(mut r, err);
        // SAFETY: strings per contract.
        let (name, value) = try_or_fail!(unsafe { header_in(name, nlen, value, vlen) }, err);
        try_or_fail!(v.req.set_header(name, value), err);
        OK
    })
}

/// Adds a field to this hop, keeping others of the same name.
///
/// Ownership: `name` and `value` are copied.
/// NULL: `r` or `name` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `value` may be
/// NULL when `vlen` is 0.
/// Thread safety: the hook's thread only, during the hook call.
/// Returns: 0, or `REQIVO_ERR_INVALID_HEADER`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_hook_request_add_header(
    r: *mut reqivo_hook_request,
    name: *const c_char,
    nlen: usize,
    value: *const c_char,
    vlen: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let v = borrow!(mut r, err);
        // SAFETY: strings per contract.
        let (name, value) = try_or_fail!(unsafe { header_in(name, nlen, value, vlen) }, err);
        try_or_fail!(v.req.add_header(name, value), err);
        OK
    })
}

/// Removes every field `name` from this hop. Host, Content-Length and
/// Transfer-Encoding cannot be removed.
///
/// Ownership: nothing is kept.
/// NULL: `r` or `name` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: the hook's thread only, during the hook call.
/// Returns: 0, or `REQIVO_ERR_INVALID_HEADER` for a header that must stay.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_hook_request_remove_header(
    r: *mut reqivo_hook_request,
    name: *const c_char,
    nlen: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let v = borrow!(mut r, err);
        // SAFETY: strings per contract.
        let (name, _) = try_or_fail!(unsafe { header_in(name, nlen, std::ptr::null(), 0) }, err);
        try_or_fail!(v.req.remove_header(name), err);
        OK
    })
}
