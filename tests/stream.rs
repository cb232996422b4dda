//! Streamed bodies: what the reads return, when the connection goes back to
//! the pool, and that memory stays flat however large the body is.
//!
//! This binary counts heap bytes (live and high-water mark) with a global
//! allocator wrapping the system one, for the flat-memory test.
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use reqivo::client::Stream;
use reqivo::proto::ProtoErrorKind;
use support::*;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::SeqCst) + by;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Reads the whole stream `piece` bytes at a time.
fn read_all(st: &mut Stream, piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; piece];
    for _ in 0..1_000_000 {
        let n = st.read(&mut buf).expect("stream read");
        if n == 0 {
            return out;
        }
        assert!(n <= piece);
        out.extend_from_slice(&buf[..n]);
    }
    panic!("stream did not end");
}

fn open(s: &reqivo::client::Session, url: &str) -> Stream {
    s.open(&request("GET", url), None).expect("open stream")
}

#[test]
fn stream_reads_equal_the_content_length_body() {
    let body: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(response("200 OK", &[], &body)),
    ]]);
    let s = session();
    let mut st = open(&s, &srv.url("/"));
    assert_eq!(st.response().head.status, 200);
    assert!(st.response().body.is_empty());
    assert_eq!(read_all(&mut st, 7), body);
    assert!(st.is_done());
    let mut buf = [0u8; 16];
    assert_eq!(
        st.read(&mut buf).unwrap(),
        0,
        "reads after the end keep returning 0"
    );
}

#[test]
fn stream_reads_equal_the_chunked_body() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(concat!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "5;ext=1\r\nhello\r\n1\r\n \r\n",
        ))),
        Step::Sleep(10),
        Step::Send(bytes("5\r\nworld\r\n0\r\nTrailer: t\r\n\r\n")),
    ]]);
    let s = session();
    let mut st = open(&s, &srv.url("/"));
    assert_eq!(read_all(&mut st, 3), b"hello world");
}

#[test]
fn stream_reads_equal_the_close_delimited_body() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\n\r\nuntil")),
        Step::Sleep(10),
        Step::Send(bytes(" close")),
        Step::Close,
    ]]);
    let s = session();
    let mut st = open(&s, &srv.url("/"));
    assert_eq!(read_all(&mut st, 4), b"until close");
    assert_eq!(
        s.pool().stats().idle,
        0,
        "a close-delimited connection is not kept"
    );
}

#[test]
fn stream_head_is_available_before_the_body_arrives() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 201 Created\r\nX-Id: 7\r\nContent-Length: 4\r\n\r\n",
        )),
        Step::Mark("head sent"),
        Step::Sleep(100),
        Step::Send(bytes("late")),
    ]]);
    let s = session();
    let mut st = open(&s, &srv.url("/"));
    let head = &st.response().head;
    assert_eq!(head.status, 201);
    assert_eq!(head.value("x-id"), Some(&b"7"[..]));
    assert!(!st.is_done());
    assert_eq!(read_all(&mut st, 64), b"late");
}

#[test]
fn stream_connection_is_reused_only_after_the_body_was_read_to_its_end() {
    let srv = Server::scripted(vec![serve_n(2, &ok("0123456789"))]);
    let s = session();
    let mut st = open(&s, &srv.url("/one"));
    let mut buf = [0u8; 4];
    assert_eq!(st.read(&mut buf).unwrap(), 4);
    let stats = s.pool().stats();
    assert_eq!(
        (stats.in_use, stats.idle),
        (1, 0),
        "released before the end: {stats:?}"
    );
    assert_eq!(read_all(&mut st, 4), b"456789");
    let stats = s.pool().stats();
    assert_eq!((stats.in_use, stats.idle), (0, 1), "{stats:?}");
    drop(st);
    let r = get(&s, &srv.url("/two")).unwrap();
    assert!(r.reused);
    assert_eq!(srv.accepted(), 1);
}

#[test]
fn dropping_a_half_read_stream_closes_its_connection() {
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(response("200 OK", &[], &[b'h'; 100])),
        ],
        vec![Step::Read, Step::Send(ok("fresh"))],
    ]);
    let s = session();
    let mut st = open(&s, &srv.url("/big"));
    let mut buf = [0u8; 10];
    assert_eq!(st.read(&mut buf).unwrap(), 10);
    drop(st);
    assert!(
        srv.wait_client_closes(1),
        "the server never saw the connection close"
    );
    let stats = s.pool().stats();
    assert_eq!(
        (stats.in_use, stats.idle, stats.closed),
        (0, 0, 1),
        "{stats:?}"
    );
    let r = get(&s, &srv.url("/next")).unwrap();
    assert_eq!(text(&r), "fresh");
    assert!(!r.reused);
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn stream_without_body_returns_its_connection_at_once() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 204 No Content\r\n\r\n")),
        Step::Read,
        Step::Send(ok("next")),
    ]]);
    let s = session();
    let st = open(&s, &srv.url("/"));
    assert!(st.is_done());
    let stats = s.pool().stats();
    assert_eq!((stats.in_use, stats.idle), (0, 1), "{stats:?}");
    // Even while the stream object lives, its connection serves others.
    assert!(get(&s, &srv.url("/")).unwrap().reused);
    drop(st);
}

#[test]
fn stream_eof_inside_the_body_is_unexpected_eof_and_sticks() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort")),
        Step::Close,
    ]]);
    let s = session();
    let mut st = open(&s, &srv.url("/"));
    let mut buf = [0u8; 64];
    let mut got = 0;
    let e = loop {
        match st.read(&mut buf) {
            Ok(0) => panic!("a truncated body ended as a success after {} bytes", got),
            Ok(n) => got += n,
            Err(e) => break e,
        }
    };
    assert_eq!(got, 5);
    assert_eq!(proto_kind(&e), Some(ProtoErrorKind::UnexpectedEof), "{e:?}");
    let again = st.read(&mut buf).unwrap_err();
    assert_eq!(proto_kind(&again), Some(ProtoErrorKind::UnexpectedEof));
    assert_eq!(s.pool().stats().in_use, 0);
}

#[test]
fn large_chunked_stream_keeps_memory_flat() {
    const TOTAL: u64 = 64 << 20;
    const PIECE: usize = 16 << 10;
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        )),
        Step::ChunkedBody {
            chunk: 32 << 10,
            total: TOTAL,
        },
    ]]);
    let s = session();
    let mut buf = vec![0u8; PIECE];
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let mut st = open(&s, &srv.url("/huge"));
    let mut total = 0u64;
    for _ in 0..(TOTAL as usize / 16) {
        let n = st.read(&mut buf).expect("stream read");
        if n == 0 {
            break;
        }
        // Byte i of the body is i % 256 (see Step::ChunkedBody).
        assert_eq!(buf[0], (total % 256) as u8, "at offset {}", total);
        assert_eq!(buf[n - 1], ((total + n as u64 - 1) % 256) as u8);
        total += n as u64;
    }
    assert_eq!(total, TOTAL);
    assert!(st.is_done());
    let growth = PEAK.load(Ordering::SeqCst).saturating_sub(base);
    // A few socket-read buffers, on both sides of the loopback, at most.
    assert!(
        growth < 4 << 20,
        "heap grew by {} bytes while streaming {} bytes",
        growth,
        TOTAL
    );
    drop(st);
    assert_eq!(
        s.pool().stats().idle,
        1,
        "a fully read stream keeps its connection"
    );
}
