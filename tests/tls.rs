//! HTTPS through rustls: trust, names, expiry, client certificates, pins,
//! versions, keep-alive and pool identity, resumption, redirects leaving
//! TLS, and bounded waits during the handshake. Certificates are made per
//! run with rcgen; servers are in-process on 127.0.0.1.
mod support;
mod tls_support;

use std::sync::Arc;
use std::time::Duration;

use reqivo::client::{ClientError, Request, Response, Session};
use reqivo::net::{
    Cancel, NetErrorKind, Pool, PoolConfig, TlsConfig, TlsConfigBuilder, TlsVersion,
};
use support::{net_kind, Server, Step};
use tls_support::{ok, ok_close, server_config, Ca, Leaf, ServerOptions, TlsServer, Validity};

/// A CA, a server certificate for localhost and 127.0.0.1, and an HTTPS
/// server answering "hello".
fn pki() -> (Ca, Leaf) {
    let ca = Ca::new("reqivo test CA");
    let leaf = ca.server(&["localhost", "127.0.0.1"], Validity::Current);
    (ca, leaf)
}

fn hello_server(leaf: &Leaf, opts: &ServerOptions) -> TlsServer {
    TlsServer::start(server_config(leaf, opts), |_| ok("hello"))
}

/// A config trusting only `ca`.
fn trusting(ca: &Ca) -> TlsConfigBuilder {
    let mut b = TlsConfigBuilder::new();
    b.use_system_roots(false);
    b.add_root_pem(ca.pem().as_bytes()).expect("CA PEM");
    b
}

fn session_with(tls: TlsConfigBuilder) -> Session {
    let s = Session::new(Pool::new(PoolConfig::default()));
    s.set_tls(Some(Arc::new(tls.build().expect("TLS config"))));
    s.set_timeouts(support::timeouts_ms(5000));
    s
}

fn get(s: &Session, url: &str) -> Result<Response, ClientError> {
    s.send(&Request::new("GET", url).unwrap(), None)
}

fn expect_kind(r: Result<Response, ClientError>, kind: NetErrorKind) -> ClientError {
    let e = r.expect_err("the request should fail");
    assert_eq!(net_kind(&e), Some(kind), "{e:?}");
    e
}

#[test]
fn tls_trusted_ca_works_by_ip_and_by_name() {
    let (ca, leaf) = pki();
    let srv = hello_server(&leaf, &ServerOptions::default());
    let s = session_with(trusting(&ca));
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!(r.head.status, 200);
    assert_eq!(r.body, b"hello");
    let info = r.tls.expect("a TLS response says so");
    assert_eq!(info.version, 0x0304, "TLS 1.3 is preferred");
    assert!(r.timings.tls > r.timings.connect, "{:?}", r.timings);
    let r = get(&s, &srv.url_named("localhost", "/")).unwrap();
    assert_eq!(r.body, b"hello");
    // SNI and ALPN reached the server.
    assert!(srv
        .log()
        .alpn
        .iter()
        .all(|a| a.as_deref() == Some(&b"http/1.1"[..])));
}

#[test]
fn tls_untrusted_ca_is_cert_untrusted() {
    let (_ca, leaf) = pki();
    let other = Ca::new("another CA");
    let srv = hello_server(&leaf, &ServerOptions::default());
    let e = expect_kind(
        get(&session_with(trusting(&other)), &srv.url("/")),
        NetErrorKind::TlsCertUntrusted,
    );
    assert!(e.message().contains("unknown issuer"), "{e}");
    // The process default (system roots) does not know the test CA either.
    let s = Session::new(Pool::new(PoolConfig::default()));
    let e = expect_kind(get(&s, &srv.url("/")), NetErrorKind::TlsCertUntrusted);
    assert!(e.message().contains("127.0.0.1"), "{e}");
}

