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

impl Limits {
    pub(crate) const DEFAULT_LINE_BYTES: usize = 8192;
    pub(crate) const DEFAULT_HEADER_BYTES: usize = 65536;
    pub(crate) const DEFAULT_HEADER_COUNT: usize = 100;
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
