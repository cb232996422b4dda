//! The one error type of the protocol layer. It knows nothing of C codes;
//! `client::ErrorKind` takes in each kind, which the C ABI maps to its number.
use std::fmt;

/// What went wrong while encoding a request or decoding a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoErrorKind {
    /// The request method is not an RFC 9110 token.
    InvalidMethod,
    /// A request header name or value the caller gave is malformed.
    InvalidHeader,
    /// The response status line is malformed or carries an unsupported version/status.
    InvalidStatusLine,
    /// A response header line is malformed (including obs-fold).
    InvalidResponseHeader,
    /// The response head, or one of its lines, is larger than the limit.
    HeaderTooLarge,
    /// The response carries more header fields than the limit.
    TooManyHeaders,
    /// The response body is larger than the limit.
    BodyTooLarge,
    /// The message framing is ambiguous or invalid (TE with CL, conflicting CL, ...).
    InvalidFraming,
    /// The chunked encoding is malformed.
    InvalidChunk,
    /// The peer closed the connection inside a framed message.
    UnexpectedEof,
    /// A content-coded body could not be decoded.
    Decompression,
}

/// A protocol error with a message that says what was seen and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoError {
    pub kind: ProtoErrorKind,
    pub message: String,
}

impl ProtoError {
    pub fn new(kind: ProtoErrorKind, message: impl Into<String>) -> Self {
        ProtoError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProtoError {}
