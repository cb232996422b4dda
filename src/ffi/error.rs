//! The caller-owned error struct, how a failure is written into it, and
//! the one map from the client layer's errors to result codes (`code.rs`).
use std::any::Any;
use std::ffi::{c_char, CStr};

use super::boundary::FailValue;
use super::code::reqivo_code;
use crate::client::{ClientError, ClientErrorKind};
use crate::net::{NetError, NetErrorKind};
use crate::proto::{ProtoError, ProtoErrorKind};
use crate::ws::{WsError, WsErrorKind};

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

fn proto_code(k: ProtoErrorKind) -> reqivo_code {
    use reqivo_code::*;
    match k {
        ProtoErrorKind::InvalidMethod => REQIVO_ERR_INVALID_METHOD,
        ProtoErrorKind::InvalidHeader => REQIVO_ERR_INVALID_HEADER,
        ProtoErrorKind::InvalidStatusLine => REQIVO_ERR_INVALID_STATUS_LINE,
        ProtoErrorKind::InvalidResponseHeader => REQIVO_ERR_INVALID_RESPONSE_HEADER,
        ProtoErrorKind::HeaderTooLarge => REQIVO_ERR_HEADER_TOO_LARGE,
        ProtoErrorKind::TooManyHeaders => REQIVO_ERR_TOO_MANY_HEADERS,
        ProtoErrorKind::BodyTooLarge => REQIVO_ERR_BODY_TOO_LARGE,
        ProtoErrorKind::InvalidFraming => REQIVO_ERR_INVALID_FRAMING,
        ProtoErrorKind::InvalidChunk => REQIVO_ERR_INVALID_CHUNK,
        ProtoErrorKind::UnexpectedEof => REQIVO_ERR_UNEXPECTED_EOF,
        ProtoErrorKind::Decompression => REQIVO_ERR_DECOMPRESSION,
    }
}

fn net_code(k: NetErrorKind) -> reqivo_code {
    use reqivo_code::*;
    match k {
        NetErrorKind::Dns => REQIVO_ERR_DNS,
        NetErrorKind::ConnectRefused => REQIVO_ERR_CONNECT_REFUSED,
        NetErrorKind::ConnectionClosed => REQIVO_ERR_CONNECTION_CLOSED,
        NetErrorKind::Io => REQIVO_ERR_IO,
        NetErrorKind::Proxy => REQIVO_ERR_PROXY,
        NetErrorKind::TimeoutConnect => REQIVO_ERR_TIMEOUT_CONNECT,
        NetErrorKind::TimeoutRead => REQIVO_ERR_TIMEOUT_READ,
        NetErrorKind::TimeoutWrite => REQIVO_ERR_TIMEOUT_WRITE,
        NetErrorKind::TimeoutTotal => REQIVO_ERR_TIMEOUT_TOTAL,
        NetErrorKind::TimeoutPool => REQIVO_ERR_TIMEOUT_POOL,
        NetErrorKind::Cancelled => REQIVO_ERR_CANCELLED,
        NetErrorKind::InvalidConfig => REQIVO_ERR_INVALID_CONFIG,
        NetErrorKind::TlsHandshake => REQIVO_ERR_TLS_HANDSHAKE,
        NetErrorKind::TlsCertUntrusted => REQIVO_ERR_TLS_CERT_UNTRUSTED,
        NetErrorKind::TlsHostname => REQIVO_ERR_TLS_HOSTNAME,
        NetErrorKind::TlsPinMismatch => REQIVO_ERR_TLS_PIN_MISMATCH,
    }
}

fn client_code(k: ClientErrorKind) -> reqivo_code {
    use reqivo_code::*;
    match k {
        ClientErrorKind::InvalidArgument => REQIVO_ERR_INVALID_ARGUMENT,
        ClientErrorKind::InvalidUrl => REQIVO_ERR_INVALID_URL,
        ClientErrorKind::UnsupportedScheme => REQIVO_ERR_UNSUPPORTED_SCHEME,
        ClientErrorKind::TooManyRedirects => REQIVO_ERR_TOO_MANY_REDIRECTS,
        ClientErrorKind::RedirectLoop => REQIVO_ERR_REDIRECT_LOOP,
        ClientErrorKind::InvalidLocation => REQIVO_ERR_INVALID_LOCATION,
        ClientErrorKind::AbortedByCallback => REQIVO_ERR_ABORTED_BY_CALLBACK,
        ClientErrorKind::InvalidJson => REQIVO_ERR_INVALID_JSON,
        ClientErrorKind::InvalidJsonPointer => REQIVO_ERR_INVALID_JSON_POINTER,
        ClientErrorKind::JsonNotFound => REQIVO_ERR_JSON_NOT_FOUND,
        ClientErrorKind::InvalidConfig => REQIVO_ERR_INVALID_CONFIG,
    }
}

fn ws_code(k: WsErrorKind) -> reqivo_code {
    use reqivo_code::*;
    match k {
        WsErrorKind::Handshake => REQIVO_ERR_WS_HANDSHAKE,
        WsErrorKind::Closed => REQIVO_ERR_WS_CLOSED,
        WsErrorKind::Protocol => REQIVO_ERR_WS_PROTOCOL,
        WsErrorKind::InvalidUtf8 => REQIVO_ERR_WS_INVALID_UTF8,
        WsErrorKind::MessageTooBig => REQIVO_ERR_WS_MESSAGE_TOO_BIG,
        WsErrorKind::PingTimeout => REQIVO_ERR_WS_PING_TIMEOUT,
    }
}

impl From<ClientError> for Fail {
    fn from(e: ClientError) -> Fail {
        match e {
            ClientError::Client { kind, message } => Fail::new(client_code(kind), message),
            ClientError::Ws(WsError { kind, message }) => Fail::new(ws_code(kind), message),
            ClientError::Proto(ProtoError { kind, message }) => {
                Fail::new(proto_code(kind), message)
            }
            ClientError::Net(NetError {
                kind,
                message,
                os_error,
            }) => Fail {
                code: net_code(kind),
                message,
                os_error,
            },
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