#[test]
fn tls_wrong_name_is_hostname_error() {
    let ca = Ca::new("reqivo test CA");
    let leaf = ca.server(&["wrong.example"], Validity::Current);
    let srv = hello_server(&leaf, &ServerOptions::default());
    let s = session_with(trusting(&ca));
    let e = expect_kind(get(&s, &srv.url("/")), NetErrorKind::TlsHostname);
    assert!(e.message().contains("hostname mismatch"), "{e}");
    let e = expect_kind(
        get(&s, &srv.url_named("localhost", "/")),
        NetErrorKind::TlsHostname,
    );
    assert!(e.message().contains("wrong.example"), "{e}");
}

#[test]
fn tls_expired_certificate_says_expired() {
    let ca = Ca::new("reqivo test CA");
    let leaf = ca.server(&["127.0.0.1"], Validity::Expired);
    let srv = hello_server(&leaf, &ServerOptions::default());
    let e = expect_kind(
        get(&session_with(trusting(&ca)), &srv.url("/")),
        NetErrorKind::TlsCertUntrusted,
    );
    assert!(e.message().contains("expired"), "{e}");
}

#[test]
fn tls_client_certificate_required_fails_without_and_works_with() {
    let (ca, leaf) = pki();
    let client_ca = Ca::new("client CA");
    let client = client_ca.client("reqivo-client");
    let opts = ServerOptions {
        client_ca: Some(client_ca.der()),
        ..ServerOptions::default()
    };
    let srv = hello_server(&leaf, &opts);
    let e = expect_kind(
        get(&session_with(trusting(&ca)), &srv.url("/")),
        NetErrorKind::TlsHandshake,
    );
    assert!(e.message().contains("certificate_required"), "{e}");

    let mut b = trusting(&ca);
    b.set_client_auth_pem(client.cert_pem.as_bytes(), client.key_pem.as_bytes())
        .unwrap();
    let r = get(&session_with(b), &srv.url("/")).unwrap();
    assert_eq!(r.body, b"hello");

    // A certificate from a CA the server does not accept.
    let stranger = Ca::new("stranger").client("intruder");
    let mut b = trusting(&ca);
    b.set_client_auth_pem(stranger.cert_pem.as_bytes(), stranger.key_pem.as_bytes())
        .unwrap();
    let e = expect_kind(
        get(&session_with(b), &srv.url("/")),
        NetErrorKind::TlsHandshake,
    );
    assert!(e.message().contains("alert"), "{e}");
}

#[test]
fn tls_client_auth_pem_errors_name_the_item() {
    let (_ca, leaf) = pki();
    let other = Ca::new("x").client("other");
    let mut b = TlsConfigBuilder::new();
    let e = b
        .set_client_auth_pem(b"junk", leaf.key_pem.as_bytes())
        .unwrap_err();
    assert_eq!(e.kind, NetErrorKind::InvalidConfig);
    assert!(e.message.contains("client certificate chain"), "{e}");
    let e = b
        .set_client_auth_pem(leaf.cert_pem.as_bytes(), b"junk")
        .unwrap_err();
    assert!(e.message.contains("client private key"), "{e}");
    let e = b
        .set_client_auth_pem(leaf.cert_pem.as_bytes(), other.key_pem.as_bytes())
        .unwrap_err();
    assert!(e.message.contains("not the key of the certificate"), "{e}");
}

#[test]
fn tls_pin_match_and_mismatch() {
    let (ca, leaf) = pki();
    let srv = hello_server(&leaf, &ServerOptions::default());
    let mut b = trusting(&ca);
    b.add_spki_pin_sha256(&format!("sha256//{}", leaf.spki_pin))
        .unwrap();
    assert_eq!(get(&session_with(b), &srv.url("/")).unwrap().body, b"hello");

    let other = ca.server(&["127.0.0.1"], Validity::Current);
    let mut b = trusting(&ca);
    b.add_spki_pin_sha256(&other.spki_pin).unwrap();
    let e = expect_kind(
        get(&session_with(b), &srv.url("/")),
        NetErrorKind::TlsPinMismatch,
    );
    assert!(e.message().contains(&leaf.spki_pin), "{e}");

    // A pin alone can trust a server no root vouches for.
    let mut b = TlsConfigBuilder::new();
    b.dangerous_disable_verification();
    b.add_spki_pin_sha256(&leaf.spki_pin).unwrap();
    assert_eq!(get(&session_with(b), &srv.url("/")).unwrap().body, b"hello");
}

