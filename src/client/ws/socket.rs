//! One open WebSocket connection (a `Link`; `WebSocket` replaces it on a
//! reconnect): sending, receiving, automatic pongs, the
//! close handshake and keep-alive pings.
//!
//! Locking, and why. One thread may send while another receives. Both
//! directions share one transport (with rustls, one TLS state), kept in
//! `conn` behind a mutex that is only ever held for a step that cannot
//! wait: taking in what the socket has, or giving it what it will take.
//! A thread that must wait polls `waiter`, a duplicate descriptor of the
//! socket, with that lock released; so a receiver waiting on a silent
//! server never holds up a sender, and the reverse. Frames must not
//! interleave on the wire, so a sender holds `send` from a frame's first
//! byte to its last, waits included. The receiver's replies (pongs, the
//! Close echo) never wait for `send`: they are queued in `state` and
//! written by whoever holds or next takes it (`flush_control`).
//! Lock order: `recv`, then `send`, then `state` or `conn` (never both).
use std::os::fd::AsFd;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::connect::WsOptions;
use crate::client::error::{ClientError, ClientErrorKind};
use crate::client::response::Response;
use crate::client::session::Upgraded;
use crate::net::{Budget, Cancel, Conn, NetError, NetErrorKind, OnCancel, Op, Timeouts};
use crate::ws::{
    self, encode_frame, Agreed, DeflateParams, Deflater, Inflater, Kind, OpCode, Reassembler,
    Utf8Validator, WsError, WsErrorKind,
};

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    /// The server's Close: its code (1005 when it gave none) and reason.
    /// Returned once; later receives fail with a closed error.
    Close {
        code: u16,
        reason: String,
    },
}

pub(super) struct Sender {
    /// The fragmented message being sent: its kind, and for text the
    /// validator that sees each fragment.
    fragment: Option<(Kind, Utf8Validator)>,
    scratch: Vec<u8>,
    /// permessage-deflate for whole messages (fragments go uncompressed,
    /// which RFC 7692 §6 allows).
    deflater: Option<Deflater>,
}

/// The longest a close handshake waits on the peer, whatever the timeouts.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Messages shorter than this go uncompressed: deflate would not shrink them.
const COMPRESS_FROM: usize = 64;

pub(super) struct Receiver {
    pub(super) reasm: Reassembler,
    pub(super) next_ping: Option<Instant>,
    /// A receive that does not wait: when its read timeout passes (kept
    /// from one call to the next until a byte or a message comes).
    pub(super) silence_until: Option<Instant>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) close_sent: bool,
    pub(super) close_received: bool,
    /// Why the connection is over, once it is.
    pub(super) failed: Option<String>,
    /// It ended by losing the connection (not by a close handshake or a
    /// violation): a reconnect may replace it.
    pub(super) lost: bool,
    /// The caller started the close handshake: never reconnect.
    pub(super) user_closed: bool,
    /// Control frames the receiver owes the server.
    pub(super) pending: Vec<(OpCode, Vec<u8>)>,
    /// When the oldest unanswered ping must have its pong.
    pub(super) pong_deadline: Option<Instant>,
}

pub(super) struct Link {
    pub(super) conn: Mutex<Conn>,
    pub(super) waiter: std::os::fd::OwnedFd,
    pub(super) send: Mutex<Sender>,
    pub(super) recv: Mutex<Receiver>,
    pub(super) state: Mutex<State>,
    pub(super) protocol: Option<String>,
    pub(super) deflate: Option<DeflateParams>,
    pub(super) response: Response,
    pub(super) peer: String,
    pub(super) timeouts: Timeouts,
    pub(super) ping_interval: Option<Duration>,
    pub(super) pong_timeout: Option<Duration>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread is caught at the C boundary; the data it
    // guarded is still consistent at every await point here.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn closed(why: &str) -> ClientError {
    WsError::new(WsErrorKind::Closed, format!("WebSocket closed: {}", why)).into()
}

fn invalid(message: impl Into<String>) -> ClientError {
    ClientError::new(ClientErrorKind::InvalidArgument, message)
}

fn data_opcode(kind: Kind) -> OpCode {
    match kind {
        Kind::Text => OpCode::Text,
        Kind::Binary => OpCode::Binary,
    }
}

