//! Proxies: absolute-form requests to a forwarding proxy, CONNECT tunnels
//! for https with TLS end to end, proxy credentials, keep-alive to the
//! proxy, a refused tunnel, NO_PROXY and the environment opt-in. The proxy
//! is the tests' own, on 127.0.0.1, and forwards to in-process servers.
mod support;
mod tls_support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use reqivo::client::{ClientErrorKind, Request, Session};
use reqivo::net::{NetErrorKind, Pool, PoolConfig, TlsConfigBuilder};
use support::{net_kind, ok, Server};
use tls_support::{server_config, Ca, ServerOptions, TlsServer, Validity};

/// Every socket wait of the proxy ends after this, so no test can hang.
const IO_LIMIT: Duration = Duration::from_secs(10);

/// What the proxy was asked: the request line and headers of each request
/// (CONNECT included).
#[derive(Clone, Debug)]
struct Asked {
    line: String,
    headers: Vec<(String, String)>,
}

impl Asked {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct ProxyLog {
    accepted: usize,
    asked: Vec<Asked>,
}

/// A small HTTP proxy: forwards absolute-form requests (one origin
/// connection per request, Content-Length bodies only) and opens CONNECT
/// tunnels, unless told to refuse them with a status line.
struct TestProxy {
    port: u16,
    log: Arc<Mutex<ProxyLog>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestProxy {
    fn start(refuse_connect: Option<&'static str>) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(ProxyLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        l.lock().unwrap().accepted += 1;
                        let l = l.clone();
                        conns.push(std::thread::spawn(move || {
                            let _ = serve(tcp, &l, refuse_connect);
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            // Connection threads end on their own: every read has IO_LIMIT.
            drop(conns);
        });
        TestProxy {
            port,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn accepted(&self) -> usize {
        self.log.lock().unwrap().accepted
    }

    fn asked(&self) -> Vec<Asked> {
        self.log.lock().unwrap().asked.clone()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one message head (and, when `with_body`, its Content-Length
/// body); `None` when the peer closed before sending anything.
fn read_message(tcp: &mut TcpStream, with_body: bool) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte, so nothing past the head is taken from a tunnel.
    while !buf.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut byte)? == 0 {
            return Ok(None);
        }
        buf.push(byte[0]);
    }
    if with_body {
        let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let start = buf.len();
        buf.resize(start + len, 0);
        tcp.read_exact(&mut buf[start..])?;
    }
    Ok(Some(buf))
}

fn parse_asked(raw: &[u8]) -> Asked {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Asked { line, headers }
}

/// `host:port` of an absolute-form `http://host:port/...` target.
fn authority_of(target: &str) -> String {
    let rest = target.strip_prefix("http://").unwrap_or(target);
    rest.split('/').next().unwrap_or_default().to_string()
}

fn serve(
    mut client: TcpStream,
    log: &Mutex<ProxyLog>,
    refuse_connect: Option<&str>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(IO_LIMIT))?;
    client.set_write_timeout(Some(IO_LIMIT))?;
    while let Some(raw) = read_message(&mut client, false)? {
        let asked = parse_asked(&raw);
        log.lock().unwrap().asked.push(asked.clone());
        let mut parts = asked.line.split(' ');
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if method == "CONNECT" {
            if let Some(status) = refuse_connect {
                let answer = format!("HTTP/1.1 {}\r\nContent-Length: 0\r\n\r\n", status);
                client.write_all(answer.as_bytes())?;
                continue;
            }
            let origin = TcpStream::connect(target)?;
            client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
            return tunnel(client, origin);
        }
        // Forward the request, body included, to the origin and the answer
        // back; the origin sees the absolute-form target as sent.
        let len = asked
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        client.read_exact(&mut body)?;
        let mut origin = TcpStream::connect(authority_of(target))?;
        origin.set_read_timeout(Some(IO_LIMIT))?;
        origin.write_all(&raw)?;
        origin.write_all(&body)?;
        let answer = read_message(&mut origin, true)?.unwrap_or_default();
        client.write_all(&answer)?;
    }
    Ok(())
}

/// Copies bytes both ways until either side closes.
fn tunnel(client: TcpStream, origin: TcpStream) -> std::io::Result<()> {
    origin.set_read_timeout(Some(IO_LIMIT))?;
    let (mut c_in, mut o_out) = (client.try_clone()?, origin.try_clone()?);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_in, &mut o_out);
        let _ = o_out.shutdown(Shutdown::Write);
    });
    let (mut o_in, mut c_out) = (origin, client);
    let _ = std::io::copy(&mut o_in, &mut c_out);
    let _ = c_out.shutdown(Shutdown::Both);
    let _ = up.join();
    Ok(())
}

fn session() -> Session {
    let s = Session::new(Pool::new(PoolConfig::default()));
    s.set_timeouts(support::timeouts_ms(5000));
    s
}

fn get(s: &Session, url: &str) -> Result<reqivo::client::Response, reqivo::client::ClientError> {
    s.send(&Request::new("GET", url).unwrap(), None)
}

#[test]
fn http_through_a_proxy_uses_absolute_form_and_proxy_credentials() {
    let origin = Server::serve(|_| ok("from origin"));
    let proxy = TestProxy::start(None);
    let s = session();
    let with_auth = proxy.url().replace("http://", "http://pu%40x:pp@");
    s.set_proxy(Some(&with_auth)).unwrap();
    let r = get(&s, &origin.url("/path?q=1#frag")).unwrap();
    assert_eq!(
        (r.head.status, support::text(&r)),
        (200, "from origin".into())
    );
    let asked = proxy.asked();
    assert_eq!(
        asked[0].line,
        format!("GET http://127.0.0.1:{}/path?q=1 HTTP/1.1", origin.port())
    );
    assert_eq!(
        asked[0].header("host"),
        Some(&*format!("127.0.0.1:{}", origin.port()))
    );
    // base64("pu@x:pp")
    assert_eq!(
        asked[0].header("proxy-authorization"),
        Some("Basic cHVAeDpwcA==")
    );
    assert_eq!(
        origin.requests()[0].target,
        format!("http://127.0.0.1:{}/path?q=1", origin.port())
    );
}

#[test]
fn one_proxy_connection_serves_requests_to_different_origins() {
    let a = Server::serve(|_| ok("a"));
    let b = Server::serve(|_| ok("b"));
    let proxy = TestProxy::start(None);
    let s = session();
    s.set_proxy(Some(&proxy.url())).unwrap();
    assert_eq!(support::text(&get(&s, &a.url("/")).unwrap()), "a");
    let r = get(&s, &b.url("/")).unwrap();
    assert_eq!(support::text(&r), "b");
    assert!(
        r.reused,
        "the second request should reuse the proxy connection"
    );
    assert_eq!(proxy.accepted(), 1);
    let st = s.pool().stats();
    assert_eq!((st.opened, st.reused), (1, 1));
}

fn tls_origin() -> (Ca, TlsServer, Session) {
    let ca = Ca::new("reqivo proxy test CA");
    let leaf = ca.server(&["localhost", "127.0.0.1"], Validity::Current);
    let server = TlsServer::start(server_config(&leaf, &ServerOptions::default()), |seen| {
        let body = format!(
            "{} proxy-auth={}",
            seen.target,
            seen.header("proxy-authorization").unwrap_or("none")
        );
        tls_support::ok(&body)
    });
    let mut b = TlsConfigBuilder::new();
    b.use_system_roots(false);
    b.add_root_pem(ca.pem().as_bytes()).unwrap();
    let s = session();
    s.set_tls(Some(Arc::new(b.build().unwrap())));
    (ca, server, s)
}

#[test]
fn https_goes_through_a_connect_tunnel_with_tls_to_the_origin() {
    let (_ca, origin, s) = tls_origin();
    let proxy = TestProxy::start(None);
    let with_auth = proxy.url().replace("http://", "http://user:secret@");
    s.set_proxy(Some(&with_auth)).unwrap();
    let url = origin.url_named("localhost", "/secure?x=1");
    let r = get(&s, &url).unwrap();
    // The origin saw an origin-form target and never the proxy credentials.
    assert_eq!(support::text(&r), "/secure?x=1 proxy-auth=none");
    assert!(r.tls.is_some());
    let again = get(&s, &url).unwrap();
    assert!(again.reused, "the tunnel should be kept alive");
    let asked = proxy.asked();
    assert_eq!(asked.len(), 1, "one CONNECT for both requests: {asked:?}");
    let authority = format!("localhost:{}", origin.port());
    assert_eq!(asked[0].line, format!("CONNECT {} HTTP/1.1", authority));
    assert_eq!(asked[0].header("host"), Some(authority.as_str()));
    // base64("user:secret")
    assert_eq!(
        asked[0].header("proxy-authorization"),
        Some("Basic dXNlcjpzZWNyZXQ=")
    );
}

#[test]
fn a_refused_tunnel_is_a_proxy_error_with_the_status() {
    let (_ca, origin, s) = tls_origin();
    let proxy = TestProxy::start(Some("407 Proxy Authentication Required"));
    s.set_proxy(Some(&proxy.url())).unwrap();
    let e = get(&s, &origin.url("/")).unwrap_err();
    assert_eq!(net_kind(&e), Some(NetErrorKind::Proxy), "{e:?}");
    assert!(e.to_string().contains("407"), "{e}");
    assert_eq!(origin.log().accepted, 0);
    let st = s.pool().stats();
    assert_eq!((st.in_use, st.idle), (0, 0), "no connection leaked");
}

#[test]
fn a_proxy_that_closes_during_connect_or_is_not_there_fails_cleanly() {
    let (_ca, origin, s) = tls_origin();
    let closing = Server::each(vec![support::Step::Read, support::Step::Close]);
    s.set_proxy(Some(&closing.origin())).unwrap();
    let e = get(&s, &origin.url("/")).unwrap_err();
    assert_eq!(net_kind(&e), Some(NetErrorKind::Proxy), "{e:?}");
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    s.set_proxy(Some(&format!("127.0.0.1:{}", port))).unwrap();
    let e = get(&s, &origin.url("/")).unwrap_err();
    assert_eq!(net_kind(&e), Some(NetErrorKind::ConnectRefused), "{e:?}");
}

#[test]
fn no_proxy_hosts_are_reached_directly() {
    let origin = Server::serve(|_| ok("direct?"));
    let proxy = TestProxy::start(None);
    let s = session();
    s.set_proxy(Some(&proxy.url())).unwrap();
    s.set_no_proxy("localhost, example.test");
    get(&s, &format!("http://localhost:{}/", origin.port())).unwrap();
    assert_eq!(proxy.accepted(), 0, "localhost is on the bypass list");
    get(&s, &origin.url("/")).unwrap();
    assert_eq!(proxy.accepted(), 1, "127.0.0.1 is not");
    // Clearing the proxy keeps the list and goes direct for everything.
    s.set_proxy(None).unwrap();
    get(&s, &origin.url("/")).unwrap();
    assert_eq!(proxy.asked().len(), 1);
}

#[test]
fn the_environment_is_read_only_on_request() {
    let origin = Server::serve(|_| ok("x"));
    let proxy = TestProxy::start(None);
    let s = session();
    let env = {
        let url = proxy.url();
        move |name: &str| match name {
            "HTTP_PROXY" => Some(url.clone()),
            "NO_PROXY" => Some("localhost".to_string()),
            _ => None,
        }
    };
    get(&s, &origin.url("/")).unwrap();
    assert_eq!(proxy.accepted(), 0, "no proxy before opting in");
    s.use_env_proxy(env).unwrap();
    get(&s, &origin.url("/")).unwrap();
    get(&s, &format!("http://localhost:{}/", origin.port())).unwrap();
    assert_eq!(
        proxy.asked().len(),
        1,
        "127.0.0.1 via the proxy, localhost direct"
    );
    let e = s
        .use_env_proxy(|n| (n == "HTTPS_PROXY").then(|| "socks4://127.0.0.1:1".to_string()))
        .unwrap_err();
    assert_eq!(e.client_kind(), Some(ClientErrorKind::InvalidConfig));
    assert!(e.to_string().contains("HTTPS_PROXY"), "{e}");
}

#[test]
fn proxy_urls_are_checked_when_set() {
    let s = session();
    for (bad, kind) in [
        ("https://127.0.0.1:1", ClientErrorKind::UnsupportedScheme),
        ("http://", ClientErrorKind::InvalidUrl),
        ("http://127.0.0.1:1/path", ClientErrorKind::InvalidUrl),
    ] {
        let e = s.set_proxy(Some(bad)).unwrap_err();
        assert_eq!(e.client_kind(), Some(kind), "{bad}: {e}");
    }
}

#[test]
fn multi_sends_http_through_a_forwarding_proxy() {
    let origin = Server::serve(|seen| ok(&format!("from origin {}", seen.target)));
    let proxy = TestProxy::start(None);
    let s = session();
    s.set_proxy(Some(&proxy.url().replace("http://", "http://pu:pp@")))
        .unwrap();
    let urls: Vec<String> = (0..4).map(|i| origin.url(&format!("/m/{}", i))).collect();
    for (i, r) in support::multi_get(&s, &urls).into_iter().enumerate() {
        let r = r.unwrap();
        let target = format!("http://127.0.0.1:{}/m/{}", origin.port(), i);
        assert_eq!(support::text(&r), format!("from origin {}", target));
    }
    for asked in proxy.asked() {
        assert!(asked.line.starts_with("GET http://127.0.0.1:"), "{asked:?}");
        // base64("pu:pp")
        assert_eq!(asked.header("proxy-authorization"), Some("Basic cHU6cHA="));
    }
}

#[test]
fn multi_sends_https_through_a_connect_tunnel_and_reuses_it() {
    let (_ca, origin, s) = tls_origin();
    let proxy = TestProxy::start(None);
    s.set_proxy(Some(&proxy.url().replace("http://", "http://user:secret@")))
        .unwrap();
    let urls: Vec<String> = (0..3)
        .map(|i| origin.url_named("localhost", &format!("/t/{}", i)))
        .collect();
    for (i, r) in support::multi_get(&s, &urls).into_iter().enumerate() {
        let r = r.unwrap();
        assert_eq!(support::text(&r), format!("/t/{} proxy-auth=none", i));
        assert!(r.tls.is_some());
    }
    let asked = proxy.asked();
    assert_eq!(
        asked.len(),
        3,
        "one tunnel per transfer in flight: {asked:?}"
    );
    assert_eq!(
        asked[0].line,
        format!("CONNECT localhost:{} HTTP/1.1", origin.port())
    );
    assert_eq!(
        asked[0].header("proxy-authorization"),
        Some("Basic dXNlcjpzZWNyZXQ=")
    );
    // The tunnels went back to the pool: a blocking send reuses one.
    let r = get(&s, &urls[0]).unwrap();
    assert!(r.reused, "a multi's tunnel should serve a blocking send");
    assert_eq!(proxy.asked().len(), 3);
}

#[test]
fn multi_reports_a_refused_or_closed_tunnel_as_a_proxy_error() {
    let (_ca, origin, s) = tls_origin();
    let proxy = TestProxy::start(Some("403 Forbidden"));
    s.set_proxy(Some(&proxy.url())).unwrap();
    let e = support::multi_get(&s, &[origin.url("/")])
        .remove(0)
        .unwrap_err();
    assert!(e.contains("refused CONNECT") && e.contains("403"), "{e}");
    let closing = Server::each(vec![support::Step::Read, support::Step::Close]);
    s.set_proxy(Some(&closing.origin())).unwrap();
    let e = support::multi_get(&s, &[origin.url("/")])
        .remove(0)
        .unwrap_err();
    assert!(e.contains("closed the connection before answering"), "{e}");
    assert_eq!(origin.log().accepted, 0);
    let st = s.pool().stats();
    assert_eq!((st.in_use, st.idle), (0, 0), "no connection leaked");
}