#[test]
fn tls_dangerous_disable_verification_accepts_any_certificate() {
    let ca = Ca::new("unknown CA");
    let leaf = ca.server(&["wrong.example"], Validity::Expired);
    let srv = hello_server(&leaf, &ServerOptions::default());
    let mut b = TlsConfigBuilder::new();
    b.dangerous_disable_verification();
    assert_eq!(get(&session_with(b), &srv.url("/")).unwrap().body, b"hello");
}

#[test]
fn tls12_only_server_refuses_a_tls13_minimum_cleanly() {
    let (ca, leaf) = pki();
    let opts = ServerOptions {
        versions: vec![&rustls::version::TLS12],
        ..ServerOptions::default()
    };
    let srv = hello_server(&leaf, &opts);
    // The default minimum (1.2) talks to it.
    let r = get(&session_with(trusting(&ca)), &srv.url("/")).unwrap();
    assert_eq!(r.tls.unwrap().version, 0x0303);
    let mut b = trusting(&ca);
    b.set_min_version(TlsVersion::Tls13);
    let e = expect_kind(
        get(&session_with(b), &srv.url("/")),
        NetErrorKind::TlsHandshake,
    );
    assert!(e.message().contains("protocol version"), "{e}");
    assert!(e.message().contains("TLS 1.3 only"), "{e}");
}

#[test]
fn tls_keep_alive_serves_100_requests_on_one_connection() {
    let (ca, leaf) = pki();
    let srv = hello_server(&leaf, &ServerOptions::default());
    let s = session_with(trusting(&ca));
    for i in 0..100 {
        let r = get(&s, &srv.url(&format!("/{}", i))).unwrap();
        assert_eq!(r.body, b"hello");
        assert_eq!(r.reused, i > 0);
        assert!(r.tls.is_some());
        if i > 0 {
            assert_eq!(r.timings.tls, Duration::ZERO, "no handshake on reuse");
        }
    }
    let st = s.pool().stats();
    assert_eq!((st.opened, st.reused), (1, 99), "{st:?}");
    assert_eq!(srv.log().accepted, 1);
    assert_eq!(srv.log().requests.len(), 100);
}

#[test]
fn tls_pool_never_shares_connections_across_configs() {
    let (ca, leaf) = pki();
    let client = ca.client("me");
    let srv = hello_server(&leaf, &ServerOptions::default());
    let pool = Pool::new(PoolConfig::default());
    let a = Arc::new(trusting(&ca).build().unwrap());
    let mut with_cert = trusting(&ca);
    with_cert
        .set_client_auth_pem(client.cert_pem.as_bytes(), client.key_pem.as_bytes())
        .unwrap();
    let b = Arc::new(with_cert.build().unwrap());
    let sessions: Vec<Session> = [Some(a.clone()), Some(b), Some(a)]
        .into_iter()
        .map(|tls| {
            let s = Session::new(pool.clone());
            s.set_tls(tls);
            s
        })
        .collect();
    assert!(!get(&sessions[0], &srv.url("/")).unwrap().reused);
    // Same host, another identity: a connection of its own.
    assert!(!get(&sessions[1], &srv.url("/")).unwrap().reused);
    // The first config again: its connection is reused.
    assert!(get(&sessions[2], &srv.url("/")).unwrap().reused);
    assert_eq!(pool.stats().opened, 2);
}

fn handshake_time(r: &Response) -> Duration {
    r.timings.tls - r.timings.connect
}

fn fastest(v: &[Duration]) -> Duration {
    v.iter().copied().min().unwrap_or_default()
}

