//! The multi API: many transfers in flight on one thread, driven by the
//! caller's loop (`reqivo_multi_poll`) or by an outside event loop watching
//! `reqivo_multi_fd` and `reqivo_multi_timeout_ms` (DESIGN §6).
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::mem::size_of;
use std::sync::Mutex;
use std::time::Duration;

use super::boundary::str_in;
use super::callback::Userdata;
use super::cancel::reqivo_cancel;
use super::code::reqivo_code;
use super::error::{fail, null_argument, reqivo_error, Fail};
use super::handle::{clone_arc, free_box, to_boxed_ptr, try_ref, CallerOwned, Castable, OwnedBox};
use super::request::reqivo_request;
use super::response::{reqivo_response, ToC};
use super::session::reqivo_session;
use super::ws::{reqivo_ws, WsHandle};
use super::ws_options::reqivo_ws_options;
use crate::client::multi::{Done, Flow, Handle, Multi, Sink};
use crate::client::ws::{Dial, WsOptions};
use crate::client::{Finish, Parts, ResponseHead};

/// A set of transfers in flight, driven without blocking: add requests
/// from any thread, then call `reqivo_multi_poll` (or `reqivo_multi_perform`
/// when `reqivo_multi_fd` is readable or `reqivo_multi_timeout_ms` has
/// passed) and collect finished transfers with `reqivo_multi_next`.
pub struct reqivo_multi {
    _private: [u8; 0],
}

/// What a `reqivo_multi` handle holds: the driver, used by one thread at a
/// time (the mutex makes a second thread wait rather than race), and the
/// handle any thread adds through.
pub(crate) struct MultiState {
    core: Mutex<Multi<ToCSend>>,
    handle: Handle<ToCSend>,
    fd: i32,
}

impl Castable for reqivo_multi {
    type Ownership = OwnedBox;
    type RustType = MultiState;
}

/// A finished transfer, as `reqivo_multi_next` fills it.
#[repr(C)]
pub struct reqivo_multi_done {
    /// Set by the caller: `sizeof(reqivo_multi_done)`.
    pub struct_size: u32,
    /// As given to `reqivo_multi_add`.
    pub user_data: *mut c_void,
    /// The response, which the caller frees with `reqivo_response_free`;
    /// NULL when the transfer failed, but for a WebSocket dial the server
    /// refused (its answer, with `error` set).
    pub response: *const reqivo_response,
    /// Code 0 on success, else why the transfer failed (the same codes as
    /// `reqivo_session_send`). A WebSocket dial the server refused has
    /// `REQIVO_ERR_WS_HANDSHAKE` here and its answer in `response`.
    pub error: reqivo_error,
    /// A WebSocket dial's (`reqivo_multi_add_ws`) open connection, which
    /// the caller frees with `reqivo_ws_free`; NULL for any other
    /// transfer and for a failed dial. Appended: a caller whose
    /// `struct_size` ends before it never gets a connection (see
    /// `reqivo_multi_next`).
    pub ws: *mut reqivo_ws,
}

/// `sizeof(reqivo_multi_done)` before `ws` was appended: the smallest
/// `struct_size` `reqivo_multi_next` fills.
const DONE_SIZE_V1: usize = std::mem::offset_of!(reqivo_multi_done, ws);

/// The fields of `reqivo_multi_done` every version has: what a caller
/// with the first version's size gets written, and nothing past it.
#[repr(C)]
struct DoneV1 {
    struct_size: u32,
    user_data: *mut c_void,
    response: *const reqivo_response,
    error: reqivo_error,
}

const _: () = assert!(size_of::<DoneV1>() == DONE_SIZE_V1);

impl Castable for reqivo_multi_done {
    type Ownership = CallerOwned;
    type RustType = reqivo_multi_done;
}

