//! The fixed-layout response: one allocation (a `block`) holds the
//! struct, the header views and every byte they point to (URL, reason,
//! names, values, body), each string NUL-terminated for C convenience.
//!
//! Layout: [block word][reqivo_response][reqivo_header; n][strings][body][NUL],
//! and, only for a body that ended with trailer fields, an aligned area of
//! them after the NUL (see `trailers`).
//! The allocation is the `Vec<u8>` the body was read into (see `ToC`).
use std::ffi::c_char;
use std::mem::{align_of, size_of};

use super::block;
use super::boundary::{bytes_in, str_in};
use super::code::reqivo_code;
use super::error::reqivo_error;
use super::handle::{try_ref, CallerOwned, Castable};
use super::json::reqivo_json_value;
use super::trailers;
use crate::client::json::lookup;
use crate::client::{Finish, Parts, Response, ResponseHead, Timings, TlsInfo, Trailers};

/// A byte string owned by the library: `len` bytes at `ptr`, followed by a NUL.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct reqivo_str {
    /// The first byte; never NULL in a response (an empty string points at its NUL).
    pub ptr: *const c_char,
    /// The length in bytes, without the NUL.
    pub len: usize,
}

/// One header field: name as received, value without surrounding whitespace.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct reqivo_header {
    /// The field name, with the case the server sent.
    pub name: reqivo_str,
    /// The field value, without leading or trailing whitespace.
    pub value: reqivo_str,
}

/// When each phase ended, in nanoseconds since the send began; 0 when the
/// phase did not happen (no DNS for an IP literal, no connect on reuse).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct reqivo_timings {
    /// Name resolution done (0 for an IP literal or a reused connection).
    pub dns_ns: u64,
    /// TCP connection established (0 on a reused connection).
    pub connect_ns: u64,
    /// TLS handshake done (0 without TLS).
    pub tls_ns: u64,
    /// Request head and body written.
    pub sent_ns: u64,
    /// First response byte read.
    pub first_byte_ns: u64,
    /// Response complete: body read (send) or head read (open).
    pub total_ns: u64,
}

/// The response was read on a connection that served an earlier request.
pub const REQIVO_RESPONSE_REUSED: u32 = 1;
/// The response came over TLS.
pub const REQIVO_RESPONSE_TLS: u32 = 2;
/// The body was decompressed by the library.
pub const REQIVO_RESPONSE_DECOMPRESSED: u32 = 4;
/// The TLS connection was made by resuming an earlier session of the same
/// `reqivo_tls_config` (an abbreviated handshake, no certificate exchange).
pub const REQIVO_RESPONSE_TLS_RESUMED: u32 = 8;
/// This is a 307/308 redirect that was not followed because the request
/// body came from a callback and cannot be sent again.
pub const REQIVO_RESPONSE_REDIRECT_NOT_FOLLOWED: u32 = 16;
/// The chunked body ended with trailer fields: `reqivo_response_trailers`
/// gives them.
pub const REQIVO_RESPONSE_TRAILERS: u32 = 32;

/// A complete response in one allocation: read the fields directly. It is
/// immutable and may be read from any thread; free it once with
/// `reqivo_response_free`, after which every pointer in it is invalid.
#[repr(C)]
pub struct reqivo_response {
    /// `sizeof(reqivo_response)` of the library that made it; fields only
    /// ever get appended.
    pub struct_size: u32,
    /// The status code, 100-599 (a final response: 1xx other than 101 are skipped).
    pub status: u16,
    /// 1 or 2: the HTTP version is HTTP/`http_major`.`http_minor`.
    pub http_major: u8,
    /// 0 or 1 (0 for HTTP/2).
    pub http_minor: u8,
    /// `REQIVO_RESPONSE_*` bits.
    pub flags: u32,
    /// Redirects followed to reach this response.
    pub redirect_count: u32,
    /// The final URL, after redirects.
    pub url: reqivo_str,
    /// The reason phrase as sent (may be empty).
    pub reason: reqivo_str,
    /// `header_count` fields in received order, names as received.
    pub headers: *const reqivo_header,
    /// How many entries `headers` holds.
    pub header_count: usize,
    /// The body (NUL-terminated past `body_len`; may contain NULs itself).
    pub body: *const u8,
    /// The body length in bytes.
    pub body_len: usize,
    /// When each phase of the final exchange ended.
    pub timings: reqivo_timings,
    /// The TLS version of the connection, as its wire number
    /// (`REQIVO_TLS_VERSION_1_2`, `REQIVO_TLS_VERSION_1_3`); 0 without TLS.
    pub tls_version: u16,
}

