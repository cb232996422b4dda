//! The retry policy as C passes it: a versioned struct read as far as its
//! `struct_size` declares, like `reqivo_pool_config`.
use std::mem::size_of;
use std::time::Duration;

use super::code::reqivo_code;
use super::error::Fail;
use crate::client::RetryPolicy;

/// In `reqivo_retry.flags`: retry a connect that failed (refused, timed
/// out, a socket error while connecting).
pub const REQIVO_RETRY_ON_CONNECT_ERROR: u32 = 1;
/// In `reqivo_retry.flags`: retry when the connection failed before any
/// byte of the response arrived.
pub const REQIVO_RETRY_ON_RESET: u32 = 2;
/// In `reqivo_retry.flags`: retry a 429 Too Many Requests.
pub const REQIVO_RETRY_ON_429: u32 = 4;
/// In `reqivo_retry.flags`: retry a 503 Service Unavailable.
pub const REQIVO_RETRY_ON_503: u32 = 8;
/// In `reqivo_retry.flags`: wait as long as a retried response's
/// `Retry-After` asks (seconds or an HTTP-date), capped at `max_backoff_ms`.
pub const REQIVO_RETRY_AFTER: u32 = 16;

const _: () = assert!(
    REQIVO_RETRY_ON_CONNECT_ERROR == RetryPolicy::ON_CONNECT_ERROR
        && REQIVO_RETRY_ON_RESET == RetryPolicy::ON_RESET
        && REQIVO_RETRY_ON_429 == RetryPolicy::ON_429
        && REQIVO_RETRY_ON_503 == RetryPolicy::ON_503
        && REQIVO_RETRY_AFTER == RetryPolicy::RETRY_AFTER
);

/// A session's retry policy (`reqivo_session_set_retry`). Only idempotent
/// methods (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and requests marked
/// with `reqivo_request_set_idempotent` are retried; a body from a read
/// callback is never sent twice (only a failed connect is retried for
/// it). Each wait is random in [0, min(max_backoff_ms, base_backoff_ms *
/// 2^(attempt-1))], or the `Retry-After` of a retried 429/503 when
/// `REQIVO_RETRY_AFTER` is set; a wait that would pass the total timeout
/// is not made: the last response or error is delivered at once. Set
/// `struct_size = sizeof(reqivo_retry)`; the struct only ever grows by
/// appending fields. Get one filled from `reqivo_retry_default`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct reqivo_retry {
    /// `sizeof(reqivo_retry)`, set by `reqivo_retry_default`.
    pub struct_size: u32,
    /// Attempts in all, the first included; 1: no retry; 0 is
    /// `REQIVO_ERR_INVALID_CONFIG`. Default 3.
    pub max_attempts: u32,
    /// The first backoff's cap before jitter; it doubles per attempt.
    /// Default 100.
    pub base_backoff_ms: u32,
    /// The cap of every backoff and of `Retry-After`. Default 10000.
    pub max_backoff_ms: u32,
    /// `REQIVO_RETRY_ON_CONNECT_ERROR`, `REQIVO_RETRY_ON_RESET` (before
    /// any response byte), `REQIVO_RETRY_ON_429`, `REQIVO_RETRY_ON_503`,
    /// `REQIVO_RETRY_AFTER`; other bits are `REQIVO_ERR_INVALID_CONFIG`.
    /// Default all five.
    pub flags: u32,
}

impl reqivo_retry {
    fn of(p: &RetryPolicy) -> reqivo_retry {
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        reqivo_retry {
            struct_size: size_of::<reqivo_retry>() as u32,
            max_attempts: p.max_attempts,
            base_backoff_ms: ms(p.base_backoff),
            max_backoff_ms: ms(p.max_backoff),
            flags: p.flags,
        }
    }
}

/// Reads the caller's policy as far as its `struct_size` declares; every
/// field of this first version is needed.
///
/// # Safety
/// `p` is non-NULL and points to a caller's struct of the size it
/// declares, at least its `struct_size` field.
pub(crate) unsafe fn read_policy(p: *const reqivo_retry) -> Result<RetryPolicy, Fail> {
    // SAFETY: per the caller; the first field is always there.
    let declared = unsafe { std::ptr::addr_of!((*p).struct_size).read() } as usize;
    if declared < size_of::<reqivo_retry>() {
        return Err(Fail::new(
            reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
            format!(
                "reqivo_retry.struct_size is {}, expected at least {}",
                declared,
                size_of::<reqivo_retry>()
            ),
        ));
    }
    // SAFETY: the caller's struct is at least this version's size; a larger
    // one (a later version) starts with these fields.
    let c = unsafe { p.read_unaligned() };
    if c.max_attempts == 0 {
        return Err(Fail::new(
            reqivo_code::REQIVO_ERR_INVALID_CONFIG,
            "reqivo_retry.max_attempts must be at least 1 (1: no retry)",
        ));
    }
    if c.flags & !RetryPolicy::ALL != 0 {
        return Err(Fail::new(
            reqivo_code::REQIVO_ERR_INVALID_CONFIG,
            format!(
                "reqivo_retry.flags has unknown bits {:#x}",
                c.flags & !RetryPolicy::ALL
            ),
        ));
    }
    Ok(RetryPolicy {
        max_attempts: c.max_attempts,
        base_backoff: Duration::from_millis(u64::from(c.base_backoff_ms)),
        max_backoff: Duration::from_millis(u64::from(c.max_backoff_ms)),
        flags: c.flags,
    })
}

/// A sensible retry policy to start from: 3 attempts in all, backoffs
/// from 100 ms doubling up to 10 s, every flag set (connect errors,
/// resets, 429, 503, `Retry-After` honoured), `struct_size` set. Sessions
/// retry nothing until given a policy with `reqivo_session_set_retry`.
///
/// Ownership: returned by value.
/// NULL: no pointer arguments.
/// Thread safety: callable from any thread.
/// Returns: the policy.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_retry_default() -> reqivo_retry {
    ffi_boundary!({ reqivo_retry::of(&RetryPolicy::DEFAULT) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_c_default_reads_back_as_the_librarys() {
        let c = reqivo_retry::of(&RetryPolicy::DEFAULT);
        // SAFETY: a whole struct of this version.
        assert!(unsafe { read_policy(&c) }.is_ok_and(|p| p == RetryPolicy::DEFAULT));
        let short = reqivo_retry {
            struct_size: 16,
            ..c
        };
        // SAFETY: as above.
        assert!(unsafe { read_policy(&short) }.is_err());
    }
}
