//! Result codes: the numbers every fallible function returns, their names
//! and their classes. Numbers are grouped in classes (DESIGN §4) and never
//! reused or renumbered; a retired number stays here as a comment.
use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use strum::{EnumIter, IntoEnumIterator, IntoStaticStr};

use super::boundary::StaticStr;

/// Result codes. 0 is success; the thousands give the class (see
/// `reqivo_code_class`). Functions return them as `uint32_t`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, IntoStaticStr)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum reqivo_code {
    /// Success.
    REQIVO_OK = 0,
    /// A required pointer was NULL, or a value was out of range.
    REQIVO_ERR_INVALID_ARGUMENT = 1001,
    /// The URL could not be parsed, has no host, or is relative without a base URL.
    REQIVO_ERR_INVALID_URL = 1002,
    /// The URL scheme is not http (or https, where TLS is built).
    REQIVO_ERR_UNSUPPORTED_SCHEME = 1003,
    /// The method is not an HTTP token, or is CONNECT.
    REQIVO_ERR_INVALID_METHOD = 1004,
    /// A header name is not a token, a value holds CR, LF, NUL or another
    /// control byte, or the header is one the library sets itself.
    REQIVO_ERR_INVALID_HEADER = 1005,
    /// A configuration item (PEM, pin, pool setting) is invalid.
    REQIVO_ERR_INVALID_CONFIG = 1006,
    /// A JSON body is not valid JSON; the message gives line and column.
    REQIVO_ERR_INVALID_JSON = 1007,
    /// A JSON pointer is malformed (RFC 6901: empty, or '/'-separated tokens
    /// with '~0' and '~1' escapes).
    REQIVO_ERR_INVALID_JSON_POINTER = 1008,
    /// A JSON pointer refers to no value: a missing member, an index past
    /// the end, or a step into a scalar.
    REQIVO_ERR_JSON_NOT_FOUND = 1009,
    /// A caller's buffer is too small; the call reports the size needed.
    REQIVO_ERR_BUFFER_TOO_SMALL = 1010,
    /// The host name did not resolve.
    REQIVO_ERR_DNS = 2001,
    /// Every address of the host refused the connection.
    REQIVO_ERR_CONNECT_REFUSED = 2002,
    /// The server closed or reset the connection early.
    REQIVO_ERR_CONNECTION_CLOSED = 2003,
    /// Another socket error; `os_error` holds errno.
    REQIVO_ERR_IO = 2004,
    /// The proxy refused to open a tunnel (its answer to CONNECT was not
    /// 2xx: 407 when it wants credentials; the message has the status), or
    /// a SOCKS5 proxy refused (a reply code, rejected credentials, no
    /// acceptable method, or an answer that is not SOCKS5; the message
    /// says which).
    REQIVO_ERR_PROXY = 2005,
    /// The TLS handshake failed.
    REQIVO_ERR_TLS_HANDSHAKE = 2101,
    /// The server certificate does not chain to a trusted root, has
    /// expired or is not valid yet (the message says which).
    REQIVO_ERR_TLS_CERT_UNTRUSTED = 2102,
    /// The server certificate is not valid for the host name.
    REQIVO_ERR_TLS_HOSTNAME = 2103,
    /// The server key matches none of the configured pins.
    REQIVO_ERR_TLS_PIN_MISMATCH = 2104,
    /// Connecting to an address took longer than the connect timeout.
    REQIVO_ERR_TIMEOUT_CONNECT = 3001,
    /// The server sent nothing for longer than the read timeout.
    REQIVO_ERR_TIMEOUT_READ = 3002,
    /// The server took no bytes for longer than the write timeout.
    REQIVO_ERR_TIMEOUT_WRITE = 3003,
    /// The whole send (redirects and retries included) passed the total timeout.
    REQIVO_ERR_TIMEOUT_TOTAL = 3004,
    /// No pooled connection became free within the pool timeout.
    REQIVO_ERR_TIMEOUT_POOL = 3005,
    /// The status line is malformed, or its version or status is unsupported.
    REQIVO_ERR_INVALID_STATUS_LINE = 4001,
    /// A response header line is malformed (obs-fold included).
    REQIVO_ERR_INVALID_RESPONSE_HEADER = 4002,
    /// The response head or one of its lines is over the limit.
    REQIVO_ERR_HEADER_TOO_LARGE = 4003,
    /// The response has more header fields than the limit.
    REQIVO_ERR_TOO_MANY_HEADERS = 4004,
    /// The response body is over `max_body_bytes`.
    REQIVO_ERR_BODY_TOO_LARGE = 4005,
    /// The body framing is invalid: Transfer-Encoding with Content-Length,
    /// differing Content-Length values, or an unknown transfer-coding.
    REQIVO_ERR_INVALID_FRAMING = 4006,
    /// The chunked encoding is malformed.
    REQIVO_ERR_INVALID_CHUNK = 4007,
    /// The connection closed inside a response.
    REQIVO_ERR_UNEXPECTED_EOF = 4008,
    /// A compressed body could not be decoded.
    REQIVO_ERR_DECOMPRESSION = 4009,
    /// The HTTP/2 peer broke the protocol, or reset the stream or the
    /// connection with an error (the RFC 9113 error code is named in the
    /// message).
    REQIVO_ERR_HTTP2_PROTOCOL = 4010,
    /// HTTP/2 was required (`REQIVO_HTTP_VERSION_2`) and the server chose
    /// another protocol in TLS negotiation, or refused `h2` (alert
    /// no_application_protocol).
    REQIVO_ERR_HTTP2_REQUIRED = 4011,
    /// More redirects than `max_redirects`.
    REQIVO_ERR_TOO_MANY_REDIRECTS = 5001,
    /// A redirect led back to a request already made in the chain.
    REQIVO_ERR_REDIRECT_LOOP = 5002,
    /// A redirect's Location is invalid or has an unsupported scheme.
    REQIVO_ERR_INVALID_LOCATION = 5003,
    /// The caller triggered the request's `reqivo_cancel`.
    REQIVO_ERR_CANCELLED = 6001,
    /// A caller callback returned non-zero.
    REQIVO_ERR_ABORTED_BY_CALLBACK = 6002,
    /// The WebSocket handshake failed: the server answered other than 101
    /// (the message gives the status; `reqivo_ws_connect` can return the
    /// response), or its 101 has a wrong Sec-WebSocket-Accept, Upgrade,
    /// extension or subprotocol.
    REQIVO_ERR_WS_HANDSHAKE = 7001,
    /// The WebSocket is closed: the close handshake happened, or an earlier
    /// failure ended the connection (the message says which).
    REQIVO_ERR_WS_CLOSED = 7002,
    /// The server broke RFC 6455 (a masked frame, reserved bits or opcode,
    /// a long or fragmented control frame, a bad close code, a continuation
    /// without a start...); the message names the rule. The connection was
    /// closed with code 1002.
    REQIVO_ERR_WS_PROTOCOL = 7003,
    /// A text message or close reason from the server is not UTF-8; the
    /// connection was closed with code 1007.
    REQIVO_ERR_WS_INVALID_UTF8 = 7004,
    /// A frame or message from the server is over the maximum frame or
    /// message size; the connection was closed with code 1009.
    REQIVO_ERR_WS_MESSAGE_TOO_BIG = 7005,
    /// A ping got no pong within the pong timeout; the connection was
    /// closed with code 1001.
    REQIVO_ERR_WS_PING_TIMEOUT = 7006,
    /// A bug inside the library was caught at the API boundary.
    REQIVO_ERR_PANIC = 9001,
}

