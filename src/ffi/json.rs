//! JSON lookups for C callers: in a response body, or in JSON text the
//! caller holds (a binding's copy of a body).
use std::ffi::c_char;
use std::mem::size_of;

use super::boundary::{bytes_in, copy_out, str_in};
use super::code::reqivo_code;
use super::error::{reqivo_error, Fail};
use super::handle::{CallerOwned, Castable};
use super::response::reqivo_str;
use crate::client::json::{decode_string, lookup, JsonKind, JsonValue};

/// `reqivo_json_value.type`: JSON null.
pub const REQIVO_JSON_NULL: u32 = 0;
/// `reqivo_json_value.type`: true or false, in `boolean`.
pub const REQIVO_JSON_BOOL: u32 = 1;
/// `reqivo_json_value.type`: a number that fits int64_t, in `integer` (and `number`).
pub const REQIVO_JSON_INTEGER: u32 = 2;
/// `reqivo_json_value.type`: any other number, in `number`.
pub const REQIVO_JSON_FLOAT: u32 = 3;
/// `reqivo_json_value.type`: a string; decode it with `reqivo_json_string`.
pub const REQIVO_JSON_STRING: u32 = 4;
/// `reqivo_json_value.type`: an array; its text is in `raw`.
pub const REQIVO_JSON_ARRAY: u32 = 5;
/// `reqivo_json_value.type`: an object; its text is in `raw`.
pub const REQIVO_JSON_OBJECT: u32 = 6;

/// A value found in a response's JSON body. Set `struct_size` before the
/// call; the struct only grows by appending fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct reqivo_json_value {
    /// Set by the caller to `sizeof(reqivo_json_value)` before the call.
    pub struct_size: u32,
    /// One of `REQIVO_JSON_*`.
    pub r#type: u32,
    /// For `REQIVO_JSON_BOOL`.
    pub boolean: bool,
    /// For `REQIVO_JSON_INTEGER`.
    pub integer: i64,
    /// For `REQIVO_JSON_INTEGER` and `REQIVO_JSON_FLOAT`.
    pub number: f64,
    /// The value's JSON text inside the response body (strings with their
    /// quotes and escapes); not NUL-terminated. Valid while the response is.
    pub raw: reqivo_str,
}

impl Castable for reqivo_json_value {
    type Ownership = CallerOwned;
    type RustType = reqivo_json_value;
}

impl reqivo_json_value {
    /// Fails unless the caller's struct is at least this version's size.
    pub(crate) fn check_size(&self) -> Result<(), Fail> {
        if (self.struct_size as usize) < size_of::<reqivo_json_value>() {
            let msg = format!(
                "out->struct_size is {}, needs {}",
                self.struct_size,
                size_of::<reqivo_json_value>()
            );
            return Err(Fail::new(reqivo_code::REQIVO_ERR_INVALID_ARGUMENT, msg));
        }
        Ok(())
    }

    /// Fails unless the value is a string.
    fn check_string(&self) -> Result<(), Fail> {
        if self.r#type != REQIVO_JSON_STRING {
            let msg = format!("value has type {}, not REQIVO_JSON_STRING", self.r#type);
            return Err(Fail::new(reqivo_code::REQIVO_ERR_INVALID_ARGUMENT, msg));
        }
        Ok(())
    }

    /// Describes `v`, pointing into the document it was found in.
    pub(crate) fn of(v: &JsonValue<'_>) -> reqivo_json_value {
        reqivo_json_value {
            struct_size: size_of::<reqivo_json_value>() as u32,
            r#type: kind_code(v.kind),
            boolean: v.boolean,
            integer: v.integer,
            number: v.number,
            raw: reqivo_str {
                ptr: v.raw.as_ptr().cast(),
                len: v.raw.len(),
            },
        }
    }
}

fn kind_code(k: JsonKind) -> u32 {
    match k {
        JsonKind::Null => REQIVO_JSON_NULL,
        JsonKind::Bool => REQIVO_JSON_BOOL,
        JsonKind::Integer => REQIVO_JSON_INTEGER,
        JsonKind::Float => REQIVO_JSON_FLOAT,
        JsonKind::String => REQIVO_JSON_STRING,
        JsonKind::Array => REQIVO_JSON_ARRAY,
        JsonKind::Object => REQIVO_JSON_OBJECT,
    }
}

/// Decodes a `REQIVO_JSON_STRING` value (escapes undone, UTF-8) into `buf`,
/// NUL-terminated. Call with `cap` 0 to learn the size: `*out_len` always
/// receives the decoded length (without the NUL) when the value is a string.
///
/// Ownership: `buf` and `out_len` are caller-owned.
/// NULL: `value` or `out_len` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `buf`
/// may be NULL when `cap` is 0.
/// Thread safety: callable from any thread while the response (or the
/// text given to `reqivo_json_lookup`) lives.
/// Returns: 0 when the text and its NUL fit; `REQIVO_ERR_BUFFER_TOO_SMALL`
/// (with `*out_len` set) when they do not; `REQIVO_ERR_INVALID_ARGUMENT` when
/// the value is no string.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_json_string(
    value: *const reqivo_json_value,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let v = borrow!(value, err);
        require!(out_len, err);
        // SAFETY: `value` was filled by reqivo_response_json or
        // reqivo_json_lookup, so `raw` points into a live response or text.
        let raw = try_or_fail!(unsafe { str_in(v.raw.ptr, v.raw.len, "value->raw") }, err);
        try_or_fail!(v.check_string(), err);
        let text = try_or_fail!(decode_string(raw), err);
        // SAFETY: `out_len` checked non-NULL; `buf` holds `cap` bytes (API contract).
        try_or_fail!(
            unsafe { copy_out(&text, buf, cap, out_len, "the string") },
            err
        );
        reqivo_code::REQIVO_OK as u32
    })
}

/// Looks up the value at JSON Pointer `pointer` (RFC 6901, as in
/// `reqivo_response_json`) in the JSON text `json` the caller holds, and
/// describes it in `out` without copying: for a binding that keeps its own
/// copy of a body, so that pointers are evaluated by one implementation.
///
/// Ownership: `out->raw` points into `json`; valid while the caller keeps it.
/// NULL: `json` NULL with `json_len` > 0, or `out` NULL, is
/// `REQIVO_ERR_INVALID_ARGUMENT`; `pointer` may be NULL when `len` is 0.
/// Thread safety: callable from any thread.
/// Returns: 0 with `*out` filled, or `REQIVO_ERR_INVALID_JSON` (the text is
/// not JSON), `REQIVO_ERR_INVALID_JSON_POINTER`, `REQIVO_ERR_JSON_NOT_FOUND`,
/// `REQIVO_ERR_INVALID_ARGUMENT` (`out->struct_size` too small).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_json_lookup(
    json: *const u8,
    json_len: usize,
    pointer: *const c_char,
    len: usize,
    out: *mut reqivo_json_value,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let out = borrow!(mut out, err);
        // SAFETY: `json` holds `json_len` bytes and `pointer` `len` bytes
        // (API contract).
        let (doc, pointer) = unsafe {
            (
                try_or_fail!(bytes_in(json, json_len, "json"), err),
                try_or_fail!(str_in(pointer, len, "pointer"), err),
            )
        };
        try_or_fail!(out.check_size(), err);
        *out = reqivo_json_value::of(&try_or_fail!(lookup(doc, pointer), err));
        reqivo_code::REQIVO_OK as u32
    })
}
