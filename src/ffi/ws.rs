//! WebSocket connections (RFC 6455): connect through a session, send and
//! receive messages, ping, close.
use std::ffi::c_char;

use super::boundary::{bytes_in, str_in};
use super::cancel::reqivo_cancel;
use super::code::reqivo_code;
use super::error::{fail, reqivo_error, Fail};
use super::handle::{clone_arc, free_box, to_boxed_ptr, try_ref, Castable, OwnedBox};
use super::response::{free_c, into_c, reqivo_response, reqivo_str};
use super::session::reqivo_session;
use super::ws_message::{self, reqivo_ws_message, REQIVO_WS_BINARY, REQIVO_WS_TEXT};
use super::ws_options::reqivo_ws_options;
use crate::client::ws::{connect, Kind, Received, WebSocket, WsConnectError, WsOptions};
use crate::client::Response;

/// An open WebSocket connection. One thread may send (`reqivo_ws_send`,
/// `_send_fragment`, `_ping`, `_close`) while another receives
/// (`reqivo_ws_receive`); several senders take turns, a frame at a time.
pub struct reqivo_ws {
    _private: [u8; 0],
}

pub(crate) struct WsHandle {
    ws: WebSocket,
    /// The 101 head as a `reqivo_response`, owned here.
    head: *const reqivo_response,
    /// The selected subprotocol with a NUL after it (empty: none).
    protocol: Vec<u8>,
}

impl WsHandle {
    /// The handle C gets for a new connection.
    pub(crate) fn new_c(ws: WebSocket) -> *mut reqivo_ws {
        let mut protocol = ws.protocol().unwrap_or_default().into_bytes();
        protocol.push(0);
        let head = into_c(&ws.response());
        to_boxed_ptr::<reqivo_ws>(WsHandle { ws, head, protocol })
    }
}

/// Sets `*refused`, when the caller asked for it, to the server's answer
/// that was not 101 (the caller frees it), or to NULL.
///
/// # Safety
/// `refused` is NULL or writable.
unsafe fn answer_refused(refused: *mut *const reqivo_response, answer: Option<&Response>) {
    if !refused.is_null() {
        // SAFETY: per the caller.
        unsafe { refused.write(answer.map_or(std::ptr::null(), into_c)) };
    }
}

impl Drop for WsHandle {
    fn drop(&mut self) {
        // SAFETY: `head` came from `into_c` and is freed only here.
        unsafe { free_c(self.head) }
    }
}

impl Castable for reqivo_ws {
    type Ownership = OwnedBox;
    type RustType = WsHandle;
}

fn kind_of(kind: u32) -> Result<Kind, Fail> {
    match kind {
        REQIVO_WS_TEXT => Ok(Kind::Text),
        REQIVO_WS_BINARY => Ok(Kind::Binary),
        other => Err(Fail::new(
            reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
            format!(
                "kind {} is not REQIVO_WS_TEXT (1) or REQIVO_WS_BINARY (2)",
                other
            ),
        )),
    }
}

/// Opens a WebSocket: the opening handshake (RFC 6455 §4) is a GET through
/// the session, so its base URL (for a relative `url`), default headers,
/// auth, cookies, hooks, TLS configuration, timeouts and `cancel` apply.
/// `url` is `ws://` or `wss://` (or relative to the base URL). Redirects are
/// not followed. Afterwards each send waits under the session's write
/// timeout and each receive under its read timeout (0: no limit); the
/// total timeout bounds the handshake only. The connection never returns
/// to the pool.
///
/// Ownership: the caller owns the connection and frees it with
/// `reqivo_ws_free`. `options` is copied (NULL: defaults). When the server
/// answers other than 101, `*refused` (if `refused` is not NULL) receives
/// that response, head and body, for the caller to free with
/// `reqivo_response_free`; in every other case `*refused` is set to NULL.
/// NULL: `s` or `url` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `options`,
/// `cancel`, `refused` and `err` may be NULL.
/// Thread safety: callable while other threads use the session.
/// Returns: the connection, or NULL with `err` filled:
/// `REQIVO_ERR_WS_HANDSHAKE` (not 101, or a wrong accept, extension or
/// subprotocol), URL, network, TLS, timeout and cancel errors.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_connect(
    s: *mut reqivo_session,
    url: *const c_char,
    url_len: usize,
    options: *const reqivo_ws_options,
    cancel: *const reqivo_cancel,
    refused: *mut *const reqivo_response,
    err: *mut reqivo_error,
) -> *mut reqivo_ws {
    ffi_boundary!(err, {
        // SAFETY: `refused` is NULL or writable (API contract).
        unsafe { answer_refused(refused, None) };
        let s = borrow!(s, err);
        require!(url, err);
        // SAFETY: (NULL or live) options and token, and `url` holding
        // `url_len` bytes.
        let (url, opts, cancel) = unsafe {
            (
                try_or_fail!(str_in(url, url_len, "url"), err),
                try_ref(options).cloned().unwrap_or_default(),
                clone_arc(cancel),
            )
        };
        let opts: WsOptions = opts;
        match connect(s, url, &opts, cancel) {
            Ok(ws) => WsHandle::new_c(ws),
            Err(WsConnectError { error, refused: r }) => {
                // SAFETY: as above.
                unsafe { answer_refused(refused, r.as_deref()) };
                fail(error, err)
            }
        }
    })
}

