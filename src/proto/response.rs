//! Response heads: parsed with httparse under the caller's limits.
//!
//! The limits trip on the bytes buffered so far, so a server can never make
//! us hold more than `max_header_bytes` waiting for a head to end.
use std::mem::MaybeUninit;
use std::ops::Range;

use smallvec::SmallVec;

use super::error::{ProtoError, ProtoErrorKind};
use super::limits::Limits;

/// A parsed response head. It owns one copy of the head bytes; names,
/// values and the reason are ranges into it, kept inline for up to
/// `INLINE_FIELDS` fields, so a head costs one allocation (two with more
/// fields) whatever its header count.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    raw: Vec<u8>,
    pub status: u16,
    /// 1 for HTTP/1.x, 2 for HTTP/2.
    pub major: u8,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1, 0 for HTTP/2.
    pub minor: u8,
    reason: Range<usize>,
    headers: SmallVec<[(Span, Span); INLINE_FIELDS]>,
}

/// Header fields indexed without a heap allocation; most responses have fewer.
const INLINE_FIELDS: usize = 16;

/// A range of the head bytes (heads are far below 4 GiB).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of(base: &[u8], part: &[u8]) -> Span {
        let r = range_in(base, part);
        Span {
            start: r.start as u32,
            end: r.end as u32,
        }
    }

    fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    fn slice(self, raw: &[u8]) -> &[u8] {
        &raw[self.start as usize..self.end as usize]
    }
}

impl ResponseHead {
    pub fn reason(&self) -> &[u8] {
        &self.raw[self.reason.clone()]
    }

    /// Header fields in received order, names as received.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.headers
            .iter()
            .map(|(n, v)| (n.slice(&self.raw), v.slice(&self.raw)))
    }

    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// Every value of `name`, compared case-insensitively, in received order.
    /// Names are compared by length first, before either span is sliced:
    /// the framing rules look up several names in every response.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let name = name.as_bytes();
        self.headers
            .iter()
            .filter(move |(n, _)| {
                n.len() == name.len() && n.slice(&self.raw).eq_ignore_ascii_case(name)
            })
            .map(|(_, v)| v.slice(&self.raw))
    }

    /// The first value of `name`, if any.
    pub fn value<'a>(&'a self, name: &'a str) -> Option<&'a [u8]> {
        self.values(name).next()
    }

    /// True when any value of `name` lists `token` (comma-separated, case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name)
            .any(|v| list_has_token(v, token.as_bytes()))
    }

    /// An HTTP/2 response's head: `status` and the fields as decoded (no
    /// reason phrase on the wire, so none here), held to the same limits
    /// as an HTTP/1.1 head: the field count, and the bytes of the head as
    /// HTTP/1.1 would have sent it.
    /// `fields` lists them (it is walked twice: sizes, then copies).
    pub fn from_fields<'a, I>(
        status: u16,
        fields: impl Fn() -> I,
        limits: &Limits,
    ) -> Result<ResponseHead, ProtoError>
    where
        I: Iterator<Item = (&'a [u8], &'a [u8])>,
    {
        let (count, text) = fields().fold((0, 0), |(c, t), (n, v)| (c + 1, t + n.len() + v.len()));
        if count > limits.max_header_count {
            return Err(ProtoError::new(
                ProtoErrorKind::TooManyHeaders,
                format!(
                    "response has {} header fields, more than max_header_count ({})",
                    count, limits.max_header_count
                ),
            ));
        }
        // "HTTP/2 200\r\n", then "name: value\r\n" each, then "\r\n".
        let size = 14 + text + 4 * count;
        if size > limits.max_header_bytes {
            return Err(ProtoError::new(
                ProtoErrorKind::HeaderTooLarge,
                format!(
                    "response head exceeds max_header_bytes ({}): {} bytes",
                    limits.max_header_bytes, size
                ),
            ));
        }
        let mut raw = Vec::with_capacity(text);
        let mut headers = SmallVec::with_capacity(count);
        for (name, value) in fields() {
            let at = raw.len() as u32;
            raw.extend_from_slice(name);
            raw.extend_from_slice(value);
            let mid = at + name.len() as u32;
            headers.push((
                Span {
                    start: at,
                    end: mid,
                },
                Span {
                    start: mid,
                    end: raw.len() as u32,
                },
            ));
        }
        Ok(ResponseHead {
            raw,
            status,
            major: 2,
            minor: 0,
            reason: 0..0,
            headers,
        })
    }

    /// Total bytes of names, values and reason: what a flat copy needs.
    pub fn text_len(&self) -> usize {
        self.reason.len()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>()
    }
}

