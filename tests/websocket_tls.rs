//! wss:// against the `websockets` package serving TLS with a test CA:
//! the session's TLS configuration is used for the handshake, and the
//! send/receive split holds over one shared rustls state.
mod tls_support;
mod ws_support;

use std::sync::Arc;

use reqivo::client::ws::{connect, Message, WsOptions};
use reqivo::client::Session;
use reqivo::net::{NetErrorKind, Pool, PoolConfig, TlsConfigBuilder};
use reqivo::ws::Kind;
use tls_support::{Ca, Validity};

struct Files(std::path::PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `websockets` echo server on TLS with a certificate for 127.0.0.1
/// from `ca`, its PEM files in a directory named after `tag` (removed when
/// the returned guard drops); None when the package is missing.
fn start_wss(ca: &Ca, tag: &str) -> Option<(ws_support::WsServer, Files)> {
    let leaf = ca.server(&["127.0.0.1"], Validity::Current);
    let dir = std::env::temp_dir().join(format!("{}-{}", tag, std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = Files(dir.clone());
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, format!("{}{}", leaf.cert_pem, ca.pem())).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    ws_support::start_tls(&cert, &key).map(|srv| (srv, files))
}

fn session(ca: &Ca) -> Session {
    let s = Session::new(Pool::new(PoolConfig::default()));
    let mut b = TlsConfigBuilder::new();
    b.use_system_roots(false);
    b.add_root_pem(ca.pem().as_bytes()).expect("CA PEM");
    s.set_tls(Some(Arc::new(b.build().expect("TLS config"))));
    s
}

#[test]
fn wss_echo_and_split_send_receive_over_tls() {
    let ca = Ca::new("reqivo ws test CA");
    let Some((srv, _files)) = start_wss(&ca, "reqivo-wss") else {
        return;
    };

    // Not trusted under another CA: the session's TLS config is the one used.
    let other = Ca::new("another CA");
    let e = connect(
        &session(&other),
        &srv.wss_url("/echo"),
        &WsOptions::default(),
        None,
    )
    .err()
    .expect("untrusted")
    .error;
    assert!(
        matches!(&e, reqivo::client::ClientError::Net(n) if n.kind == NetErrorKind::TlsCertUntrusted),
        "{e}"
    );

    let s = session(&ca);
    let ws = connect(&s, &srv.wss_url("/echo"), &WsOptions::default(), None)
        .map_err(|e| e.error)
        .unwrap();
    assert!(ws.response().tls.is_some());
    for len in [0usize, 125, 70_000, 4 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        ws.send(Kind::Binary, &data, None).unwrap();
        assert_eq!(ws.receive(None).unwrap(), Message::Binary(data), "{len}");
    }
    let ws = Arc::new(ws);
    let n = 200;
    let sender = {
        let ws = ws.clone();
        std::thread::spawn(move || {
            for i in 0..n {
                ws.send(Kind::Text, format!("tls {i}").as_bytes(), None)
                    .unwrap();
                if i % 50 == 0 {
                    ws.ping(b"p", None).unwrap();
                }
            }
        })
    };
    for i in 0..n {
        assert_eq!(
            ws.receive(None).unwrap(),
            Message::Text(format!("tls {i}").into_bytes())
        );
    }
    sender.join().unwrap();
    ws.close(1000, b"", None).unwrap();

    // The server's Close over TLS, and a close code sent by the client.
    let ws = connect(
        &s,
        &srv.wss_url("/close?code=4003&reason=tls"),
        &WsOptions::default(),
        None,
    )
    .map_err(|e| e.error)
    .unwrap();
    ws.send(Kind::Text, b"go", None).unwrap();
    assert_eq!(
        ws.receive(None).unwrap(),
        Message::Close {
            code: 4003,
            reason: "tls".into()
        }
    );
}

/// wss:// dials as transfers of the multi: the TLS handshake runs in the
/// multi's `Opening` phase with the session's config, the connection the
/// 101 hands over keeps its rustls state and any bytes read past the
/// head, and the WebSocket it makes echoes like one from `connect`; an
/// untrusted server fails its dial alone.
#[test]
fn wss_dials_through_the_multi() {
    use reqivo::client::multi::Multi;
    use reqivo::client::ws::Dial;
    use reqivo::client::ToResponse;

    let ca = Ca::new("reqivo ws multi CA");
    let Some((srv, _files)) = start_wss(&ca, "reqivo-wss-multi") else {
        return;
    };
    let (good, bad) = (session(&ca), session(&Ca::new("another CA")));
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    let h = m.handle();
    let opts = WsOptions::default();
    for user in 0..8 {
        let dial = Dial::new(&srv.wss_url("/echo"), &opts).unwrap();
        let s = if user == 7 { &bad } else { &good };
        h.add_ws(s, dial, None, ToResponse, user).unwrap();
    }
    let mut done = Vec::new();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while done.len() < 8 && std::time::Instant::now() < until {
        m.poll(Some(std::time::Duration::from_millis(100))).unwrap();
        while let Some(d) = m.next_done() {
            done.push(d);
        }
    }
    assert_eq!(done.len(), 8);
    for d in done {
        if d.user == 7 {
            let e = d.result.expect_err("untrusted");
            assert!(
                matches!(&e, reqivo::client::ClientError::Net(n) if n.kind == NetErrorKind::TlsCertUntrusted),
                "{e}"
            );
            assert!(d.ws.is_none());
            continue;
        }
        assert_eq!(d.result.as_ref().unwrap().head.status, 101);
        let ws = d.ws.expect("a dial's outcome").unwrap();
        assert!(ws.response().tls.is_some());
        let data: Vec<u8> = (0..70_000).map(|i| (i % 251) as u8).collect();
        ws.send(Kind::Binary, &data, None).unwrap();
        assert_eq!(ws.receive(None).unwrap(), Message::Binary(data));
        ws.close(1000, b"", None).unwrap();
    }
}
