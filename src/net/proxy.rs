//! Proxies as the connection layer sees them: where to dial, and the
//! handshake that turns a proxy connection into a tunnel to the origin,
//! CONNECT for HTTP proxies (RFC 9110 §9.3.6) or SOCKS5 (`net::socks`).
//! Which requests go through which proxy is the session's policy
//! (`client::proxy`).
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::budget::Budget;
use super::conn::Conn;
use super::error::{NetError, NetErrorKind};
use super::socks::{Dest, Socks5};
use crate::proto::{encode_connect, Limits, RequestFacts, ResponseHead, ResponseReader};

/// A proxy: host (IPv6 in brackets, as in a URL), port, its kind, and
/// the credentials to give it, if any: the `Proxy-Authorization` value
/// for an HTTP proxy, the user name and password for a SOCKS5 one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    pub host: String,
    pub port: u16,
    pub authorization: Option<String>,
    pub kind: ProxyKind,
    pub socks_login: Option<(String, String)>,
}

/// What a proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    /// HTTP: forwards http requests, CONNECT tunnels for https.
    Http,
    /// SOCKS5 tunnels for every request; `remote_dns` (`socks5h`) sends
    /// the origin's name, otherwise the client resolves it.
    Socks5 { remote_dns: bool },
}

impl Proxy {
    /// An HTTP proxy at `host:port`.
    pub fn http(host: String, port: u16, authorization: Option<String>) -> Proxy {
        Proxy {
            host,
            port,
            authorization,
            kind: ProxyKind::Http,
            socks_login: None,
        }
    }

    /// Whether http requests are forwarded to this proxy rather than
    /// tunnelled through it.
    pub fn forwards_http(&self) -> bool {
        self.kind == ProxyKind::Http
    }
}

impl fmt::Debug for Proxy {
    /// Never prints the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("authorization", &self.authorization.as_ref().map(|_| "…"))
            .field("kind", &self.kind)
            .field("socks_login", &self.socks_login.as_ref().map(|_| "…"))
            .finish()
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// How a pooled connection reaches its origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// Straight to the key's host and port.
    Direct,
    /// To the proxy, which is the key's host and port; requests carry
    /// absolute-form targets for any origin (RFC 9112 §3.2.2).
    Forward,
    /// Through a tunnel (CONNECT, or SOCKS5) opened by this proxy to the
    /// key's host and port; TLS runs end to end inside it, and plain
    /// requests carry origin-form targets.
    Tunnel(std::sync::Arc<Proxy>),
}

/// The most a proxy's answer to CONNECT may take; it has no use for more.
const CONNECT_HEAD_LIMIT: usize = 16 * 1024;

/// Asks the proxy at the other end of `conn` for a tunnel to `host:port`
/// and reads its answer: for CONNECT any 2xx opens the tunnel, for SOCKS5
/// reply 0; anything else is a `Proxy` error saying why. Every wait is
/// under the connect timeout, as the tunnel is part of connecting. For
/// `socks5` the client resolves the origin's name first (the same
/// resolution as a direct connect, under the same timeout).
pub(crate) fn open_tunnel(
    conn: &mut Conn,
    proxy: &Proxy,
    host: &str,
    port: u16,
    budget: &Budget<'_>,
) -> Result<(), NetError> {
    let mut ask = TunnelAsk::new(proxy, host, port)?;
    if let Some(name) = ask.unresolved() {
        let addrs = super::connect::resolve_for_proxy(name, port, budget)?;
        ask.resolved(addrs)?;
    }
    loop {
        if !ask.to_send().is_empty() {
            conn.write_all_connecting(ask.to_send(), budget)?;
            ask.sent(ask.to_send().len());
        }
        if ask.take_answer(conn)? {
            return Ok(());
        }
        if !ask.to_send().is_empty() {
            continue;
        }
        if conn.fill_connecting(TunnelAsk::READ_LIMIT, budget)? == 0 {
            return Err(ask.closed());
        }
    }
}

/// One tunnel exchange with a proxy, apart from how its bytes move: the
/// bytes to write next, then the answers read from what the connection
/// has buffered (which may ask for more to be written: SOCKS5 takes up to
/// three rounds). The blocking `open_tunnel` and the event-driven core
/// both drive it.
pub struct TunnelAsk {
    out: Vec<u8>,
    sent: usize,
    how: How,
    proxy: String,
    authority: String,
}

enum How {
    Connect(ResponseReader),
    Socks(Socks5),
}

impl TunnelAsk {
    /// The most a read for the answer should buffer.
    pub(crate) const READ_LIMIT: usize = CONNECT_HEAD_LIMIT + 1;

