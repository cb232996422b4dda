//! WebSocket connection options: subprotocols, extra headers, limits and
//! keep-alive pings, set once and passed to `reqivo_ws_connect`.
use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::boundary::{header_in, str_in};
use super::callback::{on_reconnect, Userdata};
use super::code::reqivo_code;
use super::error::reqivo_error;
use super::handle::{free_box, to_boxed_ptr, Castable, OwnedBox};
use crate::client::ws::WsOptions;

/// Options of a WebSocket connection. Modified by one thread at a time;
/// `reqivo_ws_connect` copies what it needs, so one options object may
/// serve many connections and be freed right after connecting.
pub struct reqivo_ws_options {
    _private: [u8; 0],
}

impl Castable for reqivo_ws_options {
    type Ownership = OwnedBox;
    type RustType = WsOptions;
}

const OK: u32 = reqivo_code::REQIVO_OK as u32;

/// Creates options with the defaults: no subprotocol, no extra header,
/// 16 MiB maximum frame and message, no keep-alive pings, no pong timeout.
///
/// Ownership: the caller owns the options and frees them with
/// `reqivo_ws_options_free`.
/// NULL: no pointer arguments.
/// Thread safety: the new object is the caller's alone.
/// Returns: the options; never NULL (NULL only after an internal panic).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_options_new() -> *mut reqivo_ws_options {
    ffi_boundary!({ to_boxed_ptr::<reqivo_ws_options>(WsOptions::default()) })
}

/// Frees options.
///
/// Ownership: the options end; connections made with them are unaffected.
/// NULL: ignored.
/// Thread safety: no other thread may be using `o`.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_options_free(o: *mut reqivo_ws_options) {
    // SAFETY: NULL or the caller's options.
    ffi_boundary!({ unsafe { free_box(o) } })
}

/// Offers a subprotocol (`Sec-WebSocket-Protocol`, RFC 6455 §4.1), after
/// those offered before, in order of preference. It must be an HTTP token
/// not offered already. The server's choice is `reqivo_ws_protocol`; a
/// choice that was not offered fails the handshake.
///
/// Ownership: `p` is copied.
/// NULL: `o` or `p` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `err` may be NULL.
/// Thread safety: options are modified by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (not a token, a repeat).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_options_add_protocol(
    o: *mut reqivo_ws_options,
    p: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let o = borrow!(mut o, err);
        require!(p, err);
        // SAFETY: `p` holds `len` bytes.
        let p = try_or_fail!(unsafe { str_in(p, len, "p") }, err);
        try_or_fail!(o.add_protocol(p), err);
        OK
    })
}

/// Adds a header to the handshake request, after the session's default
/// headers (a name given here replaces a session default of that name;
/// repeats given here are all sent). The handshake's own headers (Upgrade,
/// Connection, Sec-WebSocket-*) are refused.
///
/// Ownership: `name` and `value` are copied.
/// NULL: `o` or `name` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `value` may be
/// NULL when `vlen` is 0; `err` may be NULL.
/// Thread safety: options are modified by one thread at a time.
/// Returns: 0, `REQIVO_ERR_INVALID_HEADER` (bad name or value) or
/// `REQIVO_ERR_INVALID_ARGUMENT` (a handshake header).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_options_add_header(
    o: *mut reqivo_ws_options,
    name: *const c_char,
    nlen: usize,
    value: *const c_char,
    vlen: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let o = borrow!(mut o, err);
        // SAFETY: strings per contract.
        let (name, value) = try_or_fail!(unsafe { header_in(name, nlen, value, vlen) }, err);
        try_or_fail!(o.add_header(name, value), err);
        OK
    })
}

/// Sets the largest frame and the largest message (all fragments
/// together) accepted from the server, in bytes; 0 keeps the default of
/// 16 MiB. Both are checked on each frame header, before memory is
/// allocated for its payload; a server over either gets close code 1009
/// and the receive fails with `REQIVO_ERR_WS_MESSAGE_TOO_BIG`.
///
/// Ownership: nothing is allocated.
/// NULL: `o` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: options are modified by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_options_set_limits(
    o: *mut reqivo_ws_options,
    max_frame: u64,
    max_message: u64,
) -> u32 {
    ffi_boundary!({
        borrow!(mut o).set_limits(max_frame, max_message);
        OK
    })
}