impl reqivo_str {
    /// An empty, NUL-terminated string with static storage.
    pub(crate) const EMPTY: reqivo_str = reqivo_str {
        ptr: c"".as_ptr(),
        len: 0,
    };
}

/// A `reqivo_str` passed by pointer is always the caller's out slot.
impl Castable for reqivo_str {
    type Ownership = CallerOwned;
    type RustType = reqivo_str;
}

impl Castable for reqivo_response {
    type Ownership = ();
    type RustType = reqivo_response;
}

const OK: u32 = reqivo_code::REQIVO_OK as u32;

/// Where things go in front of the body, from the block: the block, the
/// header array after it, then the strings.
struct Layout {
    headers_at: usize,
    strings_at: usize,
    /// Room needed in front of the body when the buffer is aligned for the
    /// block (`block::build` moves the body of one that is not).
    front: usize,
}

impl Layout {
    fn new(head: &ResponseHead, url_len: usize) -> Layout {
        let n = head.header_count();
        let headers_at =
            block::size::<reqivo_response>().next_multiple_of(align_of::<reqivo_header>());
        let strings_at = headers_at + n * size_of::<reqivo_header>();
        // Every string is followed by a NUL: names, values, URL, reason.
        let strings = head.text_len() + 2 * n + url_len + 1 + 1;
        Layout {
            headers_at,
            strings_at,
            front: strings_at + strings,
        }
    }
}

impl reqivo_response {
    /// The `nth` value of header `name` (compared case-insensitively).
    fn header(&self, name: &[u8], nth: usize) -> Option<reqivo_str> {
        let fields = if self.header_count == 0 {
            &[][..]
        } else {
            // SAFETY: `headers` holds `header_count` entries inside the block.
            unsafe { std::slice::from_raw_parts(self.headers, self.header_count) }
        };
        fields
            .iter()
            // SAFETY: each name points into the live block.
            .filter(|h| {
                unsafe { std::slice::from_raw_parts(h.name.ptr.cast::<u8>(), h.name.len) }
                    .eq_ignore_ascii_case(name)
            })
            .nth(nth)
            .map(|h| h.value)
    }
}

/// The finisher that builds the C response around the body in place.
pub(crate) struct ToC;

impl Finish for ToC {
    type Output = *const reqivo_response;

    fn front(&self, head: &ResponseHead, url: &str) -> usize {
        Layout::new(head, url.len()).front
    }

    fn finish(self, p: Parts<'_>) -> *const reqivo_response {
        let r = Meta {
            head: &p.head,
            url: p.url.as_str(),
            flags: flags(p.reused, p.tls, p.redirect_not_followed, p.decompressed),
            redirect_count: p.redirect_count,
            timings: timings(&p.timings),
            tls_version: p.tls.map_or(0, |t| t.version),
            trailers: &p.trailers,
        };
        build(&r, p.body, p.body_start)
    }
}

/// What goes into a response besides the body.
struct Meta<'a> {
    head: &'a ResponseHead,
    url: &'a str,
    flags: u32,
    redirect_count: u32,
    timings: reqivo_timings,
    tls_version: u16,
    trailers: &'a Trailers,
}

/// The `REQIVO_RESPONSE_*` bits of a response, from the fields both of its
/// forms (`Response`, `Parts`) carry.
fn flags(
    reused: bool,
    tls: Option<TlsInfo>,
    redirect_not_followed: bool,
    decompressed: bool,
) -> u32 {
    let mut f = 0;
    if reused {
        f |= REQIVO_RESPONSE_REUSED;
    }
    if let Some(tls) = tls {
        f |= REQIVO_RESPONSE_TLS;
        if tls.resumed {
            f |= REQIVO_RESPONSE_TLS_RESUMED;
        }
    }
    if redirect_not_followed {
        f |= REQIVO_RESPONSE_REDIRECT_NOT_FOLLOWED;
    }
    if decompressed {
        f |= REQIVO_RESPONSE_DECOMPRESSED;
    }
    f
}