#[test]
fn tls_second_connection_resumes_the_session() {
    let (ca, leaf) = pki();
    // Every response closes, so each request needs a new connection.
    let srv = TlsServer::start(server_config(&leaf, &ServerOptions::default()), |_| {
        ok_close("bye")
    });
    let mut full = Vec::new();
    let mut resumed = Vec::new();
    for _ in 0..9 {
        // A fresh config has an empty session cache: a full handshake.
        let s = session_with(trusting(&ca));
        let first = get(&s, &srv.url("/")).unwrap();
        assert!(!first.tls.unwrap().resumed);
        full.push(handshake_time(&first));
        let second = get(&s, &srv.url("/")).unwrap();
        assert!(!second.reused, "the server closed the first connection");
        assert!(second.tls.unwrap().resumed, "second connection resumes");
        resumed.push(handshake_time(&second));
    }
    assert!(srv.log().handshakes.iter().filter(|r| **r).count() >= 9);
    // Reported, not asserted: timings on a shared machine are noise.
    let (f, r) = (fastest(&full), fastest(&resumed));
    eprintln!("TLS handshake, fastest of 9: full {:?}, resumed {:?}", f, r);
}

#[test]
fn https_to_http_redirect_drops_credentials() {
    let (ca, leaf) = pki();
    let plain = Server::serve(|_| support::ok("plain"));
    let target = plain.url("/landed");
    let srv = TlsServer::start(
        server_config(&leaf, &ServerOptions::default()),
        move |seen| match seen.target.as_str() {
            "/same" => ok("same"),
            "/down" => format!(
                "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\n\r\n",
                target
            )
            .into_bytes(),
            _ => b"HTTP/1.1 302 Found\r\nLocation: /same\r\nContent-Length: 0\r\n\r\n".to_vec(),
        },
    );
    let s = session_with(trusting(&ca));
    s.set_basic_auth("user", "secret").unwrap();
    let mut req = Request::new("GET", &srv.url("/down")).unwrap();
    req.add_header("Cookie", "session=1").unwrap();
    req.add_header("Proxy-Authorization", "Basic eDp5").unwrap();
    let r = s.send(&req, None).unwrap();
    assert_eq!(r.body, b"plain");
    assert_eq!(r.redirect_count, 1);
    assert!(r.tls.is_none(), "the final hop was plain HTTP");
    let seen = &plain.requests()[0];
    for name in ["authorization", "cookie", "proxy-authorization"] {
        assert!(
            !seen.has_header(name),
            "{name} leaked to http: {}",
            seen.head
        );
    }
    // The https hop itself carried them.
    let first = &srv.log().requests[0];
    assert!(first.header("authorization").is_some());
    assert!(first.header("cookie").is_some());
    // Same origin over https: credentials stay.
    let r = s
        .send(&Request::new("GET", &srv.url("/hop")).unwrap(), None)
        .unwrap();
    assert_eq!(r.body, b"same");
    let log = srv.log();
    let last = log.requests.last().unwrap();
    assert_eq!(last.target, "/same");
    assert!(last.header("authorization").is_some());
}

