//! The C response is one allocation (DESIGN §4, "The fixed-layout
//! response"): freeing it is exactly one deallocation, and every pointer in
//! it (header array, names, values, URL, reason, body) lies inside the block
//! that deallocation releases.
//!
//! The builder is crate-private, so this binary measures from outside: a
//! global allocator wrapping `System` counts, per thread, the allocator calls
//! made while `reqivo_response_free` runs, and remembers the block freed.
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::c_char;

use reqivo::ffi::error::{message_of, reqivo_error};
use reqivo::ffi::request::{reqivo_request_free, reqivo_request_new};
use reqivo::ffi::response::{reqivo_response, reqivo_response_free, reqivo_str};
use reqivo::ffi::session::{reqivo_session_free, reqivo_session_new, reqivo_session_send};
use support::*;

struct Counting;

#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Calls {
    allocs: usize,
    deallocs: usize,
    reallocs: usize,
    /// Address and size of the last block this thread freed.
    last_freed: (usize, usize),
}

thread_local! {
    // Const-initialised and without a destructor, so using it inside the
    // allocator never allocates or registers anything.
    static CALLS: Cell<Calls> = const {
        Cell::new(Calls { allocs: 0, deallocs: 0, reallocs: 0, last_freed: (0, 0) })
    };
}

fn note(f: impl FnOnce(&mut Calls)) {
    let _ = CALLS.try_with(|c| {
        let mut v = c.get();
        f(&mut v);
        c.set(v);
    });
}

fn calls() -> Calls {
    CALLS.with(|c| c.get())
}

// SAFETY: every call is forwarded to `System` unchanged; only per-thread
// counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(|c| c.allocs += 1);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(|c| c.allocs += 1);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(|c| {
            c.deallocs += 1;
            c.last_freed = (ptr as usize, layout.size());
        });
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(|c| c.reallocs += 1);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn new_error() -> reqivo_error {
    reqivo_error {
        code: 0,
        os_error: 0,
        message: [0; 256],
    }
}

/// Sends `method url` through the C API and returns the response pointer.
fn c_send(method: &str, url: &str) -> *const reqivo_response {
    let mut err = new_error();
    let s = reqivo_session_new(std::ptr::null(), &mut err);
    assert!(!s.is_null(), "{}", message_of(&err));
    let r = reqivo_request_new(
        method.as_ptr().cast::<c_char>(),
        method.len(),
        url.as_ptr().cast::<c_char>(),
        url.len(),
        &mut err,
    );
    assert!(!r.is_null(), "{}", message_of(&err));
    let resp = reqivo_session_send(s, r, std::ptr::null(), &mut err);
    assert!(!resp.is_null(), "send failed: {}", message_of(&err));
    assert_eq!(err.code, 0);
    reqivo_request_free(r);
    reqivo_session_free(s);
    resp
}

/// Every byte range the response points to, as (what, start, len incl. NUL).
fn ranges(resp: &reqivo_response) -> Vec<(String, usize, usize)> {
    let s = |what: String, v: &reqivo_str| (what, v.ptr as usize, v.len + 1);
    let mut out = vec![
        (
            "struct".to_string(),
            resp as *const reqivo_response as usize,
            std::mem::size_of::<reqivo_response>(),
        ),
        s("url".into(), &resp.url),
        s("reason".into(), &resp.reason),
        ("body".into(), resp.body as usize, resp.body_len + 1),
        (
            "header array".into(),
            resp.headers as usize,
            resp.header_count * std::mem::size_of::<reqivo::ffi::response::reqivo_header>(),
        ),
    ];
    for i in 0..resp.header_count {
        // SAFETY: `headers` holds `header_count` entries while `resp` is live.
        let h = unsafe { &*resp.headers.add(i) };
        out.push(s(format!("header {} name", i), &h.name));
        out.push(s(format!("header {} value", i), &h.value));
    }
    out
}

/// Reads a string out of the response, checking its NUL terminator.
fn string(v: &reqivo_str) -> String {
    // SAFETY: `ptr` points to `len` bytes plus a NUL while the response is live.
    let bytes = unsafe { std::slice::from_raw_parts(v.ptr.cast::<u8>(), v.len + 1) };
    assert_eq!(bytes[v.len], 0, "string not NUL-terminated");
    String::from_utf8_lossy(&bytes[..v.len]).into_owned()
}

/// Frees `resp` and checks it was one block holding every range.
fn free_and_check_one_block(resp: *const reqivo_response) {
    // SAFETY: a live response from `c_send`.
    let spans = ranges(unsafe { &*resp });
    let before = calls();
    reqivo_response_free(resp);
    let after = calls();
    assert_eq!(
        after.deallocs - before.deallocs,
        1,
        "deallocations in reqivo_response_free"
    );
    assert_eq!(
        after.allocs - before.allocs,
        0,
        "allocations in reqivo_response_free"
    );
    assert_eq!(
        after.reallocs - before.reallocs,
        0,
        "reallocations in reqivo_response_free"
    );
    let (start, size) = after.last_freed;
    for (what, at, len) in spans {
        assert!(
            at >= start && at + len <= start + size,
            "{} [{:#x}, +{}) lies outside the freed block [{:#x}, +{})",
            what,
            at,
            len,
            start,
            size
        );
    }
}