fn ns(d: std::time::Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

fn timings(t: &Timings) -> reqivo_timings {
    reqivo_timings {
        dns_ns: ns(t.dns),
        connect_ns: ns(t.connect),
        tls_ns: ns(t.tls),
        sent_ns: ns(t.sent),
        first_byte_ns: ns(t.first_byte),
        total_ns: ns(t.total),
    }
}

/// Copies strings into the byte area, each followed by a NUL.
struct Writer {
    at: *mut u8,
}

impl Writer {
    /// # Safety
    /// The byte area has room for `s.len() + 1` more bytes.
    unsafe fn put(&mut self, s: &[u8]) -> reqivo_str {
        let ptr = self.at;
        // SAFETY: room reserved by the size computation in `into_c`.
        unsafe {
            std::ptr::copy_nonoverlapping(s.as_ptr(), ptr, s.len());
            *ptr.add(s.len()) = 0;
            self.at = ptr.add(s.len() + 1);
        }
        reqivo_str {
            ptr: ptr.cast(),
            len: s.len(),
        }
    }
}

/// Builds the single allocation for `r`, copying its body: for responses
/// that were not read through `ToC` (a stream's head, a hook's view).
pub(crate) fn into_c(r: &Response) -> *const reqivo_response {
    let meta = Meta {
        head: &r.head,
        url: &r.url,
        flags: flags(r.reused, r.tls, r.redirect_not_followed, r.decompressed),
        redirect_count: r.redirect_count,
        timings: timings(&r.timings),
        tls_version: r.tls.map_or(0, |t| t.version),
        trailers: &r.trailers,
    };
    let front = Layout::new(&r.head, r.url.len()).front;
    let mut buf = Vec::with_capacity(front + r.body.len() + 1);
    buf.resize(front, 0);
    buf.extend_from_slice(&r.body);
    build(&meta, buf, front)
}

/// Turns `buf` (room for the layout, then the body from `body_start`) into
/// the response: writes the headers and strings in front of the body, a
/// NUL and any trailer area after it, and the struct, as one block.
fn build(r: &Meta<'_>, mut buf: Vec<u8>, body_start: usize) -> *const reqivo_response {
    let layout = Layout::new(r.head, r.url.len());
    assert!(
        body_start >= layout.front,
        "the session keeps the room ToC::front asked for"
    );
    let body_len = buf.len() - body_start;
    buf.push(0);
    // Room for the trailer area wherever the buffer ends up: it starts at
    // the first aligned byte after the NUL.
    let trailer_len = trailers::area_len(r.trailers);
    if trailer_len > 0 {
        buf.resize(buf.len() + trailers::ALIGN - 1 + trailer_len, 0);
    }
    block::build(buf, body_start, layout.front, |at, body| {
        // SAFETY: `block::build` gives `layout.front` bytes from `at` (the
        // block, the header array and the strings fit in them by `Layout`)
        // and the body, its NUL and the trailer room from `body`.
        unsafe {
            let headers = at.add(layout.headers_at).cast::<reqivo_header>();
            let mut w = Writer {
                at: at.add(layout.strings_at),
            };
            for (i, (name, value)) in r.head.headers().enumerate() {
                let h = reqivo_header {
                    name: w.put(name),
                    value: w.put(value),
                };
                headers.add(i).write(h);
            }
            let url = w.put(r.url.as_bytes());
            let reason = w.put(r.head.reason());
            debug_assert!(w.at <= body);
            let mut flags = r.flags;
            if trailer_len > 0 {
                let end = body.add(body_len + 1);
                trailers::write_area(end.add(end.align_offset(trailers::ALIGN)), r.trailers);
                flags |= REQIVO_RESPONSE_TRAILERS;
            }
            reqivo_response {
                struct_size: size_of::<reqivo_response>() as u32,
                status: r.head.status,
                http_major: r.head.major,
                http_minor: r.head.minor,
                flags,
                redirect_count: r.redirect_count,
                url,
                reason,
                headers,
                header_count: r.head.header_count(),
                body,
                body_len,
                timings: r.timings,
                tls_version: r.tls_version,
            }
        }
    })
}

/// # Safety
/// `resp` is NULL or came from `into_c` or `ToC` and was not freed.
pub(crate) unsafe fn free_c(resp: *const reqivo_response) {
    // SAFETY: per the caller, a block from `build`.
    unsafe { block::free(resp) }
}

/// Frees a response from `reqivo_session_send`: the struct, its headers
/// and every byte they point to, in one release.
///
/// Ownership: every pointer in the response is invalid afterwards. Never
/// free the head of a stream (`reqivo_stream_response`): the stream owns it.
/// NULL: ignored.
/// Thread safety: no other thread may still be reading the response.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_response_free(resp: *const reqivo_response) {
    // SAFETY: NULL or a response the caller owns.
    ffi_boundary!({ unsafe { free_c(resp) } })
}