fn code_names() -> &'static [(u32, CString)] {
    static NAMES: OnceLock<Vec<(u32, CString)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        reqivo_code::iter()
            .map(|c| {
                (
                    c as u32,
                    CString::new(<&'static str>::from(c)).expect("code names have no NUL"),
                )
            })
            .collect()
    })
}

/// The name of a result code, e.g. "REQIVO_ERR_TIMEOUT_READ".
///
/// Ownership: a static string; never free it.
/// NULL: no pointer arguments.
/// Thread safety: callable from any thread.
/// Returns: the name, or "REQIVO_ERR_UNKNOWN" for a number that is no code; never NULL.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_code_name(code: u32) -> *const c_char {
    let name = ffi_boundary!({
        let found = code_names().iter().find(|(c, _)| *c == code);
        StaticStr(found.map_or(c"REQIVO_ERR_UNKNOWN".as_ptr(), |(_, n)| n.as_ptr()))
    });
    name.0
}

/// Class of the usage errors (`reqivo_code_class`): a bad argument, URL,
/// method, header or configuration.
pub const REQIVO_CLASS_USAGE: u32 = 1000;
/// Class of the network errors: DNS, connect, I/O, the proxy.
pub const REQIVO_CLASS_NETWORK: u32 = 2000;
/// Class of the TLS errors, a kind of network error.
pub const REQIVO_CLASS_TLS: u32 = 2100;
/// Class of the timeouts.
pub const REQIVO_CLASS_TIMEOUT: u32 = 3000;
/// Class of the protocol errors: the server broke HTTP/1.1, or a limit.
pub const REQIVO_CLASS_PROTOCOL: u32 = 4000;
/// Class of the redirect errors.
pub const REQIVO_CLASS_REDIRECT: u32 = 5000;
/// Class of the stops the caller asked for: a cancel or a callback.
pub const REQIVO_CLASS_STOPPED: u32 = 6000;
/// Class of the WebSocket errors.
pub const REQIVO_CLASS_WEBSOCKET: u32 = 7000;
/// Class of the internal errors: a bug inside the library.
pub const REQIVO_CLASS_INTERNAL: u32 = 9000;

/// The class of a result code: the base of its range, one of the
/// `REQIVO_CLASS_*` constants. Bindings map classes to their exception
/// types: 1000 usage, 2000 network, 2100 TLS, 3000 timeout, 4000 protocol,
/// 5000 redirect, 6000 stopped by the caller, 7000 WebSocket, 9000
/// internal.
///
/// Ownership: nothing is allocated.
/// NULL: no pointer arguments.
/// Thread safety: callable from any thread.
/// Returns: the class base; 0 for `REQIVO_OK`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_code_class(code: u32) -> u32 {
    ffi_boundary!({
        match code {
            2100..=2199 => REQIVO_CLASS_TLS,
            _ => code / 1000 * 1000,
        }
    })
}
