//! Size limits applied where response bytes arrive, before the excess is buffered.

/// Limits on what a response may make the client hold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest status line, header line, chunk-size line or trailer line.
    pub max_line_bytes: usize,
    /// Largest response head (status line and header section), and largest trailer section;
    /// also the most bytes of 1xx interim responses skipped before a final one.
    pub max_header_bytes: usize,
    /// Most header fields in one response head.
    pub max_header_count: usize,
    /// Largest decoded body; `u64::MAX` means no limit.
    pub max_body_bytes: u64,
}

/// The defaults accept what curl accepts (a 100 KiB header line, a 300 KiB
/// head): real servers send large cookies, CSP and Link headers and
/// tracing baggage. Memory grows with what arrives, never with a limit.
impl Limits {
    pub(crate) const DEFAULT_LINE_BYTES: usize = 100 * 1024;
    pub(crate) const DEFAULT_HEADER_BYTES: usize = 300 * 1024;
    /// Far above what most heads hold, and below what 300 KiB of
    /// shortest-possible lines could: the byte limits decide first.
    pub(crate) const DEFAULT_HEADER_COUNT: usize = 10_000;
    /// Default cap on a body held in memory (buffered sends).
    pub(crate) const DEFAULT_BUFFERED_BODY_BYTES: u64 = 1 << 30;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: Self::DEFAULT_LINE_BYTES,
            max_header_bytes: Self::DEFAULT_HEADER_BYTES,
            max_header_count: Self::DEFAULT_HEADER_COUNT,
            max_body_bytes: Self::DEFAULT_BUFFERED_BODY_BYTES,
        }
    }
}
