//! A connection's socket (TCP, or a Unix domain socket) and the three
//! ways it is called.
//!
//! Once a connection is open its socket is in blocking mode, and a read or
//! write under a budget is one system call: the kernel's SO_RCVTIMEO or
//! SO_SNDTIMEO bounds the wait, and a cancel shuts the socket down, which
//! ends the call. A keep-alive request is then one `send` and one `recv`,
//! where waiting in poll first would add a call each way.
//!
//! Where the kernel timeout cannot express the bounds (the socket is still
//! connecting, a deadline is under a millisecond away, the cancel token
//! already watches another socket), the call is made with MSG_DONTWAIT and
//! waits in `Budget::wait_fd`, as every call did before.
//!
//! `Now` calls never wait, whatever the mode: WebSocket pumps, the stale
//! check's TLS reads, close_notify on drop.
use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::net::{RecvFlags, SendFlags};

use super::budget::{Budget, OnCancel, Op};
use super::error::NetError;

/// Below this a kernel timeout is not worth a setsockopt (and a zero one
/// would mean "no limit"): such waits poll.
const MIN_KERNEL_TIMEOUT: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Read = 0,
    Write = 1,
}

#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
    blocking: bool,
    /// Switch to blocking at the first bounded call: a connection the
    /// event-driven core opened (it only ever calls `Now`) pays for the
    /// switch only if a blocking send takes it from the pool.
    blocking_later: bool,
    /// SO_RCVTIMEO and SO_SNDTIMEO as last set (`None`: no limit), so that
    /// a connection whose timeouts do not change sets each once.
    kernel_timeout: [Option<Duration>; 2],
}