/// Checks every line seen so far against `max_line_bytes`, and the head as a
/// whole against `max_header_bytes`. `complete` is the head length when the
/// parser found its end.
fn check_sizes(input: &[u8], complete: Option<usize>, limits: &Limits) -> Result<(), ProtoError> {
    let seen = complete.unwrap_or(input.len());
    if seen > limits.max_header_bytes {
        return Err(ProtoError::new(
            ProtoErrorKind::HeaderTooLarge,
            format!(
                "response head exceeds max_header_bytes ({}): {} bytes{}",
                limits.max_header_bytes,
                seen,
                if complete.is_some() {
                    ""
                } else {
                    " without an end yet"
                }
            ),
        ));
    }
    if seen <= limits.max_line_bytes {
        return Ok(()); // no line can be longer than all of them
    }
    let mut line_start = 0;
    for (line_no, line) in input[..seen].split(|&b| b == b'\n').enumerate() {
        let len = line.strip_suffix(b"\r").unwrap_or(line).len();
        if len > limits.max_line_bytes {
            let what = if line_no == 0 {
                "status line".to_string()
            } else {
                format!("header line {}", line_no)
            };
            return Err(ProtoError::new(
                ProtoErrorKind::HeaderTooLarge,
                format!(
                    "{} exceeds max_line_bytes ({}): {} bytes at offset {}",
                    what, limits.max_line_bytes, len, line_start
                ),
            ));
        }
        line_start += line.len() + 1;
    }
    Ok(())
}

/// Whether the comma-separated field value `value` has `token` as one of
/// its elements, compared case-insensitively (RFC 9110 §5.6.1). A plain
/// loop: the split/trim iterator chain cost a few hundred instructions per
/// request on `Connection` alone.
pub fn list_has_token(value: &[u8], token: &[u8]) -> bool {
    let mut rest = value;
    loop {
        let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
        if rest[..end].trim_ascii().eq_ignore_ascii_case(token) {
            return true;
        }
        if end == rest.len() {
            return false;
        }
        rest = &rest[end + 1..];
    }
}

/// Where `part`, a slice httparse cut from `base`, lies in it. An empty part
/// may not point into `base` at all (a missing reason phrase is a static
/// ""), so it maps to an empty range rather than to a bogus offset.
fn range_in(base: &[u8], part: &[u8]) -> Range<usize> {
    if part.is_empty() {
        return 0..0;
    }
    let start = part.as_ptr() as usize - base.as_ptr() as usize;
    start..start + part.len()
}

