//! Session hooks and the session log, for C callers.
use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use url::Url;

use super::boundary::header_in;
use super::callback::Userdata;
use super::error::{reqivo_code, reqivo_error};
use super::handle::{try_ref, Castable, OwnedBox};
use super::response::{free_c, into_c, reqivo_response, reqivo_str};
use super::session::reqivo_session;
use crate::client::{HookRequest, Hooks, Level, Log, Logger, Response, Timings};
use crate::proto::ResponseHead;

const OK: u32 = reqivo_code::REQIVO_OK as u32;

/// The request of one hop, handed to an `on_request` hook. Valid only
/// during the callback; change its headers with the `reqivo_hook_request_*`
/// functions.
pub struct reqivo_hook_request {
    _private: [u8; 0],
}

/// What the hook functions reach through a `reqivo_hook_request` pointer.
pub(crate) struct HookView<'a, 'b, 'c> {
    req: &'a mut HookRequest<'b, 'c>,
    method: CString,
    url: CString,
}

impl Castable for reqivo_hook_request {
    type Ownership = OwnedBox;
    type RustType = HookView<'static, 'static, 'static>;
}

/// Called before each hop (the first request and every redirect) is sent.
/// Return 0 to go on, non-zero to abort the send (`REQIVO_ERR_ABORTED_BY_CALLBACK`).
pub type reqivo_on_request_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, req: *mut reqivo_hook_request) -> i32>;

/// Called with each response head (redirect hops included), before its body
/// is read. `resp` holds the status, version, reason, headers and the URL
/// that answered; its body is empty and `flags`, `redirect_count`,
/// `timings` and `tls_version` are 0 (they describe a finished send). It is
/// valid only during the call.
/// Return 0 to go on, non-zero to abort (`REQIVO_ERR_ABORTED_BY_CALLBACK`).
pub type reqivo_on_response_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, resp: *const reqivo_response) -> i32>;

struct CHooks {
    on_request: reqivo_on_request_callback,
    on_response: reqivo_on_response_callback,
    userdata: Userdata,
}

fn c_text(s: &str) -> CString {
    // Methods and URLs never hold NUL (both are validated), but stay safe.
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

impl Hooks for CHooks {
    fn on_request(&self, req: &mut HookRequest<'_, '_>) -> bool {
        let Some(cb) = self.on_request else {
            return true;
        };
        let (method, url) = (c_text(req.method()), c_text(req.url().as_str()));
        let mut view = HookView { req, method, url };
        let ptr = (&mut view as *mut HookView<'_, '_, '_>).cast::<reqivo_hook_request>();
        // SAFETY: the caller's callback with its own userdata; `ptr` is valid
        // for the duration of the call, which is all the API promises.
        unsafe { cb(self.userdata.0, ptr) == 0 }
    }

    fn on_response(&self, head: &ResponseHead, url: &Url) -> bool {
        let Some(cb) = self.on_response else {
            return true;
        };
        let resp = Response {
            head: head.clone(),
            body: Vec::new(),
            url: url.to_string(),
            reused: false,
            redirect_count: 0,
            timings: Timings::default(),
            redirect_not_followed: false,
            decompressed: false,
            tls: None,
            trailers: Default::default(),
        };
        let c = into_c(&resp);
        // SAFETY: the caller's callback; `c` lives until freed right after.
        let go_on = unsafe { cb(self.userdata.0, c) == 0 };
        // SAFETY: `c` came from `into_c` and is freed once.
        unsafe { free_c(c) };
        go_on
    }
}

/// Installs hooks on the session for later sends: `on_request` before each
/// hop is sent (it may set, add or remove headers of that hop), and
/// `on_response` with each response head, redirect hops included. Both get
/// `userdata` and run on the sending thread; either may be NULL. Passing
/// both NULL removes the hooks.
///
/// Ownership: `userdata` stays the caller's and must stay valid while
/// sends may run.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callbacks may run on several threads at once when
/// several threads send through the session.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_hooks(
    s: *mut reqivo_session,
    on_request: reqivo_on_request_callback,
    on_response: reqivo_on_response_callback,
    userdata: *mut c_void,
) -> u32 {
    ffi_boundary!({
        let s = borrow!(s);
        let hooks = (on_request.is_some() || on_response.is_some()).then(|| {
            Arc::new(CHooks {
                on_request,
                on_response,
                userdata: Userdata(userdata),
            }) as Arc<dyn Hooks>
        });
        s.set_hooks(hooks);
        OK
    })
}

/// The hop's method, NUL-terminated.
///
/// Ownership: valid during the hook call only.
/// NULL: `r` NULL gives an empty string.
/// Thread safety: the hook's thread only.
/// Returns: the method.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_hook_request_method(r: *const reqivo_hook_request) -> reqivo_str {
    hook_text(r, |v| &v.method)
}

