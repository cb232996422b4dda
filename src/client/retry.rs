//! Retries as a session policy, off by default: which outcomes of an
//! attempt may be tried again, how long to wait first (exponential backoff
//! with full jitter, or the server's `Retry-After`), and the count of
//! attempts. Both drivers ask it between attempts: the blocking send waits
//! on the cancel token, the multi makes the wait a timer of the transfer.
//!
//! What is never retried, and why: a method that is not idempotent (RFC
//! 9110 §9.2.2) unless the caller marked the request so, since the server
//! may have acted on it; a body read from a source once it could have been
//! read (only a connect that failed, before any byte went out, is tried
//! again), since it cannot be sent twice; a wait that would end past the
//! total deadline, since the caller asked for an answer by then (the last
//! response or error is delivered at once instead). This is apart from the
//! one transparent retry of a reused connection found dead (`exchange`),
//! which stays as it is and counts as part of the same attempt.
use std::time::{Duration, Instant, SystemTime};

use super::body::Body;
use super::chain::Chain;
use super::error::ClientError;
use super::log::{log_at, Level};
use super::request::{is_idempotent, Request};
use super::session::SessionConfig;
use crate::net::NetErrorKind;
use crate::proto::ResponseHead;

/// A session's retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 (or 0) means no retry.
    pub max_attempts: u32,
    /// The cap of the first backoff; it doubles with each attempt.
    pub base_backoff: Duration,
    /// The longest wait, for a backoff and for a `Retry-After` alike.
    pub max_backoff: Duration,
    /// Which outcomes are retried (`ON_*`), and `RetryPolicy::RETRY_AFTER`.
    pub flags: u32,
}

impl RetryPolicy {
    /// Retry a connect that failed (refused, timed out, a socket error while
    /// connecting).
    pub(crate) const ON_CONNECT_ERROR: u32 = 1 << 0;
    /// Retry a connection that failed before any byte of the response arrived.
    pub(crate) const ON_RESET: u32 = 1 << 1;
    /// Retry a 429 Too Many Requests.
    pub(crate) const ON_429: u32 = 1 << 2;
    /// Retry a 503 Service Unavailable.
    pub(crate) const ON_503: u32 = 1 << 3;
    /// Wait as long as a retried response's `Retry-After` asks (capped).
    pub(crate) const RETRY_AFTER: u32 = 1 << 4;
    /// Every flag this version knows.
    pub(crate) const ALL: u32 =
        Self::ON_CONNECT_ERROR | Self::ON_RESET | Self::ON_429 | Self::ON_503 | Self::RETRY_AFTER;

    /// No retries: the session default.
    pub const OFF: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        base_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        flags: 0,
    };

    /// A sensible policy to start from: 3 attempts, backoffs from 100 ms
    /// up to 10 s, every flag set.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(10),
        flags: Self::ALL,
    };

    fn on(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// The cap of the jittered wait after attempt `n` (from 1):
    /// `min(max_backoff, base * 2^(n-1))`.
    pub(crate) fn backoff_cap(&self, n: u32) -> Duration {
        let factor = 1u32 << n.saturating_sub(1).min(31);
        self.base_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::OFF
    }
}

/// How far an attempt that failed had got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Getting a connection: nothing was sent.
    Connect,
    /// Connected; no byte of the response had arrived.
    BeforeResponse,
    /// Part of the response had arrived.
    InResponse,
}

/// The retries of one send: its policy and the attempts made so far.
#[derive(Debug)]
pub(crate) struct Retry {
    policy: RetryPolicy,
    attempt: u32,
}

impl Retry {
    pub(crate) fn new(cfg: &SessionConfig) -> Retry {
        Retry {
            policy: cfg.retry,
            attempt: 1,
        }
    }

    /// After the current attempt failed with `e` at `stage`: when to make
    /// the next one, or `e` back when there is none.
    pub(crate) fn after_error(
        &mut self,
        cfg: &SessionConfig,
        req: &Request,
        chain: &Chain,
        deadline: Option<Instant>,
        e: ClientError,
        stage: Stage,
    ) -> Result<Instant, ClientError> {
        if !self.may_retry(req, chain, stage) || !self.error_is_retried(&e, stage) {
            return Err(e);
        }
        let wait = jittered(self.policy.backoff_cap(self.attempt));
        self.next(cfg, req, chain, deadline, wait, &e).ok_or(e)
    }

    /// After the current attempt's final head: when to make the next
    /// attempt (the caller drains this response first), or `None` to
    /// deliver it.
    #[inline]
    pub(crate) fn after_head(
        &mut self,
        cfg: &SessionConfig,
        req: &Request,
        chain: &Chain,
        deadline: Option<Instant>,
        head: &ResponseHead,
    ) -> Option<Instant> {
        // Every response passes here: the common case answers inline.
        if !matches!(head.status, 429 | 503) {
            return None;
        }
        self.after_refusal(cfg, req, chain, deadline, head)
    }

    /// `after_head` for a 429 or 503.
    #[cold]
    fn after_refusal(
        &mut self,
        cfg: &SessionConfig,
        req: &Request,
        chain: &Chain,
        deadline: Option<Instant>,
        head: &ResponseHead,
    ) -> Option<Instant> {
        let flag = match head.status {
            429 => RetryPolicy::ON_429,
            503 => RetryPolicy::ON_503,
            _ => return None,
        };
        if !self.policy.on(flag) || !self.may_retry(req, chain, Stage::InResponse) {
            return None;
        }
        let asked = head
            .value("retry-after")
            .filter(|_| self.policy.on(RetryPolicy::RETRY_AFTER))
            .and_then(|v| retry_after(v, SystemTime::now()));
        let wait = match asked {
            Some(d) => d.min(self.policy.max_backoff),
            None => jittered(self.policy.backoff_cap(self.attempt)),
        };
        let reason = format!("status {}", head.status);
        self.next(cfg, req, chain, deadline, wait, &reason)
    }