impl Socket {
    /// Wraps a socket fresh from `connect`, which is non-blocking.
    pub fn new(fd: OwnedFd) -> Self {
        Socket {
            fd,
            blocking: false,
            blocking_later: false,
            kernel_timeout: [None, None],
        }
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Switches to one blocking call per read or write: the connection is
    /// open, and what follows are exchanges.
    pub fn set_blocking(&mut self) -> io::Result<()> {
        rustix::io::ioctl_fionbio(&self.fd, false)?;
        self.blocking = true;
        Ok(())
    }

    /// `set_blocking`, but only when a bounded read or write first needs it.
    pub fn set_blocking_later(&mut self) {
        self.blocking_later = true;
    }

    /// Reads what has arrived, waiting under `op` for at least one byte.
    /// 0 is EOF.
    pub fn recv(
        &mut self,
        dst: &mut [u8],
        op: Op,
        budget: &Budget<'_>,
        what: &dyn fmt::Display,
    ) -> Result<usize, NetError> {
        self.call(Dir::Read, op, budget, what, |fd, now| {
            sys_recv(fd, dst, now)
        })
    }

    /// Writes some of `src`, waiting under `op` until the socket takes a
    /// byte. Never raises SIGPIPE: a peer that has gone away is EPIPE.
    pub fn send(
        &mut self,
        src: &[u8],
        op: Op,
        budget: &Budget<'_>,
        what: &dyn fmt::Display,
    ) -> Result<usize, NetError> {
        self.call(Dir::Write, op, budget, what, |fd, now| {
            sys_send(fd, src, now)
        })
    }

    fn send_vectored(
        &mut self,
        bufs: &[IoSlice<'_>],
        op: Op,
        budget: &Budget<'_>,
        what: &dyn fmt::Display,
    ) -> Result<usize, NetError> {
        self.call(Dir::Write, op, budget, what, |fd, now| {
            sys_send_vectored(fd, bufs, now)
        })
    }

    /// The one loop behind every bounded read and write. `io` makes the
    /// system call, told whether it must not wait.
    fn call(
        &mut self,
        dir: Dir,
        op: Op,
        budget: &Budget<'_>,
        what: &dyn fmt::Display,
        mut io: impl FnMut(BorrowedFd<'_>, bool) -> io::Result<usize>,
    ) -> Result<usize, NetError> {
        if self.blocking_later {
            self.blocking_later = false;
            // Failing, the calls go on as MSG_DONTWAIT and polls.
            let _ = self.set_blocking();
        }
        loop {
            // Checked before each call too: a peer that always has bytes
            // ready (or always takes them) would never make a call wait.
            budget.check_cancel()?;
            let now = Instant::now();
            if budget.total_passed_at(now) {
                return Err(budget.timeout_error(op, what));
            }
            let deadline = budget.op_deadline_at(op, now);
            let kernel_bounds = self.blocking && self.fit_kernel_timeout(dir, deadline, now);
            // A blocking call needs the token to be able to end it.
            let watch = match (kernel_bounds, budget.cancel) {
                (true, Some(c)) => c.watch(self.fd.as_fd()),
                _ => None,
            };
            let block = kernel_bounds && (budget.cancel.is_none() || watch.is_some());
            let result = io(self.fd.as_fd(), !block);
            drop(watch);
            match result {
                Ok(n) => {
                    // A cancel ends a blocking call as EOF or EPIPE: say why.
                    if block {
                        budget.check_cancel()?;
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !block {
                        budget.wait_fd(
                            self.fd.as_fd(),
                            dir == Dir::Write,
                            op,
                            OnCancel::EndConnection,
                            what,
                        )?;
                    } else if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(budget.timeout_error(op, what));
                    }
                    // Else the kernel timeout ended a jiffy early: go again.
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    budget.check_cancel()?;
                    return Err(NetError::io(&e, &what.to_string()));
                }
            }
        }
    }

    /// Makes the kernel timeout for `dir` end a blocking call by `deadline`
    /// without waking it needlessly early: true when it does (after one
    /// setsockopt at most), false when the call must poll instead.
    fn fit_kernel_timeout(&mut self, dir: Dir, deadline: Option<Instant>, now: Instant) -> bool {
        let want = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(now);
                if left < MIN_KERNEL_TIMEOUT {
                    return false;
                }
                Some(left)
            }
        };
        let current = self.kernel_timeout[dir as usize];
        let fits = match (current, want) {
            (None, None) => true,
            // Never past the deadline; not so short that it wakes for nothing.
            (Some(c), Some(w)) => c <= w && c >= w / 2,
            _ => false,
        };
        if fits {
            return true;
        }
        let sock = socket2::SockRef::from(&self.fd);
        let set = match dir {
            Dir::Read => sock.set_read_timeout(want),
            Dir::Write => sock.set_write_timeout(want),
        };
        if set.is_err() {
            return false;
        }
        self.kernel_timeout[dir as usize] = want;
        true
    }
}

// The system calls, made to wait or not (`now`) whatever the socket's
// mode. Sends never raise SIGPIPE: a peer that has gone away is EPIPE.

fn sys_recv(fd: BorrowedFd<'_>, dst: &mut [u8], now: bool) -> io::Result<usize> {
    let flags = if now {
        RecvFlags::DONTWAIT
    } else {
        RecvFlags::empty()
    };
    Ok(rustix::net::recv(fd, dst, flags)?.0)
}

fn sys_send(fd: BorrowedFd<'_>, src: &[u8], now: bool) -> io::Result<usize> {
    Ok(rustix::net::send(fd, src, send_flags(now))?)
}

fn sys_send_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>], now: bool) -> io::Result<usize> {
    socket2::SockRef::from(&fd).send_vectored_with_flags(bufs, send_flags(now).bits() as i32)
}

fn send_flags(now: bool) -> SendFlags {
    if now {
        SendFlags::NOSIGNAL | SendFlags::DONTWAIT
    } else {
        SendFlags::NOSIGNAL
    }
}

/// The socket as rustls reads and writes it, each call bounded like
/// `Socket::recv` and `Socket::send`. A budget error (timeout, cancel)
/// travels inside the `io::Error`; `net_error` takes it back out.
pub(crate) struct Bounded<'a, 'b> {
    pub sock: &'a mut Socket,
    pub op: Op,
    pub budget: &'a Budget<'b>,
    pub what: &'a dyn fmt::Display,
}

impl Read for Bounded<'_, '_> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        self.sock
            .recv(dst, self.op, self.budget, self.what)
            .map_err(io::Error::other)
    }
}