/// Parses one response head from the start of `input`.
///
/// Returns `Ok(None)` when more bytes are needed, or `Ok(Some((consumed,
/// head)))` where `consumed` is the head's length including the blank line.
/// Interim (1xx) heads are returned like any other; the caller skips them.
pub fn parse_head(
    input: &[u8],
    limits: &Limits,
) -> Result<Option<(usize, ResponseHead)>, ProtoError> {
    // Most heads fit in slots on the stack, left uninitialised: httparse
    // writes the slots it fills, and zeroing 128 of them (3 KiB) on every
    // parse would cost more than the parse.
    const STACK_HEADERS: usize = 128;
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let first_try = limits.max_header_count.min(STACK_HEADERS);
    let mut resp = httparse::Response::new(&mut []);
    let mut parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        input,
        &mut stack[..first_try],
    );
    // A head with more fields than the stack holds is parsed again with
    // slots on the heap: as many as the bytes that arrived can hold (every
    // field ends a line), never as many as the limit allows, so a huge
    // limit reserves nothing a server did not send.
    let mut heap: Vec<MaybeUninit<httparse::Header<'_>>>;
    if matches!(parsed, Err(httparse::Error::TooManyHeaders))
        && limits.max_header_count > STACK_HEADERS
    {
        let slots = limits.max_header_count.min(line_ends(input) + 1);
        heap = std::iter::repeat_with(MaybeUninit::uninit)
            .take(slots)
            .collect();
        resp = httparse::Response::new(&mut []);
        // httparse rejects obs-fold and whitespace before a colon in
        // responses by default, which is what RFC 9112 §5.1/§5.2 ask of a
        // client.
        parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut resp,
            input,
            &mut heap[..],
        );
    }
    let status = match parsed {
        Ok(httparse::Status::Partial) => {
            check_sizes(input, None, limits)?;
            return Ok(None);
        }
        Ok(httparse::Status::Complete(n)) => {
            check_sizes(input, Some(n), limits)?;
            n
        }
        Err(e) => {
            // Report whichever problem comes first in the byte stream, so
            // the error cannot depend on how the bytes were split into
            // reads: sizes count only up to where parsing first fails (an
            // over-long garbage line at or before it is a size problem).
            let fail_at = first_failing_len(input, limits.max_header_count);
            check_sizes(&input[..fail_at], None, limits)?;
            return Err(map_parse_error(e, input, limits));
        }
    };
    let code = resp.code.unwrap_or(0);
    if !(100..=599).contains(&code) {
        return Err(ProtoError::new(
            ProtoErrorKind::InvalidStatusLine,
            format!("status code {} is outside 100-599", code),
        ));
    }
    let minor = resp.version.unwrap_or(1);
    let raw = input[..status].to_vec();
    let reason = range_in(input, resp.reason.unwrap_or("").as_bytes());
    let headers = resp
        .headers
        .iter()
        .map(|h| (Span::of(input, h.name.as_bytes()), Span::of(input, h.value)))
        .collect();
    Ok(Some((
        status,
        ResponseHead {
            raw,
            status: code,
            major: 1,
            minor,
            reason,
            headers,
        },
    )))
}

/// The length of the shortest prefix of `input` that httparse rejects,
/// given that `input` itself is rejected. Rejection is monotone (a prefix
/// is rejected only if every longer input is), so a binary search finds it
/// in a few parses; this runs once, on a response that is already an error.
fn first_failing_len(input: &[u8], max_header_count: usize) -> usize {
    let mut slots = vec![httparse::EMPTY_HEADER; max_header_count.min(line_ends(input) + 1)];
    let (mut ok, mut bad) = (0, input.len());
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        if httparse::Response::new(&mut slots)
            .parse(&input[..mid])
            .is_err()
        {
            bad = mid;
        } else {
            ok = mid;
        }
    }
    bad
}

fn map_parse_error(e: httparse::Error, input: &[u8], limits: &Limits) -> ProtoError {
    use httparse::Error as E;
    let first_line = input.split(|&b| b == b'\n').next().unwrap_or(b"");
    let shown = String::from_utf8_lossy(&first_line[..first_line.len().min(64)]).into_owned();
    match e {
        E::TooManyHeaders => {
            // httparse stops at the first field past the limit, which may be
            // before the head ends: then only a lower bound is known.
            let (count, complete) = header_lines(input);
            ProtoError::new(
                ProtoErrorKind::TooManyHeaders,
                format!(
                    "response has {}{} header fields, more than max_header_count ({})",
                    if complete { "" } else { "at least " },
                    count,
                    limits.max_header_count
                ),
            )
        }
        E::Version => ProtoError::new(
            ProtoErrorKind::InvalidStatusLine,
            format!(
                "unsupported HTTP version in status line {:?} (only HTTP/1.0 and HTTP/1.1)",
                shown
            ),
        ),
        _ if !status_line_ok(first_line) => ProtoError::new(
            ProtoErrorKind::InvalidStatusLine,
            format!("malformed status line {:?}", shown),
        ),
        other => {
            let line = offending_line(input);
            ProtoError::new(
                ProtoErrorKind::InvalidResponseHeader,
                format!("malformed header line {:?}: {}", line, other),
            )
        }
    }
}

/// How many lines end in `input`: a bound on the header fields it holds.
fn line_ends(input: &[u8]) -> usize {
    input.iter().filter(|&&b| b == b'\n').count()
}

/// The complete header lines after the status line, up to the blank line
/// that ends the head, and whether that blank line was seen.
fn header_lines(input: &[u8]) -> (usize, bool) {
    let mut count = 0;
    // Only LF-terminated lines count: the bytes after the last LF are a line
    // still arriving. The first line is the status line.
    let finished = input.iter().filter(|&&b| b == b'\n').count();
    for line in input.split(|&b| b == b'\n').take(finished).skip(1) {
        if line.strip_suffix(b"\r").unwrap_or(line).is_empty() {
            return (count, true);
        }
        count += 1;
    }
    (count, false)
}

