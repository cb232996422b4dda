//! Caller callbacks wrapped as the client layer's traits: a request's body
//! source and progress (which travel with the request and run on the
//! thread that sends, never concurrently for one request), and a session's
//! hooks and log (which may run on several sending threads at once), and a
//! WebSocket's reconnect callback. The multi's data callback lives with the
//! multi (`multi.rs`).
use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::boundary::c_text;
use super::error::code_of;
use super::hook_request::{reqivo_hook_request, HookView};
use super::response::{free_c, into_c, reqivo_response};
use crate::client::ws::OnReconnect;
use crate::client::{
    BodySource, ClientError, ClientErrorKind, HookRequest, Hooks, Level, Logger, Progress,
    Response, ResponseHead, Url,
};

/// Reads request body bytes into `buf` (at most `cap`): returns the count,
/// 0 at the end of the body, `REQIVO_READ_PAUSE` when nothing is ready yet
/// (a transfer of `reqivo_multi_add_streamed` only: it waits, without
/// writing, for `reqivo_multi_resume`), or another negative value to abort
/// the send (`REQIVO_ERR_ABORTED_BY_CALLBACK`).
pub type reqivo_read_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, buf: *mut u8, cap: usize) -> i64>;

/// Reports progress: request body bytes sent and their total (-1 when
/// unknown), response body bytes received and their total (-1 when
/// unknown). Return 0 to go on, non-zero to abort the transfer
/// (`REQIVO_ERR_ABORTED_BY_CALLBACK`).
pub type reqivo_progress_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        sent: u64,
        send_total: i64,
        received: u64,
        receive_total: i64,
    ) -> i32,
>;

/// The caller's `userdata`, carried to the sending thread.
#[derive(Clone, Copy)]
pub(crate) struct Userdata(pub *mut c_void);

// SAFETY: the library never dereferences userdata; it only hands it back to
// the caller's callback, on whichever thread sends. The API documents that
// callbacks may run on any thread that sends the request.
unsafe impl Send for Userdata {}
// SAFETY: as above; shared access only copies the pointer.
unsafe impl Sync for Userdata {}

/// `reqivo_read_callback`: nothing is ready yet; call again after
/// `reqivo_multi_resume`. A multi's thread must not wait for the caller's
/// data (a pipe, another connection), so a callback with nothing at hand
/// returns this and resumes the transfer when it has. Elsewhere (a
/// blocking send, a transfer without an id) it aborts the send.
pub const REQIVO_READ_PAUSE: i64 = -2;

pub(crate) struct CallbackBody {
    pub cb: unsafe extern "C" fn(*mut c_void, *mut u8, usize) -> i64,
    pub userdata: Userdata,
}

impl BodySource for CallbackBody {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ClientError> {
        match self.read_now(buf)? {
            Some(n) => Ok(n),
            None => Err(ClientError::new(
                ClientErrorKind::AbortedByCallback,
                "the body read callback returned REQIVO_READ_PAUSE, \
                 which only a transfer of reqivo_multi_add_streamed can wait out",
            )),
        }
    }

    fn read_now(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ClientError> {
        // SAFETY: the caller's callback contract: it writes at most `cap`
        // bytes into `buf`, which is valid for `buf.len()` bytes.
        let n = unsafe { (self.cb)(self.userdata.0, buf.as_mut_ptr(), buf.len()) };
        match n {
            REQIVO_READ_PAUSE => Ok(None),
            n if n < 0 => Err(ClientError::new(
                ClientErrorKind::AbortedByCallback,
                format!("body read callback returned {}", n),
            )),
            n => Ok(Some(n as usize)),
        }
    }
}

pub(crate) struct CallbackProgress {
    pub cb: unsafe extern "C" fn(*mut c_void, u64, i64, u64, i64) -> i32,
    pub userdata: Userdata,
}

fn total(t: Option<u64>) -> i64 {
    t.map_or(-1, |n| n.min(i64::MAX as u64) as i64)
}

impl Progress for CallbackProgress {
    fn progress(
        &self,
        sent: u64,
        send_total: Option<u64>,
        received: u64,
        receive_total: Option<u64>,
    ) -> bool {
        // SAFETY: the caller's callback, called with its own userdata.
        unsafe {
            (self.cb)(
                self.userdata.0,
                sent,
                total(send_total),
                received,
                total(receive_total),
            ) == 0
        }
    }
}

/// Called before each hop (the first request, every redirect, a Digest
/// answer) is sent.
/// Return 0 to go on, non-zero to abort the send (`REQIVO_ERR_ABORTED_BY_CALLBACK`).
pub type reqivo_on_request_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, req: *mut reqivo_hook_request) -> i32>;

