//! A cancellation token that can wake any wait in this layer.
//!
//! Triggering sets a flag and makes an eventfd readable. Socket waits poll
//! that eventfd beside the socket, so they wake at once; waits that cannot
//! poll a descriptor (pool condvar, DNS thread) check the flag in short slices.
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::event::{eventfd, EventfdFlags};

#[derive(Debug)]
pub struct Cancel {
    flag: AtomicBool,
    wake: OwnedFd,
}

impl Cancel {
    /// The slice in which flag-checking waits notice a trigger.
    pub const SLICE: Duration = Duration::from_millis(10);

    pub fn new() -> std::io::Result<Self> {
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Cancel {
            flag: AtomicBool::new(false),
            wake,
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
    }

    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }
}
