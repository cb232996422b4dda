//! A cancellation token that can wake any wait in this layer, without a
//! file descriptor of its own for an HTTP exchange.
//!
//! Triggering sets a flag and shuts down every socket registered with the
//! token (`watch`): a blocking read or write on one ends at once, and so
//! does a poll on one (the exchange is cancelled, so its connection is
//! lost anyway). Only waits that must leave their connection usable (a
//! WebSocket receive, a backoff sleep) poll an eventfd beside their
//! socket, made the first time such a wait asks for it; a token that only
//! ever ends HTTP exchanges never makes one, so a request costs one
//! descriptor, its socket, with or without a token. Waits that can do
//! neither register a waker (`on_trigger`) the trigger calls: a wait for a
//! pool slot is woken through the pool's condvar, and the event-driven
//! core through its poller, so neither wakes on a timer to look at the
//! flag. Only the blocking DNS wait still checks it in short slices.
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use rustix::event::{eventfd, EventfdFlags};
use smallvec::SmallVec;

pub struct Cancel {
    flag: AtomicBool,
    /// Made on first use by a wait that must not end its connection.
    wake: OnceLock<OwnedFd>,
    /// Orders making `wake` against `trigger`, so a trigger can never
    /// fall between a waiter's check of the flag and the eventfd's birth.
    wake_lock: Mutex<()>,
    /// The sockets blocking calls and polls wait on now. Written only under
    /// the lock, and each only while a `Watch` (which borrows it) lives.
    watched: Mutex<SmallVec<[RawFd; 2]>>,
    /// Called once when the token fires: (registration number, waker).
    wakers: Mutex<Vec<(u64, Waker)>>,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancel")
            .field("triggered", &self.is_triggered())
            .finish_non_exhaustive()
    }
}

/// What `Cancel::on_trigger` calls, on the triggering thread.
pub type Waker = Box<dyn FnOnce() + Send>;

/// While this lives, triggering the token shuts its socket down.
#[must_use]
pub(crate) struct Watch<'a> {
    cancel: &'a Cancel,
    fd: RawFd,
    /// The socket must outlive its registration.
    _socket: PhantomData<BorrowedFd<'a>>,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut watched = self.cancel.watched();
        if let Some(i) = watched.iter().position(|&fd| fd == self.fd) {
            watched.swap_remove(i);
        }
    }
}

impl Cancel {
    /// The slice in which flag-checking waits notice a trigger.
    pub const SLICE: Duration = Duration::from_millis(10);

    /// A token. Makes no descriptor (see the module's notes); the `Result`
    /// is kept for callers written when it did.
    pub fn new() -> std::io::Result<Self> {
        Ok(Cancel {
            flag: AtomicBool::new(false),
            wake: OnceLock::new(),
            wake_lock: Mutex::new(()),
            watched: Mutex::new(SmallVec::new()),
            wakers: Mutex::new(Vec::new()),
        })
    }