#[test]
fn tls_handshake_waits_are_bounded_by_the_connect_timeout_and_cancel() {
    // Accepts TCP, never says a TLS word.
    let mute = Server::each(vec![Step::Hold]);
    let url = format!("https://127.0.0.1:{}/", mute.port());
    let s = Session::new(Pool::new(PoolConfig::default()));
    let mut t = support::timeouts_ms(5000);
    t.connect = Some(Duration::from_millis(200));
    s.set_timeouts(t);
    let started = std::time::Instant::now();
    let e = expect_kind(get(&s, &url), NetErrorKind::TimeoutConnect);
    assert!(e.message().contains("TLS handshake"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));

    let s = Session::new(Pool::new(PoolConfig::default()));
    let cancel = Arc::new(Cancel::new().unwrap());
    let c = cancel.clone();
    let trigger = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        c.trigger();
    });
    let started = std::time::Instant::now();
    let e = s
        .send(&Request::new("GET", &url).unwrap(), Some(cancel))
        .unwrap_err();
    trigger.join().unwrap();
    assert_eq!(net_kind(&e), Some(NetErrorKind::Cancelled), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn tls_stream_reads_a_large_body() {
    let (ca, leaf) = pki();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let expected = body.clone();
    let srv = TlsServer::start(server_config(&leaf, &ServerOptions::default()), move |_| {
        let mut r =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        r.extend_from_slice(&body);
        r
    });
    let s = session_with(trusting(&ca));
    let mut st = s
        .open(&Request::new("GET", &srv.url("/")).unwrap(), None)
        .unwrap();
    assert!(st.response().tls.is_some());
    let mut got = Vec::new();
    let mut buf = [0u8; 7000];
    loop {
        let n = st.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, expected);
    drop(st);
    // And a buffered POST with a body larger than one TLS record.
    let mut req = Request::new("POST", &srv.url("/up")).unwrap();
    req.set_body(&vec![b'x'; 100_000]);
    assert_eq!(s.send(&req, None).unwrap().head.status, 200);
    assert_eq!(
        s.pool().stats().opened,
        1,
        "the stream's connection was reused"
    );
}

#[test]
fn tls_default_config_is_shared_by_sessions() {
    let a = TlsConfig::shared_default();
    let b = TlsConfig::shared_default();
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn multi_runs_https_transfers_with_handshakes_that_never_block() {
    let (ca, leaf) = pki();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let big = body.clone();
    let srv = TlsServer::start(
        server_config(&leaf, &ServerOptions::default()),
        move |seen| match seen.target.as_str() {
            "/big" => {
                let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", big.len())
                    .into_bytes();
                r.extend_from_slice(&big);
                r
            }
            t => ok(&format!(
                "hello {} {}",
                t,
                seen.header("content-length").unwrap_or("0")
            )),
        },
    );
    let s = session_with(trusting(&ca));
    let mut urls: Vec<String> = (0..12).map(|i| srv.url(&format!("/n/{}", i))).collect();
    urls.push(srv.url_named("localhost", "/big"));
    let results = support::multi_get(&s, &urls);
    for (i, r) in results.iter().take(12).enumerate() {
        let r = r.as_ref().unwrap();
        assert_eq!(r.body, format!("hello /n/{} 0", i).as_bytes());
        let info = r.tls.expect("a TLS response says so");
        assert_eq!(info.version, 0x0304);
        if !r.reused {
            assert!(r.timings.tls > r.timings.connect, "{:?}", r.timings);
        }
    }
    assert_eq!(results[12].as_ref().unwrap().body, body);
    // An upload larger than rustls' outgoing buffer, through the multi.
    let mut m = reqivo::client::multi::Multi::new().unwrap();
    let mut req = Request::new("POST", &srv.url("/up")).unwrap();
    req.set_body(&vec![b'x'; 1 << 20]);
    m.handle()
        .add(&s, &req, None, reqivo::client::ToResponse, 0)
        .unwrap();
    let r = support::collect(&mut m, 1, support::WAIT_MAX)
        .remove(0)
        .1
        .unwrap();
    assert_eq!(r.body, b"hello /up 1048576");
    assert!(r.reused, "a connection the multi opened was kept alive");
    // And a blocking send takes one of them from the pool too.
    assert!(get(&s, &srv.url("/again")).unwrap().reused);
}

#[test]
fn multi_tls_failures_end_only_their_transfer() {
    let (ca, leaf) = pki();
    let srv = hello_server(&leaf, &ServerOptions::default());
    let mute = Server::each(vec![Step::Hold]);
    // Trusts another CA: the certificate is refused.
    let stranger = session_with(trusting(&Ca::new("another CA")));
    let e = support::multi_get(&stranger, &[srv.url("/")])
        .remove(0)
        .unwrap_err();
    assert!(e.contains("certificate"), "{e}");
    // A server that never speaks TLS: the connect timeout ends the
    // handshake, and the good transfer beside it is answered.
    let s = session_with(trusting(&ca));
    let mut t = support::timeouts_ms(5000);
    t.connect = Some(Duration::from_millis(200));
    s.set_timeouts(t);
    let urls = [format!("https://127.0.0.1:{}/", mute.port()), srv.url("/")];
    let mut results = support::multi_get(&s, &urls);
    let good = results.pop().unwrap().unwrap();
    assert_eq!(good.body, b"hello");
    let e = results.pop().unwrap().unwrap_err();
    assert!(
        e.contains("connect timeout") && e.contains("TLS handshake"),
        "{e}"
    );
    let st = s.pool().stats();
    assert_eq!(st.in_use, 0, "no slot leaked");
}