/// The hop's absolute URL, NUL-terminated.
///
/// Ownership: valid during the hook call only.
/// NULL: `r` NULL gives an empty string.
/// Thread safety: the hook's thread only.
/// Returns: the URL.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_hook_request_url(r: *const reqivo_hook_request) -> reqivo_str {
    hook_text(r, |v| &v.url)
}

fn hook_text(
    r: *const reqivo_hook_request,
    pick: for<'a> fn(&'a HookView<'static, 'static, 'static>) -> &'a CString,
) -> reqivo_str {
    ffi_boundary!({
        // SAFETY: NULL or the view passed to a running hook.
        match unsafe { try_ref(r) } {
            Some(v) => {
                let text = pick(v);
                reqivo_str {
                    ptr: text.as_ptr(),
                    len: text.as_bytes().len(),
                }
            }
            None => reqivo_str::EMPTY,
        }
    })
}

/// Which change a hook makes to a header.
enum Edit {
    Set,
    Add,
    Remove,
}

fn edit(
    r: *mut reqivo_hook_request,
    how: Edit,
    name: *const c_char,
    nlen: usize,
    value: *const c_char,
    vlen: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let v = borrow!(mut r, err);
        // SAFETY: strings per contract.
        let (name, value) = try_or_fail!(unsafe { header_in(name, nlen, value, vlen) }, err);
        let result = match how {
            Edit::Set => v.req.set_header(name, value),
            Edit::Add => v.req.add_header(name, value),
            Edit::Remove => v.req.remove_header(name),
        };
        try_or_fail!(result, err);
        OK
    })
}

/// Replaces every field `name` of this hop with one `name: value` (added
/// when absent). Validated like `reqivo_request_add_header`.
///
/// Ownership: `name` and `value` are copied.
/// NULL: `r` or `name` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `value` may be
/// NULL when `vlen` is 0.
/// Thread safety: the hook's thread only, during the hook call.
/// Returns: 0, or `REQIVO_ERR_INVALID_HEADER`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_hook_request_set_header(
    r: *mut reqivo_hook_request,
    name: *const c_char,
    nlen: usize,
    value: *const c_char,
    vlen: usize,
    err: *mut reqivo_error,
) -> u32 {
    edit(r, Edit::Set, name, nlen, value, vlen, err)
}

/// Adds a field to this hop, keeping others of the same name.
///
/// Ownership: `name` and `value` are copied.
/// NULL: `r` or `name` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `value` may be
/// NULL when `vlen` is 0.
/// Thread safety: the hook's thread only, during the hook call.
/// Returns: 0, or `REQIVO_ERR_INVALID_HEADER`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_hook_request_add_header(
    r: *mut reqivo_hook_request,
    name: *const c_char,
    nlen: usize,
    value: *const c_char,
    vlen: usize,
    err: *mut reqivo_error,
) -> u32 {
    edit(r, Edit::Add, name, nlen, value, vlen, err)
}

/// Removes every field `name` from this hop. Host, Content-Length and
/// Transfer-Encoding cannot be removed.
///
/// Ownership: nothing is kept.
/// NULL: `r` or `name` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: the hook's thread only, during the hook call.
/// Returns: 0, or `REQIVO_ERR_INVALID_HEADER` for a header that must stay.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_hook_request_remove_header(
    r: *mut reqivo_hook_request,
    name: *const c_char,
    nlen: usize,
    err: *mut reqivo_error,
) -> u32 {
    edit(r, Edit::Remove, name, nlen, std::ptr::null(), 0, err)
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

struct CLogger {
    cb: unsafe extern "C" fn(*mut c_void, u32, *const c_char, usize),
    userdata: Userdata,
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

/// Sends the session's log lines at `min_level` and above to `cb`:
/// connections opened and reused (DEBUG), retries and redirects (INFO),
/// failed sends with their error (ERROR). `cb` NULL turns logging off.
/// Lines below `min_level` are never formatted.
///
/// Ownership: `userdata` stays the caller's and must stay valid while
/// sends may run.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: `cb` runs on the sending threads, possibly several at once.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (also for a `min_level`
/// above `REQIVO_LOG_ERROR`).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_logger(
    s: *mut reqivo_session,
    cb: reqivo_log_callback,
    userdata: *mut c_void,
    min_level: u32,
) -> u32 {
    ffi_boundary!({
        let s = borrow!(s);
        let min = match min_level {
            REQIVO_LOG_DEBUG => Level::Debug,
            REQIVO_LOG_INFO => Level::Info,
            REQIVO_LOG_WARN => Level::Warn,
            REQIVO_LOG_ERROR => Level::Error,
            _ => return reqivo_code::REQIVO_ERR_INVALID_ARGUMENT as u32,
        };
        let log = cb.map(|cb| Log {
            logger: Arc::new(CLogger {
                cb,
                userdata: Userdata(userdata),
            }),
            min,
        });
        s.set_logger(log);
        OK
    })
}
