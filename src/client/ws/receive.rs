//! Receiving on a Link: decoding what the socket has, answering
//! pings, keep-alive pings and the pong deadline, the server's Close.
//! The locking rules are in `socket.rs`.
use std::os::fd::AsFd;
use std::time::Instant;

use super::socket::{closed, lock, Link, Message, Receiver};
use crate::client::error::ClientError;
use crate::net::{Budget, Cancel, NetError, NetErrorKind, Op};
use crate::ws::{Event, Kind, OpCode, WsError, WsErrorKind};

/// Bytes buffered from the socket at most, beyond what a frame needs.
const READ_BUFFER: usize = 256 * 1024;

/// What a receive that must not wait comes back with.
#[derive(Debug)]
pub enum Received {
    Message(Message),
    /// Nothing yet: call again once the socket is readable, or at this
    /// instant (a keep-alive ping, the pong deadline or the read timeout
    /// falls due), whichever comes first.
    Wait(Option<Instant>),
}

impl Link {
    /// Receives the next message, answering pings and sending keep-alive
    /// pings meanwhile. Waits under the read timeout (a timeout or a
    /// cancel leaves the connection usable) and the pong deadline.
    pub(super) fn receive(&self, cancel: Option<&Cancel>) -> Result<Message, ClientError> {
        let budget = self.budget(cancel);
        let mut r = lock(&self.recv);
        self.receive_locked(&mut r, &budget)
    }

    /// `receive` for a caller with its own event loop: does what can be
    /// done without waiting, and says when to come back. The read timeout
    /// runs from the first call that found nothing to the next byte, over
    /// as many calls as that takes.
    pub(super) fn try_receive(&self, cancel: Option<&Cancel>) -> Result<Received, ClientError> {
        let budget = self.budget(cancel);
        let mut r = lock(&self.recv);
        let result = self.receive_step(&mut r, &budget, false);
        if !matches!(result, Ok(Received::Wait(_))) {
            r.silence_until = None;
        }
        result
    }

    pub(super) fn receive_locked(
        &self,
        r: &mut Receiver,
        budget: &Budget<'_>,
    ) -> Result<Message, ClientError> {
        r.silence_until = None;
        match self.receive_step(r, budget, true) {
            Ok(Received::Message(m)) => Ok(m),
            Ok(Received::Wait(_)) => unreachable!("a blocking receive waits"),
            Err(e) => Err(e),
        }
    }

