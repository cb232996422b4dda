//! Time budgets: the per-operation timeouts, the total deadline and the
//! cancel token of one send, and the single function that waits on a socket
//! under them.
use std::fmt;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;

use super::cancel::Cancel;
use super::error::{NetError, NetErrorKind};

/// Timeouts of one send; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// Name resolution and the connect race over every address, together
    /// (RFC 8305: the addresses race rather than each getting its own).
    pub connect: Option<Duration>,
    /// Per read: the longest the server may stay silent.
    pub read: Option<Duration>,
    /// Per write: the longest the server may refuse to take bytes.
    pub write: Option<Duration>,
    /// The whole send, across redirects and retries.
    pub total: Option<Duration>,
    /// Waiting for a free connection slot in the pool.
    pub pool: Option<Duration>,
}

/// Timeouts a request sets over its session's: a field left `None` keeps
/// the session's value, `Some(None)` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeoutOverrides {
    pub connect: Option<Option<Duration>>,
    pub read: Option<Option<Duration>>,
    pub write: Option<Option<Duration>>,
    pub total: Option<Option<Duration>>,
    pub pool: Option<Option<Duration>>,
}

impl TimeoutOverrides {
    /// Overrides every field with `t`.
    pub fn all(t: Timeouts) -> Self {
        TimeoutOverrides {
            connect: Some(t.connect),
            read: Some(t.read),
            write: Some(t.write),
            total: Some(t.total),
            pool: Some(t.pool),
        }
    }

    /// `base` with the fields this sets replaced.
    pub fn over(self, base: Timeouts) -> Timeouts {
        Timeouts {
            connect: self.connect.unwrap_or(base.connect),
            read: self.read.unwrap_or(base.read),
            write: self.write.unwrap_or(base.write),
            total: self.total.unwrap_or(base.total),
            pool: self.pool.unwrap_or(base.pool),
        }
    }
}

/// What a cancel does to a wait on a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCancel {
    /// Shuts the socket down: the exchange is over, and so is the
    /// connection. Costs no descriptor.
    EndConnection,
    /// Wakes the wait through the token's eventfd and leaves the
    /// connection usable (a WebSocket that goes on after a cancelled
    /// receive).
    KeepConnection,
}

/// What kind of wait a timeout belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Connect,
    Read,
    Write,
    Pool,
}

/// The timeouts, total deadline and cancel token that bound one send.
#[derive(Debug, Clone, Copy)]
pub struct Budget<'a> {
    pub timeouts: Timeouts,
    pub started: Instant,
    pub total_deadline: Option<Instant>,
    pub cancel: Option<&'a Cancel>,
}

impl<'a> Budget<'a> {
    pub fn new(timeouts: Timeouts, cancel: Option<&'a Cancel>) -> Self {
        let started = Instant::now();
        Budget {
            timeouts,
            started,
            total_deadline: timeouts.total.map(|t| started + t),
            cancel,
        }
    }

    /// The deadline of one operation of kind `op` starting now: the earlier
    /// of its own timeout and the total deadline.
    pub fn op_deadline(&self, op: Op) -> Option<Instant> {
        self.op_deadline_at(op, Instant::now())
    }

