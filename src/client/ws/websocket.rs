//! The WebSocket the caller holds: the current connection (`Link`) and,
//! when the caller opts in, reconnection after the connection is lost.
//!
//! What reconnecting does and does not do, and why. Only a lost connection
//! (closed or reset by the peer, a socket error, a write that timed out, a
//! missed pong) is replaced; a violation by the server, its Close, or the
//! caller's close is final, since a new connection would end the same way.
//! A receive that loses its connection reconnects and goes on receiving (a
//! message half received is gone with the connection). A send that fails
//! reports its error and is never sent again by the library: whether the
//! peer saw it is unknowable, so only the caller may decide to resend; the
//! next call reconnects. A fragmented message cut by a reconnect fails its
//! next fragment. Attempts wait an exponential backoff with jitter, woken
//! only by the caller's cancel, and stop after the configured number; the
//! connection then stays closed.
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::connect::{handshake, WsOptions};
use super::receive::Received;
use super::socket::{closed, lock, Link, Message};
use crate::client::error::ClientError;
use crate::client::response::Response;
use crate::client::session::Session;
use crate::net::{Budget, Cancel, Timeouts};
use crate::ws::{DeflateParams, Kind};

/// Told of each reconnect attempt: its number (from 1) and its error
/// (`None` when it worked).
pub type OnReconnect = Arc<dyn Fn(u32, Option<&ClientError>) + Send + Sync>;

/// Opt-in reconnection.
#[derive(Clone)]
pub struct Reconnect {
    /// Attempts after one loss before giving up (at least 1).
    pub max_attempts: u32,
    /// The wait before the first attempt; it doubles for each next one.
    pub initial_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
    pub on_attempt: Option<OnReconnect>,
}

impl fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnect")
            .field("max_attempts", &self.max_attempts)
            .field("initial_delay", &self.initial_delay)
            .field("max_delay", &self.max_delay)
            .field("on_attempt", &self.on_attempt.is_some())
            .finish()
    }
}

impl Reconnect {
    /// The wait before attempt `n` (from 1): doubling from the initial
    /// delay, capped, then scaled by a random factor in [0.5, 1] so that
    /// many clients dropped at once do not come back at once.
    fn backoff(&self, n: u32) -> Duration {
        let doubled = self
            .initial_delay
            .saturating_mul(1u32 << (n - 1).min(20))
            .min(self.max_delay);
        let mut r = [0u8; 2];
        let jitter = match getrandom::fill(&mut r) {
            Ok(()) => 0.5 + f64::from(u16::from_ne_bytes(r)) / f64::from(u16::MAX) / 2.0,
            Err(_) => 1.0,
        };
        doubled.mul_f64(jitter)
    }
}

struct Redial {
    /// The caller's session as it was at connect (pool, jar, settings).
    session: Session,
    url: String,
    opts: WsOptions,
    policy: Reconnect,
    /// One reconnect at a time; a thread that waited uses its result.
    running: Mutex<()>,
    /// Why reconnecting stopped for good.
    gave_up: Mutex<Option<String>>,
}

pub struct WebSocket {
    link: Mutex<Arc<Link>>,
    /// Counts reconnects, so a fragmented send knows it was cut.
    generation: AtomicU64,
    /// The generation a fragmented message began in.
    fragment_gen: Mutex<Option<u64>>,
    redial: Option<Redial>,
}

impl WebSocket {
    pub(super) fn new(link: Link, session: &Session, url: &str, opts: &WsOptions) -> WebSocket {
        let redial = opts
            .reconnect
            .clone()
            .filter(|r| r.max_attempts > 0)
            .map(|policy| Redial {
                session: session.share(),
                url: url.to_string(),
                opts: opts.clone(),
                policy,
                running: Mutex::new(()),
                gave_up: Mutex::new(None),
            });
        WebSocket {
            link: Mutex::new(Arc::new(link)),
            generation: AtomicU64::new(0),
            fragment_gen: Mutex::new(None),
            redial,
        }
    }

    fn current(&self) -> Arc<Link> {
        lock(&self.link).clone()
    }

    /// The subprotocol the server selected, if any (of the latest connection).
    pub fn protocol(&self) -> Option<String> {
        self.current().protocol().map(str::to_string)
    }