impl Write for Bounded<'_, '_> {
    fn write(&mut self, src: &[u8]) -> io::Result<usize> {
        self.sock
            .send(src, self.op, self.budget, self.what)
            .map_err(io::Error::other)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.sock
            .send_vectored(bufs, self.op, self.budget, self.what)
            .map_err(io::Error::other)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The `NetError` behind an error from `Bounded`, or one made from any
/// other I/O error.
pub(crate) fn net_error(e: io::Error, what: &dyn fmt::Display) -> NetError {
    match e.downcast::<NetError>() {
        Ok(n) => n,
        Err(e) => NetError::io(&e, &what.to_string()),
    }
}

/// The socket called without ever waiting: WouldBlock when it would.
pub(crate) struct Now<'a>(pub &'a OwnedFd);

impl Read for Now<'_> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        sys_recv(self.0.as_fd(), dst, true)
    }
}

impl Write for Now<'_> {
    fn write(&mut self, src: &[u8]) -> io::Result<usize> {
        sys_send(self.0.as_fd(), src, true)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        sys_send_vectored(self.0.as_fd(), bufs, true)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::test_support::tcp_pair;
    use std::net::TcpStream;

    fn connected() -> (Socket, TcpStream) {
        let (client, server) = tcp_pair();
        let mut sock = Socket::new(client.into());
        sock.set_blocking().unwrap();
        (sock, server)
    }

    fn kernel_read_timeout(sock: &Socket) -> Option<Duration> {
        socket2::SockRef::from(&sock.fd).read_timeout().unwrap()
    }

    #[test]
    fn socket_kernel_timeout_is_set_once_while_the_deadline_stays_the_same() {
        let (mut sock, _server) = connected();
        let now = Instant::now();
        assert!(sock.fit_kernel_timeout(Dir::Read, None, now));
        assert_eq!(kernel_read_timeout(&sock), None);

        let five = Duration::from_secs(5);
        assert!(sock.fit_kernel_timeout(Dir::Read, Some(now + five), now));
        assert_eq!(sock.kernel_timeout[Dir::Read as usize], Some(five));
        assert_eq!(kernel_read_timeout(&sock), Some(five));
        // Next request, same read timeout: nothing to set.
        let later = now + Duration::from_millis(30);
        assert!(sock.fit_kernel_timeout(Dir::Read, Some(later + five), later));
        assert_eq!(sock.kernel_timeout[Dir::Read as usize], Some(five));
        // Writes have their own.
        assert_eq!(sock.kernel_timeout[Dir::Write as usize], None);
    }

    #[test]
    fn socket_kernel_timeout_never_outlasts_the_deadline_nor_wakes_far_too_early() {
        let (mut sock, _server) = connected();
        let now = Instant::now();
        assert!(sock.fit_kernel_timeout(Dir::Read, Some(now + Duration::from_secs(5)), now));
        // A nearer deadline (the total one): lowered.
        let near = Duration::from_millis(1500);
        assert!(sock.fit_kernel_timeout(Dir::Read, Some(now + near), now));
        assert_eq!(kernel_read_timeout(&sock), Some(near));
        // A much later one: raised again rather than waking every 1.5 s.
        assert!(sock.fit_kernel_timeout(Dir::Read, Some(now + Duration::from_secs(10)), now));
        assert_eq!(kernel_read_timeout(&sock), Some(Duration::from_secs(10)));
        // No deadline at all: back to no limit.
        assert!(sock.fit_kernel_timeout(Dir::Read, None, now));
        assert_eq!(kernel_read_timeout(&sock), None);
        // Under a millisecond left: poll instead.
        assert!(!sock.fit_kernel_timeout(Dir::Read, Some(now + Duration::from_micros(500)), now));
    }

    #[test]
    fn socket_not_yet_blocking_waits_in_poll_and_now_never_waits() {
        let (client, _server) = tcp_pair();
        let mut sock = Socket::new(client.into());
        // Still in blocking mode as std made it, but `Now` must not wait.
        let mut buf = [0u8; 8];
        let e = Now(sock.fd()).read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        // A socket not switched by `set_blocking` never gets a kernel
        // timeout: its reads poll, under the read timeout.
        let budget = Budget::new(
            crate::net::Timeouts {
                read: Some(Duration::from_millis(50)),
                ..Default::default()
            },
            None,
        );
        let e = sock.recv(&mut buf, Op::Read, &budget, &"test").unwrap_err();
        assert_eq!(e.kind, crate::net::NetErrorKind::TimeoutRead, "{e:?}");
        assert_eq!(sock.kernel_timeout, [None, None]);
    }
}
