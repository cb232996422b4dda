//! HTTPS against a real nginx (OpenSSL) on 127.0.0.1, started and stopped by
//! the test, with certificates made by rcgen: keep-alive over one TLS
//! connection, session resumption on a new connection, and a location that
//! requires a client certificate. Skipped (with a message) where nginx is
//! not installed, unless REQIVO_REQUIRE_NGINX or CI is set.
mod tls_support;

mod nginx_support;

use std::sync::Arc;

use nginx_support::Nginx;
use reqivo::client::{ClientError, Request, Response, Session};
use reqivo::net::{NetErrorKind, Pool, PoolConfig, TlsConfig, TlsConfigBuilder};
use tls_support::{Ca, Validity};

/// Starts nginx with HTTPS on a free port: `/` and `/mtls/` serve files;
/// `/mtls/` answers 403 unless the client presented a certificate signed by
/// `client_ca_pem`.
fn start(server_cert: &str, server_key: &str, client_ca_pem: &str) -> Option<Nginx> {
    nginx_support::start(
        "tls",
        |dir| {
            std::fs::create_dir_all(dir.join("www/mtls")).unwrap();
            std::fs::write(dir.join("www/index.html"), "hello over tls\n").unwrap();
            std::fs::write(dir.join("www/mtls/index.html"), "hello, client\n").unwrap();
            std::fs::write(dir.join("server.pem"), server_cert).unwrap();
            std::fs::write(dir.join("server.key"), server_key).unwrap();
            std::fs::write(dir.join("client-ca.pem"), client_ca_pem).unwrap();
        },
        |d, port| {
            format!(
                "server {{ listen 127.0.0.1:{port} ssl; root {d}/www;\n\
                   ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key;\n\
                   ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:tls:1m;\n\
                   ssl_client_certificate {d}/client-ca.pem; ssl_verify_client optional;\n\
                   location /mtls/ {{ if ($ssl_client_verify != SUCCESS) {{ return 403; }} }} }}"
            )
        },
    )
}

fn get(s: &Session, url: &str) -> Result<Response, ClientError> {
    s.send(&Request::new("GET", url).unwrap(), None)
}

fn trusting(ca: &Ca) -> TlsConfigBuilder {
    let mut b = TlsConfigBuilder::new();
    b.use_system_roots(false);
    b.add_root_pem(ca.pem().as_bytes()).unwrap();
    b
}

#[test]
fn nginx_https_keep_alive_resumption_and_client_certificates() {
    let ca = Ca::new("reqivo nginx CA");
    let server = ca.server(&["localhost", "127.0.0.1"], Validity::Current);
    let client_ca = Ca::new("reqivo nginx client CA");
    let client = client_ca.client("reqivo-client");
    let Some(nginx) = start(&server.cert_pem, &server.key_pem, &client_ca.pem()) else {
        return;
    };
    let url = |path: &str| format!("https://localhost:{}{}", nginx.port, path);

    // 100 requests over one TLS connection.
    let config = Arc::new(trusting(&ca).build().unwrap());
    let pool = Pool::new(PoolConfig::default());
    let s = Session::new(pool.clone());
    s.set_tls(Some(config.clone()));
    for i in 0..100 {
        let r = get(&s, &url("/")).unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(r.head.status, 200);
        assert_eq!(r.body, b"hello over tls\n");
        assert_eq!(r.reused, i > 0, "request {i}");
    }
    assert_eq!((pool.stats().opened, pool.stats().reused), (1, 99));

    // A new pool, the same config: the new connection resumes.
    let s2 = Session::new(Pool::new(PoolConfig::default()));
    s2.set_tls(Some(config));
    let r = get(&s2, &url("/")).unwrap();
    let info = r.tls.expect("over TLS");
    assert!(info.resumed, "nginx resumes the session: {info:?}");

    // The client-certificate location: 403 without one, 200 with one.
    assert_eq!(get(&s, &url("/mtls/")).unwrap().head.status, 403);
    let mut b = trusting(&ca);
    b.set_client_auth_pem(client.cert_pem.as_bytes(), client.key_pem.as_bytes())
        .unwrap();
    let with_cert = Session::new(Pool::new(PoolConfig::default()));
    with_cert.set_tls(Some(Arc::new(b.build().unwrap())));
    let r = get(&with_cert, &url("/mtls/")).unwrap();
    assert_eq!(r.head.status, 200);
    assert_eq!(r.body, b"hello, client\n");

    // nginx's certificate is not in the system store.
    let default = Session::new(Pool::new(PoolConfig::default()));
    let e = get(&default, &url("/")).unwrap_err();
    assert!(
        matches!(&e, ClientError::Net(n) if n.kind == NetErrorKind::TlsCertUntrusted),
        "{e:?}"
    );
    let _ = TlsConfig::shared_default();
}