    /// The permessage-deflate parameters agreed, if any.
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.current().deflate()
    }

    /// The 101 response head (empty body) of the latest connection.
    pub fn response(&self) -> Response {
        self.current().response().clone()
    }

    /// How many times the connection was replaced.
    pub fn reconnects(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The connection to use: the current one, or a new one when it was
    /// lost and reconnecting is on.
    fn ready(&self, cancel: Option<&Arc<Cancel>>) -> Result<Arc<Link>, ClientError> {
        let link = self.current();
        match &self.redial {
            Some(r) if link.is_lost() => self.reconnect(r, &link, cancel),
            _ => Ok(link),
        }
    }

    fn reconnect(
        &self,
        r: &Redial,
        lost: &Arc<Link>,
        cancel: Option<&Arc<Cancel>>,
    ) -> Result<Arc<Link>, ClientError> {
        let _one = lock(&r.running);
        if let Some(why) = lock(&r.gave_up).as_ref() {
            return Err(closed(why));
        }
        let now = self.current();
        if !Arc::ptr_eq(&now, lost) {
            return Ok(now); // another thread reconnected meanwhile
        }
        let budget = Budget::new(Timeouts::default(), cancel.map(|c| &**c));
        let mut last = None;
        for n in 1..=r.policy.max_attempts {
            budget.sleep(r.policy.backoff(n))?;
            match handshake(&r.session, &r.url, &r.opts, cancel.cloned()) {
                Ok(link) => {
                    let link = Arc::new(link);
                    *lock(&self.link) = link.clone();
                    self.generation.fetch_add(1, Ordering::SeqCst);
                    if let Some(cb) = &r.policy.on_attempt {
                        cb(n, None);
                    }
                    return Ok(link);
                }
                Err(e) => {
                    if let Some(cb) = &r.policy.on_attempt {
                        cb(n, Some(&e.error));
                    }
                    last = Some(e.error);
                }
            }
        }
        let e = last.unwrap_or_else(|| closed("no reconnect attempt was made"));
        *lock(&r.gave_up) = Some(format!(
            "gave up reconnecting after {} attempts: {}",
            r.policy.max_attempts, e
        ));
        Err(e)
    }

    /// Sends a whole message. Text must be UTF-8. A failure is returned,
    /// never retried: the next call reconnects if the connection was lost.
    pub fn send(
        &self,
        kind: Kind,
        data: &[u8],
        cancel: Option<&Arc<Cancel>>,
    ) -> Result<(), ClientError> {
        self.ready(cancel)?.send(kind, data, cancel.map(|c| &**c))
    }

    /// Sends one fragment of a message; `fin` marks the last (see
    /// `Link::send_fragment`). Only a first fragment may reconnect.
    pub fn send_fragment(
        &self,
        kind: Kind,
        data: &[u8],
        fin: bool,
        cancel: Option<&Arc<Cancel>>,
    ) -> Result<(), ClientError> {
        let mut started = lock(&self.fragment_gen);
        let link = match *started {
            Some(g) if g != self.generation.load(Ordering::SeqCst) => {
                *started = None;
                return Err(closed(
                    "a reconnect cut the fragmented message; start it again",
                ));
            }
            Some(_) => self.current(),
            None => self.ready(cancel)?,
        };
        let gen = self.generation.load(Ordering::SeqCst);
        link.send_fragment(kind, data, fin, cancel.map(|c| &**c))?;
        *started = (!fin && link.fragment_in_progress()).then_some(gen);
        Ok(())
    }

    /// Sends a ping (at most 125 bytes of payload).
    pub fn ping(&self, payload: &[u8], cancel: Option<&Arc<Cancel>>) -> Result<(), ClientError> {
        self.ready(cancel)?.ping(payload, cancel.map(|c| &**c))
    }

    /// Starts the close handshake (see `Link::close`); no reconnect follows.
    pub fn close(
        &self,
        code: u16,
        reason: &[u8],
        cancel: Option<&Arc<Cancel>>,
    ) -> Result<(), ClientError> {
        self.current().close(code, reason, cancel.map(|c| &**c))
    }

    /// Receives the next message (see `Link::receive`). With reconnecting
    /// on, a lost connection is replaced and the receive goes on, up to
    /// the attempt limit of reconnects in a row without a message.
    pub fn receive(&self, cancel: Option<&Arc<Cancel>>) -> Result<Message, ClientError> {
        self.receive_with(cancel, |link, cancel| link.receive(cancel))
    }

    /// `receive` without waiting on the socket (see `Link::try_receive`):
    /// the caller waits for `fd` to turn readable, or for the instant
    /// returned. A reconnect, when one is due, still dials before it
    /// returns.
    pub fn try_receive(&self, cancel: Option<&Arc<Cancel>>) -> Result<Received, ClientError> {
        self.receive_with(cancel, |link, cancel| link.try_receive(cancel))
    }

    /// The descriptor a `try_receive` caller waits on; it changes when a
    /// reconnect replaces the connection.
    pub fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.current().waiter.as_raw_fd()
    }

    fn receive_with<T>(
        &self,
        cancel: Option<&Arc<Cancel>>,
        receive: impl Fn(&Link, Option<&Cancel>) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut rounds = 0u32;
        loop {
            let link = self.ready(cancel)?;
            match (receive(&link, cancel.map(|c| &**c)), &self.redial) {
                (Err(e), Some(r)) if link.is_lost() => {
                    rounds += 1;
                    if rounds > r.policy.max_attempts {
                        *lock(&r.gave_up) = Some(format!(
                            "gave up after {} reconnects in a row that were lost again: {}",
                            r.policy.max_attempts, e
                        ));
                        return Err(e);
                    }
                }
                (result, _) => return result,
            }
        }
    }
}
