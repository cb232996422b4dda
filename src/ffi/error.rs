//! The caller-owned error struct, how a failure is written into it, and
//! the one map from the client layer's errors to result codes (`code.rs`).
use std::any::Any;
use std::ffi::{c_char, CStr};

use super::boundary::FailValue;
use super::code::reqivo_code;
use crate::client::{ClientError, ErrorKind};

/// Details of a failure, written by the library into memory the caller owns.
/// Every fallible function takes one as its last argument (NULL to ignore).
/// It is cleared on entry, so after a successful call `code` is 0.
#[repr(C)]
pub struct reqivo_error {
    /// A `reqivo_code`; 0 on success.
    pub code: u32,
    /// The operating system's errno behind the failure, or 0.
    pub os_error: i32,
    /// A NUL-terminated UTF-8 message saying what went wrong and where.
    pub message: [c_char; 256],
}

/// A failure on its way to C.
pub(crate) struct Fail {
    pub code: reqivo_code,
    pub message: String,
    pub os_error: i32,
}

impl Fail {
    pub fn new(code: reqivo_code, message: impl Into<String>) -> Self {
        Fail {
            code,
            message: message.into(),
            os_error: 0,
        }
    }
}

/// The result code of each kind of failure: the one map from the client
/// layer's errors (whichever layer they came from) to numbers.
pub(crate) fn code_of(k: ErrorKind) -> reqivo_code {
    use reqivo_code::*;
    match k {
        ErrorKind::InvalidArgument => REQIVO_ERR_INVALID_ARGUMENT,
        ErrorKind::InvalidUrl => REQIVO_ERR_INVALID_URL,
        ErrorKind::UnsupportedScheme => REQIVO_ERR_UNSUPPORTED_SCHEME,
        ErrorKind::InvalidMethod => REQIVO_ERR_INVALID_METHOD,
        ErrorKind::InvalidHeader => REQIVO_ERR_INVALID_HEADER,
        ErrorKind::InvalidConfig => REQIVO_ERR_INVALID_CONFIG,
        ErrorKind::InvalidJson => REQIVO_ERR_INVALID_JSON,
        ErrorKind::InvalidJsonPointer => REQIVO_ERR_INVALID_JSON_POINTER,
        ErrorKind::JsonNotFound => REQIVO_ERR_JSON_NOT_FOUND,
        ErrorKind::Dns => REQIVO_ERR_DNS,
        ErrorKind::ConnectRefused => REQIVO_ERR_CONNECT_REFUSED,
        ErrorKind::ConnectionClosed => REQIVO_ERR_CONNECTION_CLOSED,
        ErrorKind::Io => REQIVO_ERR_IO,
        ErrorKind::Proxy => REQIVO_ERR_PROXY,
        ErrorKind::TlsHandshake => REQIVO_ERR_TLS_HANDSHAKE,
        ErrorKind::TlsCertUntrusted => REQIVO_ERR_TLS_CERT_UNTRUSTED,
        ErrorKind::TlsHostname => REQIVO_ERR_TLS_HOSTNAME,
        ErrorKind::TlsPinMismatch => REQIVO_ERR_TLS_PIN_MISMATCH,
        ErrorKind::TimeoutConnect => REQIVO_ERR_TIMEOUT_CONNECT,
        ErrorKind::TimeoutRead => REQIVO_ERR_TIMEOUT_READ,
        ErrorKind::TimeoutWrite => REQIVO_ERR_TIMEOUT_WRITE,
        ErrorKind::TimeoutTotal => REQIVO_ERR_TIMEOUT_TOTAL,
        ErrorKind::TimeoutPool => REQIVO_ERR_TIMEOUT_POOL,
        ErrorKind::InvalidStatusLine => REQIVO_ERR_INVALID_STATUS_LINE,
        ErrorKind::InvalidResponseHeader => REQIVO_ERR_INVALID_RESPONSE_HEADER,
        ErrorKind::HeaderTooLarge => REQIVO_ERR_HEADER_TOO_LARGE,
        ErrorKind::TooManyHeaders => REQIVO_ERR_TOO_MANY_HEADERS,
        ErrorKind::BodyTooLarge => REQIVO_ERR_BODY_TOO_LARGE,
        ErrorKind::InvalidFraming => REQIVO_ERR_INVALID_FRAMING,
        ErrorKind::InvalidChunk => REQIVO_ERR_INVALID_CHUNK,
        ErrorKind::UnexpectedEof => REQIVO_ERR_UNEXPECTED_EOF,
        ErrorKind::Decompression => REQIVO_ERR_DECOMPRESSION,
        ErrorKind::Http2Protocol => REQIVO_ERR_HTTP2_PROTOCOL,
        ErrorKind::Http2Required => REQIVO_ERR_HTTP2_REQUIRED,
        ErrorKind::TooManyRedirects => REQIVO_ERR_TOO_MANY_REDIRECTS,
        ErrorKind::RedirectLoop => REQIVO_ERR_REDIRECT_LOOP,
        ErrorKind::InvalidLocation => REQIVO_ERR_INVALID_LOCATION,
        ErrorKind::Cancelled => REQIVO_ERR_CANCELLED,
        ErrorKind::AbortedByCallback => REQIVO_ERR_ABORTED_BY_CALLBACK,
        ErrorKind::WsHandshake => REQIVO_ERR_WS_HANDSHAKE,
        ErrorKind::WsClosed => REQIVO_ERR_WS_CLOSED,
        ErrorKind::WsProtocol => REQIVO_ERR_WS_PROTOCOL,
        ErrorKind::WsInvalidUtf8 => REQIVO_ERR_WS_INVALID_UTF8,
        ErrorKind::WsMessageTooBig => REQIVO_ERR_WS_MESSAGE_TOO_BIG,
        ErrorKind::WsPingTimeout => REQIVO_ERR_WS_PING_TIMEOUT,
    }
}

