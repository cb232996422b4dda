//! One open connection: a non-blocking socket and its read buffer. Every
//! read and write waits through `Budget::wait_fd`, so each is bounded by its
//! timeout, the total deadline and the cancel token.
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};

use super::budget::{Budget, Op};
use super::connect::{self, ConnectTimings};
use super::error::NetError;

/// Read buffer size: large enough for typical heads and one socket read.
const READ_CHUNK: usize = 16 * 1024;

/// Time spent opening the connection, reported in response timings.
pub type ConnTimings = ConnectTimings;

#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    peer: String,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    pub(crate) idle_since: Instant,
    /// When opening this connection resolved and connected.
    pub timings: ConnTimings,
}

impl Conn {
    pub fn open(host: &str, port: u16, budget: &Budget<'_>) -> Result<Conn, NetError> {
        let (stream, timings) = connect::connect(host, port, budget)?;
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| format!("{}:{}", host, port));
        Ok(Conn {
            stream,
            peer,
            buf: Vec::new(),
            start: 0,
            end: 0,
            idle_since: Instant::now(),
            timings,
        })
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Bytes read from the socket and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks `n` buffered bytes as used.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes into the buffer, growing it up to `max_buffered`
    /// bytes of unconsumed data. Returns the count read; 0 means EOF.
    pub fn fill(&mut self, max_buffered: usize, budget: &Budget<'_>) -> Result<usize, NetError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let want = (self.end + READ_CHUNK).min(max_buffered.max(self.end + 1));
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        let (end, stream, peer) = (self.end, &mut self.stream, &self.peer);
        let n = read_with(stream, peer, &mut self.buf[end..], budget)?;
        self.end += n;
        Ok(n)
    }

    /// Reads straight into `dst`, bypassing the buffer, once the buffer is
    /// empty: large bodies are copied once, from the kernel to their place.
    pub fn read_direct(&mut self, dst: &mut [u8], budget: &Budget<'_>) -> Result<usize, NetError> {
        debug_assert!(self.buffered().is_empty());
        read_with(&mut self.stream, &self.peer, dst, budget)
    }

    pub fn write_all(&mut self, mut data: &[u8], budget: &Budget<'_>) -> Result<(), NetError> {
        while !data.is_empty() {
            budget.check_cancel()?;
            if budget.total_passed() {
                let what = format!("writing to {}", self.peer);
                return Err(budget.timeout_error(Op::Write, &what));
            }
            match self.stream.write(data) {
                Ok(0) => {
                    return Err(NetError::io(
                        &io::ErrorKind::WriteZero.into(),
                        &format!("writing to {}", self.peer),
                    ))
                }
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => budget.wait_fd(
                    self.stream.as_fd(),
                    true,
                    Op::Write,
                    &format!("writing to {}", self.peer),
                )?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(NetError::io(&e, &format!("writing to {}", self.peer))),
            }
        }
        Ok(())
    }

    /// An idle connection is usable only if the server has sent nothing:
    /// readable means it closed (EOF) or sent bytes nobody asked for, and
    /// either way the next response could not be trusted.
    pub fn is_stale(&self) -> bool {
        if !self.buffered().is_empty() {
            return true;
        }
        let mut fds = [PollFd::new(&self.stream, PollFlags::IN)];
        let zero = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        !matches!(poll(&mut fds, Some(&zero)), Ok(0))
    }

    pub fn idle_for(&self) -> Duration {
        self.idle_since.elapsed()
    }
}

fn read_with(
    stream: &mut TcpStream,
    peer: &str,
    dst: &mut [u8],
    budget: &Budget<'_>,
) -> Result<usize, NetError> {
    // Checked before each read too: a server that never stops sending must
    // not keep a cancelled or overdue transfer alive.
    budget.check_cancel()?;
    if budget.total_passed() {
        return Err(budget.timeout_error(Op::Read, &format!("reading from {}", peer)));
    }
    loop {
        match stream.read(dst) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => budget.wait_fd(
                stream.as_fd(),
                false,
                Op::Read,
                &format!("reading from {}", peer),
            )?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(NetError::io(&e, &format!("reading from {}", peer))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;
    use crate::net::{NetErrorKind, Timeouts};

    #[test]
    fn conn_read_with_bytes_ready_still_stops_at_the_total_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let budget = Budget::new(Timeouts::default(), None);
        let mut conn = Conn::open("127.0.0.1", port, &budget).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        peer.write_all(b"ready").unwrap();
        budget
            .wait_fd(
                conn.stream.as_fd(),
                false,
                Op::Read,
                "waiting for test bytes",
            )
            .unwrap();
        // Bytes are ready, so the read would never wait: only the check
        // before it can notice that the deadline has passed.
        let overdue = Budget {
            timeouts: Timeouts {
                total: Some(Duration::from_millis(1)),
                ..Timeouts::default()
            },
            total_deadline: Some(Instant::now()),
            ..budget
        };
        let e = conn.fill(1024, &overdue).unwrap_err();
        assert_eq!(e.kind, NetErrorKind::TimeoutTotal, "{e:?}");
        assert_eq!(conn.fill(1024, &budget).unwrap(), 5);
    }
}