/// Fills in a finished transfer at `out`, whose caller's struct is
/// `size` bytes (at least `DONE_SIZE_V1`): its response, or why it
/// failed, and a WebSocket dial's connection when `ws` fits. A connection
/// that does not fit is closed, and the dial fails.
///
/// # Safety
/// `out` is writable for `size` bytes and aligned for `reqivo_multi_done`.
unsafe fn fill(out: *mut reqivo_multi_done, size: usize, done: Done<CResponse>) {
    // SAFETY: the first version's fields lie within `size` (per the caller).
    let head = unsafe { &mut *out.cast::<DoneV1>() };
    head.user_data = done.user as *mut c_void;
    super::error::clear(&mut head.error);
    let room = size >= size_of::<reqivo_multi_done>();
    let mut ws = std::ptr::null_mut();
    head.response = match (done.result, done.ws) {
        (Ok(_), Some(Ok(_))) if !room => {
            let e = Fail::new(
                reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
                "the WebSocket dial succeeded, but reqivo_multi_done.struct_size has no room \
                 for `ws`: the connection was closed",
            );
            fail::<i32>(e, &mut head.error);
            std::ptr::null()
        }
        (Ok(resp), Some(Ok(conn))) => {
            ws = WsHandle::new_c(conn);
            resp.into_raw()
        }
        (Ok(resp), Some(Err(e))) => {
            fail::<i32>(e, &mut head.error);
            resp.into_raw()
        }
        (Ok(resp), None) => resp.into_raw(),
        (Err(e), _) => {
            fail::<i32>(e, &mut head.error);
            std::ptr::null()
        }
    };
    if room {
        // SAFETY: the whole struct fits, per `size`.
        unsafe { (*out).ws = ws };
    }
}

/// A response built by `ToC`, handed from the driver to `reqivo_multi_next`.
pub(crate) struct CResponse(*const reqivo_response);

// SAFETY: the response block is one heap allocation no one else refers
// to until `reqivo_multi_next` hands it to the caller; moving the pointer
// between threads moves its ownership, nothing is shared.
unsafe impl Send for CResponse {}

/// `ToC` for the multi: the same one-allocation response.
pub(crate) struct ToCSend;

impl Finish for ToCSend {
    type Output = CResponse;

    fn front(&self, head: &ResponseHead, url: &str) -> usize {
        ToC.front(head, url)
    }

    fn finish(self, parts: Parts<'_>) -> CResponse {
        CResponse(ToC.finish(parts))
    }
}

impl Drop for CResponse {
    /// A response no one collected (the multi was freed first) is freed.
    fn drop(&mut self) {
        if !self.0.is_null() {
            super::response::reqivo_response_free(self.0);
        }
    }
}

impl CResponse {
    fn into_raw(mut self) -> *const reqivo_response {
        std::mem::replace(&mut self.0, std::ptr::null())
    }
}

/// Takes the body of a transfer added with `reqivo_multi_add_streamed`, a
/// piece at a time as it arrives (decoded when the session decodes), on
/// the thread running `reqivo_multi_perform` or `reqivo_multi_poll`.
/// `head` is the response so far (status, headers, URL, timings; no body),
/// owned by the multi and valid during the call; `data` (`len` bytes)
/// likewise. The first call comes as soon as the final head has arrived,
/// with `len` 0 and `data` NULL, even when no body follows; each later
/// call carries the next piece (`len` > 0). Return `REQIVO_DATA_CONTINUE`
/// to go on, `REQIVO_DATA_PAUSE` to stop reading this transfer until
/// `reqivo_multi_resume` (the same bytes are offered again then; a pause
/// at the head holds back the whole body), anything else to end the
/// transfer with `REQIVO_ERR_ABORTED_BY_CALLBACK`. The callback may call
/// `reqivo_multi_add`, `reqivo_multi_resume` and `reqivo_multi_wakeup`, not
/// the functions that drive the multi.
pub type reqivo_data_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        head: *const reqivo_response,
        data: *const u8,
        len: usize,
    ) -> i32,
>;

/// `reqivo_data_callback`: the bytes were taken.
pub const REQIVO_DATA_CONTINUE: i32 = 0;
/// `reqivo_data_callback`: not taken; offer them again after
/// `reqivo_multi_resume`.
pub const REQIVO_DATA_PAUSE: i32 = 1;

