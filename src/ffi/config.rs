//! Value types passed by copy: timeouts and limits.
use std::time::Duration;

use crate::net::Timeouts;
use crate::proto::Limits;

/// Timeouts in milliseconds; 0 means no limit. Passed by value.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct reqivo_timeout {
    /// Per address tried, DNS included.
    pub connect_ms: u32,
    /// Longest silence from the server during one read.
    pub read_ms: u32,
    /// Longest stall while the server takes no bytes.
    pub write_ms: u32,
    /// Whole send, across redirects and retries (and a stream's reads).
    pub total_ms: u32,
    /// Waiting for a free pooled connection.
    pub pool_ms: u32,
}

impl reqivo_timeout {
    pub(crate) const DEFAULT: reqivo_timeout = reqivo_timeout {
        connect_ms: 5000,
        read_ms: 5000,
        write_ms: 5000,
        total_ms: 0,
        pool_ms: 5000,
    };
}

fn ms(v: u32) -> Option<Duration> {
    (v > 0).then(|| Duration::from_millis(u64::from(v)))
}

impl From<reqivo_timeout> for Timeouts {
    fn from(t: reqivo_timeout) -> Timeouts {
        Timeouts {
            connect: ms(t.connect_ms),
            read: ms(t.read_ms),
            write: ms(t.write_ms),
            total: ms(t.total_ms),
            pool: ms(t.pool_ms),
        }
    }
}

/// Limits on what a response may make the library hold; 0 means the
/// library default. Passed by value.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct reqivo_limits {
    /// Longest status, header, chunk-size or trailer line. Default 8192.
    pub max_line_bytes: u32,
    /// Largest response head (and trailer section); the 1xx interim
    /// responses before a final one count against it together. Default 65536.
    pub max_header_bytes: u32,
    /// Most header fields in a head. Default 100.
    pub max_header_count: u32,
    /// Largest body: default 1 GiB for `reqivo_session_send`, unlimited
    /// for `reqivo_session_open`.
    pub max_body_bytes: u64,
}

fn or_default(v: u32, d: usize) -> usize {
    if v == 0 {
        d
    } else {
        v as usize
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

/// The default timeouts: 5 s connect, read, write and pool; no total limit.
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