/// A status line as RFC 9112 §4 wants it: `HTTP/1.x SP 3DIGIT SP reason`.
fn status_line_ok(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut h = [httparse::EMPTY_HEADER; 0];
    let mut probe = Vec::with_capacity(line.len() + 4);
    probe.extend_from_slice(line);
    probe.extend_from_slice(b"\r\n\r\n");
    httparse::Response::new(&mut h).parse(&probe).is_ok()
}

/// The header line httparse stopped at: the first after the status line
/// that has no colon, or starts with whitespace (obs-fold), or holds a bad byte.
fn offending_line(input: &[u8]) -> String {
    for line in input.split(|&b| b == b'\n').skip(1) {
        let l = line.strip_suffix(b"\r").unwrap_or(line);
        if l.is_empty() {
            break;
        }
        let bad = l.starts_with(b" ")
            || l.starts_with(b"\t")
            || !l.contains(&b':')
            || l.iter().any(|&b| b < 0x20 && b != b'\t')
            || l.split(|&b| b == b':')
                .next()
                .is_some_and(|n| n.is_empty() || n.iter().any(|&b| !(b.is_ascii_graphic())));
        if bad {
            return String::from_utf8_lossy(&l[..l.len().min(64)]).into_owned();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_has_token_finds_elements_case_insensitively_and_only_whole() {
        assert!(list_has_token(b"close", b"close"));
        assert!(list_has_token(b" Keep-Alive ,  CLOSE ", b"close"));
        assert!(list_has_token(b"a,,close,", b"close"));
        assert!(!list_has_token(b"closed, enclose", b"close"));
        assert!(!list_has_token(b"", b"close"));
        assert!(
            list_has_token(b"a, ,b", b""),
            "an empty element matches an empty token"
        );
    }

    fn parse(s: &[u8]) -> Result<Option<(usize, ResponseHead)>, ProtoError> {
        parse_head(s, &Limits::default())
    }

    #[test]
    fn head_parses_status_reason_and_headers_in_order() {
        let (n, h) = parse(b"HTTP/1.1 200 OK\r\nB: 1\r\na: 2\r\nB: 3\r\n\r\nbody")
            .unwrap()
            .unwrap();
        assert_eq!(n, 37);
        assert_eq!((h.status, h.minor, h.reason()), (200, 1, &b"OK"[..]));
        let hs: Vec<_> = h.headers().collect();
        assert_eq!(
            hs,
            vec![
                (&b"B"[..], &b"1"[..]),
                (&b"a"[..], &b"2"[..]),
                (&b"B"[..], &b"3"[..])
            ]
        );
        assert_eq!(
            h.values("b").collect::<Vec<_>>(),
            vec![&b"1"[..], &b"3"[..]]
        );
    }

    #[test]
    fn head_accepts_no_space_after_colon() {
        let (_, h) = parse(b"HTTP/1.1 200 OK\r\nName:value\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.value("name"), Some(&b"value"[..]));
    }

    #[test]
    fn head_without_reason_phrase_has_empty_reason() {
        // RFC 9112 §4: the reason phrase may be empty, and httparse also
        // takes a status line that ends right after the code.
        for line in ["HTTP/1.1 200\r\n", "HTTP/1.1 204 \r\n"] {
            let text = format!("{}X:\r\n\r\n", line);
            let (_, h) = parse(text.as_bytes()).unwrap().unwrap();
            assert_eq!(h.reason(), b"", "{:?}", line);
            assert_eq!(h.value("x"), Some(&b""[..]));
            assert_eq!(h.text_len(), 1);
        }
    }

    #[test]
    fn head_needs_more_until_blank_line() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nA: b\r\n").unwrap().is_none());
        assert!(parse(b"HTT").unwrap().is_none());
    }

    #[test]
    fn head_rejects_obs_fold() {
        let e = parse(b"HTTP/1.1 200 OK\r\nA: b\r\n  folded\r\n\r\n").unwrap_err();
        assert_eq!(e.kind, ProtoErrorKind::InvalidResponseHeader);
    }

    #[test]
    fn head_rejects_space_before_colon() {
        let e = parse(b"HTTP/1.1 200 OK\r\nA : b\r\n\r\n").unwrap_err();
        assert_eq!(e.kind, ProtoErrorKind::InvalidResponseHeader);
    }

    #[test]
    fn head_rejects_unknown_versions_and_statuses() {
        assert_eq!(
            parse(b"HTTP/2.0 200 OK\r\n\r\n").unwrap_err().kind,
            ProtoErrorKind::InvalidStatusLine
        );
        assert_eq!(
            parse(b"HTTP/1.1 099 Low\r\n\r\n").unwrap_err().kind,
            ProtoErrorKind::InvalidStatusLine
        );
        assert_eq!(
            parse(b"HTTP/1.1 600 High\r\n\r\n").unwrap_err().kind,
            ProtoErrorKind::InvalidStatusLine
        );
        assert_eq!(
            parse(b"HTTP/1.1 20 OK\r\n\r\n").unwrap_err().kind,
            ProtoErrorKind::InvalidStatusLine
        );
        assert_eq!(
            parse(b"ICY 200 OK\r\n\r\n").unwrap_err().kind,
            ProtoErrorKind::InvalidStatusLine
        );
    }

    #[test]
    fn head_limit_counts_headers() {
        let limits = Limits {
            max_header_count: 2,
            ..Limits::default()
        };
        let e =
            parse_head(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &limits).unwrap_err();
        assert_eq!(e.kind, ProtoErrorKind::TooManyHeaders);
        assert!(e.message.contains("(2)"), "{}", e.message);
        assert!(e.message.contains("has 3 header"), "{}", e.message);
        let e =
            parse_head(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4", &limits).unwrap_err();
        assert!(e.message.contains("at least 3 header"), "{}", e.message);
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", &limits)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn head_limit_trips_before_the_head_ends() {
        let limits = Limits {
            max_header_bytes: 64,
            max_line_bytes: 1000,
            ..Limits::default()
        };
        let mut partial = b"HTTP/1.1 200 OK\r\n".to_vec();
        partial.extend(std::iter::repeat_n(b"X: yyyyyyyy\r\n".iter().copied(), 5).flatten());
        let e = parse_head(&partial, &limits).unwrap_err();
        assert_eq!(e.kind, ProtoErrorKind::HeaderTooLarge);
        assert!(e.message.contains("max_header_bytes (64)"), "{}", e.message);
    }

    #[test]
    fn head_error_does_not_depend_on_read_boundaries() {
        // A bad status line, then a line over the limit: the bad status line
        // comes first, whether the client has read 4 bytes or all of them.
        let limits = Limits {
            max_line_bytes: 20,
            ..Limits::default()
        };
        let input = format!("ITTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(30));
        for n in [4, 16, 30, input.len()] {
            let e = parse_head(&input.as_bytes()[..n], &limits).unwrap_err();
            assert_eq!(
                e.kind,
                ProtoErrorKind::InvalidStatusLine,
                "after {} bytes",
                n
            );
        }
        // And an over-long line before a malformed one is a size error.
        let input = format!("HTTP/1.1 200 OK\r\nX: {}\r\nbad\r\n\r\n", "a".repeat(30));
        for n in [45, input.len()] {
            let e = parse_head(&input.as_bytes()[..n], &limits).unwrap_err();
            assert_eq!(e.kind, ProtoErrorKind::HeaderTooLarge, "after {} bytes", n);
        }
    }

    #[test]
    fn head_limit_checks_each_line() {
        let limits = Limits {
            max_line_bytes: 20,
            ..Limits::default()
        };
        let e = parse_head(
            b"HTTP/1.1 200 OK\r\nLong: 0123456789012345\r\n\r\n",
            &limits,
        )
        .unwrap_err();
        assert_eq!(e.kind, ProtoErrorKind::HeaderTooLarge);
        assert!(e.message.contains("header line 1"), "{}", e.message);
        // An unterminated over-long line trips too, before its end arrives.
        let e = parse_head(b"HTTP/1.1 200 OK OK OK OK OK OK", &limits).unwrap_err();
        assert!(e.message.contains("status line"), "{}", e.message);
    }

    #[test]
    fn head_flat_text_length_counts_names_values_reason() {
        let (_, h) = parse(b"HTTP/1.1 404 Not Found\r\nAb: cde\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.text_len(), 9 + 2 + 3);
    }
}
