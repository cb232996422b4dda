//! Limits a response may not pass, and the one rule of the value types
//! passed by copy (`reqivo_limits`, `reqivo_timeout`): a field left 0
//! takes the default, `REQIVO_NO_LIMIT` (or `REQIVO_NO_LIMIT_64` for a
//! 64-bit field) means no limit, so a struct filled in part keeps the
//! defaults of the fields it leaves out.
use crate::client::Limits;

/// In a 32-bit field of `reqivo_timeout` or `reqivo_limits`: no limit.
/// (A field left 0 takes the default.)
pub const REQIVO_NO_LIMIT: u32 = u32::MAX;

/// In a 64-bit field of `reqivo_limits` (`max_body_bytes`): no limit.
pub const REQIVO_NO_LIMIT_64: u64 = u64::MAX;

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