    pub fn new(proxy: &Proxy, host: &str, port: u16) -> Result<TunnelAsk, NetError> {
        let authority = format!("{}:{}", host, port);
        let mut ask = TunnelAsk {
            out: Vec::with_capacity(128),
            sent: 0,
            how: How::Connect(ResponseReader::new(CONNECT, &CONNECT_LIMITS)),
            proxy: proxy.to_string(),
            authority,
        };
        match proxy.kind {
            ProxyKind::Http => {
                encode_connect(&mut ask.out, &ask.authority, proxy.authorization.as_deref())
                    .map_err(|e| NetError::new(NetErrorKind::Proxy, e.message))?;
            }
            ProxyKind::Socks5 { remote_dns } => {
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                let dest = match bare.parse::<IpAddr>() {
                    Ok(ip) => Dest::Addr(ip),
                    Err(_) if remote_dns => Dest::Name(host.to_string()),
                    Err(_) => Dest::Unresolved(host.to_string()),
                };
                let (socks, greeting) = Socks5::new(proxy.socks_login.clone(), dest, port)
                    .map_err(|why| {
                        NetError::new(
                            NetErrorKind::Proxy,
                            format!("SOCKS5 proxy {}: {}", proxy, why),
                        )
                    })?;
                ask.out = greeting;
                ask.how = How::Socks(socks);
            }
        }
        Ok(ask)
    }

    /// The bytes to write now (empty while waiting for an answer).
    pub fn to_send(&self) -> &[u8] {
        &self.out[self.sent..]
    }

    /// `n` bytes of `to_send` were written.
    pub fn sent(&mut self, n: usize) {
        self.sent += n;
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
    }

    /// The origin's name the client must resolve before the tunnel can
    /// be asked for (`socks5`), if any.
    pub fn unresolved(&self) -> Option<&str> {
        match &self.how {
            How::Socks(s) => s.unresolved(),
            How::Connect(_) => None,
        }
    }

    /// The client's resolution of `unresolved` answered: the first
    /// address goes to the proxy, as curl does.
    pub fn resolved(&mut self, addrs: Vec<SocketAddr>) -> Result<(), NetError> {
        let How::Socks(socks) = &mut self.how else {
            return Ok(());
        };
        let Some(addr) = addrs.first() else {
            return Err(NetError::new(
                NetErrorKind::Dns,
                format!("{} has no addresses", self.authority),
            ));
        };
        socks.set_address(addr.ip(), &mut self.out);
        Ok(())
    }

    /// Reads the proxy's answer from what `conn` holds: true once the
    /// tunnel is open, false while more bytes are needed (or `to_send`
    /// has the next message), an error when the proxy refused.
    pub fn take_answer(&mut self, conn: &mut Conn) -> Result<bool, NetError> {
        let socks = match &mut self.how {
            How::Socks(socks) => socks,
            How::Connect(reader) => {
                return Self::take_connect_answer(reader, conn).map_err(|why| self.refused(why))
            }
        };
        let read = socks.read(conn.buffered(), &mut self.out);
        let done = socks.is_done();
        let n = read.map_err(|why| self.refused(why))?;
        conn.consume(n);
        if done && !conn.buffered().is_empty() {
            return Err(self.refused("bytes after its reply".into()));
        }
        Ok(done)
    }

    fn take_connect_answer(reader: &mut ResponseReader, conn: &mut Conn) -> Result<bool, String> {
        loop {
            let answer = reader
                .read_head(conn.buffered())
                .map_err(|e| format!("unreadable answer: {}", e))?;
            let Some((n, head)) = answer else {
                return Ok(false);
            };
            conn.consume(n);
            if reader.wants_head() {
                continue; // an interim answer
            }
            return tunnel_verdict(&head, reader, conn.buffered()).map(|()| true);
        }
    }

    /// The error for a proxy that closed the connection before answering.
    pub fn closed(&self) -> NetError {
        self.refused("closed the connection before answering".into())
    }

    fn refused(&self, detail: String) -> NetError {
        let text = match self.how {
            How::Connect(_) => format!(
                "proxy {} refused CONNECT {}: {}",
                self.proxy, self.authority, detail
            ),
            How::Socks(_) => format!(
                "SOCKS5 proxy {} refused {}: {}",
                self.proxy, self.authority, detail
            ),
        };
        NetError::new(NetErrorKind::Proxy, text)
    }
}

/// What a CONNECT is read as.
const CONNECT: RequestFacts = RequestFacts {
    head: false,
    close: false,
    connect: true,
};

const CONNECT_LIMITS: Limits = Limits {
    max_line_bytes: CONNECT_HEAD_LIMIT,
    max_header_bytes: CONNECT_HEAD_LIMIT,
    max_header_count: 100,
    max_body_bytes: 0,
};

/// Whether the final answer to CONNECT opened a tunnel: any 2xx does, and
/// then TLS starts with the client, so a proxy that already sent more
/// (`after`) is not a tunnel we can trust. `Err` says why not.
fn tunnel_verdict(
    head: &ResponseHead,
    reader: &ResponseReader,
    after: &[u8],
) -> Result<(), String> {
    if !reader.is_tunnel() {
        return Err(format!(
            "{} {}",
            head.status,
            String::from_utf8_lossy(head.reason())
        ));
    }
    if !after.is_empty() {
        return Err("bytes after its 2xx answer".into());
    }
    Ok(())
}