/// Sends one whole message: `kind` is `REQIVO_WS_TEXT` (`data` must be
/// UTF-8) or `REQIVO_WS_BINARY`. The frame is masked with a fresh random
/// key. Blocks until the socket has taken it, under the write timeout and
/// `cancel`; an error after part of the frame went out ends the connection.
///
/// Ownership: `data` is copied before the call returns.
/// NULL: `ws` NULL, or `data` NULL with `len` > 0, is
/// `REQIVO_ERR_INVALID_ARGUMENT`; `cancel` and `err` may be NULL.
/// Thread safety: callable while another thread receives; senders take turns.
/// Returns: 0; `REQIVO_ERR_INVALID_ARGUMENT` (bad kind, text not UTF-8, a
/// fragmented message unfinished); `REQIVO_ERR_WS_CLOSED` after a Close was
/// sent or the connection failed; network, timeout and cancel errors.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_send(
    ws: *mut reqivo_ws,
    kind: u32,
    data: *const u8,
    len: usize,
    cancel: *const reqivo_cancel,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let h = borrow!(ws, err);
        let kind = try_or_fail!(kind_of(kind), err);
        // SAFETY: `data` holding `len` bytes, NULL or live token.
        let (data, cancel) = unsafe {
            (
                try_or_fail!(bytes_in(data, len, "data"), err),
                clone_arc(cancel),
            )
        };
        try_or_fail!(h.ws.send(kind, data, cancel.as_ref()), err);
        reqivo_code::REQIVO_OK as u32
    })
}

/// Sends one fragment of a message (RFC 6455 §5.4); `fin` true marks the
/// last. Every fragment gives the `kind` of the first. Text fragments may
/// split a UTF-8 sequence; the whole must be UTF-8. Other senders' whole
/// messages wait until `fin`; pings, pongs and Close may go in between.
///
/// Ownership: `data` is copied before the call returns.
/// NULL: as `reqivo_ws_send`.
/// Thread safety: as `reqivo_ws_send`; one thread should own a fragmented
/// message from its first fragment to its last.
/// Returns: as `reqivo_ws_send`; also `REQIVO_ERR_INVALID_ARGUMENT` for a
/// kind that differs from the first fragment's.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_send_fragment(
    ws: *mut reqivo_ws,
    kind: u32,
    data: *const u8,
    len: usize,
    fin: bool,
    cancel: *const reqivo_cancel,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let h = borrow!(ws, err);
        let kind = try_or_fail!(kind_of(kind), err);
        // SAFETY: `data` holding `len` bytes, NULL or live token.
        let (data, cancel) = unsafe {
            (
                try_or_fail!(bytes_in(data, len, "data"), err),
                clone_arc(cancel),
            )
        };
        try_or_fail!(h.ws.send_fragment(kind, data, fin, cancel.as_ref()), err);
        reqivo_code::REQIVO_OK as u32
    })
}

