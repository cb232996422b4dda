//! multipart/form-data uploads of a large file keep memory flat: the file
//! (sparse, so the disk holds nothing) is read a piece at a time while it
//! is sent, by the blocking send and by the multi. A server thread reads
//! the body as it comes, keeping only counts.
mod heap_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqivo::client::multi::Multi;
use reqivo::client::{Multipart, Request, Session, ToResponse};
use reqivo::net::{Pool, PoolConfig};

/// The file's size: 1 GiB, or REQIVO_MULTIPART_TEST_MIB MiB.
fn file_size() -> u64 {
    std::env::var("REQIVO_MULTIPART_TEST_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024u64)
        << 20
}

/// Peak resident set of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// What the server read of one upload: the body's length, its NUL bytes
/// (the sparse file's, as the part heads hold none), whether it matched
/// the Content-Length, and its first and last bytes.
#[derive(Debug, Default)]
struct Seen {
    content_type: String,
    length: u64,
    zeros: u64,
    complete: bool,
    start: Vec<u8>,
    end: Vec<u8>,
}

/// Serves `n` uploads on one connection each; answers 200 "ok".
fn server(n: usize) -> (u16, JoinHandle<Vec<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let mut out = Vec::new();
        for stream in listener.incoming().take(n) {
            let stream = stream.unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            let mut seen = Seen::default();
            let mut line = String::new();
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    seen.length = v.trim().parse().unwrap();
                }
                if lower.starts_with("content-type:") {
                    seen.content_type = line[13..].trim().to_string();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut buf = vec![0u8; 64 * 1024];
            let (mut left, mut got) = (seen.length, 0u64);
            while left > 0 {
                let cap = (left as usize).min(buf.len());
                let k = r.read(&mut buf[..cap]).unwrap();
                if k == 0 {
                    break;
                }
                let piece = &buf[..k];
                if seen.start.len() < 128 {
                    seen.start
                        .extend_from_slice(&piece[..k.min(128 - seen.start.len())]);
                }
                seen.end.extend_from_slice(piece);
                let keep = seen.end.len().saturating_sub(128);
                seen.end.drain(..keep);
                seen.zeros += piece.iter().filter(|&&b| b == 0).count() as u64;
                left -= k as u64;
                got += k as u64;
            }
            seen.complete = got == seen.length;
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .unwrap();
            out.push(seen);
        }
        out
    });
    (port, thread)
}

/// A sparse file of `size` bytes (zeros) in a fresh directory.
fn sparse_file(tag: &str, size: u64) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("reqivo-mp-{}-{}", tag, std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.bin");
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    path
}

fn form_request(port: u16, path: &std::path::Path) -> Request {
    let mut mp = Multipart::new();
    mp.add_field("title", b"a large file");
    mp.add_file("file", path, Some("application/x-zeros"))
        .unwrap();
    let mut req = Request::new("POST", &format!("http://127.0.0.1:{}/upload", port)).unwrap();
    req.set_multipart(&mp).unwrap();
    req
}

fn check(seen: &Seen, size: u64) {
    let boundary = seen
        .content_type
        .strip_prefix("multipart/form-data; boundary=")
        .expect("a multipart Content-Type");
    assert!(seen.complete, "{:?}", seen.length);
    assert_eq!(seen.zeros, size);
    assert!(seen.length > size);
    assert!(seen
        .start
        .starts_with(format!("--{}\r\n", boundary).as_bytes()));
    assert!(seen
        .end
        .ends_with(format!("\r\n--{}--\r\n", boundary).as_bytes()));
}

/// Runs `send` and checks that neither the heap nor the resident set grew
/// by more than a few pieces while it uploaded `size` bytes.
fn with_flat_memory(size: u64, send: impl FnOnce()) {
    let rss_before = peak_rss();
    let heap_before = heap_support::reset_peak();
    let started = Instant::now();
    send();
    let heap_growth = heap_support::peak().saturating_sub(heap_before);
    let rss_growth = peak_rss().saturating_sub(rss_before);
    eprintln!(
        "{} MiB in {:?}: heap peak +{} KiB, peak RSS +{} KiB",
        size >> 20,
        started.elapsed(),
        heap_growth >> 10,
        rss_growth >> 10
    );
    assert!(heap_growth < 4 << 20, "heap grew by {} bytes", heap_growth);
    assert!(
        rss_growth < 32 << 20,
        "peak RSS grew by {} bytes",
        rss_growth
    );
}

#[test]
fn a_large_file_uploads_with_flat_memory_blocking_and_in_the_multi() {
    let size = file_size();
    let path = sparse_file("flat", size);
    let (port, server) = server(2);
    let session = Session::new(Pool::new(PoolConfig::default()));
    // The first send's one-time allocations (a connection, buffers) count
    // against the bound too: it is a few hundred KiB, not the file.
    let req = form_request(port, &path);
    with_flat_memory(size, || {
        let resp = session.send(&req, None).unwrap();
        assert_eq!(resp.head.status, 200);
    });
    with_flat_memory(size, || {
        let mut m: Multi<ToResponse> = Multi::new().unwrap();
        m.handle().add(&session, &req, None, ToResponse, 1).unwrap();
        let until = Instant::now() + Duration::from_secs(120);
        let done = loop {
            assert!(Instant::now() < until, "the multi's upload did not finish");
            m.poll(Some(Duration::from_millis(100))).unwrap();
            if let Some(d) = m.next_done() {
                break d;
            }
        };
        assert_eq!(done.result.unwrap().head.status, 200);
    });
    for seen in server.join().unwrap() {
        check(&seen, size);
    }
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}
