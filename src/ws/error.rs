//! The WebSocket layer's error. Each failure that ends the connection
//! carries the close code RFC 6455 §7.4.1 assigns to it, so the connection
//! layer sends the right Close frame without deciding anything itself.
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsErrorKind {
    /// The server broke RFC 6455 (close code 1002); the message names the rule.
    Protocol,
    /// A text message or close reason is not UTF-8 (close code 1007).
    InvalidUtf8,
    /// A frame or message is over the configured limit (close code 1009).
    MessageTooBig,
    /// The opening handshake failed: not 101, or a bad accept, upgrade,
    /// extension or subprotocol answer.
    Handshake,
    /// The connection is closed (by either side); no more messages.
    Closed,
    /// A ping got no pong within the pong timeout.
    PingTimeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsError {
    pub kind: WsErrorKind,
    pub message: String,
}

impl WsError {
    pub fn new(kind: WsErrorKind, message: impl Into<String>) -> Self {
        WsError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Self::new(WsErrorKind::Protocol, message)
    }

    /// The close code to send when this error fails the connection;
    /// `None` when no Close frame fits (the connection is gone or never was).
    pub fn close_code(&self) -> Option<u16> {
        match self.kind {
            WsErrorKind::Protocol => Some(1002),
            WsErrorKind::InvalidUtf8 => Some(1007),
            WsErrorKind::MessageTooBig => Some(1009),
            // A silent peer gets a Close too, in case it is only slow.
            WsErrorKind::PingTimeout => Some(1001),
            WsErrorKind::Handshake | WsErrorKind::Closed => None,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WsError {}