/// Receives the next message. Pings are answered with pongs while waiting,
/// pongs are taken in, and with `reqivo_ws_options_set_ping` keep-alive
/// pings go out. Waits under the read timeout and `cancel`; a timeout or a
/// cancel leaves the connection usable (a partly received message is kept).
/// A violation by the server closes the connection with the code RFC 6455
/// gives it. The server's Close is returned once as a `REQIVO_WS_CLOSE`
/// message (and answered); later receives fail with `REQIVO_ERR_WS_CLOSED`.
///
/// Ownership: the caller owns the message and frees it with
/// `reqivo_ws_message_free`.
/// NULL: `ws` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `cancel` and `err` may
/// be NULL.
/// Thread safety: one receiver at a time, while others send.
/// Returns: the message, or NULL with `err` filled: `REQIVO_ERR_WS_PROTOCOL`
/// (1002), `REQIVO_ERR_WS_INVALID_UTF8` (1007), `REQIVO_ERR_WS_MESSAGE_TOO_BIG`
/// (1009), `REQIVO_ERR_WS_PING_TIMEOUT`, `REQIVO_ERR_WS_CLOSED`,
/// `REQIVO_ERR_CONNECTION_CLOSED` (closed without a Close, or mid-frame),
/// `REQIVO_ERR_TIMEOUT_READ`, `REQIVO_ERR_CANCELLED`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_receive(
    ws: *mut reqivo_ws,
    cancel: *const reqivo_cancel,
    err: *mut reqivo_error,
) -> *const reqivo_ws_message {
    ffi_boundary!(err, {
        let h = borrow!(ws, err);
        // SAFETY: NULL or a live token.
        let cancel = unsafe { clone_arc(cancel) };
        let m = try_or_fail!(h.ws.receive(cancel.as_ref()), err);
        ws_message::into_c(&m)
    })
}

/// Receives the next message if that needs no wait, for a caller with its
/// own event loop (epoll, Go's netpoller, a fiber scheduler): what the
/// socket already has is read, pings are answered and keep-alive pings
/// go out as in `reqivo_ws_receive`. When no whole message is there yet
/// it returns NULL with `err->code` 0 and `*wait_ms` set: call again
/// once `reqivo_ws_fd` turns readable, or after `*wait_ms` milliseconds
/// (-1: no timer), whichever comes first. The read timeout counts from
/// the first call that found nothing, across calls, until data comes.
/// A reconnect, when reconnecting is on and the connection was lost,
/// still dials within the call.
///
/// Ownership: the caller owns the message and frees it with
/// `reqivo_ws_message_free`.
/// NULL: `ws` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `cancel`, `wait_ms`
/// and `err` may be NULL.
/// Thread safety: one receiver at a time, while others send.
/// Returns: the message; NULL with `err->code` 0 when none is there yet;
/// or NULL with `err` filled, as `reqivo_ws_receive` (a triggered
/// `cancel` is `REQIVO_ERR_CANCELLED`).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_try_receive(
    ws: *mut reqivo_ws,
    cancel: *const reqivo_cancel,
    wait_ms: *mut i64,
    err: *mut reqivo_error,
) -> *const reqivo_ws_message {
    ffi_boundary!(err, {
        let h = borrow!(ws, err);
        // SAFETY: NULL or a live token.
        let cancel = unsafe { clone_arc(cancel) };
        let got = try_or_fail!(h.ws.try_receive(cancel.as_ref()), err);
        let (message, wait) = match got {
            Received::Message(m) => (ws_message::into_c(&m), -1),
            Received::Wait(until) => (std::ptr::null(), millis_until(until)),
        };
        if !wait_ms.is_null() {
            // SAFETY: the caller's writable int64_t.
            unsafe { *wait_ms = wait };
        }
        message
    })
}

/// Milliseconds from now to `until`, rounded up (a timer that fires a
/// little early would only find nothing due); -1 for none.
fn millis_until(until: Option<std::time::Instant>) -> i64 {
    until.map_or(-1, |at| {
        let d = at.saturating_duration_since(std::time::Instant::now());
        i64::try_from(d.as_micros().div_ceil(1000)).unwrap_or(i64::MAX)
    })
}

/// The connection's descriptor, for a `reqivo_ws_try_receive` caller to
/// wait on for readability. Only for waiting: reading or writing it
/// would corrupt the stream. It changes when a reconnect replaces the
/// connection, so take it again after each `reqivo_ws_try_receive`.
///
/// Ownership: the library's; do not close it.
/// NULL: `ws` NULL returns -1.
/// Thread safety: any thread.
/// Returns: the descriptor, or -1.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_fd(ws: *const reqivo_ws) -> std::ffi::c_int {
    let fd: i64 = ffi_boundary!({ i64::from(borrow!(ws).ws.fd()) });
    fd as std::ffi::c_int
}

