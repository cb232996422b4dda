//! Entry points for `fuzz/` (the cargo-fuzz targets and the differential
//! check against h11), compiled only with the `fuzzing` feature.
//!
//! Rule for this file: it wraps crate-internal items so the fuzzers drive the
//! real code without widening the API. `read_response` feeds byte pieces to
//! `proto::ResponseReader`, the machine every client path runs, the way a
//! driver does; it holds no protocol decision of its own.
use url::Url;

use crate::client::{ClientError, Jar};
use crate::proto::{BodyMode, Limits, ProtoError, RequestFacts, ResponseHead, ResponseReader};

/// The URL a redirect goes to, as the session resolves a Location value.
pub fn resolve_location(current: &Url, location: &[u8]) -> Result<Url, ClientError> {
    crate::client::resolve_location(current, location)
}

/// The request-target the next hop sends for `url` (directly, no proxy).
pub fn request_target(url: &Url) -> String {
    crate::client::request_target(url, &crate::net::Route::Direct).to_string()
}

/// Stores the Set-Cookie fields of `head`, a response from `url`, in `jar`.
pub fn jar_store(jar: &Jar, head: &ResponseHead, url: &Url) {
    jar.store_from(head, url)
}

/// The Cookie header value the session would send to `url`.
pub fn jar_header(jar: &Jar, url: &Url) -> Option<String> {
    jar.header_for(url)
}

/// What reading one response from a stream of byte pieces gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    /// Statuses of the interim (1xx) heads skipped before the final one.
    pub interim: Vec<u16>,
    /// The final head: status (0 when none was read), minor version, reason
    /// and fields in received order.
    pub status: u16,
    pub minor: u8,
    pub reason: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub mode: Option<BodyMode>,
    /// Whether the connection could carry another request afterwards.
    pub keep_alive: bool,
    pub body: Vec<u8>,
    /// Input bytes that belong to the message (heads and framed body);
    /// anything after them was left unread. Zero after an error.
    pub consumed: usize,
    /// The error class that ended the reading, if it failed: a
    /// `ProtoErrorKind` name, or `ConnectionClosed` for EOF inside a head.
    pub error: Option<String>,
}

/// Ends a reading with an error. `consumed` is zeroed: a decoder that fails
/// mid-read does not say how far it got, and nothing after an error is
/// read anyway. The body bytes delivered before the error stay.
fn failed(mut r: Reading, e: ProtoError) -> Reading {
    r.error = Some(format!("{:?}", e.kind));
    r.consumed = 0;
    r
}

/// Reads one response from `pieces` (the reads a socket would return, then
/// EOF) through `proto::ResponseReader`, as the client's drivers do: heads
/// until the final one, then the body until it is done or EOF.
///
/// Panics when the reader breaks its contract (data outside the consumed
/// bytes, or no progress on non-empty input, which would make a driver
/// spin), so a fuzzer reports it.
pub fn read_response(pieces: &[&[u8]], request_was_head: bool, limits: &Limits) -> Reading {
    let mut r = Reading::default();
    let facts = RequestFacts {
        head: request_was_head,
        close: false,
        connect: false,
    };
    let mut reader = ResponseReader::new(facts, limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut next = pieces.iter();
    let head = loop {
        match reader.read_head(&buf) {
            Err(e) => return failed(r, e),
            Ok(Some((n, head))) => {
                buf.drain(..n);
                r.consumed += n;
                if !reader.wants_head() {
                    break head;
                }
                r.interim.push(head.status);
            }
            Ok(None) => match next.next() {
                Some(piece) => buf.extend_from_slice(piece),
                None => {
                    r.error = Some("ConnectionClosed".into());
                    r.consumed = 0;
                    return r;
                }
            },
        }
    };
    r.status = head.status;
    r.minor = head.minor;
    r.reason = head.reason().to_vec();
    r.headers = head
        .headers()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    let mode = reader.mode();
    r.mode = mode;
    r.keep_alive = reader.keep_alive();
    // What followed the head in its read comes first, then the later reads.
    let rest: Vec<&[u8]> = std::iter::once(buf.as_slice())
        .chain(next.copied())
        .collect();
    for piece in rest {
        let mut input = piece;
        while !input.is_empty() && !reader.is_done() {
            let step = match reader.read_body(input) {
                Ok(step) => step,
                Err(e) => return failed(r, e),
            };
            assert!(
                step.data.start <= step.data.end
                    && step.data.end <= step.consumed
                    && step.consumed <= input.len(),
                "read_body returned {:?} for {} input bytes",
                step,
                input.len()
            );
            assert!(
                step.consumed > 0 || reader.is_done(),
                "read_body made no progress on {} bytes in mode {:?}",
                input.len(),
                mode
            );
            r.body.extend_from_slice(&input[step.data]);
            r.consumed += step.consumed;
            input = &input[step.consumed..];
        }
        if reader.is_done() {
            break;
        }
    }
    if !reader.is_done() {
        if let Err(e) = reader.eof() {
            return failed(r, e);
        }
    }
    r
}
