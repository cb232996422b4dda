//! Against a real nginx on 127.0.0.1, started and stopped by the test:
//! keep-alive reuse over one connection, and a 64 MiB download streamed with
//! flat memory. Skipped (with a message) where nginx is not installed,
//! unless REQIVO_REQUIRE_NGINX or CI is set, where its absence fails.
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqivo::client::{Request, Session};
use reqivo::net::{Pool, PoolConfig};

struct Nginx {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts nginx serving `files` (name, contents) from a fresh directory.
fn start(name: &str, files: &[(&str, &[u8])]) -> Option<Nginx> {
    let Some(bin) = nginx_binary() else {
        let required =
            std::env::var_os("REQIVO_REQUIRE_NGINX").is_some() || std::env::var_os("CI").is_some();
        assert!(!required, "nginx is required here but not installed");
        eprintln!("skipping: nginx is not installed");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("reqivo-nginx-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    for (file, body) in files {
        std::fs::File::create(dir.join("www").join(file))
            .unwrap()
            .write_all(body)
            .unwrap();
    }
    let port = free_port();
    let d = dir.display();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; keepalive_requests 100000; keepalive_timeout 60s;\n\
           client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;\n\
           uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
           server {{ listen 127.0.0.1:{port}; root {d}/www; }} }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(bin)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx { child, dir, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen on {} within 10 s",
            port
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(nginx)
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
