//! Value types passed by copy: timeouts and limits. Both follow one rule:
//! a field left 0 takes the default, `REQIVO_NO_LIMIT` (or
//! `REQIVO_NO_LIMIT_64` for a 64-bit field) means no limit, so a struct
//! filled in part keeps the defaults of the fields it leaves out.
use std::time::Duration;

use crate::net::{TimeoutOverrides, Timeouts};
use crate::proto::Limits;

/// In a 32-bit field of `reqivo_timeout` or `reqivo_limits`: no limit.
/// (A field left 0 takes the default.)
pub const REQIVO_NO_LIMIT: u32 = u32::MAX;

/// In a 64-bit field of `reqivo_limits` (`max_body_bytes`): no limit.
pub const REQIVO_NO_LIMIT_64: u64 = u64::MAX;

/// Timeouts in milliseconds. A field left 0 takes the default (for a
/// session, the library's: `reqivo_timeout_default`; for a request, its
/// session's); `REQIVO_NO_LIMIT` means no limit. Passed by value.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct reqivo_timeout {
    /// Per address tried, DNS included. Default 5000.
    pub connect_ms: u32,
    /// Longest silence from the server during one read. Default 5000.
    pub read_ms: u32,
    /// Longest stall while the server takes no bytes. Default 5000.
    pub write_ms: u32,
    /// Whole send, across redirects and retries (and a stream's reads).
    /// Default no limit.
    pub total_ms: u32,
    /// Waiting for a free pooled connection. Default 5000.
    pub pool_ms: u32,
}

impl reqivo_timeout {
    pub(crate) const DEFAULT: reqivo_timeout = reqivo_timeout {
        connect_ms: 5000,
        read_ms: 5000,
        write_ms: 5000,
        total_ms: REQIVO_NO_LIMIT,
        pool_ms: 5000,
    };

    /// Each field: `None` when left 0 (take the default), else the limit
    /// (`None` inside for no limit).
    fn fields(self) -> [Option<Option<Duration>>; 5] {
        [
            self.connect_ms,
            self.read_ms,
            self.write_ms,
            self.total_ms,
            self.pool_ms,
        ]
        .map(|v| match v {
            0 => None,
            REQIVO_NO_LIMIT => Some(None),
            ms => Some(Some(Duration::from_millis(u64::from(ms)))),
        })
    }

    /// What a request sets over its session's timeouts.
    pub(crate) fn to_overrides(self) -> TimeoutOverrides {
        let [connect, read, write, total, pool] = self.fields();
        TimeoutOverrides {
            connect,
            read,
            write,
            total,
            pool,
        }
    }

    /// A session's timeouts: fields left 0 take the library's defaults.
    pub(crate) fn to_session(self) -> Timeouts {
        let defaults = Self::DEFAULT.to_overrides().over(Timeouts::default());
        self.to_overrides().over(defaults)
    }
}

/// Limits on what a response may make the library hold. A field left 0
/// takes the default; `REQIVO_NO_LIMIT` (`REQIVO_NO_LIMIT_64` for
/// `max_body_bytes`) means no limit. Memory grows with what the server
/// sends, never with a limit. Passed by value.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct reqivo_limits {
    /// Longest status, header, chunk-size or trailer line. Default 102400
    /// (100 KiB).
    pub max_line_bytes: u32,
    /// Largest response head (and trailer section); the 1xx interim
    /// responses before a final one count against it together. Default
    /// 307200 (300 KiB).
    pub max_header_bytes: u32,
    /// Most header fields in a head. Default 10000.
    pub max_header_count: u32,
    /// Largest body: default 1 GiB for `reqivo_session_send`, no limit
    /// for `reqivo_session_open`.
    pub max_body_bytes: u64,
}

/// A 32-bit field of the one rule: 0 is `d`, `REQIVO_NO_LIMIT` no limit.
pub(crate) fn or_default(v: u32, d: usize) -> usize {
    match v {
        0 => d,
        REQIVO_NO_LIMIT => usize::MAX,
        v => v as usize,
    }
}

impl reqivo_limits {
    /// The protocol limits, and the body limit when the caller set one.
    pub(crate) fn to_rust(self) -> (Limits, Option<u64>) {
        let limits = Limits {
            max_line_bytes: or_default(self.max_line_bytes, Limits::DEFAULT_LINE_BYTES),
            max_header_bytes: or_default(self.max_header_bytes, Limits::DEFAULT_HEADER_BYTES),
            max_header_count: or_default(self.max_header_count, Limits::DEFAULT_HEADER_COUNT),
            max_body_bytes: Limits::DEFAULT_BUFFERED_BODY_BYTES,
        };
        (
            limits,
            (self.max_body_bytes > 0).then_some(self.max_body_bytes),
        )
    }
}

/// The default timeouts: 5 s connect, read, write and pool; no total limit
/// (`total_ms` is `REQIVO_NO_LIMIT`).
///
/// Ownership: returned by value.
/// NULL: no pointer arguments.
/// Thread safety: callable from any thread.
/// Returns: the defaults.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_timeout_default() -> reqivo_timeout {
    ffi_boundary!({ reqivo_timeout::DEFAULT })
}