/// Failures that lose the connection itself (as opposed to a violation
/// the peer would repeat): worth a reconnect.
fn is_loss(e: &ClientError) -> bool {
    match e {
        ClientError::Net(n) => matches!(
            n.kind,
            NetErrorKind::ConnectionClosed | NetErrorKind::Io | NetErrorKind::TimeoutWrite
        ),
        ClientError::Ws(w) => w.kind == WsErrorKind::PingTimeout,
        _ => false,
    }
}

/// Errors after which the connection cannot go on: the transport failed,
/// or a frame may be half-written. Timeouts and cancellation before any
/// byte moved leave it usable.
fn is_fatal(e: &ClientError) -> bool {
    !matches!(
        e,
        ClientError::Net(NetError {
            kind: NetErrorKind::TimeoutRead
                | NetErrorKind::TimeoutWrite
                | NetErrorKind::TimeoutTotal
                | NetErrorKind::Cancelled,
            ..
        })
    )
}

impl Link {
    pub(super) fn new(up: Upgraded, agreed: Agreed, opts: &WsOptions) -> Result<Link, ClientError> {
        let waiter = up
            .conn
            .wait_handle()
            .map_err(|e| NetError::io(&e, "duplicating the Link descriptor"))?;
        let peer = up.conn.peer().to_string();
        let mut reasm = Reassembler::new(opts.limits);
        if let Some(p) = &agreed.deflate {
            reasm.set_inflater(Inflater::new(p));
        }
        Ok(Link {
            conn: Mutex::new(up.conn),
            waiter,
            send: Mutex::new(Sender {
                fragment: None,
                scratch: Vec::new(),
                deflater: agreed.deflate.as_ref().and_then(Deflater::new),
            }),
            recv: Mutex::new(Receiver {
                reasm,
                next_ping: None,
                silence_until: None,
            }),
            state: Mutex::new(State::default()),
            protocol: agreed.protocol,
            deflate: agreed.deflate,
            response: Response {
                head: up.head,
                body: Vec::new(),
                url: up.url,
                reused: false,
                redirect_count: 0,
                timings: up.timings,
                redirect_not_followed: false,
                decompressed: false,
                tls: up.tls,
                trailers: Default::default(),
            },
            peer,
            // The total timeout bounded the handshake; a Link lives
            // as long as its user wants, each wait bounded on its own.
            timeouts: Timeouts {
                total: None,
                ..up.timeouts
            },
            ping_interval: opts.ping_interval.filter(|d| !d.is_zero()),
            pong_timeout: opts.pong_timeout.filter(|d| !d.is_zero()),
        })
    }

    /// The subprotocol the server selected, if any.
    pub(super) fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate parameters agreed, if any.
    pub(super) fn deflate(&self) -> Option<DeflateParams> {
        self.deflate
    }

    /// The 101 response head (empty body).
    pub(super) fn response(&self) -> &Response {
        &self.response
    }

