//! HTTP proxies as the connection layer sees them: where to dial, and the
//! CONNECT handshake that turns a proxy connection into a tunnel to the
//! origin (RFC 9110 §9.3.6). Which requests go through which proxy is the
//! session's policy (`client::proxy`).
use std::fmt;

use super::budget::Budget;
use super::conn::Conn;
use super::error::{NetError, NetErrorKind};
use crate::proto::{parse_head, Limits};

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
    let mut request = format!(
        "CONNECT {a} HTTP/1.1\r\nHost: {a}\r\nUser-Agent: reqivo/{v}\r\n",
        a = authority,
        v = env!("CARGO_PKG_VERSION")
    );
    if let Some(auth) = &proxy.authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(auth);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    conn.write_all_connecting(request.as_bytes(), budget)?;
    let limits = Limits {
        max_header_bytes: CONNECT_HEAD_LIMIT,
        ..Limits::default()
    };
    let refused = |detail: String| {
        NetError::new(
            NetErrorKind::Proxy,
            format!("proxy {} refused CONNECT {}: {}", proxy, authority, detail),
        )
    };
    loop {
        match parse_head(conn.buffered(), &limits) {
            Ok(Some((n, head))) => {
                conn.consume(n);
                if (100..200).contains(&head.status) {
                    continue; // interim answers, RFC 9110 §15.2
                }
                if !(200..300).contains(&head.status) {
                    return Err(refused(format!(
                        "{} {}",
                        head.status,
                        String::from_utf8_lossy(head.reason())
                    )));
                }
                // TLS starts with the client: a proxy that already sent
                // more is not a tunnel we can trust.
                if !conn.buffered().is_empty() {
                    return Err(refused("bytes after its 2xx answer".into()));
                }
                return Ok(());
            }
            Ok(None) => {}
            Err(e) => return Err(refused(format!("unreadable answer: {}", e))),
        }
        if conn.fill_connecting(CONNECT_HEAD_LIMIT + 1, budget)? == 0 {
            return Err(refused("closed the connection before answering".into()));
        }
    }
}