/// Sends a ping with up to 125 bytes of payload. With a pong timeout set
/// (`reqivo_ws_options_set_ping`), a receive fails with
/// `REQIVO_ERR_WS_PING_TIMEOUT` if no pong comes back in time.
///
/// Ownership: `data` is copied before the call returns.
/// NULL: `ws` NULL, or `data` NULL with `len` > 0, is
/// `REQIVO_ERR_INVALID_ARGUMENT`; `cancel` and `err` may be NULL.
/// Thread safety: as `reqivo_ws_send`.
/// Returns: 0; `REQIVO_ERR_INVALID_ARGUMENT` (over 125 bytes);
/// `REQIVO_ERR_WS_CLOSED`; network, timeout and cancel errors.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_ping(
    ws: *mut reqivo_ws,
    data: *const u8,
    len: usize,
    cancel: *const reqivo_cancel,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let h = borrow!(ws, err);
        // SAFETY: `data` holding `len` bytes, NULL or live token.
        let (data, cancel) = unsafe {
            (
                try_or_fail!(bytes_in(data, len, "data"), err),
                clone_arc(cancel),
            )
        };
        try_or_fail!(h.ws.ping(data, cancel.as_ref()), err);
        reqivo_code::REQIVO_OK as u32
    })
}

/// Starts the close handshake (RFC 6455 §7): sends Close with `code`
/// (1000-1003, 1007-1014 or 3000-4999) and a UTF-8 `reason` of at most 123
/// bytes, then, unless another thread is in `reqivo_ws_receive` (which
/// then gets the server's Close), reads until the server's Close under
/// the read timeout, discarding messages that arrive meanwhile. Each wait
/// of the close handshake lasts 5 s at most, even with unlimited
/// timeouts. Closing a closed or failed connection does nothing. Free the
/// connection after.
///
/// Ownership: `reason` is copied.
/// NULL: `ws` NULL, or `reason` NULL with `len` > 0, is
/// `REQIVO_ERR_INVALID_ARGUMENT`; `err` may be NULL.
/// Thread safety: as `reqivo_ws_send`.
/// Returns: 0; `REQIVO_ERR_INVALID_ARGUMENT` (a code that may not be sent,
/// a long or non-UTF-8 reason); network and timeout errors (the Close may
/// have been sent; the connection is closed either way once freed).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_close(
    ws: *mut reqivo_ws,
    code: u16,
    reason: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let h = borrow!(ws, err);
        // SAFETY: `reason` holding `len` bytes.
        let reason = try_or_fail!(unsafe { bytes_in(reason.cast(), len, "reason") }, err);
        try_or_fail!(h.ws.close(code, reason, None), err);
        reqivo_code::REQIVO_OK as u32
    })
}

/// The subprotocol the server selected (`Sec-WebSocket-Protocol`), one of
/// those offered; empty when none was. It is the first handshake's: a
/// reconnect offers the same list but does not change this answer.
///
/// Ownership: owned by the connection; valid until `reqivo_ws_free`.
/// NULL: `ws` NULL returns an empty string.
/// Thread safety: immutable; readable from any thread.
/// Returns: the name (NUL-terminated), or an empty string.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_protocol(ws: *const reqivo_ws) -> reqivo_str {
    ffi_boundary!({
        // SAFETY: NULL or a live connection.
        match unsafe { try_ref(ws) } {
            Some(h) => reqivo_str {
                ptr: h.protocol.as_ptr().cast(),
                len: h.protocol.len() - 1,
            },
            None => reqivo_str::EMPTY,
        }
    })
}

/// The server's 101 response (status, headers, timings, TLS) with an
/// empty body, from the first handshake (a reconnect does not change it).
///
/// Ownership: owned by the connection; valid until `reqivo_ws_free`;
/// never pass it to `reqivo_response_free`.
/// NULL: returns NULL if `ws` is NULL.
/// Thread safety: immutable; readable from any thread.
/// Returns: the response, or NULL.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_response(ws: *const reqivo_ws) -> *const reqivo_response {
    ffi_boundary!({
        // SAFETY: NULL or a live connection.
        unsafe { try_ref(ws) }.map_or(std::ptr::null(), |h| h.head)
    })
}

/// Frees a connection and closes its socket, without a close handshake
/// (call `reqivo_ws_close` first for one).
///
/// Ownership: the connection, its response and protocol string end.
/// NULL: ignored.
/// Thread safety: no other thread may be using `ws`.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_free(ws: *mut reqivo_ws) {
    // SAFETY: NULL or the caller's connection.
    ffi_boundary!({ unsafe { free_box(ws) } })
}