    pub(super) fn budget<'a>(&self, cancel: Option<&'a Cancel>) -> Budget<'a> {
        Budget::new(self.timeouts, cancel)
    }

    /// The budget of a close handshake: its waits are capped at
    /// `CLOSE_WAIT` even when the caller's timeouts are unlimited, since a
    /// peer that is going away need not be waited on for long.
    pub(super) fn closing_budget<'a>(&self, cancel: Option<&'a Cancel>) -> Budget<'a> {
        let cap = |t: Option<Duration>| Some(t.map_or(CLOSE_WAIT, |t| t.min(CLOSE_WAIT)));
        Budget::new(
            Timeouts {
                read: cap(self.timeouts.read),
                write: cap(self.timeouts.write),
                ..self.timeouts
            },
            cancel,
        )
    }

    /// Sends a whole message. Text must be UTF-8.
    pub(super) fn send(
        &self,
        kind: Kind,
        data: &[u8],
        cancel: Option<&Cancel>,
    ) -> Result<(), ClientError> {
        if kind == Kind::Text && std::str::from_utf8(data).is_err() {
            return Err(invalid("text message is not valid UTF-8"));
        }
        let budget = self.budget(cancel);
        let mut s = lock(&self.send);
        if s.fragment.is_some() {
            return Err(invalid(
                "a fragmented message is being sent: finish it (fin) first",
            ));
        }
        let compressed = match &mut s.deflater {
            Some(d) if data.len() >= COMPRESS_FROM => Some(d.deflate(data)),
            _ => None,
        };
        match &compressed {
            Some(z) => self.write_frame(&mut s, true, 0x40, data_opcode(kind), z, &budget)?,
            None => self.write_frame(&mut s, true, 0, data_opcode(kind), data, &budget)?,
        }
        drop(s);
        self.flush_control(&budget)
    }

    /// Sends one fragment of a message; `fin` marks the last. Every
    /// fragment of a message has the kind of the first. Text fragments
    /// together must be UTF-8; a fragment may end inside a code point.
    pub(super) fn send_fragment(
        &self,
        kind: Kind,
        data: &[u8],
        fin: bool,
        cancel: Option<&Cancel>,
    ) -> Result<(), ClientError> {
        let budget = self.budget(cancel);
        let mut s = lock(&self.send);
        let (first, mut utf8) = match &s.fragment {
            None => (true, Utf8Validator::default()),
            Some((k, _)) if *k != kind => {
                return Err(invalid(
                    "a fragment's kind differs from the first fragment of its message",
                ))
            }
            Some((_, v)) => (false, v.clone()),
        };
        if kind == Kind::Text {
            utf8.feed(data, fin)
                .map_err(|_| invalid("text fragments are not valid UTF-8"))?;
        }
        let opcode = if first {
            data_opcode(kind)
        } else {
            OpCode::Continuation
        };
        self.write_frame(&mut s, fin, 0, opcode, data, &budget)?;
        s.fragment = if fin { None } else { Some((kind, utf8)) };
        drop(s);
        self.flush_control(&budget)
    }

    /// Sends a ping with `payload` (at most 125 bytes). With a pong
    /// timeout set, a receive fails with a ping timeout when no pong has
    /// come back in time.
    pub(super) fn ping(&self, payload: &[u8], cancel: Option<&Cancel>) -> Result<(), ClientError> {
        if payload.len() > ws::MAX_CONTROL_PAYLOAD {
            return Err(invalid(format!(
                "ping payload of {} bytes is over 125",
                payload.len()
            )));
        }
        let budget = self.budget(cancel);
        let mut s = lock(&self.send);
        self.write_frame(&mut s, true, 0, OpCode::Ping, payload, &budget)?;
        drop(s);
        self.arm_pong_deadline();
        self.flush_control(&budget)
    }

    pub(super) fn arm_pong_deadline(&self) {
        if let Some(t) = self.pong_timeout {
            let mut st = lock(&self.state);
            // The oldest unanswered ping sets the deadline: any pong
            // proves the peer alive.
            st.pong_deadline.get_or_insert(Instant::now() + t);
        }
    }

    /// Starts the close handshake (RFC 6455 §7.1.2): sends Close with
    /// `code` and `reason`, then, unless another thread is receiving (it
    /// will get the server's Close), reads until the server's Close,
    /// dropping data that arrives meanwhile, under the read timeout (at
    /// most `CLOSE_WAIT`). Closing a connection already closed or failed
    /// does nothing.
    pub(super) fn close(
        &self,
        code: u16,
        reason: &[u8],
        cancel: Option<&Cancel>,
    ) -> Result<(), ClientError> {
        ws::validate_close_code_to_send(code, reason).map_err(invalid)?;
        let budget = self.closing_budget(cancel);
        {
            let mut s = lock(&self.send);
            {
                let mut st = lock(&self.state);
                st.user_closed = true;
                if st.close_sent || st.failed.is_some() {
                    return Ok(());
                }
            }
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice(reason);
            self.write_frame(&mut s, true, 0, OpCode::Close, &payload, &budget)?;
        }
        let Ok(mut r) = self.recv.try_lock() else {
            return Ok(());
        };
        loop {
            match self.receive_locked(&mut r, &budget) {
                Ok(Message::Close { .. }) => return Ok(()),
                Ok(_) => {}
                // The server may close the TCP connection right after its
                // Close, or even instead of it: either way it is closed.
                Err(ClientError::Ws(e)) if e.kind == WsErrorKind::Closed => return Ok(()),
                Err(ClientError::Net(e)) if e.kind == NetErrorKind::ConnectionClosed => {
                    return Ok(())
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes the control frames the receiver queued, unless another
    /// thread holds the send lock: that thread runs this after it lets go,
    /// and sees them, since they were queued before this try.
    pub(super) fn flush_control(&self, budget: &Budget<'_>) -> Result<(), ClientError> {
        loop {
            if lock(&self.state).pending.is_empty() {
                return Ok(());
            }
            let Ok(mut s) = self.send.try_lock() else {
                return Ok(());
            };
            let pending = std::mem::take(&mut lock(&self.state).pending);
            for (op, payload) in pending {
                if lock(&self.state).close_sent {
                    break;
                }
                self.write_frame(&mut s, true, 0, op, &payload, budget)?;
            }
        }
    }

    /// Writes one frame; the caller holds the send lock (`s`).
    fn write_frame(
        &self,
        s: &mut Sender,
        fin: bool,
        rsv: u8,
        op: OpCode,
        payload: &[u8],
        budget: &Budget<'_>,
    ) -> Result<(), ClientError> {
        {
            let st = lock(&self.state);
            if let Some(why) = &st.failed {
                return Err(closed(why));
            }
            if st.close_sent {
                return Err(closed("a Close frame was already sent"));
            }
        }
        // A cancelled call sends nothing, even when the socket would take
        // the frame without waiting (as `Conn::write_all` does).
        budget.check_cancel()?;
        // §5.3: a fresh, unpredictable key for every frame.
        let mut key = [0u8; 4];
        getrandom::fill(&mut key)
            .map_err(|e| invalid(format!("no random bytes for the frame mask: {}", e)))?;
        s.scratch.clear();
        encode_frame(&mut s.scratch, fin, rsv, op, payload, key);
        let mut data = &s.scratch[..];
        let mut moved = false;
        let result = loop {
            let step = lock(&self.conn).try_write(data);
            match step {
                Err(e) => break Err(ClientError::from(e)),
                Ok(st) => {
                    moved |= st.accepted > 0;
                    data = &data[st.accepted..];
                    if data.is_empty() && !st.blocked {
                        break Ok(());
                    }
                    if st.blocked {
                        let what = format_args!("writing to {}", self.peer);
                        if let Err(e) = budget.wait_fd(
                            self.waiter.as_fd(),
                            true,
                            Op::Write,
                            OnCancel::KeepConnection,
                            &what,
                        ) {
                            break Err(e.into());
                        }
                    }
                }
            }
        };
        match result {
            Ok(()) => {
                if op == OpCode::Close {
                    lock(&self.state).close_sent = true;
                }
                Ok(())
            }
            // A frame cut short leaves the stream unframeable.
            Err(e) if moved || is_fatal(&e) => Err(self.mark_failed(e)),
            Err(e) => Err(e),
        }
    }

    /// Fails the connection for a violation by the server: sends Close
    /// with the code RFC 6455 §7.4.1 gives it, best effort, then marks the
    /// connection over.
    pub(super) fn fail_with(&self, e: WsError, budget: &Budget<'_>) -> ClientError {
        if let Some(code) = e.close_code() {
            let mut reason = e.message.as_str();
            let mut n = reason.len().min(123);
            while !reason.is_char_boundary(n) {
                n -= 1;
            }
            reason = &reason[..n];
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice(reason.as_bytes());
            let budget = self.closing_budget(budget.cancel);
            let mut s = lock(&self.send);
            let _ = self.write_frame(&mut s, true, 0, OpCode::Close, &payload, &budget);
        }
        self.mark_failed(e.into())
    }

    pub(super) fn mark_failed(&self, e: ClientError) -> ClientError {
        let mut st = lock(&self.state);
        if st.failed.is_none() {
            st.failed = Some(e.message().to_string());
            st.lost = is_loss(&e) && !st.user_closed && !st.close_received;
        }
        e
    }

    /// True when the connection was lost (a reconnect may replace it).
    pub(super) fn is_lost(&self) -> bool {
        lock(&self.state).lost
    }

    /// True while a fragmented message is partly sent.
    pub(super) fn fragment_in_progress(&self) -> bool {
        lock(&self.send).fragment.is_some()
    }
}