/// Finds the `nth` (0-based) value of header `name` (`len` bytes, compared
/// case-insensitively) and points `out` at it.
///
/// Ownership: `out` points into the response; valid until it is freed.
/// NULL: returns false if `resp`, `name` (with `len` > 0) or `out` is NULL.
/// Thread safety: responses are immutable; callable from any thread.
/// Returns: true and `out` set, or false with `out` untouched when there is
/// no such value.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_response_header(
    resp: *const reqivo_response,
    name: *const c_char,
    len: usize,
    nth: usize,
    out: *mut reqivo_str,
) -> bool {
    ffi_boundary!({
        let (out, r) = (borrow!(mut out), borrow!(resp));
        // SAFETY: `name` points to `len` bytes per the API contract.
        let Ok(name) = (unsafe { bytes_in(name.cast(), len, "name") }) else {
            return false;
        };
        r.header(name, nth).map(|value| *out = value).is_some()
    })
}

/// Looks up the value at JSON Pointer `pointer` (RFC 6901: "" for the whole
/// document, "/items/0/name", with "~1" for '/' and "~0" for '~') in the
/// response body, parsed as JSON, and describes it in `out` without copying.
///
/// Ownership: `out->raw` points into the response; valid until it is freed.
/// NULL: `resp` or `out` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `pointer`
/// may be NULL when `len` is 0.
/// Thread safety: responses are immutable; callable from any thread.
/// Returns: 0 with `*out` filled, or `REQIVO_ERR_INVALID_JSON` (the body is
/// not JSON), `REQIVO_ERR_INVALID_JSON_POINTER`, `REQIVO_ERR_JSON_NOT_FOUND`,
/// `REQIVO_ERR_INVALID_ARGUMENT` (`out->struct_size` too small).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_response_json(
    resp: *const reqivo_response,
    pointer: *const c_char,
    len: usize,
    out: *mut reqivo_json_value,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let (r, out) = (borrow!(resp, err), borrow!(mut out, err));
        // SAFETY: `pointer` holds `len` bytes.
        let pointer = try_or_fail!(unsafe { str_in(pointer, len, "pointer") }, err);
        try_or_fail!(out.check_size(), err);
        // SAFETY: the body pointer and length describe bytes inside the live block.
        let body = unsafe { try_or_fail!(bytes_in(r.body, r.body_len, "body"), err) };
        *out = reqivo_json_value::of(&try_or_fail!(lookup(body, pointer), err));
        OK
    })
}

/// The trailer fields of a chunked response body (RFC 9112 §7.1.2), in
/// received order, names as received: `*count` fields at the returned
/// pointer. Most responses have none.
///
/// Ownership: the fields point into the response; valid until it is freed.
/// NULL: `resp` NULL returns NULL with `*count` 0; `count` may be NULL.
/// Thread safety: responses are immutable; callable from any thread.
/// Returns: the fields, or NULL with `*count` 0 when there are none.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_response_trailers(
    resp: *const reqivo_response,
    count: *mut usize,
) -> *const reqivo_header {
    ffi_boundary!({
        // SAFETY: `resp` NULL or a live response; `count` NULL or writable.
        unsafe {
            let found = try_ref(resp).map_or(trailers::NONE, |r| trailers::of_response(r));
            trailers::answer(found, count)
        }
    })
}
