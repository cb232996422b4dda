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
    let mut request = Vec::with_capacity(128);
    encode_connect(&mut request, authority, proxy.authorization.as_deref())
        .map_err(|e| NetError::new(NetErrorKind::Proxy, e.message))?;
    conn.write_all_connecting(&request, budget)?;
    let mut reader = ResponseReader::new(CONNECT, &CONNECT_LIMITS);
    loop {
        let answer = reader
            .read_head(conn.buffered())
            .map_err(|e| refused(proxy, authority, format!("unreadable answer: {}", e)))?;
        if let Some((n, head)) = answer {
            conn.consume(n);
            if reader.wants_head() {
                continue; // an interim answer
            }
            return tunnel_verdict(&head, &reader, conn.buffered())
                .map_err(|why| refused(proxy, authority, why));
        }
        if conn.fill_connecting(CONNECT_HEAD_LIMIT + 1, budget)? == 0 {
            let why = "closed the connection before answering".into();
            return Err(refused(proxy, authority, why));
        }
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
pub(crate) fn tunnel_verdict(
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

fn refused(proxy: &Proxy, authority: &str, detail: String) -> NetError {
    NetError::new(
        NetErrorKind::Proxy,
        format!("proxy {} refused CONNECT {}: {}", proxy, authority, detail),
    )
}
