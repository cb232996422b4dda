//! The opening handshake (RFC 6455 §4.1) as an ordinary request through
//! the session, so its base URL, default headers, auth, cookies, hooks,
//! TLS configuration, timeouts and cancellation all apply.
use std::sync::Arc;
use std::time::Duration;

use super::socket::Link;
use super::websocket::{Reconnect, WebSocket};
use crate::client::error::{ClientError, ClientErrorKind};
use crate::client::request::Request;
use crate::client::response::Response;
use crate::client::session::{Session, Upgrade};
use crate::net::Cancel;
use crate::ws::{self, WsError, WsErrorKind};

/// Headers the handshake writes itself; a caller value would break it.
const HANDSHAKE_HEADERS: [&str; 6] = [
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
];

/// Per-connection settings.
#[derive(Debug, Clone, Default)]
pub struct WsOptions {
    /// Subprotocols offered, in order of preference.
    pub protocols: Vec<String>,
    /// Extra request headers (after the session's defaults).
    pub headers: Vec<(String, String)>,
    pub limits: ws::Limits,
    /// Send a ping after this long without one, while receiving.
    pub ping_interval: Option<Duration>,
    /// Fail the connection when a ping gets no pong within this long.
    pub pong_timeout: Option<Duration>,
    /// Offer permessage-deflate (RFC 7692) with these parameters.
    pub deflate: Option<ws::DeflateOffer>,
    /// Reconnect after the connection is lost (off when `None`).
    pub reconnect: Option<Reconnect>,
}

impl WsOptions {
    /// Adds an offered subprotocol: an HTTP token, not offered before.
    pub fn add_protocol(&mut self, p: &str) -> Result<(), ClientError> {
        let mut next = self.protocols.clone();
        next.push(p.to_string());
        ws::validate_protocols(&next)
            .map_err(|m| ClientError::new(ClientErrorKind::InvalidArgument, m))?;
        self.protocols = next;
        Ok(())
    }

    /// Adds a header to the handshake request; the handshake's own
    /// headers are refused.
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<(), ClientError> {
        crate::client::request::validate_header(name, value)?;
        if HANDSHAKE_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
        {
            return Err(ClientError::new(
                ClientErrorKind::InvalidArgument,
                format!("header {:?} is written by the WebSocket handshake", name),
            ));
        }
        self.headers.push((name.to_string(), value.to_string()));
        Ok(())
    }
}

/// A failed connect; `refused` holds the server's answer when it was not
/// 101, so the caller can read its status, headers and body.
#[derive(Debug)]
pub struct WsConnectError {
    pub error: ClientError,
    pub refused: Option<Box<Response>>,
}

impl From<ClientError> for WsConnectError {
    fn from(error: ClientError) -> Self {
        WsConnectError {
            error,
            refused: None,
        }
    }
}

/// ws:// and wss:// become http:// and https:// for the request (RFC 6455
/// §3 maps them to ports 80 and 443); a relative URL joins the session's
/// base URL as any request does.
fn http_url(url: &str) -> Result<String, ClientError> {
    let lower = url.get(..6).unwrap_or(url).to_ascii_lowercase();
    let mapped = if lower.starts_with("ws://") {
        format!("http://{}", &url[5..])
    } else if lower.starts_with("wss://") {
        format!("https://{}", &url[6..])
    } else if url.contains("://") {
        return Err(ClientError::new(
            ClientErrorKind::UnsupportedScheme,
            format!("WebSocket URL {:?} is not ws:// or wss://", url),
        ));
    } else {
        url.to_string()
    };
    // §3: a WebSocket URI has no fragment.
    if mapped.contains('#') {
        return Err(ClientError::new(
            ClientErrorKind::InvalidUrl,
            format!("WebSocket URL {:?} has a fragment", url),
        ));
    }
    Ok(mapped)
}

/// Runs the opening handshake and returns the open connection.
pub fn connect(
    session: &Session,
    url: &str,
    opts: &WsOptions,
    cancel: Option<Arc<Cancel>>,
) -> Result<WebSocket, WsConnectError> {
    let link = handshake(session, url, opts, cancel)?;
    Ok(WebSocket::new(link, session, url, opts))
}

/// One opening handshake: the first, or a reconnect's.
pub(super) fn handshake(
    session: &Session,
    url: &str,
    opts: &WsOptions,
    cancel: Option<Arc<Cancel>>,
) -> Result<Link, WsConnectError> {
    let mut req = Request::new("GET", &http_url(url)?)?;
    for (n, v) in &opts.headers {
        req.add_header(n, v)?;
    }
    let key = ws::generate_key()?;
    req.add_header("Upgrade", "websocket")?;
    req.add_header("Connection", "Upgrade")?;
    req.add_header("Sec-WebSocket-Key", &key)?;
    req.add_header("Sec-WebSocket-Version", "13")?;
    if !opts.protocols.is_empty() {
        req.add_header("Sec-WebSocket-Protocol", &opts.protocols.join(", "))?;
    }
    if let Some(offer) = &opts.deflate {
        req.add_header("Sec-WebSocket-Extensions", &offer.header_value())?;
    }
    match session.upgrade(&req, cancel)? {
        Upgrade::Switched(up) => {
            let agreed =
                ws::check_response(&up.head, &key, &opts.protocols, opts.deflate.as_ref())?;
            Ok(Link::new(up, agreed, opts)?)
        }
        Upgrade::Refused(resp) => {
            let error = WsError::new(
                WsErrorKind::Handshake,
                format!(
                    "WebSocket handshake with {} refused: status {} instead of 101",
                    resp.url, resp.head.status
                ),
            );
            Err(WsConnectError {
                error: error.into(),
                refused: Some(Box::new(resp)),
            })
        }
    }
}

impl From<WsError> for WsConnectError {
    fn from(e: WsError) -> Self {
        ClientError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_url_schemes_map_to_http() {
        assert_eq!(http_url("ws://h/p?q").unwrap(), "http://h/p?q");
        assert_eq!(http_url("WSS://h:9/").unwrap(), "https://h:9/");
        assert_eq!(http_url("/chat").unwrap(), "/chat");
        assert!(http_url("ftp://h/").is_err());
        assert!(http_url("ws://h/#frag").is_err());
    }

    #[test]
    fn ws_options_refuse_handshake_headers_and_bad_protocols() {
        let mut o = WsOptions::default();
        assert!(o.add_header("X-Token", "1").is_ok());
        assert!(o.add_header("Sec-WebSocket-Key", "x").is_err());
        assert!(o.add_header("connection", "close").is_err());
        assert!(o.add_protocol("chat").is_ok());
        assert!(o.add_protocol("chat").is_err());
        assert!(o.add_protocol("a,b").is_err());
        assert_eq!(o.protocols, vec!["chat".to_string()]);
    }
}
