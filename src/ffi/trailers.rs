//! Trailer fields in C: an area of `[count][reqivo_header; count][strings]`
//! (each string NUL-terminated), aligned for the count. A response keeps
//! it in its one allocation, after the body's NUL (flag
//! `REQIVO_RESPONSE_TRAILERS`), so a response without trailers pays
//! nothing; a stream builds it once its body has ended.
use std::mem::{align_of, size_of};

use super::handle::try_ref;
use super::response::{reqivo_header, reqivo_response, reqivo_str, REQIVO_RESPONSE_TRAILERS};
use super::stream::reqivo_stream;
use crate::proto::Trailers;

/// The area's alignment: that of its count and of the header array.
pub(crate) const ALIGN: usize = align_of::<usize>();
const _: () = assert!(align_of::<reqivo_header>() <= ALIGN);

/// Bytes the area takes (0 for no trailers).
pub(crate) fn area_len(t: &Trailers) -> usize {
    if t.is_empty() {
        return 0;
    }
    let n = t.len();
    size_of::<usize>() + n * size_of::<reqivo_header>() + t.text_len() + 2 * n
}

/// Writes the area for `t` at `at`.
///
/// # Safety
/// `at` is aligned to `ALIGN` and has `area_len(t)` writable bytes that
/// stay put for as long as the area is read.
pub(crate) unsafe fn write_area(at: *mut u8, t: &Trailers) {
    let n = t.len();
    // SAFETY: the caller gives room for the count, n headers and the
    // strings with their NULs, in that order, aligned for the count.
    unsafe {
        at.cast::<usize>().write(n);
        let headers = at.add(size_of::<usize>()).cast::<reqivo_header>();
        let mut s = headers.add(n).cast::<u8>();
        let mut put = |bytes: &[u8]| {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), s, bytes.len());
            *s.add(bytes.len()) = 0;
            let out = reqivo_str {
                ptr: s.cast(),
                len: bytes.len(),
            };
            s = s.add(bytes.len() + 1);
            out
        };
        for (i, (name, value)) in t.iter().enumerate() {
            let h = reqivo_header {
                name: put(name),
                value: put(value),
            };
            headers.add(i).write(h);
        }
    }
}

/// The header array and count of an area.
///
/// # Safety
/// `at` is an area written by `write_area`, still alive.
unsafe fn read_area(at: *const u8) -> (*const reqivo_header, usize) {
    // SAFETY: per the caller.
    unsafe { (at.add(size_of::<usize>()).cast(), at.cast::<usize>().read()) }
}

/// An area in an allocation of its own (a stream's trailers).
pub(crate) struct OwnedArea {
    words: Vec<usize>,
}

impl OwnedArea {
    pub(crate) fn new(t: &Trailers) -> OwnedArea {
        let mut words = vec![0usize; area_len(t).div_ceil(size_of::<usize>()).max(1)];
        if !t.is_empty() {
            // SAFETY: `words` is aligned for usize and has room for the area.
            unsafe { write_area(words.as_mut_ptr().cast(), t) };
        }
        OwnedArea { words }
    }

    fn fields(&self) -> (*const reqivo_header, usize) {
        if self.words[0] == 0 {
            return (std::ptr::null(), 0);
        }
        // SAFETY: written by `new` and owned here.
        unsafe { read_area(self.words.as_ptr().cast()) }
    }
}

/// Writes `n` to `count` when it is not NULL; returns `fields`.
///
/// # Safety
/// `count` is NULL or writable.
unsafe fn answer(
    (fields, n): (*const reqivo_header, usize),
    count: *mut usize,
) -> *const reqivo_header {
    if !count.is_null() {
        // SAFETY: per the caller.
        unsafe { count.write(n) };
    }
    fields
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
        // SAFETY: NULL or a live response; `count` NULL or writable.
        unsafe {
            let found = match try_ref(resp) {
                Some(r) if r.flags & REQIVO_RESPONSE_TRAILERS != 0 => {
                    let end = r.body.add(r.body_len + 1);
                    read_area(end.add(end.align_offset(ALIGN)))
                }
                _ => (std::ptr::null(), 0),
            };
            answer(found, count)
        }
    })
}

/// The trailer fields of a stream's chunked body, once
/// `reqivo_stream_read` has returned 0 (the end of the body): `*count`
/// fields at the returned pointer, names as received.
///
/// Ownership: the fields belong to the stream; valid until
/// `reqivo_stream_free`.
/// NULL: `st` NULL returns NULL with `*count` 0; `count` may be NULL.
/// Thread safety: a stream is used by one thread at a time.
/// Returns: the fields, or NULL with `*count` 0 when there are none or
/// the body has not been read to its end yet.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_stream_trailers(
    st: *mut reqivo_stream,
    count: *mut usize,
) -> *const reqivo_header {
    ffi_boundary!({
        // SAFETY: NULL or a live stream used by one thread.
        let found = match unsafe { super::handle::try_mut(st) } {
            Some(h) => h
                .trailers()
                .map_or((std::ptr::null(), 0), OwnedArea::fields),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: `count` NULL or writable.
        unsafe { answer(found, count) }
    })
}
