//! The client layer's error: its own kinds, or one from the layer below;
//! `ErrorKind` names them all in one list, for callers that map every
//! failure to one number (the C ABI's result codes).
use std::fmt;

use crate::net::{NetError, NetErrorKind};
use crate::proto::{ProtoError, ProtoErrorKind};
use crate::ws::{WsError, WsErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientErrorKind {
    InvalidArgument,
    InvalidUrl,
    UnsupportedScheme,
    TooManyRedirects,
    RedirectLoop,
    InvalidLocation,
    /// A caller callback (body source, progress, hook) asked to stop.
    AbortedByCallback,
    /// A JSON body the caller gave, or a response body looked up, is not valid JSON.
    InvalidJson,
    /// A JSON pointer is malformed (RFC 6901).
    InvalidJsonPointer,
    /// A JSON pointer refers to no value in the document.
    JsonNotFound,
    /// A setting the caller gave (a proxy from the environment, a public
    /// suffix list) is unusable.
    InvalidConfig,
}

/// Every kind of failure a client call reports, whichever layer it came
/// from: `ClientError::kind` flattens the client's own kinds and those of
/// `net`, `proto` and `ws` into this one list, so a caller maps one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    // The caller's input.
    InvalidArgument,
    InvalidUrl,
    UnsupportedScheme,
    InvalidMethod,
    InvalidHeader,
    InvalidConfig,
    InvalidJson,
    InvalidJsonPointer,
    JsonNotFound,
    // The network.
    Dns,
    ConnectRefused,
    ConnectionClosed,
    Io,
    Proxy,
    TlsHandshake,
    TlsCertUntrusted,
    TlsHostname,
    TlsPinMismatch,
    // Deadlines.
    TimeoutConnect,
    TimeoutRead,
    TimeoutWrite,
    TimeoutTotal,
    TimeoutPool,
    // The server broke HTTP/1.1, or a limit.
    InvalidStatusLine,
    InvalidResponseHeader,
    HeaderTooLarge,
    TooManyHeaders,
    BodyTooLarge,
    InvalidFraming,
    InvalidChunk,
    UnexpectedEof,
    Decompression,
    Http2Protocol,
    Http2Required,
    // Redirects.
    TooManyRedirects,
    RedirectLoop,
    InvalidLocation,
    // Stopped by the caller.
    Cancelled,
    AbortedByCallback,
    // WebSocket.
    WsHandshake,
    WsClosed,
    WsProtocol,
    WsInvalidUtf8,
    WsMessageTooBig,
    WsPingTimeout,
}

impl From<ClientErrorKind> for ErrorKind {
    fn from(k: ClientErrorKind) -> Self {
        use ClientErrorKind as K;
        match k {
            K::InvalidArgument => ErrorKind::InvalidArgument,
            K::InvalidUrl => ErrorKind::InvalidUrl,
            K::UnsupportedScheme => ErrorKind::UnsupportedScheme,
            K::TooManyRedirects => ErrorKind::TooManyRedirects,
            K::RedirectLoop => ErrorKind::RedirectLoop,
            K::InvalidLocation => ErrorKind::InvalidLocation,
            K::AbortedByCallback => ErrorKind::AbortedByCallback,
            K::InvalidJson => ErrorKind::InvalidJson,
            K::InvalidJsonPointer => ErrorKind::InvalidJsonPointer,
            K::JsonNotFound => ErrorKind::JsonNotFound,
            K::InvalidConfig => ErrorKind::InvalidConfig,
        }
    }
}

impl From<NetErrorKind> for ErrorKind {
    fn from(k: NetErrorKind) -> Self {
        use NetErrorKind as K;
        match k {
            K::Dns => ErrorKind::Dns,
            K::ConnectRefused => ErrorKind::ConnectRefused,
            K::ConnectionClosed => ErrorKind::ConnectionClosed,
            K::Io => ErrorKind::Io,
            K::Proxy => ErrorKind::Proxy,
            K::TimeoutConnect => ErrorKind::TimeoutConnect,
            K::TimeoutRead => ErrorKind::TimeoutRead,
            K::TimeoutWrite => ErrorKind::TimeoutWrite,
            K::TimeoutTotal => ErrorKind::TimeoutTotal,
            K::TimeoutPool => ErrorKind::TimeoutPool,
            K::Cancelled => ErrorKind::Cancelled,
            K::InvalidConfig => ErrorKind::InvalidConfig,
            K::TlsHandshake => ErrorKind::TlsHandshake,
            K::TlsCertUntrusted => ErrorKind::TlsCertUntrusted,
            K::TlsHostname => ErrorKind::TlsHostname,
            K::TlsPinMismatch => ErrorKind::TlsPinMismatch,
            K::Http2Protocol => ErrorKind::Http2Protocol,
            K::Http2Required => ErrorKind::Http2Required,
        }
    }
}

