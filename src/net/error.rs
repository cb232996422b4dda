//! The one error type of the network layer; `client::ErrorKind` takes in
//! its kinds, which the C ABI maps to codes.
use std::fmt;
use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetErrorKind {
    /// The host name did not resolve.
    Dns,
    /// Every address refused the connection.
    ConnectRefused,
    /// The peer closed or reset the connection before the exchange ended.
    ConnectionClosed,
    /// Any other socket error.
    Io,
    /// The proxy would not open a CONNECT tunnel.
    Proxy,
    TimeoutConnect,
    TimeoutRead,
    TimeoutWrite,
    TimeoutTotal,
    TimeoutPool,
    Cancelled,
    /// A configuration item (PEM, pin, roots) is unusable.
    InvalidConfig,
    /// The TLS handshake failed: an alert, a refused protocol version, a
    /// connection closed mid-handshake.
    TlsHandshake,
    /// The server certificate does not chain to a trusted root, has
    /// expired, is not valid yet, or was rejected for another reason.
    TlsCertUntrusted,
    /// The server certificate is not valid for the host name.
    TlsHostname,
    /// The server key matches none of the configured pins.
    TlsPinMismatch,
    /// The HTTP/2 peer broke the protocol, or reset the stream or the
    /// connection with an error code.
    Http2Protocol,
    /// HTTP/2 was required and the server did not offer it.
    Http2Required,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetError {
    pub kind: NetErrorKind,
    pub message: String,
    /// The OS errno behind the error, 0 when there is none.
    pub os_error: i32,
}

impl NetError {
    pub fn new(kind: NetErrorKind, message: impl Into<String>) -> Self {
        NetError {
            kind,
            message: message.into(),
            os_error: 0,
        }
    }

    /// Classifies an I/O error from `what` (e.g. "reading from 127.0.0.1:80").
    pub fn io(err: &io::Error, what: &str) -> Self {
        let kind = match err.kind() {
            io::ErrorKind::ConnectionRefused => NetErrorKind::ConnectRefused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => NetErrorKind::ConnectionClosed,
            _ => NetErrorKind::Io,
        };
        NetError {
            kind,
            message: format!("{}: {}", what, err),
            os_error: err.raw_os_error().unwrap_or(0),
        }
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NetError {}