    /// Calls `waker` (once, on the triggering thread) when the token fires;
    /// at once if it has. Returns the registration's number for `forget`.
    pub fn on_trigger(&self, waker: Waker) -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut wakers = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        // Under the lock: a trigger either finds the waker or has set the
        // flag before this check.
        if self.is_triggered() {
            drop(wakers);
            waker();
        } else {
            wakers.push((id, waker));
        }
        id
    }

    /// Drops the waker registered as `id`, if it has not run.
    pub fn forget(&self, id: u64) {
        let mut wakers = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = wakers.iter().position(|(n, _)| *n == id) {
            drop(wakers.swap_remove(i));
        }
    }

    /// Cancels every wait that uses this token, now and later. Callable from any thread.
    pub fn trigger(&self) {
        if !self.flag.swap(true, Ordering::SeqCst) {
            let _order = self.wake_lock.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(wake) = self.wake.get() {
                signal(wake);
            }
        }
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        for (_, waker) in wakers {
            waker();
        }
        for &fd in self.watched().iter() {
            // SAFETY: `fd` is registered only while a `Watch` borrowing the
            // socket lives, and the Watch removes it under this same lock
            // before the borrow ends, so the descriptor is open (and is that
            // socket) for as long as the lock is held here.
            #[allow(unsafe_code)]
            let socket = unsafe { BorrowedFd::borrow_raw(fd) };
            // Ends a blocking recv (EOF) or send (EPIPE), or a poll, on it
            // at once. The connection is lost either way: its exchange was
            // cancelled.
            let _ = rustix::net::shutdown(socket, rustix::net::Shutdown::Both);
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// A descriptor readable once the token fires, for waits that must
    /// leave their connection usable; made on first use.
    pub fn fd(&self) -> std::io::Result<BorrowedFd<'_>> {
        if let Some(wake) = self.wake.get() {
            return Ok(wake.as_fd());
        }
        let _order = self.wake_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.wake.get().is_none() {
            let made = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
            let _ = self.wake.set(made);
        }
        let wake = self.wake.get().expect("set above");
        // A trigger before this saw no eventfd to signal.
        if self.is_triggered() {
            signal(wake);
        }
        Ok(wake.as_fd())
    }

    /// Whether this token has made its eventfd (tests count descriptors).
    pub fn has_fd(&self) -> bool {
        self.wake.get().is_some()
    }

    /// Registers `socket` for the length of one blocking call or poll: a
    /// trigger from then on shuts it down. `None` when the token has fired
    /// already (the caller reports the cancel instead of waiting).
    pub(crate) fn watch<'a>(&'a self, socket: BorrowedFd<'a>) -> Option<Watch<'a>> {
        let mut watched = self.watched();
        // Read under the lock: a trigger either sees the socket registered
        // or has set the flag before this check.
        if self.is_triggered() {
            return None;
        }
        let fd = socket.as_raw_fd();
        watched.push(fd);
        Some(Watch {
            cancel: self,
            fd,
            _socket: PhantomData,
        })
    }

    fn watched(&self) -> MutexGuard<'_, SmallVec<[RawFd; 2]>> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Makes the eventfd readable for good: its counter is never read back, so
/// every poller, present and future, wakes. A failed write can only be
/// EAGAIN on a full counter, which is readable anyway.
fn signal(wake: &OwnedFd) {
    let _ = rustix::io::write(wake, &1u64.to_ne_bytes());
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
    fn cancel_watches_several_sockets_and_none_once_triggered() {
        let (a, _sa) = pair();
        let (b, _sb) = pair();
        let (idle, _si) = pair();
        let c = Cancel::new().unwrap();
        let wa = c.watch(a.as_fd()).unwrap();
        let wb = c.watch(b.as_fd()).expect("one token, several sends");
        let gone = c.watch(idle.as_fd()).unwrap();
        drop(gone);
        c.trigger();
        drop((wa, wb));
        assert!(reads_eof_at_once(&a) && reads_eof_at_once(&b));
        assert!(
            c.watch(a.as_fd()).is_none(),
            "a fired token watches nothing"
        );
        // Not watched when the token fired: untouched.
        idle.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1];
        assert!(rustix::net::recv(&idle, &mut buf[..], rustix::net::RecvFlags::empty()).is_err());
        assert!(!c.has_fd(), "no eventfd for sockets alone");
    }

    #[test]
    fn cancel_wakers_run_once_and_forgotten_ones_never() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::Arc;
        let c = Cancel::new().unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let waker = |n: &Arc<AtomicUsize>| -> Waker {
            let n = n.clone();
            Box::new(move || {
                n.fetch_add(1, Ordering::SeqCst);
            })
        };
        c.on_trigger(waker(&runs));
        let forgotten = c.on_trigger(waker(&runs));
        c.forget(forgotten);
        c.trigger();
        c.trigger();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Registered after the trigger: runs at once.
        c.on_trigger(waker(&runs));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn cancel_eventfd_is_made_on_demand_and_readable_after_a_trigger() {
        let readable = |c: &Cancel| {
            let wake = c.fd().unwrap();
            let mut fds = [rustix::event::PollFd::new(
                &wake,
                rustix::event::PollFlags::IN,
            )];
            rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())).unwrap() == 1
        };
        let c = Cancel::new().unwrap();
        assert!(!c.has_fd());
        assert!(!readable(&c));
        c.trigger();
        assert!(readable(&c));
        // Made after the trigger: readable at once too.
        let late = Cancel::new().unwrap();
        late.trigger();
        assert!(readable(&late));
    }
}
