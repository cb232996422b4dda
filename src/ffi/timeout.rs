//! Timeouts, passed by copy under the one rule of `limits.rs`.
use std::time::Duration;

use super::limits::REQIVO_NO_LIMIT;
use crate::client::{TimeoutOverrides, Timeouts, DEFAULT_TIMEOUTS};

/// Timeouts in milliseconds. A field left 0 takes the default (for a
/// session, the library's: `reqivo_timeout_default`; for a request, its
/// session's); `REQIVO_NO_LIMIT` means no limit. Passed by value.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct reqivo_timeout {
    /// Name resolution and connecting, every address together (they race,
    /// Happy Eyeballs). Default 5000.
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
    /// The library's defaults (`client::DEFAULT_TIMEOUTS`) in milliseconds.
    pub(crate) const DEFAULT: reqivo_timeout = {
        const fn ms(limit: Option<Duration>) -> u32 {
            match limit {
                None => REQIVO_NO_LIMIT,
                // Whole milliseconds, never 0 (that means "default") nor
                // the no-limit value.
                Some(d) => {
                    let m = d.as_millis();
                    if m == 0 {
                        1
                    } else if m >= REQIVO_NO_LIMIT as u128 {
                        REQIVO_NO_LIMIT - 1
                    } else {
                        m as u32
                    }
                }
            }
        }
        let t = DEFAULT_TIMEOUTS;
        reqivo_timeout {
            connect_ms: ms(t.connect),
            read_ms: ms(t.read),
            write_ms: ms(t.write),
            total_ms: ms(t.total),
            pool_ms: ms(t.pool),
        }
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
        self.to_overrides().over(DEFAULT_TIMEOUTS)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The C defaults are the library's, field by field.
    #[test]
    fn the_c_defaults_are_the_librarys() {
        let t = reqivo_timeout::DEFAULT;
        assert_eq!(t.to_session(), DEFAULT_TIMEOUTS);
        let zero = reqivo_timeout {
            connect_ms: 0,
            read_ms: 0,
            write_ms: 0,
            total_ms: 0,
            pool_ms: 0,
        };
        assert_eq!(zero.to_session(), DEFAULT_TIMEOUTS, "0 takes the default");
        assert_eq!(t.total_ms, REQIVO_NO_LIMIT);
    }
}