impl From<ProtoErrorKind> for ErrorKind {
    fn from(k: ProtoErrorKind) -> Self {
        use ProtoErrorKind as K;
        match k {
            K::InvalidMethod => ErrorKind::InvalidMethod,
            K::InvalidHeader => ErrorKind::InvalidHeader,
            K::InvalidStatusLine => ErrorKind::InvalidStatusLine,
            K::InvalidResponseHeader => ErrorKind::InvalidResponseHeader,
            K::HeaderTooLarge => ErrorKind::HeaderTooLarge,
            K::TooManyHeaders => ErrorKind::TooManyHeaders,
            K::BodyTooLarge => ErrorKind::BodyTooLarge,
            K::InvalidFraming => ErrorKind::InvalidFraming,
            K::InvalidChunk => ErrorKind::InvalidChunk,
            K::UnexpectedEof => ErrorKind::UnexpectedEof,
            K::Decompression => ErrorKind::Decompression,
        }
    }
}

impl From<WsErrorKind> for ErrorKind {
    fn from(k: WsErrorKind) -> Self {
        use WsErrorKind as K;
        match k {
            K::Handshake => ErrorKind::WsHandshake,
            K::Closed => ErrorKind::WsClosed,
            K::Protocol => ErrorKind::WsProtocol,
            K::InvalidUtf8 => ErrorKind::WsInvalidUtf8,
            K::MessageTooBig => ErrorKind::WsMessageTooBig,
            K::PingTimeout => ErrorKind::WsPingTimeout,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    Client {
        kind: ClientErrorKind,
        message: String,
    },
    Proto(ProtoError),
    Net(NetError),
    /// A WebSocket failure (handshake, protocol, limits, closed).
    Ws(WsError),
}

impl ClientError {
    pub fn new(kind: ClientErrorKind, message: impl Into<String>) -> Self {
        ClientError::Client {
            kind,
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ClientError::Client { message, .. } => message,
            ClientError::Proto(e) => &e.message,
            ClientError::Net(e) => &e.message,
            ClientError::Ws(e) => &e.message,
        }
    }

    /// The kind, whichever layer the error came from.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Client { kind, .. } => (*kind).into(),
            ClientError::Proto(e) => e.kind.into(),
            ClientError::Net(e) => e.kind.into(),
            ClientError::Ws(e) => e.kind.into(),
        }
    }

    /// The operating system's errno behind a network failure, or 0.
    pub fn os_error(&self) -> i32 {
        match self {
            ClientError::Net(e) => e.os_error,
            _ => 0,
        }
    }

    /// The message, taken out of the error.
    pub fn into_message(self) -> String {
        match self {
            ClientError::Client { message, .. } => message,
            ClientError::Proto(e) => e.message,
            ClientError::Net(e) => e.message,
            ClientError::Ws(e) => e.message,
        }
    }

    /// The kind, when the error is the client layer's own.
    pub fn client_kind(&self) -> Option<ClientErrorKind> {
        match self {
            ClientError::Client { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// True when the server closed before sending any response byte: the
    /// one failure after which an idempotent request may be sent again.
    pub(crate) fn closed_before_response(&self) -> bool {
        use NetErrorKind as N;
        match self {
            ClientError::Net(e) => matches!(e.kind, N::ConnectionClosed | N::Io),
            ClientError::Proto(e) => e.kind == ProtoErrorKind::UnexpectedEof,
            ClientError::Client { .. } | ClientError::Ws(_) => false,
        }
    }
}

impl From<ProtoError> for ClientError {
    fn from(e: ProtoError) -> Self {
        ClientError::Proto(e)
    }
}

impl From<WsError> for ClientError {
    fn from(e: WsError) -> Self {
        ClientError::Ws(e)
    }
}

impl From<NetError> for ClientError {
    fn from(e: NetError) -> Self {
        ClientError::Net(e)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ClientError {}
