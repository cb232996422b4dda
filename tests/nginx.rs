//! Against a real nginx on 127.0.0.1, started and stopped by the test:
//! keep-alive reuse over one connection, and a 64 MiB download streamed with
//! flat memory. Skipped (with a message) where nginx is not installed,
//! unless REQIVO_REQUIRE_NGINX or CI is set, where its absence fails.
mod nginx_support;

use nginx_support::Nginx;
use reqivo::client::{Request, Session};
use reqivo::net::{Pool, PoolConfig};

/// Starts nginx serving `files` (name, contents) over plain HTTP.
fn start(name: &str, files: &[(&str, &[u8])]) -> Option<Nginx> {
    nginx_support::start(
        name,
        |dir| {
            for (file, body) in files {
                std::fs::write(dir.join("www").join(file), body).unwrap();
            }
        },
        |d, port| format!("server {{ listen 127.0.0.1:{port}; root {d}/www; }}"),
    )
}

fn url(n: &Nginx, path: &str) -> String {
    format!("http://127.0.0.1:{}/{}", n.port, path)
}

#[test]
fn nginx_thousand_requests_reuse_one_connection() {
    let body = b"{\"small\": true}\n".repeat(6);
    let Some(nginx) = start("reuse", &[("small.json", &body)]) else {
        return;
    };
    let pool = Pool::new(PoolConfig::default());
    let session = Session::new(pool.clone());
    let req = Request::new("GET", &url(&nginx, "small.json")).unwrap();
    for i in 0..1000 {
        let resp = session
            .send(&req, None)
            .unwrap_or_else(|e| panic!("request {} failed: {}", i, e));
        assert_eq!(resp.head.status, 200);
        assert_eq!(resp.body, body, "request {}", i);
        assert_eq!(resp.reused, i > 0, "request {}", i);
    }
    let stats = pool.stats();
    assert_eq!(
        (stats.opened, stats.reused, stats.in_use, stats.idle),
        (1, 999, 0, 1),
        "{:?}",
        stats
    );
}

/// Resident set size of this process, from /proc.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn nginx_streams_64_mib_with_flat_memory() {
    const SIZE: usize = 64 << 20;
    let Some(nginx) = start("stream", &[("big.bin", &pattern(SIZE))]) else {
        return;
    };
    let session = Session::new(Pool::new(PoolConfig::default()));
    let req = Request::new("GET", &url(&nginx, "big.bin")).unwrap();
    let mut stream = session.open(&req, None).expect("stream opens");
    assert_eq!(stream.response().head.status, 200);
    let before = rss_bytes();
    let mut peak = before;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    let mut mismatch = None;
    // Bounded: each read returns > 0 bytes until the end; 64 MiB / 1 byte is the worst case.
    for _ in 0..=SIZE {
        let n = stream.read(&mut buf).expect("stream read");
        if n == 0 {
            break;
        }
        if mismatch.is_none() {
            mismatch = buf[..n]
                .iter()
                .enumerate()
                .find(|(j, &b)| b != ((total + j) % 251) as u8)
                .map(|(j, _)| total + j);
        }
        total += n;
        if total % (4 << 20) < n {
            peak = peak.max(rss_bytes());
        }
    }
    assert_eq!(total, SIZE);
    assert_eq!(mismatch, None, "body differs from the file at this offset");
    let growth = peak.saturating_sub(before);
    assert!(
        growth < 8 << 20,
        "memory grew by {} bytes while streaming 64 MiB",
        growth
    );
}