/// Sets keep-alive pings: while a `reqivo_ws_receive` waits, a ping goes
/// out every `interval_ms`; with `pong_timeout_ms`, a ping (keep-alive or
/// `reqivo_ws_ping`) whose pong has not come back in time fails the
/// receive with `REQIVO_ERR_WS_PING_TIMEOUT` and closes the connection
/// (code 1001). 0 turns either off (the default for both). Pings and the
/// deadline are handled inside receives only; no thread is started.
///
/// Ownership: nothing is allocated.
/// NULL: `o` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: options are modified by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_options_set_ping(
    o: *mut reqivo_ws_options,
    interval_ms: u32,
    pong_timeout_ms: u32,
) -> u32 {
    ffi_boundary!({
        let ms = |v: u32| (v > 0).then(|| Duration::from_millis(v.into()));
        borrow!(mut o).set_ping(ms(interval_ms), ms(pong_timeout_ms));
        OK
    })
}

/// Offers permessage-deflate (RFC 7692) when `on`: messages the server
/// flags as compressed are inflated (the inflated size counts against the
/// maximum message size), and whole messages of 64 bytes or more are sent
/// compressed (fragments and shorter messages go uncompressed, as the
/// extension allows; so does every message when the server asks for a
/// client window under 15 bits). `server_no_context_takeover` asks the
/// server to compress each message on its own; `client_no_context_takeover`
/// promises the same of us; `server_max_window_bits` (8-15, or 0 for no
/// limit) caps the server's window. Off by default.
///
/// Ownership: nothing is allocated.
/// NULL: `o` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: options are modified by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (NULL, window bits not 0 or 8-15).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_options_set_deflate(
    o: *mut reqivo_ws_options,
    on: bool,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: u32,
) -> u32 {
    ffi_boundary!({
        let o = borrow!(mut o);
        let offer = o.set_deflate(
            on,
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
        );
        // No `err` here: a refused value is its code alone.
        try_or_fail!(offer, std::ptr::null_mut());
        OK
    })
}

/// Told of each reconnect attempt, on the thread whose call reconnects:
/// `attempt` counts from 1 within one loss; `code` is 0 when the attempt
/// worked, else the `reqivo_code` it failed with. It must not call
/// `reqivo_ws_*` on the same connection.
pub type reqivo_ws_reconnect_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, attempt: u32, code: u32)>;

/// Turns on reconnecting after the connection is lost (closed or reset by
/// the server, a socket error, a write timeout, a missed pong) — never
/// after a protocol violation or a close handshake. Up to `max_attempts`
/// handshakes (0 turns reconnecting off, the default) follow a loss, the
/// first after `initial_delay_ms`, each next after twice the wait (at most
/// `max_delay_ms`), every wait scaled by a random factor in [0.5, 1] and
/// cut short only by the call's cancel. A receive that loses its
/// connection reconnects and goes on receiving; a send that fails returns
/// its error and is never resent by the library (the next call
/// reconnects); a fragmented message cut by a reconnect fails its next
/// fragment with `REQIVO_ERR_WS_CLOSED`. After the attempts run out the
/// connection stays closed. Reconnects use the session's settings as they
/// were at `reqivo_ws_connect`, its pool and cookie jar.
///
/// Ownership: `userdata` stays the caller's and must outlive every
/// connection made with these options.
/// NULL: `o` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `callback` may be NULL.
/// Thread safety: options are modified by one thread at a time; the
/// callback runs on whichever thread's call reconnects.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_ws_options_set_reconnect(
    o: *mut reqivo_ws_options,
    max_attempts: u32,
    initial_delay_ms: u32,
    max_delay_ms: u32,
    callback: reqivo_ws_reconnect_callback,
    userdata: *mut c_void,
) -> u32 {
    ffi_boundary!({
        let o = borrow!(mut o);
        let on_attempt = callback.map(|f| on_reconnect(f, Userdata(userdata)));
        let ms = |v: u32| Duration::from_millis(v.into());
        o.set_reconnect(
            max_attempts,
            ms(initial_delay_ms),
            ms(max_delay_ms),
            on_attempt,
        );
        OK
    })
}
