//! Caller callbacks wrapped as the client layer's traits. C function
//! pointers and their `userdata` travel with the request; the library calls
//! them on the thread that sends, never concurrently for one request.
use std::ffi::c_void;

use crate::client::{BodySource, ClientError, ClientErrorKind, Progress};

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