#[test]
fn response_is_one_block_holding_headers_url_reason_and_body() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(response(
            "200 Fine Thanks",
            &[("X-One", "1"), ("Set-Cookie", "a=b"), ("set-cookie", "c=d")],
            b"hello body",
        )),
    ]]);
    let resp = c_send("GET", &srv.url("/path?q=1"));
    // SAFETY: live response.
    let r = unsafe { &*resp };
    assert_eq!(r.status, 200);
    assert_eq!(string(&r.reason), "Fine Thanks");
    assert_eq!(string(&r.url), srv.url("/path?q=1"));
    assert_eq!(r.header_count, 4);
    // SAFETY: index < header_count.
    let first = unsafe { &*r.headers };
    assert_eq!(
        (string(&first.name), string(&first.value)),
        ("X-One".into(), "1".into())
    );
    // SAFETY: `body` holds `body_len` bytes and a NUL.
    let body = unsafe { std::slice::from_raw_parts(r.body, r.body_len + 1) };
    assert_eq!(body, b"hello body\0");
    free_and_check_one_block(resp);
}

#[test]
fn response_without_headers_or_body_is_one_block() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 204 No Content\r\n\r\n")),
    ]]);
    let resp = c_send("GET", &srv.url("/"));
    // SAFETY: live response.
    let r = unsafe { &*resp };
    assert_eq!((r.status, r.header_count, r.body_len), (204, 0, 0));
    free_and_check_one_block(resp);
}

#[test]
fn response_with_large_body_and_many_headers_is_one_block() {
    let headers: Vec<(String, String)> = (0..60)
        .map(|i| (format!("X-Header-{}", i), "v".repeat(i)))
        .collect();
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let body: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 249) as u8).collect();
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(response("200 OK", &refs, &body)),
    ]]);
    let resp = c_send("GET", &srv.url("/big"));
    // SAFETY: live response.
    let r = unsafe { &*resp };
    assert_eq!(r.header_count, 61);
    assert_eq!(r.body_len, body.len());
    // SAFETY: `body` holds `body_len` bytes.
    assert_eq!(
        unsafe { std::slice::from_raw_parts(r.body, r.body_len) },
        &body[..]
    );
    free_and_check_one_block(resp);
}

#[test]
fn redirected_response_is_one_block_with_the_final_url() {
    let srv = Server::serve(|req| match req.target.as_str() {
        "/from" => redirect("302 Found", "/to"),
        _ => ok("arrived"),
    });
    let resp = c_send("GET", &srv.url("/from"));
    // SAFETY: live response.
    let r = unsafe { &*resp };
    assert_eq!(r.redirect_count, 1);
    assert_eq!(string(&r.url), srv.url("/to"));
    free_and_check_one_block(resp);
}

/// Allocator calls this thread makes during `f`.
fn counted<T>(f: impl FnOnce() -> T) -> (T, Calls) {
    let before = calls();
    let out = f();
    let after = calls();
    let d = Calls {
        allocs: after.allocs - before.allocs,
        deallocs: after.deallocs - before.deallocs,
        reallocs: after.reallocs - before.reallocs,
        last_freed: (0, 0),
    };
    (out, d)
}

#[test]
fn a_keep_alive_get_costs_two_allocations_and_its_body_is_not_copied() {
    // Content-Length and chunked bodies, each over a kept-alive connection.
    let body = "x".repeat(5000);
    let chunked =
        bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    for answer in [ok(&body), chunked] {
        let srv = Server::serve(move |_| answer.clone());
        let url = srv.url("/small?x=1");
        let mut err = new_error();
        let s = reqivo_session_new(std::ptr::null(), &mut err);
        let r = reqivo_request_new(
            c"GET".as_ptr(),
            3,
            url.as_ptr().cast::<c_char>(),
            url.len(),
            &mut err,
        );
        // Warm up: the connection, the pool's entry for the host, the
        // thread's head buffer.
        for _ in 0..3 {
            reqivo_response_free(reqivo_session_send(s, r, std::ptr::null(), &mut err));
        }
        let (resp, d) = counted(|| reqivo_session_send(s, r, std::ptr::null(), &mut err));
        assert!(!resp.is_null(), "{}", message_of(&err));
        // SAFETY: live response.
        assert!(
            unsafe { (*resp).flags } & 1 != 0,
            "the connection was reused"
        );
        eprintln!("keep-alive GET: {:?}", d);
        // The head's one copy, and the response block the body was read
        // into (a chunked body may grow it: reallocations, not copies
        // into a second block).
        assert!(d.allocs <= 2, "allocations per keep-alive GET: {:?}", d);
        assert!(d.deallocs <= 1, "only the head copy is released: {:?}", d);
        free_and_check_one_block(resp);
        reqivo_request_free(r);
        reqivo_session_free(s);
    }
}