    /// Whether attempts are left and the request may be sent again after
    /// failing at `stage`.
    fn may_retry(&self, req: &Request, chain: &Chain, stage: Stage) -> bool {
        if self.attempt >= self.policy.max_attempts {
            return false;
        }
        if !is_idempotent(chain.method(req)) && !req.idempotent {
            return false;
        }
        // A source body may have been read once anything went out.
        let replayable = chain.body(req).is_none_or(Body::replayable);
        replayable || stage == Stage::Connect
    }

    fn error_is_retried(&self, e: &ClientError, stage: Stage) -> bool {
        match stage {
            Stage::Connect => {
                self.policy.on(RetryPolicy::ON_CONNECT_ERROR) && is_connect_failure(e)
            }
            Stage::BeforeResponse => {
                self.policy.on(RetryPolicy::ON_RESET) && e.closed_before_response()
            }
            Stage::InResponse => false,
        }
    }

    /// Counts the next attempt, due after `wait`, unless that passes the
    /// total deadline.
    fn next(
        &mut self,
        cfg: &SessionConfig,
        req: &Request,
        chain: &Chain,
        deadline: Option<Instant>,
        wait: Duration,
        reason: &dyn std::fmt::Display,
    ) -> Option<Instant> {
        let at = Instant::now() + wait;
        if deadline.is_some_and(|d| at >= d) {
            log_at!(
                cfg.log.as_ref(),
                Level::Info,
                "not retrying {} {}: waiting {} ms would pass the total timeout",
                chain.method(req),
                chain.url(req),
                wait.as_millis()
            );
            return None;
        }
        self.attempt += 1;
        log_at!(
            cfg.log.as_ref(),
            Level::Info,
            "retrying {} {} (attempt {} of {}) in {} ms: {}",
            chain.method(req),
            chain.url(req),
            self.attempt,
            self.policy.max_attempts,
            wait.as_millis(),
            reason
        );
        Some(at)
    }
}

/// A failure to get a connection worth trying again: refused, timed out,
/// or a socket error or close while connecting. Not a name that did not
/// resolve, a TLS verdict, a full pool or the caller's cancel.
fn is_connect_failure(e: &ClientError) -> bool {
    use NetErrorKind as N;
    matches!(e, ClientError::Net(n) if matches!(
        n.kind,
        N::ConnectRefused | N::TimeoutConnect | N::Io | N::ConnectionClosed
    ))
}

/// A random wait in `[0, cap]` ("full jitter"): many clients that failed
/// together do not come back together.
fn jittered(cap: Duration) -> Duration {
    let mut r = [0u8; 8];
    if getrandom::fill(&mut r).is_err() {
        return cap;
    }
    let cap_us = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(u64::from_ne_bytes(r) % cap_us.saturating_add(1))
}

/// The wait a `Retry-After` value asks for (RFC 9110 §10.2.3): delay
/// seconds, or an HTTP-date (from `now`; zero once past). `None` for
/// anything else, which the caller replaces by its own backoff.
pub(crate) fn retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is a very long wait all the same.
        let secs = text.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_delay_seconds() {
        let now = SystemTime::now();
        assert_eq!(retry_after(b"2", now), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(b" 0 ", now), Some(Duration::ZERO));
        assert_eq!(retry_after(b"120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after(b"99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_http_dates_in_all_three_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let in_a_minute = Some(Duration::from_secs(60));
        // IMF-fixdate, then the obsolete RFC 850 and asctime forms, which
        // a recipient must accept too (RFC 9110 §5.6.7).
        assert_eq!(
            retry_after(b"Sun, 06 Nov 1994 08:50:37 GMT", now),
            in_a_minute
        );
        assert_eq!(
            retry_after(b"Sunday, 06-Nov-94 08:50:37 GMT", now),
            in_a_minute
        );
        assert_eq!(retry_after(b"Sun Nov  6 08:50:37 1994", now), in_a_minute);
        // A date already past asks for no wait.
        assert_eq!(
            retry_after(b"Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage_is_none() {
        let now = SystemTime::now();
        for bad in [
            &b""[..],
            b" ",
            b"-1",
            b"1.5",
            b"2 s",
            b"soon",
            b"Sun, 32 Nov 1994 08:49:37 GMT",
            b"\xff\xfe",
        ] {
            assert_eq!(retry_after(bad, now), None, "{:?}", bad);
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            flags: RetryPolicy::ALL,
        };
        let caps: Vec<u128> = (1..=6).map(|n| p.backoff_cap(n).as_millis()).collect();
        assert_eq!(caps, [100, 200, 400, 800, 1000, 1000]);
        // Huge attempt numbers neither overflow nor pass the cap.
        assert_eq!(p.backoff_cap(u32::MAX), Duration::from_millis(1000));
        let huge = RetryPolicy {
            base_backoff: Duration::from_secs(u64::MAX / 2),
            max_backoff: Duration::MAX,
            ..p
        };
        assert_eq!(huge.backoff_cap(40), Duration::MAX);
    }

    #[test]
    fn jitter_stays_within_zero_and_the_cap() {
        let cap = Duration::from_millis(50);
        let waits: Vec<Duration> = (0..200).map(|_| jittered(cap)).collect();
        assert!(waits.iter().all(|w| *w <= cap));
        // Full jitter spreads: not every wait is the same.
        assert!(waits.iter().any(|w| *w != waits[0]));
        assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
    }
}
