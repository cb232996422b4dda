//! Connecting a transfer without blocking: Happy Eyeballs (RFC 8305 §5)
//! over the addresses of one hop. One attempt at a time; the next starts
//! `ATTEMPT_DELAY` after the one before, or as soon as it fails; the first
//! to connect wins and the others close. Each attempt under way is watched
//! under the transfer's key, so a wake-up may be for any of them. One
//! address (the usual case) costs what a single connect always did.
use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::time::Instant;

use polling::Poller;
use smallvec::SmallVec;

use crate::net::poller::{unwatch, watch, Watched};
use crate::net::{finish_connect, start_connect, Endpoint, NetError, NetErrorKind, ATTEMPT_DELAY};

struct Attempt {
    socket: socket2::Socket,
    to: Endpoint,
    watched: Option<Watched>,
    /// Started and not yet watched: no need to ask the kernel whether it
    /// has ended.
    fresh: bool,
}

/// The attempts of one hop's connect.
pub(super) struct Race {
    attempts: SmallVec<[Attempt; 1]>,
    rest: VecDeque<Endpoint>,
    /// When the next of `rest` may start.
    next_at: Instant,
    last: Option<NetError>,
}

/// Where a race stands after a step.
pub(super) enum Raced {
    /// Connected: the socket, where it goes, and its registration with the
    /// poller (the connection's from now on).
    Won(socket2::Socket, Endpoint, Option<Watched>),
    /// Attempts are under way and watched; run again when woken or at
    /// `next_attempt` (if any).
    Waiting { next_attempt: Option<Instant> },
}

impl Race {
    pub(super) fn new(endpoints: VecDeque<Endpoint>) -> Race {
        Race {
            attempts: SmallVec::new(),
            rest: endpoints,
            next_at: Instant::now(),
            last: None,
        }
    }

    /// Runs the race as far as it goes now. `woken`/`clean`: the poller
    /// reported the transfer's key, without an error condition.
    pub(super) fn step(
        &mut self,
        poller: &Poller,
        key: usize,
        mut woken: bool,
        clean: bool,
    ) -> Result<Raced, NetError> {
        loop {
            // An attempt that ended: the winner, or the next one now.
            let single = self.attempts.len() == 1;
            let mut i = 0;
            while i < self.attempts.len() {
                let a = &self.attempts[i];
                let ended = if single && woken {
                    true
                } else {
                    !a.fresh && writable_now(a.socket.as_fd())
                };
                if !ended {
                    i += 1;
                    continue;
                }
                // Reported writable and clean, the only attempt has
                // connected: no need to ask the socket for its error.
                let known_ok = single && woken && clean;
                let mut a = self.attempts.remove(i);
                match finish_connect(&a.socket, &a.to, known_ok) {
                    Ok(()) => {
                        self.abandon(poller);
                        return Ok(Raced::Won(a.socket, a.to, a.watched));
                    }
                    Err(e) => {
                        unwatch(poller, &mut a.watched);
                        self.last = Some(e);
                        self.next_at = Instant::now();
                    }
                }
            }
            woken = false;
            let now = Instant::now();
            if self.attempts.is_empty() || now >= self.next_at {
                if let Some(to) = self.rest.pop_front() {
                    match start_connect(&to) {
                        Ok((socket, pending)) => self.attempts.push(Attempt {
                            socket,
                            to,
                            watched: None,
                            fresh: pending,
                        }),
                        Err(e) => self.last = Some(e),
                    }
                    self.next_at = now + ATTEMPT_DELAY;
                    // A connect that ended at once (a Unix socket) or
                    // failed: look again before waiting.
                    continue;
                }
            }
            if self.attempts.is_empty() {
                return Err(self.last.take().unwrap_or_else(|| {
                    NetError::new(NetErrorKind::Dns, "no address to connect to")
                }));
            }
            for a in &mut self.attempts {
                watch(poller, &mut a.watched, a.socket.as_fd(), key, false, true)
                    .map_err(|e| NetError::io(&e, "watching a connecting socket"))?;
                a.fresh = false;
            }
            return Ok(Raced::Waiting {
                next_attempt: (!self.rest.is_empty()).then_some(self.next_at),
            });
        }
    }

    /// Makes the poller forget every attempt under way; they close as the
    /// race drops.
    pub(super) fn abandon(&mut self, poller: &Poller) {
        for a in &mut self.attempts {
            unwatch(poller, &mut a.watched);
        }
        self.attempts.clear();
    }
}

/// Whether a connecting socket is writable now (its connect has ended).
fn writable_now(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}