    /// `op_deadline` for an operation starting at `now`.
    pub fn op_deadline_at(&self, op: Op, now: Instant) -> Option<Instant> {
        let own = match op {
            Op::Connect => self.timeouts.connect,
            Op::Read => self.timeouts.read,
            Op::Write => self.timeouts.write,
            Op::Pool => self.timeouts.pool,
        }
        .map(|t| now + t);
        match (own, self.total_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fails with `Cancelled` if the token fired.
    pub fn check_cancel(&self) -> Result<(), NetError> {
        match self.cancel {
            Some(c) if c.is_triggered() => Err(NetError::new(
                NetErrorKind::Cancelled,
                "cancelled by the caller",
            )),
            _ => Ok(()),
        }
    }

    /// Sleeps for `d` (a backoff), woken early only by the cancel token.
    pub fn sleep(&self, d: Duration) -> Result<(), NetError> {
        let until = Instant::now() + d;
        match self.cancel {
            Some(c) => {
                let what = format_args!("waiting to reconnect");
                let wake = c
                    .fd()
                    .map_err(|e| NetError::io(&e, "making a cancel eventfd"))?;
                // The cancel fd is readable only once triggered, and a
                // triggered token fails the wait, so only `until` ends it.
                self.poll_until(wake, false, Some(until), OnCancel::KeepConnection, &what)
                    .map(|_| ())
            }
            None => {
                std::thread::sleep(d);
                Ok(())
            }
        }
    }

    /// True once the total deadline has passed. Waits check it too, but a
    /// peer that always has bytes ready (or always takes them) means no wait
    /// ever happens, so each read and write asks first.
    pub fn total_passed(&self) -> bool {
        self.total_passed_at(Instant::now())
    }

    /// `total_passed` at `now`.
    pub fn total_passed_at(&self, now: Instant) -> bool {
        self.total_deadline.is_some_and(|d| now >= d)
    }

    /// The error for a wait of kind `op` that reached `deadline`: the total
    /// deadline wins when it is the one that passed.
    pub fn timeout_error(&self, op: Op, what: &dyn fmt::Display) -> NetError {
        if self.total_passed() {
            let ms = self.timeouts.total.unwrap_or_default().as_millis();
            return NetError::new(
                NetErrorKind::TimeoutTotal,
                format!("total timeout ({} ms) reached while {}", ms, what),
            );
        }
        let (kind, t) = match op {
            Op::Connect => (NetErrorKind::TimeoutConnect, self.timeouts.connect),
            Op::Read => (NetErrorKind::TimeoutRead, self.timeouts.read),
            Op::Write => (NetErrorKind::TimeoutWrite, self.timeouts.write),
            Op::Pool => (NetErrorKind::TimeoutPool, self.timeouts.pool),
        };
        let name = match op {
            Op::Connect => "connect",
            Op::Read => "read",
            Op::Write => "write",
            Op::Pool => "pool",
        };
        NetError::new(
            kind,
            format!(
                "{} timeout ({} ms) reached while {}",
                name,
                t.unwrap_or_default().as_millis(),
                what
            ),
        )
    }

    /// Waits until `fd` is readable (or writable), the deadline of `op`
    /// passes, or the cancel token fires (doing to the socket what
    /// `on_cancel` says). `what` names the wait in errors; it is formatted
    /// only when one happens, so a wait on the hot path (`format_args!` at
    /// the call) allocates nothing.
    pub fn wait_fd(
        &self,
        fd: BorrowedFd<'_>,
        writable: bool,
        op: Op,
        on_cancel: OnCancel,
        what: &dyn fmt::Display,
    ) -> Result<(), NetError> {
        self.wait_fd_by(fd, writable, self.op_deadline(op), op, on_cancel, what)
    }

    /// `wait_fd` until a deadline of kind `op` the caller computed (a
    /// connect's, set once for resolution and every address).
    pub fn wait_fd_by(
        &self,
        fd: BorrowedFd<'_>,
        writable: bool,
        deadline: Option<Instant>,
        op: Op,
        on_cancel: OnCancel,
        what: &dyn fmt::Display,
    ) -> Result<(), NetError> {
        match self.poll_until(fd, writable, deadline, on_cancel, what)? {
            true => Ok(()),
            false => Err(self.timeout_error(op, what)),
        }
    }

    /// Waits until `fd` is ready (true) or `until` passes (false), for
    /// waits whose deadline the caller computes (WebSocket ping timers).
    /// The cancel token and the total deadline still end it with an error,
    /// and leave the connection usable.
    pub fn wait_fd_until(
        &self,
        fd: BorrowedFd<'_>,
        writable: bool,
        until: Option<Instant>,
        what: &dyn fmt::Display,
    ) -> Result<bool, NetError> {
        let deadline = match (until, self.total_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let ready = self.poll_until(fd, writable, deadline, OnCancel::KeepConnection, what)?;
        if !ready && self.total_passed() {
            return Err(self.timeout_error(Op::Read, what));
        }
        Ok(ready)
    }

    /// The one poll loop: true when `fd` is ready, false at `deadline`.
    fn poll_until(
        &self,
        fd: BorrowedFd<'_>,
        writable: bool,
        deadline: Option<Instant>,
        on_cancel: OnCancel,
        what: &dyn fmt::Display,
    ) -> Result<bool, NetError> {
        let flags = if writable {
            PollFlags::OUT
        } else {
            PollFlags::IN
        };
        // Ending the connection: the token shuts the socket down, which
        // wakes the poll. Keeping it: the token's eventfd joins the poll.
        let (_watch, wake) = match (self.cancel, on_cancel) {
            (None, _) => (None, None),
            (Some(c), OnCancel::EndConnection) => match c.watch(fd) {
                Some(w) => (Some(w), None),
                None => return self.check_cancel().map(|_| false),
            },
            (Some(c), OnCancel::KeepConnection) => (
                None,
                Some(
                    c.fd()
                        .map_err(|e| NetError::io(&e, "making a cancel eventfd"))?,
                ),
            ),
        };
        loop {
            self.check_cancel()?;
            match poll_once(fd, flags, wake, deadline)
                .map_err(|e| NetError::io(&e, &what.to_string()))?
            {
                None => return Ok(false),
                Some(ready) => {
                    self.check_cancel()?;
                    // HUP/ERR count as ready: the following read or write reports them.
                    if !ready.is_empty() {
                        return Ok(true);
                    }
                }
            }
        }
    }
}

/// One wait in poll(2) on `fd` (for `flags`) and, if given, `wake` (for
/// reading), until either is ready or `deadline` passes: what `fd` is
/// ready for (empty when only `wake` is), or `None` at the deadline. A
/// signal or a wake-up with nothing ready waits again.
pub(crate) fn poll_once(
    fd: BorrowedFd<'_>,
    flags: PollFlags,
    wake: Option<BorrowedFd<'_>>,
    deadline: Option<Instant>,
) -> std::io::Result<Option<PollFlags>> {
    loop {
        let timeout = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Ok(None);
                }
                Some(d - now)
            }
            None => None,
        };
        let ts = timeout.map(|t| {
            rustix::event::Timespec::try_from(t).unwrap_or(rustix::event::Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0,
            })
        });
        let mut fds = [PollFd::from_borrowed_fd(fd, flags)];
        let mut with_wake;
        let set: &mut [PollFd<'_>] = match wake {
            Some(wake) => {
                with_wake = [
                    PollFd::from_borrowed_fd(fd, flags),
                    PollFd::from_borrowed_fd(wake, PollFlags::IN),
                ];
                &mut with_wake
            }
            None => &mut fds,
        };
        match poll(set, ts.as_ref()) {
            Ok(0) => continue, // the deadline check at the loop head reports it
            Ok(_) => return Ok(Some(set[0].revents())),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