std::thread_local! {
    /// Set while a data callback runs, so that a call driving the multi
    /// from inside it fails instead of deadlocking on the driver's lock.
    static IN_DATA_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// A data callback as the multi's `Sink`.
struct CallbackSink {
    cb: unsafe extern "C" fn(*mut c_void, *const reqivo_response, *const u8, usize) -> i32,
    userdata: Userdata,
    head: Option<CResponse>,
}

impl CallbackSink {
    fn new(
        cb: unsafe extern "C" fn(*mut c_void, *const reqivo_response, *const u8, usize) -> i32,
        userdata: Userdata,
    ) -> Box<CallbackSink> {
        Box::new(CallbackSink {
            cb,
            userdata,
            head: None,
        })
    }

    fn call(&mut self, data: &[u8]) -> i32 {
        let head = self.head.as_ref().map_or(std::ptr::null(), |h| h.0);
        IN_DATA_CALLBACK.with(|c| c.set(true));
        // SAFETY: the caller's callback with its own userdata; `head` and
        // `data` stay valid for the call.
        let ptr = if data.is_empty() {
            std::ptr::null()
        } else {
            data.as_ptr()
        };
        let verdict = unsafe { (self.cb)(self.userdata.0, head, ptr, data.len()) };
        IN_DATA_CALLBACK.with(|c| c.set(false));
        verdict
    }
}

impl Sink for CallbackSink {
    fn head(&mut self, mut parts: Parts<'_>) -> Flow {
        let front = ToC.front(&parts.head, parts.url.as_str());
        parts.body = vec![0; front];
        parts.body_start = front;
        self.head = Some(CResponse(ToC.finish(parts)));
        flow_of(self.call(&[]))
    }

    fn data(&mut self, bytes: &[u8]) -> Flow {
        flow_of(self.call(bytes))
    }
}

fn flow_of(verdict: i32) -> Flow {
    match verdict {
        REQIVO_DATA_CONTINUE => Flow::Continue,
        REQIVO_DATA_PAUSE => Flow::Pause,
        _ => Flow::Abort,
    }
}

/// The error of a driving call made from inside a data callback.
fn inside_callback() -> Option<Fail> {
    IN_DATA_CALLBACK.with(Cell::get).then(|| {
        Fail::new(
            reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
            "the multi cannot be driven from inside its data callback",
        )
    })
}

/// Creates a multi: a poller and an empty set of transfers.
///
/// Ownership: the caller owns the multi and frees it with
/// `reqivo_multi_free`.
/// NULL: `err` may be NULL.
/// Thread safety: see each function; `reqivo_multi_add` and
/// `reqivo_multi_wakeup` may be called from any thread.
/// Returns: the multi, or NULL with `err` filled (no descriptor left).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multi_new(err: *mut reqivo_error) -> *mut reqivo_multi {
    ffi_boundary!(err, {
        let multi = try_or_fail!(Multi::new(), err);
        let handle = multi.handle();
        let fd = multi.fd();
        to_boxed_ptr::<reqivo_multi>(MultiState {
            core: Mutex::new(multi),
            handle,
            fd,
        })
    })
}

/// Frees a multi. Transfers still in flight end: their connections close,
/// their pool slots free, and responses not collected with
/// `reqivo_multi_next` are freed.
///
/// Ownership: the multi ends; do not use `m` afterwards. No call on `m`
/// may be running on another thread.
/// NULL: ignored.
/// Thread safety: not while another thread uses `m`.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multi_free(m: *mut reqivo_multi) {
    ffi_boundary!({
        if inside_callback().is_some() {
            return; // freeing the multi under its own driver: refused
        }
        // SAFETY: NULL or a live multi the caller gives up.
        unsafe { free_box(m) }
    })
}

/// Adds a transfer: `r` sent through session `s` (its pool, cookies,
/// configuration as it is now), like `reqivo_session_send`, but without
/// blocking. Its result comes back from `reqivo_multi_next` with
/// `user_data`.
///
/// Ownership: `r` is copied; the caller may free or reuse it as soon as
/// this returns. The transfer keeps the session's pool and cookie jar, and
/// `cancel`, alive. https (TLS handshakes run without blocking, with the
/// session's TLS config), proxies (forwarding for http, CONNECT tunnels for
/// https), body and progress callbacks work as in `reqivo_session_send`;
/// the callbacks run on the thread that drives the multi.
/// NULL: `m`, `s` or `r` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `cancel`
/// NULL means no cancellation; `user_data` is never read; `err` may be NULL.
/// Thread safety: any thread, at any time; an add wakes a poll in progress.
/// Returns: 0 (`REQIVO_OK`), or an error code with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multi_add(
    m: *mut reqivo_multi,
    s: *mut reqivo_session,
    r: *const reqivo_request,
    cancel: *const reqivo_cancel,
    user_data: *mut c_void,
    err: *mut reqivo_error,
) -> c_int {
    ffi_boundary!(err, {
        let (m, s, r) = (borrow!(m, err), borrow!(s, err), borrow!(r, err));
        // SAFETY: `cancel` is NULL or a live token.
        let cancel = unsafe { clone_arc(cancel) };
        try_or_fail!(m.handle.add(s, r, cancel, ToCSend, user_data as usize), err);
        0
    })
}

