//! An HTTP/2 exchange (prior knowledge, the blocking send) against a peer
//! that answers with arbitrary bytes: h2's frame reader and HPACK decoder,
//! then reqivo's head, body, trailers and limits on whatever they let
//! through. Whatever the bytes, the send ends (the read and total
//! timeouts bound a peer that says too little) without a panic, and a
//! response it delivers is HTTP/2 with a status in range and a body
//! within the limit.
#![no_main]
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use reqivo::client::{HttpVersion, Limits, Pool, PoolConfig, Request, Session, Timeouts};

const BODY_LIMIT: u64 = 1 << 20;

/// The peer's socket, bound once per process.
fn listener() -> &'static (UnixListener, String) {
    static L: OnceLock<(UnixListener, String)> = OnceLock::new();
    L.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("reqivo-fuzz-h2-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).unwrap();
        (l, path.to_string_lossy().into_owned())
    })
}

fuzz_target!(|server: &[u8]| {
    let (l, path) = listener();
    let bytes = server.to_vec();
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = l.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut preface = [0u8; 24];
        let _ = conn.read_exact(&mut preface);
        let _ = conn.write_all(&bytes);
        let _ = conn.shutdown(std::net::Shutdown::Write);
        // Until the client is done (bounded by the read timeout).
        let mut sink = [0u8; 4096];
        while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
    });
    let s = Session::new(Pool::new(PoolConfig::default()));
    s.set_http_version(HttpVersion::Http2);
    s.set_unix_socket(Some(path.as_bytes())).unwrap();
    s.set_timeouts(Timeouts {
        connect: Some(Duration::from_millis(500)),
        read: Some(Duration::from_millis(100)),
        write: Some(Duration::from_millis(500)),
        total: Some(Duration::from_millis(1000)),
        pool: Some(Duration::from_millis(500)),
    });
    let limits = Limits {
        max_header_bytes: 16 << 10,
        ..Limits::default()
    };
    s.set_limits(limits, Some(BODY_LIMIT));
    let req = Request::new("GET", "http://fuzz.test/").unwrap();
    if let Ok(r) = s.send(&req, None) {
        assert_eq!((r.head.major, r.head.minor), (2, 0));
        assert!((100..=599).contains(&r.head.status), "status {}", r.head.status);
        assert!(r.body.len() as u64 <= BODY_LIMIT);
        assert!(r.head.header_count() <= limits.max_header_count);
    }
    drop(s);
    peer.join().unwrap();
});
