//! A cancellation token that can wake any wait in this layer.
//!
//! Triggering sets a flag, makes an eventfd readable and shuts down the
//! socket a blocking call is waiting on, if any. Socket waits in poll watch
//! the eventfd beside the socket, so they wake at once; a blocking read or
//! write registers its socket (`watch`) and wakes when the shutdown ends it;
//! waits that cannot do either (pool condvar, DNS thread) check the flag in
//! short slices.
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rustix::event::{eventfd, EventfdFlags};

#[derive(Debug)]
pub struct Cancel {
    flag: AtomicBool,
    wake: OwnedFd,
    /// The socket a blocking call waits on now. Written only under the lock,
    /// and only while a `Watch` (which borrows that socket) lives.
    watched: Mutex<Option<RawFd>>,
}

/// While this lives, triggering the token shuts its socket down.
#[must_use]
pub(crate) struct Watch<'a> {
    cancel: &'a Cancel,
    /// The socket must outlive its registration.
    _socket: PhantomData<BorrowedFd<'a>>,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        *self.cancel.watched() = None;
    }
}

impl Cancel {
    /// The slice in which flag-checking waits notice a trigger.
    pub const SLICE: Duration = Duration::from_millis(10);

    pub fn new() -> std::io::Result<Self> {
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Cancel {
            flag: AtomicBool::new(false),
            wake,
            watched: Mutex::new(None),
        })
    }

    /// Cancels every wait that uses this token, now and later. Callable from any thread.
    pub fn trigger(&self) {
        if !self.flag.swap(true, Ordering::SeqCst) {
            // The counter is never read back, so the fd stays readable and
            // every poller, present and future, wakes. A failed write can
            // only be EAGAIN on a full counter, which is readable anyway.
            let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
        }
        if let Some(fd) = *self.watched() {
            // SAFETY: `fd` is registered only while a `Watch` borrowing the
            // socket lives, and the Watch clears it under this same lock
            // before the borrow ends, so the descriptor is open (and is that
            // socket) for as long as the lock is held here.
            #[allow(unsafe_code)]
            let socket = unsafe { BorrowedFd::borrow_raw(fd) };
            // Ends a blocking recv (EOF) or send (EPIPE) on it at once. The
            // connection is lost either way: its exchange was cancelled.
            let _ = rustix::net::shutdown(socket, rustix::net::Shutdown::Both);
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Registers `socket` for the length of one blocking call: a trigger
    /// from then on shuts it down. `None` when the token has fired already
    /// or watches another socket (then the caller waits in poll instead).
    pub(crate) fn watch<'a>(&'a self, socket: BorrowedFd<'a>) -> Option<Watch<'a>> {
        let mut watched = self.watched();
        // Read under the lock: a trigger either sees the socket registered
        // or has set the flag before this check.
        if watched.is_some() || self.is_triggered() {
            return None;
        }
        *watched = Some(socket.as_raw_fd());
        Some(Watch {
            cancel: self,
            _socket: PhantomData,
        })
    }

    fn watched(&self) -> MutexGuard<'_, Option<RawFd>> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;

    use super::*;
    use crate::net::test_support::tcp_pair as pair;

    fn reads_eof_at_once(s: &TcpStream) -> bool {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1];
        matches!(
            rustix::net::recv(s, &mut buf[..], rustix::net::RecvFlags::empty()),
            Ok((0, _))
        )
    }

    #[test]
    fn cancel_trigger_shuts_down_the_watched_socket() {
        let (client, _server) = pair();
        let c = Cancel::new().unwrap();
        let w = c.watch(client.as_fd()).expect("a fresh token watches");
        c.trigger();
        drop(w);
        assert!(reads_eof_at_once(&client));
    }

    #[test]
    fn cancel_watch_is_refused_once_triggered_or_while_another_socket_is_watched() {
        let (a, _sa) = pair();
        let (b, _sb) = pair();
        let c = Cancel::new().unwrap();
        let w = c.watch(a.as_fd()).unwrap();
        assert!(c.watch(b.as_fd()).is_none(), "one socket at a time");
        drop(w);
        assert!(
            c.watch(b.as_fd()).is_some(),
            "free again once the first call ended"
        );
        c.trigger();
        assert!(
            c.watch(a.as_fd()).is_none(),
            "a fired token watches nothing"
        );
        // Neither socket was watched when the token fired: both untouched.
        a.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1];
        assert!(rustix::net::recv(&a, &mut buf[..], rustix::net::RecvFlags::empty()).is_err());
    }
}