/// Adds a transfer like `reqivo_multi_add` whose body goes to `on_data` as
/// it arrives instead of into the response: a download of any size keeps
/// memory flat, and a callback that cannot take more pauses its transfer
/// (`REQIVO_DATA_PAUSE`) without holding up the others. The response from
/// `reqivo_multi_next` then has everything but the body (`body_len` 0;
/// trailers and final timings included).
///
/// Ownership: as `reqivo_multi_add`; `on_data` and `user_data` are used
/// until the transfer comes back from `reqivo_multi_next` (or the multi is
/// freed).
/// NULL: `m`, `s`, `r` or `on_data` NULL is `REQIVO_ERR_INVALID_ARGUMENT`;
/// `cancel` NULL means no cancellation; `transfer_id` NULL: not returned;
/// `err` may be NULL.
/// Thread safety: any thread, at any time; `on_data` runs on the thread
/// that drives the multi.
/// Returns: 0 with `*transfer_id` set (the number `reqivo_multi_resume`
/// takes), or an error code with `err` filled.
/// Since: 0.1.0
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn reqivo_multi_add_streamed(
    m: *mut reqivo_multi,
    s: *mut reqivo_session,
    r: *const reqivo_request,
    cancel: *const reqivo_cancel,
    on_data: reqivo_data_callback,
    user_data: *mut c_void,
    transfer_id: *mut u64,
    err: *mut reqivo_error,
) -> c_int {
    ffi_boundary!(err, {
        let (m, s, r) = (borrow!(m, err), borrow!(s, err), borrow!(r, err));
        let Some(cb) = on_data else {
            return null_argument(err, "on_data");
        };
        // SAFETY: `cancel` is NULL or a live token.
        let cancel = unsafe { clone_arc(cancel) };
        let sink = CallbackSink::new(cb, Userdata(user_data));
        let user = user_data as usize;
        let id = try_or_fail!(
            m.handle.add_streamed(s, r, cancel, ToCSend, sink, user),
            err
        );
        // SAFETY: `transfer_id` is NULL or the caller's out pointer.
        if let Some(out) = unsafe { transfer_id.as_mut() } {
            *out = id;
        }
        0
    })
}