    /// The receive loop; `blocking` waits on the socket, otherwise the
    /// first wait is returned as `Received::Wait`.
    fn receive_step(
        &self,
        r: &mut Receiver,
        budget: &Budget<'_>,
        blocking: bool,
    ) -> Result<Received, ClientError> {
        {
            let st = lock(&self.state);
            if let Some(why) = &st.failed {
                return Err(closed(why));
            }
            if st.close_received {
                return Err(closed("the server's Close was already received"));
            }
        }
        if r.next_ping.is_none() {
            r.next_ping = self.ping_interval.map(|i| Instant::now() + i);
        }
        if !blocking {
            // A caller's loop wakes the receive to hear of a cancel.
            budget.check_cancel()?;
        }
        let mut silence_until = match r.silence_until {
            Some(at) => Some(at),
            None => budget.op_deadline(Op::Read),
        };
        loop {
            let step = {
                let mut c = lock(&self.conn);
                match r.reasm.feed(c.buffered()) {
                    Err(e) => Step::Violation(e),
                    Ok((n, ev)) => {
                        c.consume(n);
                        match ev {
                            Some(ev) => Step::Event(ev),
                            None => match c.try_fill(READ_BUFFER) {
                                Ok(Some(0)) => Step::Eof(r.reasm.in_progress()),
                                Ok(Some(_)) => Step::Bytes,
                                Ok(None) => Step::Nothing,
                                Err(e) => Step::Failed(e),
                            },
                        }
                    }
                }
            };
            match step {
                Step::Violation(e) => return Err(self.fail_with(e, budget)),
                Step::Failed(e) => return Err(self.mark_failed(e.into())),
                Step::Eof(mid) => {
                    let what = if mid {
                        "in the middle of a frame"
                    } else {
                        "without a Close frame (1006)"
                    };
                    let e = NetError::new(
                        NetErrorKind::ConnectionClosed,
                        format!("{} closed the Link connection {}", self.peer, what),
                    );
                    return Err(self.mark_failed(e.into()));
                }
                Step::Bytes => silence_until = budget.op_deadline(Op::Read),
                Step::Event(ev) => {
                    if let Some(m) = self.handle(ev, budget)? {
                        return Ok(Received::Message(m));
                    }
                }
                Step::Nothing => {
                    let now = Instant::now();
                    let pong_due = lock(&self.state).pong_deadline;
                    if pong_due.is_some_and(|d| now >= d) {
                        let ms = self.pong_timeout.unwrap_or_default().as_millis();
                        let e = WsError::new(
                            WsErrorKind::PingTimeout,
                            format!("{} sent no pong within {} ms of a ping", self.peer, ms),
                        );
                        return Err(self.fail_with(e, budget));
                    }
                    if let (Some(t), Some(i)) = (r.next_ping, self.ping_interval) {
                        if now >= t {
                            r.next_ping = Some(now + i);
                            self.ping(b"", budget.cancel)?;
                            continue;
                        }
                    }
                    let until = [silence_until, pong_due, r.next_ping]
                        .into_iter()
                        .flatten()
                        .min();
                    let what = format_args!("waiting for a Link message from {}", self.peer);
                    if !blocking {
                        if silence_until.is_some_and(|d| now >= d) {
                            return Err(budget.timeout_error(Op::Read, &what).into());
                        }
                        r.silence_until = silence_until;
                        return Ok(Received::Wait(until));
                    }
                    let ready = budget.wait_fd_until(self.waiter.as_fd(), false, until, &what)?;
                    if !ready && silence_until.is_some_and(|d| Instant::now() >= d) {
                        return Err(budget.timeout_error(Op::Read, &what).into());
                    }
                }
            }
        }
    }

    /// Acts on a control frame; returns the message to give the caller.
    fn handle(&self, ev: Event, budget: &Budget<'_>) -> Result<Option<Message>, ClientError> {
        match ev {
            Event::Message { kind, data } => Ok(Some(match kind {
                Kind::Text => Message::Text(data),
                Kind::Binary => Message::Binary(data),
            })),
            // §5.5.2: answer with a pong carrying the same payload.
            Event::Ping(p) => {
                {
                    let mut st = lock(&self.state);
                    if st.close_sent {
                        return Ok(None);
                    }
                    // §5.5.3: answering only the latest ping is enough.
                    st.pending.retain(|(op, _)| *op != OpCode::Pong);
                    st.pending.push((OpCode::Pong, p));
                }
                self.flush_control(budget).map(|_| None)
            }
            Event::Pong(_) => {
                lock(&self.state).pong_deadline = None;
                Ok(None)
            }
            Event::Close(cf) => {
                let code = cf.code.unwrap_or(1005);
                {
                    let mut st = lock(&self.state);
                    st.close_received = true;
                    st.pong_deadline = None;
                    if !st.close_sent {
                        // §5.5.1: echo the status code.
                        let echo = cf
                            .code
                            .map(|c| c.to_be_bytes().to_vec())
                            .unwrap_or_default();
                        st.pending.push((OpCode::Close, echo));
                    }
                }
                // The echo is best effort: the server may already be gone.
                let _ = self.flush_control(budget);
                Ok(Some(Message::Close {
                    code,
                    reason: cf.reason,
                }))
            }
        }
    }
}

enum Step {
    Violation(WsError),
    Failed(NetError),
    Eof(bool),
    Bytes,
    Event(Event),
    Nothing,
}
