//! A finished response as the client hands it up.
use std::time::Duration;

use url::Url;

use crate::proto::{ResponseHead, Trailers};

/// When each phase ended, measured from the start of the send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    pub dns: Duration,
    pub connect: Duration,
    pub tls: Duration,
    pub sent: Duration,
    pub first_byte: Duration,
    pub total: Duration,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub head: ResponseHead,
    pub body: Vec<u8>,
    /// The final URL, after redirects.
    pub url: String,
    /// True when the final exchange ran on a connection used before.
    pub reused: bool,
    pub redirect_count: u32,
    pub timings: Timings,
    /// A 307/308 was returned instead of followed: its body could not be resent.
    pub redirect_not_followed: bool,
    /// The body was content-decoded (gzip or deflate); headers are as received.
    pub decompressed: bool,
    /// What the TLS handshake of the final exchange's connection settled
    /// on; `None` over plain HTTP.
    pub tls: Option<crate::net::TlsInfo>,
    /// The trailer fields of a chunked body (none for a stream's head).
    pub trailers: Trailers,
}

impl Response {
    /// A response of `head` alone, as `url` answered it: no body, and
    /// nothing that describes a finished send (what a hook sees).
    pub fn of_head(head: ResponseHead, url: String) -> Response {
        Response {
            head,
            body: Vec::new(),
            url,
            reused: false,
            redirect_count: 0,
            timings: Timings::default(),
            redirect_not_followed: false,
            decompressed: false,
            tls: None,
            trailers: Default::default(),
        }
    }
}

/// The final response of a buffered send, as the session hands it to a
/// `Finish`: the body is `body[body_start..]`.
pub struct Parts<'u> {
    pub head: ResponseHead,
    pub body: Vec<u8>,
    /// Where the body starts: the room the finisher asked for comes first.
    pub body_start: usize,
    pub url: &'u Url,
    pub reused: bool,
    pub redirect_count: u32,
    pub timings: Timings,
    pub redirect_not_followed: bool,
    pub decompressed: bool,
    pub tls: Option<crate::net::TlsInfo>,
    pub trailers: Trailers,
}

/// Turns the parts of a finished buffered response into what a caller
/// wants, e.g. a `Response`, or a C response block built around the body
/// where it was read (no copy).
pub trait Finish {
    type Output;

    /// Bytes to keep free in front of the body, known once the final head
    /// and URL are; the body is read in after them.
    fn front(&self, _head: &ResponseHead, _url: &str) -> usize {
        0
    }

    fn finish(self, parts: Parts<'_>) -> Self::Output;
}

/// The finisher of `Session::send`.
pub struct ToResponse;

impl Finish for ToResponse {
    type Output = Response;

    fn finish(self, p: Parts<'_>) -> Response {
        let mut body = p.body;
        body.drain(..p.body_start);
        Response {
            head: p.head,
            body,
            url: p.url.as_str().to_string(),
            reused: p.reused,
            redirect_count: p.redirect_count,
            timings: p.timings,
            redirect_not_followed: p.redirect_not_followed,
            decompressed: p.decompressed,
            tls: p.tls,
            trailers: p.trailers,
        }
    }
}
