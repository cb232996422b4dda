//! HTTP proxies as the connection layer sees them: where to dial, and the
//! CONNECT handshake that turns a proxy connection into a tunnel to the
//! origin (RFC 9110 §9.3.6). Which requests go through which proxy is the
//! session's policy (`client::proxy`).
use std::fmt;

use super::budget::Budget;
use super::conn::Conn;
use super::error::{NetError, NetErrorKind};
use crate::proto::{encode_connect, Limits, RequestFacts, ResponseHead, ResponseReader};

/// An HTTP proxy: host (IPv6 in brackets, as in a URL), port, and the
/// `Proxy-Authorization` value to send it, if any.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    pub host: String,
    pub port: u16,
    pub authorization: Option<String>,
}

impl fmt::Debug for Proxy {
    /// Never prints the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("authorization", &self.authorization.as_ref().map(|_| "…"))
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
    /// Through a CONNECT tunnel opened by this proxy to the key's host and
    /// port; TLS runs end to end inside it.
    Tunnel(std::sync::Arc<Proxy>),
}

/// The most a proxy's answer to CONNECT may take; it has no use for more.
const CONNECT_HEAD_LIMIT: usize = 16 * 1024;

/// Asks the proxy at the other end of `conn` for a tunnel to `authority`
/// (`host:port`) and reads its answer: any 2xx opens the tunnel; anything
/// else is a `Proxy` error naming the status. Every wait is under the
/// connect timeout, as the tunnel is part of connecting.
pub(crate) fn open_tunnel(
    conn: &mut Conn,
    proxy: &Proxy,
    authority: &str,
    budget: &Budget<'_>,
) -> Result<(), NetError> {
    let mut ask = TunnelAsk::new(proxy, authority)?;
    conn.write_all_connecting(ask.request(), budget)?;
    while !ask.take_answer(conn)? {
        if conn.fill_connecting(TunnelAsk::READ_LIMIT, budget)? == 0 {
            return Err(ask.closed());
        }
    }
    Ok(())
}

/// One CONNECT exchange, apart from how its bytes move: the request to
/// write, then the answer read from what the connection has buffered.
/// The blocking `open_tunnel` and the event-driven core both drive it.
pub struct TunnelAsk {
    request: Vec<u8>,
    reader: ResponseReader,
    proxy: String,
    authority: String,
}

impl TunnelAsk {
    /// The most a read for the answer should buffer.
    pub(crate) const READ_LIMIT: usize = CONNECT_HEAD_LIMIT + 1;

    pub fn new(proxy: &Proxy, authority: &str) -> Result<TunnelAsk, NetError> {
        let mut request = Vec::with_capacity(128);
        encode_connect(&mut request, authority, proxy.authorization.as_deref())
            .map_err(|e| NetError::new(NetErrorKind::Proxy, e.message))?;
        Ok(TunnelAsk {
            request,
            reader: ResponseReader::new(CONNECT, &CONNECT_LIMITS),
            proxy: proxy.to_string(),
            authority: authority.to_string(),
        })
    }

    /// The CONNECT request's bytes.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// Reads the proxy's answer from what `conn` holds: true once a 2xx
    /// opened the tunnel, false while more bytes are needed, an error when
    /// the proxy refused.
    pub fn take_answer(&mut self, conn: &mut Conn) -> Result<bool, NetError> {
        loop {
            let answer = self
                .reader
                .read_head(conn.buffered())
                .map_err(|e| self.refused(format!("unreadable answer: {}", e)))?;
            let Some((n, head)) = answer else {
                return Ok(false);
            };
            conn.consume(n);
            if self.reader.wants_head() {
                continue; // an interim answer
            }
            return tunnel_verdict(&head, &self.reader, conn.buffered())
                .map(|()| true)
                .map_err(|why| self.refused(why));
        }
    }

    /// The error for a proxy that closed the connection before answering.
    pub fn closed(&self) -> NetError {
        self.refused("closed the connection before answering".into())
    }

    fn refused(&self, detail: String) -> NetError {
        NetError::new(
            NetErrorKind::Proxy,
            format!(
                "proxy {} refused CONNECT {}: {}",
                self.proxy, self.authority, detail
            ),
        )
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
