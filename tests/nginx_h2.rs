//! HTTP/2 against a real nginx (its `http2` module, OpenSSL's ALPN) on
//! 127.0.0.1, started and stopped by the test: negotiation, many threads
//! sharing one connection (nginx's access log names the connection of
//! every request), large bodies, and what each version setting speaks.
//! Skipped (with a message) where nginx is not installed, unless
//! REQIVO_REQUIRE_NGINX or CI is set.
mod tls_support;

mod nginx_support;

use std::io::Read;
use std::sync::Arc;

use nginx_support::Nginx;
use reqivo::client::{HttpVersion, Request, Session};
use reqivo::net::{Pool, PoolConfig, TlsConfigBuilder};
use tls_support::{Ca, Validity};

const BIG: usize = 64 << 20;

/// nginx with HTTP/2 on a TLS listener; every request logged as
/// "connection protocol status bytes".
fn start(name: &str, ca: &Ca) -> Option<Nginx> {
    let server = ca.server(&["localhost", "127.0.0.1"], Validity::Current);
    nginx_support::start(
        name,
        |dir| {
            std::fs::write(dir.join("www/index.html"), "hello over h2\n").unwrap();
            let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
            std::fs::write(dir.join("www/big.bin"), big).unwrap();
            std::fs::write(dir.join("server.pem"), &server.cert_pem).unwrap();
            std::fs::write(dir.join("server.key"), &server.key_pem).unwrap();
        },
        |d, port| {
            format!(
                "log_format h2 '$connection $server_protocol $status $body_bytes_sent';\n\
                 server {{ listen 127.0.0.1:{port} ssl http2; root {d}/www;\n\
                   access_log {d}/access.log h2;\n\
                   http2_max_concurrent_streams 128;\n\
                   ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key;\n\
                   ssl_protocols TLSv1.2 TLSv1.3; }}"
            )
        },
    )
}

fn session(ca: &Ca, pool: &Pool, version: HttpVersion) -> Session {
    let mut b = TlsConfigBuilder::new();
    b.use_system_roots(false);
    b.add_root_pem(ca.pem().as_bytes()).unwrap();
    let s = Session::new(pool.clone());
    s.set_tls(Some(Arc::new(b.build().unwrap())));
    s.set_http_version(version);
    s
}