/// Adds a WebSocket dial: the opening handshake `reqivo_ws_connect` makes
/// (connect, proxy tunnel, TLS, the Upgrade request, the 101 and its
/// checks), run without blocking as a transfer of the multi. The
/// session's base URL, default headers, auth, cookies, hooks, TLS
/// configuration, connect and read timeouts apply as in
/// `reqivo_ws_connect`; the total timeout bounds the handshake; redirects
/// are not followed. Its outcome comes back from `reqivo_multi_next`
/// with `user_data`: on success `ws` is the open connection, which
/// behaves exactly as one from `reqivo_ws_connect` (send, receive,
/// `reqivo_ws_try_receive` with `reqivo_ws_fd`, close, and reconnects
/// when `options` asks for them: those are blocking handshakes on the
/// thread whose call finds the connection lost), and `response` the 101
/// (empty body). A server that answers other than 101 gives
/// `REQIVO_ERR_WS_HANDSHAKE` in `error` with that answer, head and body,
/// in `response`; any other failure (a wrong accept, extension or
/// subprotocol in the 101, network, TLS, timeout, cancel) gives no
/// response.
///
/// Ownership: `url` and `options` are copied (`options` NULL: defaults);
/// the caller may free them as soon as this returns. The transfer keeps
/// the session's pool and cookie jar, and `cancel`, alive; `cancel` ends
/// the dial only (as in `reqivo_ws_connect`, the connection's calls take
/// their own). The connection and the response from `reqivo_multi_next`
/// belong to the caller; a multi freed first closes them.
/// NULL: `m`, `s` or `url` NULL is `REQIVO_ERR_INVALID_ARGUMENT`;
/// `options` and `cancel` may be NULL; `user_data` is never read; `err`
/// may be NULL.
/// Thread safety: any thread, at any time; an add wakes a poll in progress.
/// Returns: 0, or an error code with `err` filled: `url` not UTF-8 or not
/// `ws://`/`wss://` (or relative to the base URL), a header the options
/// cannot send. Failures of the dial itself come through
/// `reqivo_multi_next`.
/// Since: 0.1.0
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn reqivo_multi_add_ws(
    m: *mut reqivo_multi,
    s: *mut reqivo_session,
    url: *const c_char,
    url_len: usize,
    options: *const reqivo_ws_options,
    cancel: *const reqivo_cancel,
    user_data: *mut c_void,
    err: *mut reqivo_error,
) -> c_int {
    ffi_boundary!(err, {
        let (m, s) = (borrow!(m, err), borrow!(s, err));
        require!(url, err);
        // SAFETY: `url` holding `url_len` bytes; NULL or live options and
        // token.
        let (url, opts, cancel) = unsafe {
            (
                try_or_fail!(str_in(url, url_len, "url"), err),
                try_ref(options),
                clone_arc(cancel),
            )
        };
        let dial = match opts {
            Some(o) => Dial::new(url, o),
            None => Dial::new(url, &WsOptions::default()),
        };
        let dial = try_or_fail!(dial, err);
        let user = user_data as usize;
        try_or_fail!(m.handle.add_ws(s, dial, cancel, ToCSend, user), err);
        0
    })
}

/// Lets a streamed transfer its data callback paused go on: the bytes it
/// refused are offered again first, on the driving thread. Also ends the
/// wait of a transfer whose body read callback returned
/// `REQIVO_READ_PAUSE`: the callback is called again. An id that is not
/// paused, or whose transfer has finished, is ignored.
///
/// Ownership: nothing changes hands.
/// NULL: `m` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `err` may be NULL.
/// Thread safety: any thread, at any time (a poll in progress wakes up).
/// Returns: 0, or an error code with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multi_resume(
    m: *const reqivo_multi,
    transfer_id: u64,
    err: *mut reqivo_error,
) -> c_int {
    ffi_boundary!(err, {
        let m = borrow!(m, err);
        try_or_fail!(m.handle.resume(transfer_id), err);
        0
    })
}

/// Does everything that can be done now without waiting: reads and writes
/// what the sockets allow, starts added transfers, fires passed deadlines.
/// Finished transfers are then collected with `reqivo_multi_next`.
///
/// Ownership: nothing changes hands.
/// NULL: `m` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `err` may be NULL.
/// Thread safety: one thread at a time per multi (with `poll`, `next` and
/// `timeout_ms`).
/// Returns: 0, or a usage error with `err` filled; a transfer's own failure
/// comes back through `reqivo_multi_next`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multi_perform(m: *mut reqivo_multi, err: *mut reqivo_error) -> c_int {
    ffi_boundary!(err, {
        let m = borrow!(m, err);
        if let Some(f) = inside_callback() {
            return fail::<i32>(f, err);
        }
        try_or_fail!(lock(m).perform(), err);
        0
    })
}

/// Waits up to `timeout_ms` milliseconds (-1: until something happens)
/// for socket activity, a deadline, an add or a wakeup, then performs.
///
/// Ownership: nothing changes hands.
/// NULL: `m` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `err` may be NULL.
/// Thread safety: one thread at a time per multi.
/// Returns: 0, or a usage error with `err` filled (`timeout_ms` below -1 is
/// `REQIVO_ERR_INVALID_ARGUMENT`).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multi_poll(
    m: *mut reqivo_multi,
    timeout_ms: i32,
    err: *mut reqivo_error,
) -> c_int {
    ffi_boundary!(err, {
        let m = borrow!(m, err);
        let wait = try_or_fail!(wait_of(timeout_ms), err);
        if let Some(f) = inside_callback() {
            return fail::<i32>(f, err);
        }
        try_or_fail!(lock(m).poll(wait), err);
        0
    })
}