/// Called with each response head (redirect hops and 401s a Digest answer
/// follows included), before its body is read. `resp` holds the status,
/// version, reason, headers and the URL that answered; its body is empty and `flags`, `redirect_count`,
/// `timings` and `tls_version` are 0 (they describe a finished send). It is
/// valid only during the call.
/// Return 0 to go on, non-zero to abort (`REQIVO_ERR_ABORTED_BY_CALLBACK`).
pub type reqivo_on_response_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, resp: *const reqivo_response) -> i32>;

/// The session hooks of a C caller.
pub(crate) struct CHooks {
    pub on_request: reqivo_on_request_callback,
    pub on_response: reqivo_on_response_callback,
    pub userdata: Userdata,
}

impl Hooks for CHooks {
    fn on_request(&self, req: &mut HookRequest<'_, '_>) -> bool {
        let Some(cb) = self.on_request else {
            return true;
        };
        let mut view = HookView::new(req);
        // SAFETY: the caller's callback with its own userdata; the view's
        // pointer is valid for the duration of the call, which is all the
        // API promises.
        unsafe { cb(self.userdata.0, view.as_c()) == 0 }
    }

    fn on_response(&self, head: &ResponseHead, url: &Url) -> bool {
        let Some(cb) = self.on_response else {
            return true;
        };
        let c = into_c(&Response::of_head(head.clone(), url.to_string()));
        // SAFETY: the caller's callback; `c` lives until freed right after.
        let go_on = unsafe { cb(self.userdata.0, c) == 0 };
        // SAFETY: `c` came from `into_c` and is freed once.
        unsafe { free_c(c) };
        go_on
    }
}

/// Receives a log line: `level` is `REQIVO_LOG_*`; `message` is `len`
/// bytes, NUL-terminated, valid during the call only.
pub type reqivo_log_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, level: u32, message: *const c_char, len: usize),
>;

/// Log level: each connection opened or reused.
pub const REQIVO_LOG_DEBUG: u32 = 0;
/// Log level: retries on a new connection, redirects followed.
pub const REQIVO_LOG_INFO: u32 = 1;
/// Log level: problems the library worked around.
pub const REQIVO_LOG_WARN: u32 = 2;
/// Log level: a send or open that failed, with its error.
pub const REQIVO_LOG_ERROR: u32 = 3;

/// The level of a `REQIVO_LOG_*` number.
pub(crate) fn level_of(level: u32) -> Option<Level> {
    match level {
        REQIVO_LOG_DEBUG => Some(Level::Debug),
        REQIVO_LOG_INFO => Some(Level::Info),
        REQIVO_LOG_WARN => Some(Level::Warn),
        REQIVO_LOG_ERROR => Some(Level::Error),
        _ => None,
    }
}

/// The session log of a C caller.
pub(crate) struct CLogger {
    pub cb: unsafe extern "C" fn(*mut c_void, u32, *const c_char, usize),
    pub userdata: Userdata,
}

impl Logger for CLogger {
    fn log(&self, level: Level, message: &str) {
        let text = c_text(message);
        // SAFETY: the caller's callback, with a NUL-terminated copy that
        // lives through the call.
        unsafe {
            (self.cb)(
                self.userdata.0,
                level as u32,
                text.as_ptr(),
                text.as_bytes().len(),
            )
        }
    }
}

/// A WebSocket reconnect callback as the client's `OnReconnect`: told each
/// attempt's number and its result code (0 when it worked).
pub(crate) fn on_reconnect(
    f: unsafe extern "C" fn(*mut c_void, u32, u32),
    userdata: Userdata,
) -> OnReconnect {
    Arc::new(move |n: u32, e: Option<&ClientError>| {
        // The whole `Userdata` (Send + Sync) is captured, not its field.
        let ud = &userdata;
        let code = e.map_or(0, |e| code_of(e.kind()) as u32);
        // SAFETY: the caller's function and userdata, valid for the
        // connection's life per reqivo_ws_options_set_reconnect's contract.
        unsafe { f(ud.0, n, code) }
    })
}