impl From<ClientError> for Fail {
    fn from(e: ClientError) -> Fail {
        Fail {
            code: code_of(e.kind()),
            os_error: e.os_error(),
            message: e.into_message(),
        }
    }
}

/// Fills `err` (if not NULL) and returns the failure value for `R`.
pub(crate) fn fail<R: FailValue>(f: impl Into<Fail>, err: *mut reqivo_error) -> R {
    let f = f.into();
    write(err, f.code as u32, f.os_error, &f.message);
    R::fail_value(f.code)
}

/// Fills `err` for a required pointer argument `name` that was NULL and
/// returns the failure value for `R` (`borrow!`, `require!`).
#[cold]
#[inline(never)]
pub(crate) fn null_argument<R: FailValue>(err: *mut reqivo_error, name: &str) -> R {
    let code = reqivo_code::REQIVO_ERR_INVALID_ARGUMENT;
    write(err, code as u32, 0, &format!("argument `{}` is NULL", name));
    R::fail_value(code)
}

fn write(err: *mut reqivo_error, code: u32, os_error: i32, message: &str) {
    // SAFETY: a non-NULL `err` points to a caller-owned reqivo_error (API contract).
    let Some(e) = (unsafe { err.as_mut() }) else {
        return;
    };
    e.code = code;
    e.os_error = os_error;
    // Truncate on a UTF-8 boundary, leaving room for the NUL.
    let mut n = message.len().min(e.message.len() - 1);
    while !message.is_char_boundary(n) {
        n -= 1;
    }
    for (dst, &src) in e.message.iter_mut().zip(&message.as_bytes()[..n]) {
        *dst = src as c_char;
    }
    e.message[n] = 0;
}

pub(crate) fn clear(err: *mut reqivo_error) {
    write(err, 0, 0, "");
}

pub(crate) fn set_panic(err: *mut reqivo_error, payload: Box<dyn Any + Send>) {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    write(
        err,
        reqivo_code::REQIVO_ERR_PANIC as u32,
        0,
        &format!("internal error (please report): {}", what),
    );
}

/// For Rust callers and tests: the message in an error struct.
pub fn message_of(err: &reqivo_error) -> &str {
    // SAFETY: `write` always leaves a NUL inside the array.
    let c = unsafe { CStr::from_ptr(err.message.as_ptr()) };
    c.to_str().unwrap_or("")
}