/// Takes the next finished transfer into `out`: its `user_data`, its
/// response (the caller frees it) or why it failed, and for a WebSocket
/// dial its connection (`ws`, the caller frees it).
///
/// Fields past `out->struct_size` are neither read nor written. A caller
/// whose struct ends before `ws` (an older header) still gets every
/// transfer; a WebSocket dial that succeeded then comes back failed with
/// `REQIVO_ERR_INVALID_ARGUMENT` and no response, its connection closed
/// by the multi (without a close handshake).
///
/// Ownership: the response and the connection in `out` belong to the
/// caller.
/// NULL: `m` or `out` NULL returns false.
/// Thread safety: one thread at a time per multi.
/// Returns: true when `out` was filled; false when no transfer has finished
/// since the last call, or `out->struct_size` is smaller than the first
/// version's `sizeof(reqivo_multi_done)`, up to `error` (nothing is taken
/// then).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multi_next(m: *mut reqivo_multi, out: *mut reqivo_multi_done) -> bool {
    ffi_boundary!({
        let m = borrow!(m);
        require!(out);
        // SAFETY: a non-NULL `out` is the caller's struct, whose first
        // field every version has.
        let size = unsafe { (*out).struct_size } as usize;
        if size < DONE_SIZE_V1 || inside_callback().is_some() {
            return false;
        }
        let Some(done) = lock(m).next_done() else {
            return false;
        };
        // SAFETY: `out` holds `size` bytes (the caller's struct_size).
        unsafe { fill(out, size, done) };
        true
    })
}

/// The multi's descriptor for an outside event loop: readable when
/// `reqivo_multi_perform` has work. Watch it together with
/// `reqivo_multi_timeout_ms`; do not read, write or close it.
///
/// Ownership: the multi keeps the descriptor; it is valid until
/// `reqivo_multi_free`.
/// NULL: `m` NULL returns -1.
/// Thread safety: any thread.
/// Returns: the descriptor, or -1.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multi_fd(m: *const reqivo_multi) -> c_int {
    let fd: i64 = ffi_boundary!({ i64::from(borrow!(m).fd) });
    fd as i32
}

/// Milliseconds until `reqivo_multi_perform` should run even if the
/// descriptor stays quiet (a deadline, or work already waiting: then 0).
///
/// Ownership: nothing changes hands.
/// NULL: `m` NULL returns -1.
/// Thread safety: one thread at a time per multi (with `perform`).
/// Returns: the milliseconds (rounded up), or -1 when no timer is pending.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multi_timeout_ms(m: *const reqivo_multi) -> i64 {
    ffi_boundary!({
        let m = borrow!(m);
        if inside_callback().is_some() {
            return -1;
        }
        let timeout = lock(m).timeout();
        match timeout {
            None => -1,
            Some(d) => d.as_nanos().div_ceil(1_000_000).min(i64::MAX as u128) as i64,
        }
    })
}

/// Makes a `reqivo_multi_poll` in progress (or the next one) return.
///
/// Ownership: nothing changes hands.
/// NULL: `m` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: any thread, at any time.
/// Returns: 0, or an error code.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multi_wakeup(m: *const reqivo_multi) -> c_int {
    ffi_boundary!({
        match borrow!(m).handle.wakeup() {
            Ok(()) => 0,
            Err(e) => fail::<i32>(e, std::ptr::null_mut()),
        }
    })
}

/// Transfers added and not yet finished (finished ones waiting for
/// `reqivo_multi_next` are not counted).
///
/// Ownership: nothing changes hands.
/// NULL: `m` NULL returns 0.
/// Thread safety: any thread.
/// Returns: the count.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_multi_in_flight(m: *const reqivo_multi) -> usize {
    ffi_boundary!({ borrow!(m).handle.in_flight() })
}

/// A poll's longest wait: `timeout_ms`, or no limit for -1.
fn wait_of(timeout_ms: i32) -> Result<Option<Duration>, Fail> {
    if timeout_ms < -1 {
        return Err(Fail::new(
            reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
            format!("timeout_ms {} is below -1", timeout_ms),
        ));
    }
    Ok((timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64)))
}

fn lock(m: &MultiState) -> std::sync::MutexGuard<'_, Multi<ToCSend>> {
    m.core.lock().unwrap_or_else(|p| p.into_inner())
}
