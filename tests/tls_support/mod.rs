//! Test PKI (rcgen, generated per test run) and an in-process HTTPS server
//! (rustls `ServerConnection` over a std `TcpStream`, a thread per
//! connection) for the TLS integration tests.
//!
//! Rule for this file: every wait is bounded by `WAIT_MAX`; dropping a
//! `TlsServer` stops its accept thread, and connection threads end at the
//! client's close or their read timeout.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PublicKeyData,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

pub const WAIT_MAX: Duration = Duration::from_secs(10);

/// A certificate authority that signs leaves for the tests.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A signed certificate and its key.
pub struct Leaf {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_pem: String,
    key_der: Vec<u8>,
    /// base64 SHA-256 of the SubjectPublicKeyInfo: the pin of this key.
    pub spki_pin: String,
    /// The issuing CA's certificate, appended to the chain served.
    chain_tail: Vec<CertificateDer<'static>>,
}

impl Leaf {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        let mut c = vec![self.cert_der.clone()];
        c.extend(self.chain_tail.iter().cloned());
        c
    }
}

/// Validity of a leaf.
#[derive(Clone, Copy)]
pub enum Validity {
    Current,
    Expired,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A server certificate for `names` (DNS names or IP literals).
    pub fn server(&self, names: &[&str], validity: Validity) -> Leaf {
        self.leaf(names, validity, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate (for mTLS).
    pub fn client(&self, name: &str) -> Leaf {
        self.leaf(
            &[name],
            Validity::Current,
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn leaf(&self, names: &[&str], validity: Validity, eku: ExtendedKeyUsagePurpose) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.extended_key_usages = vec![eku];
        if let Validity::Expired = validity {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        let digest = ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info());
        Leaf {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
            spki_pin: base64::engine::general_purpose::STANDARD.encode(digest.as_ref()),
            chain_tail: vec![self.der()],
        }
    }
}

/// How the server is set up.
pub struct ServerOptions {
    pub versions: Vec<&'static rustls::SupportedProtocolVersion>,
    /// Clients must present a certificate signed by this CA.
    pub client_ca: Option<CertificateDer<'static>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            client_ca: None,
        }
    }
}

pub fn server_config(leaf: &Leaf, opts: &ServerOptions) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&opts.versions)
        .expect("server versions");
    let builder = match &opts.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.clone()).expect("client CA");
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(v)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(leaf.chain(), leaf.key())
        .expect("server certificate");
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// A request as the server decrypted it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub conn: usize,
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default, Clone, Debug)]
pub struct Log {
    pub accepted: usize,
    pub requests: Vec<Seen>,
    /// Handshakes the server completed, with whether each resumed.
    pub handshakes: Vec<bool>,
    /// Handshake errors as the server saw them.
    pub failures: Vec<String>,
    /// ALPN protocols the client offered and the server chose.
    pub alpn: Vec<Option<Vec<u8>>>,
}

pub type Handler = Arc<dyn Fn(&Seen) -> Vec<u8> + Send + Sync>;

pub struct TlsServer {
    port: u16,
    log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    pub fn start(
        config: Arc<ServerConfig>,
        handler: impl Fn(&Seen) -> Vec<u8> + Send + Sync + 'static,
    ) -> TlsServer {
        // Blocking accept, so a handshake starts without polling delay;
        // `Drop` wakes it with a connection of its own.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Handler = Arc::new(handler);
        let (l, s) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut n = 0;
            loop {
                let accepted = listener.accept();
                if s.load(Ordering::SeqCst) {
                    break;
                }
                match accepted {
                    Ok((tcp, _)) => {
                        l.lock().unwrap().accepted += 1;
                        let (cfg, h, l2, conn) = (config.clone(), handler.clone(), l.clone(), n);
                        n += 1;
                        std::thread::spawn(move || serve(tcp, cfg, h, l2, conn));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        TlsServer {
            port,
            log,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{}", self.port, path)
    }

    /// `https://localhost:<port><path>`
    pub fn url_named(&self, host: &str, path: &str) -> String {
        format!("https://{}:{}{}", host, self.port, path)
    }

    pub fn log(&self) -> Log {
        self.log.lock().unwrap().clone()
    }

    /// Waits (at most `WAIT_MAX`) until `pred` holds.
    pub fn wait_for(&self, pred: impl Fn(&Log) -> bool) -> bool {
        let deadline = Instant::now() + WAIT_MAX;
        while Instant::now() < deadline {
            if pred(&self.log()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], self.port)),
            WAIT_MAX,
        );
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    mut tcp: TcpStream,
    config: Arc<ServerConfig>,
    handler: Handler,
    log: Arc<Mutex<Log>>,
    conn: usize,
) {
    let _ = tcp.set_nonblocking(false);
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(WAIT_MAX));
    let _ = tcp.set_write_timeout(Some(WAIT_MAX));
    let mut tls = ServerConnection::new(config).expect("server connection");
    // The handshake, to its end or its failure.
    while tls.is_handshaking() {
        if let Err(e) = tls.complete_io(&mut tcp) {
            log.lock().unwrap().failures.push(e.to_string());
            // Tell the client why (the alert rustls queued), then close
            // gently: reading what the client still sends keeps the kernel
            // from answering with a reset that would destroy the alert.
            let _ = tls.write_tls(&mut tcp);
            linger_close(tcp);
            return;
        }
    }
    {
        let mut l = log.lock().unwrap();
        l.handshakes
            .push(tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed));
        l.alpn.push(tls.alpn_protocol().map(<[u8]>::to_vec));
    }
    let mut stream = rustls::Stream::new(&mut tls, &mut tcp);
    let mut buf = Vec::new();
    while let Some(seen) = read_request(&mut stream, &mut buf, conn) {
        log.lock().unwrap().requests.push(seen.clone());
        let resp = handler(&seen);
        if stream
            .write_all(&resp)
            .and_then(|_| stream.flush())
            .is_err()
        {
            break;
        }
        let head = String::from_utf8_lossy(&resp[..resp.len().min(1024)]).to_ascii_lowercase();
        if head.contains("connection: close") {
            stream.conn.send_close_notify();
            let _ = stream.flush();
            break;
        }
    }
    if tls.wants_write() {
        // A handshake failure reported after the handshake (TLS 1.3 client
        // authentication): send the alert before closing.
        let _ = tls.write_tls(&mut tcp);
        let _ = tcp.flush();
    }
    linger_close(tcp);
}

fn linger_close(tcp: TcpStream) {
    let _ = tcp.shutdown(Shutdown::Write);
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    let mut t = &tcp;
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match t.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Reads one request head and its Content-Length body; None at EOF or error.
fn read_request(stream: &mut impl Read, buf: &mut Vec<u8>, conn: usize) -> Option<Seen> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
    buf.drain(..head_end + len);
    Some(Seen {
        conn,
        method,
        target,
        headers,
    })
}

pub fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        body
    )
    .into_bytes()
}

pub fn ok_close(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        body
    )
    .into_bytes()
}
