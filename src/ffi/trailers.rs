//! Trailer fields in C: an area of `[count][reqivo_header; count][strings]`
//! (each string NUL-terminated), aligned for the count. A response keeps
//! it in its one allocation, after the body's NUL (flag
//! `REQIVO_RESPONSE_TRAILERS`), so a response without trailers pays
//! nothing; a stream builds it once its body has ended. The functions that
//! hand them out are `reqivo_response_trailers` and `reqivo_stream_trailers`.
use std::mem::{align_of, size_of};

use super::response::{reqivo_header, reqivo_response, reqivo_str, REQIVO_RESPONSE_TRAILERS};
use crate::client::Trailers;

/// Trailer fields as C gets them: the array and its length.
pub(crate) type Fields = (*const reqivo_header, usize);

/// No trailer fields.
pub(crate) const NONE: Fields = (std::ptr::null(), 0);

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
unsafe fn read_area(at: *const u8) -> Fields {
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

    pub(crate) fn fields(&self) -> Fields {
        if self.words[0] == 0 {
            return NONE;
        }
        // SAFETY: written by `new` and owned here.
        unsafe { read_area(self.words.as_ptr().cast()) }
    }
}

/// The trailer fields of a response: in its block after the body's NUL,
/// when it has any.
///
/// # Safety
/// `r` is a response block built by `response::build`.
pub(crate) unsafe fn of_response(r: &reqivo_response) -> Fields {
    if r.flags & REQIVO_RESPONSE_TRAILERS == 0 {
        return NONE;
    }
    // SAFETY: the area starts at the first aligned byte after the body's
    // NUL, inside the block (`response::build`).
    unsafe {
        let end = r.body.add(r.body_len + 1);
        read_area(end.add(end.align_offset(ALIGN)))
    }
}

/// Writes `n` to `count` when it is not NULL; returns `fields`.
///
/// # Safety
/// `count` is NULL or writable.
pub(crate) unsafe fn answer((fields, n): Fields, count: *mut usize) -> *const reqivo_header {
    if !count.is_null() {
        // SAFETY: per the caller.
        unsafe { count.write(n) };
    }
    fields
}
