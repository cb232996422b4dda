//! The opening handshake (RFC 6455 §4.1) as an ordinary request through
//! the session, so its base URL, default headers, auth, cookies, hooks,
//! TLS configuration, timeouts and cancellation all apply.
use std::sync::Arc;
use std::time::Duration;

use super::socket::Link;
use super::websocket::{OnReconnect, Reconnect, WebSocket};
use crate::client::error::{ClientError, ClientErrorKind};
use crate::client::request::Request;
use crate::client::response::Response;
use crate::client::session::{Session, Upgrade, Upgraded};
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

    /// Sets the largest frame and message accepted; 0 keeps the default.
    pub fn set_limits(&mut self, max_frame: u64, max_message: u64) {
        let or_default = |v: u64| if v == 0 { ws::Limits::DEFAULT_MAX } else { v };
        self.limits = ws::Limits {
            max_frame: or_default(max_frame),
            max_message: or_default(max_message),
        };
    }

    /// Sets the keep-alive ping interval and the pong timeout (`None`: off).
    pub fn set_ping(&mut self, interval: Option<Duration>, pong_timeout: Option<Duration>) {
        self.ping_interval = interval;
        self.pong_timeout = pong_timeout;
    }

    /// Offers permessage-deflate when `on`, or stops offering
    /// it. `server_max_window_bits` is 8-15, or 0 for no limit; another
    /// value is refused and leaves the options as they were.
    pub fn set_deflate(
        &mut self,
        on: bool,
        server_no_context_takeover: bool,
        client_no_context_takeover: bool,
        server_max_window_bits: u32,
    ) -> Result<(), ClientError> {
        let bits = match server_max_window_bits {
            0 => None,
            b @ 8..=15 => Some(b as u8),
            b => {
                return Err(ClientError::new(
                    ClientErrorKind::InvalidArgument,
                    format!("server_max_window_bits {} is not 0 or 8-15", b),
                ))
            }
        };
        self.deflate = on.then_some(ws::DeflateOffer {
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits: bits,
        });
        Ok(())
    }

    /// Reconnects after a loss, up to `max_attempts` times (0: never),
    /// waiting from `initial_delay` doubling up to `max_delay` (at least
    /// the initial delay).
    pub fn set_reconnect(
        &mut self,
        max_attempts: u32,
        initial_delay: Duration,
        max_delay: Duration,
        on_attempt: Option<OnReconnect>,
    ) {
        self.reconnect = (max_attempts > 0).then(|| Reconnect {
            max_attempts,
            initial_delay,
            max_delay: max_delay.max(initial_delay),
            on_attempt,
        });
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
    let dial = Dial::new(url, opts)?;
    match session.upgrade(&dial.req, cancel)? {
        Upgrade::Switched(up) => Ok(dial.link(up)?),
        Upgrade::Refused(resp) => Err(WsConnectError {
            error: refused(&resp.url, resp.head.status),
            refused: Some(Box::new(resp)),
        }),
    }
}

/// An opening handshake prepared: its request, and what the answer is
/// checked against. The blocking dial sends the request through
/// `Session::upgrade`; the multi runs it as a transfer (`Handle::add_ws`).
pub struct Dial {
    /// The GET with the Upgrade headers.
    pub req: Request,
    key: String,
    /// The URL as the caller gave it (a reconnect dials it again).
    url: String,
    opts: WsOptions,
}

impl Dial {
    pub fn new(url: &str, opts: &WsOptions) -> Result<Dial, ClientError> {
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
        Ok(Dial {
            req,
            key,
            url: url.to_string(),
            opts: opts.clone(),
        })
    }

    /// Checks the 101 (accept, extensions, subprotocol) and makes the
    /// connection it handed over a `Link`.
    fn link(&self, up: Upgraded) -> Result<Link, ClientError> {
        let o = &self.opts;
        let agreed = ws::check_response(&up.head, &self.key, &o.protocols, o.deflate.as_ref())?;
        Link::new(up, agreed, o)
    }

    /// The server switched protocols: the open WebSocket, which keeps
    /// `session` for its reconnects.
    pub fn switched(&self, session: &Session, up: Upgraded) -> Result<WebSocket, ClientError> {
        let link = self.link(up)?;
        Ok(WebSocket::new(link, session, &self.url, &self.opts))
    }
}

/// The error of a handshake the server answered with `status`, not 101.
pub fn refused(url: &str, status: u16) -> ClientError {
    WsError::new(
        WsErrorKind::Handshake,
        format!(
            "WebSocket handshake with {} refused: status {} instead of 101",
            url, status
        ),
    )
    .into()
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
