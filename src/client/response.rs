//! A finished response as the client hands it up.
use std::time::Duration;

use crate::proto::ResponseHead;

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
}