/// The access log's lines, split into fields, once it has `want` of them
/// (nginx logs a request after its response went out), or after 5 s.
fn log_lines(nginx: &Nginx, want: usize) -> Vec<Vec<String>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let lines: Vec<Vec<String>> = std::fs::read_to_string(nginx.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(' ').map(str::to_string).collect())
            .collect();
        if lines.len() >= want || std::time::Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn nginx_h2_many_threads_share_one_connection() {
    let ca = Ca::new("reqivo h2 CA");
    let Some(nginx) = start("h2-threads", &ca) else {
        return;
    };
    let pool = Pool::new(PoolConfig::default());
    let s = Arc::new(session(&ca, &pool, HttpVersion::Http2));
    let url = format!("https://localhost:{}/index.html", nginx.port);
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let (s, url) = (s.clone(), url.clone());
            std::thread::spawn(move || {
                for _ in 0..20 {
                    let r = s.send(&Request::new("GET", &url).unwrap(), None).unwrap();
                    assert_eq!(r.head.status, 200);
                    assert_eq!((r.head.major, r.head.minor), (2, 0));
                    assert_eq!(r.body, b"hello over h2\n");
                    assert!(r.tls.is_some());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = pool.stats();
    assert_eq!(stats.opened, 1, "{stats:?}");
    assert_eq!(stats.streams_opened, 1000, "{stats:?}");
    assert_eq!(stats.h2_connections, 1, "{stats:?}");
    assert_eq!(stats.streams_active, 0, "{stats:?}");
    // nginx saw the thousand requests on one connection, as HTTP/2.0.
    let lines = log_lines(&nginx, 1000);
    assert_eq!(lines.len(), 1000);
    assert!(lines
        .iter()
        .all(|l| l[0] == lines[0][0] && l[1] == "HTTP/2.0"));
}

#[test]
fn nginx_h2_large_bodies_buffered_and_streamed() {
    let ca = Ca::new("reqivo h2 CA");
    let Some(nginx) = start("h2-large", &ca) else {
        return;
    };
    let pool = Pool::new(PoolConfig::default());
    let s = session(&ca, &pool, HttpVersion::Http2);
    let url = format!("https://localhost:{}/big.bin", nginx.port);
    let r = s.send(&Request::new("GET", &url).unwrap(), None).unwrap();
    assert_eq!(r.head.major, 2);
    assert_eq!(r.body.len(), BIG);
    assert!(r
        .body
        .iter()
        .enumerate()
        .all(|(i, &b)| b == (i % 251) as u8));

    // Streamed: read in 100 KiB pieces, every byte checked, and the
    // stream's connection is the one the first request opened.
    let mut stream = s.open(&Request::new("GET", &url).unwrap(), None).unwrap();
    assert!(stream.response().reused);
    let mut buf = vec![0u8; 100 << 10];
    let mut at = 0usize;
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(buf[..n]
            .iter()
            .enumerate()
            .all(|(i, &b)| b == ((at + i) % 251) as u8));
        at += n;
    }
    assert_eq!(at, BIG);
    assert!(stream.is_done());
    drop(stream);
    assert_eq!(pool.stats().opened, 1);
}

#[test]
fn nginx_default_negotiates_http2_and_http11_restricts() {
    let ca = Ca::new("reqivo h2 CA");
    let Some(nginx) = start("h2-default", &ca) else {
        return;
    };
    let pool = Pool::new(PoolConfig::default());
    let url = format!("https://localhost:{}/index.html", nginx.port);
    let get = |s: &Session| {
        let r = s.send(&Request::new("GET", &url).unwrap(), None).unwrap();
        let mut body = Vec::new();
        (&r.body[..]).read_to_end(&mut body).unwrap();
        assert_eq!(body, b"hello over h2\n");
        (r.head.major, r.head.minor)
    };
    // The default offers h2 first, nginx takes it; two requests share
    // the connection.
    let s = session(&ca, &pool, HttpVersion::Default);
    assert_eq!(get(&s), (2, 0));
    assert_eq!(get(&s), (2, 0));
    assert_eq!(pool.stats().streams_opened, 2);
    assert_eq!(pool.stats().opened, 1);
    // Restricted to HTTP/1.1: http/1.1 alone is offered.
    assert_eq!(get(&session(&ca, &pool, HttpVersion::Http11)), (1, 1));
    assert_eq!(pool.stats().streams_opened, 2);
    let lines = log_lines(&nginx, 3);
    let protocols: Vec<&str> = lines.iter().map(|l| l[1].as_str()).collect();
    assert_eq!(protocols, ["HTTP/2.0", "HTTP/2.0", "HTTP/1.1"], "{lines:?}");
}

/// nginx without `http2` answers an ALPN offer of `h2` alone with a fatal
/// no_application_protocol alert: a session that requires HTTP/2 reports
/// that the server refused it (`Http2Required`), not a TLS failure.
#[test]
fn nginx_without_http2_refuses_h2_by_alpn() {
    let ca = Ca::new("reqivo h2 CA");
    let server = ca.server(&["localhost", "127.0.0.1"], Validity::Current);
    let Some(nginx) = nginx_support::start(
        "h2-refused",
        |dir| {
            std::fs::write(dir.join("www/index.html"), "hello over h1\n").unwrap();
            std::fs::write(dir.join("server.pem"), &server.cert_pem).unwrap();
            std::fs::write(dir.join("server.key"), &server.key_pem).unwrap();
        },
        |d, port| {
            format!(
                "server {{ listen 127.0.0.1:{port} ssl; root {d}/www;\n\
                   ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key;\n\
                   ssl_protocols TLSv1.2 TLSv1.3; }}"
            )
        },
    ) else {
        return;
    };
    let pool = Pool::new(PoolConfig::default());
    let s = session(&ca, &pool, HttpVersion::Http2);
    let url = format!("https://localhost:{}/index.html", nginx.port);
    let e = s
        .send(&Request::new("GET", &url).unwrap(), None)
        .unwrap_err();
    assert_eq!(e.kind(), reqivo::client::ErrorKind::Http2Required, "{e}");
    assert!(e.to_string().contains("refused HTTP/2"), "{e}");
    // HTTP/1.1 from the same server still works.
    let s = session(&ca, &pool, HttpVersion::Http11);
    let r = s.send(&Request::new("GET", &url).unwrap(), None).unwrap();
    assert_eq!((r.head.major, r.head.minor), (1, 1));
}
