//! The client layer's error: its own kinds, or one from the layer below.
use std::fmt;

use crate::net::NetError;
use crate::proto::{ProtoError, ProtoErrorKind};
use crate::ws::WsError;

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
        use crate::net::NetErrorKind as N;
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
