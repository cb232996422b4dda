//! A response whose body is read by the caller piece by piece. Memory stays
//! flat: at most one socket read (and, for a content-coded body, one
//! decoder window) is buffered, whatever the body size.
use std::io::{self, Read};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::body::Tracker;
use super::decode::{self, carry, uncarry, Codings};
use super::error::ClientError;
use super::exchange::{Exchanged, Wire};
use super::h2::H2Body;
use super::response::{Response, Timings};
use crate::net::{Budget, Cancel, Lease, Timeouts};
use crate::proto::{ResponseReader, Trailers};

/// Where the raw body comes from: an HTTP/1.1 connection (given back to
/// the pool once the body has ended), or an HTTP/2 stream.
enum Source {
    H1 {
        lease: Option<Lease>,
        reader: ResponseReader,
    },
    H2(Box<H2Body>),
}

/// The body as framed on the connection (transfer coding undone).
struct Raw {
    source: Source,
    cancel: Option<Arc<Cancel>>,
    timeouts: Timeouts,
    started: Instant,
    total_deadline: Option<Instant>,
    /// Progress reporting: request bytes sent, response body length if known.
    tracker: Tracker,
    sent: u64,
    receive_total: Option<u64>,
    /// Where the trailer fields go once the body has ended; shared with
    /// the `Stream`, which cannot reach a `Raw` inside content decoders.
    trailers: Arc<OnceLock<Trailers>>,
}

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_body(buf).map_err(carry)
    }
}

/// What the caller reads: the raw body, or the raw body through a
/// content decoder. One per stream, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Reader {
    Plain(Raw),
    Decoded {
        /// Holds each layer's output to the body limit.
        inner: Box<dyn Read + Send>,
        codings: Codings,
        ended: bool,
    },
    /// After an error: the connection is gone.
    Closed,
}

pub struct Stream {
    /// The head, with an empty body.
    response: Response,
    reader: Reader,
    /// The first error; every later read reports it again.
    failed: Option<ClientError>,
    /// The trailer fields, set once the body has ended.
    trailers: Arc<OnceLock<Trailers>>,
}

impl Stream {
    /// `decode` is the content codings to undo, with the decoded-size limit.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ex: Exchanged,
        url: String,
        reused: bool,
        redirect_count: u32,
        timings: Timings,
        budget: &Budget<'_>,
        cancel: Option<Arc<Cancel>>,
        timeouts: Timeouts,
        decode: Option<(Codings, u64)>,
    ) -> Result<Stream, ClientError> {
        let receive_total = ex.wire.remaining_length();
        let tls = ex.wire.tls_info();
        let Exchanged {
            wire,
            head,
            sent,
            tracker,
            ..
        } = ex;
        let source = match wire {
            Wire::H1 { lease, reader } => Source::H1 {
                lease: Some(lease),
                reader,
            },
            Wire::H2(body) => Source::H2(body),
        };
        let mut raw = Raw {
            source,
            cancel,
            timeouts,
            started: budget.started,
            total_deadline: budget.total_deadline,
            tracker,
            sent,
            receive_total,
            trailers: Arc::default(),
        };
        let trailers = raw.trailers.clone();
        raw.finish_if_done();
        let reader = match decode {
            None => Reader::Plain(raw),
            Some((codings, limit)) => Reader::Decoded {
                inner: decode::decoder(&codings, raw, limit),
                codings,
                ended: false,
            },
        };
        let decompressed = matches!(reader, Reader::Decoded { .. });
        Ok(Stream {
            response: Response {
                head,
                body: Vec::new(),
                url,
                reused,
                redirect_count,
                timings,
                redirect_not_followed: false,
                decompressed,
                tls,
                trailers: Default::default(),
            },
            reader,
            failed: None,
            trailers,
        })
    }

    pub(crate) fn mark_redirect_not_followed(&mut self) {
        self.response.redirect_not_followed = true;
    }

    pub fn response(&self) -> &Response {
        &self.response
    }

    /// The trailer fields of a chunked body, once it has been read to its
    /// end (`None` before; empty when the server sent none).
    pub fn trailers(&self) -> Option<&Trailers> {
        self.trailers.get()
    }

    /// True once the body has been read to its end.
    pub fn is_done(&self) -> bool {
        match &self.reader {
            Reader::Plain(raw) => raw.is_done(),
            Reader::Decoded { ended, .. } => *ended,
            Reader::Closed => false,
        }
    }

    /// Reads body bytes into `buf`; 0 means the body has ended.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, ClientError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = match &mut self.reader {
            Reader::Plain(raw) => raw.read_body(buf),
            Reader::Decoded {
                inner,
                codings,
                ended,
            } => match inner.read(buf) {
                Ok(0) => {
                    *ended = !buf.is_empty();
                    Ok(0)
                }
                Ok(n) => Ok(n),
                Err(e) => Err(uncarry(e, codings)),
            },
            Reader::Closed => Ok(0),
        };
        if let Err(e) = &result {
            // Dropping the connection unreleased closes it.
            self.reader = Reader::Closed;
            self.failed = Some(e.clone());
        }
        result
    }
}

impl Raw {
    fn is_done(&self) -> bool {
        match &self.source {
            Source::H1 { reader, .. } => reader.is_done(),
            Source::H2(body) => body.is_done(),
        }
    }

    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, ClientError> {
        if buf.is_empty() || self.is_done() {
            return Ok(0);
        }
        let budget = Budget {
            timeouts: self.timeouts,
            started: self.started,
            total_deadline: self.total_deadline,
            cancel: self.cancel.as_deref(),
        };
        let (n, received) = match &mut self.source {
            Source::H1 { lease, reader } => {
                let Some(lease) = lease.as_mut() else {
                    return Ok(0);
                };
                (read_h1(lease, reader, buf, &budget)?, reader.produced())
            }
            Source::H2(body) => (body.read(buf, &budget)?, body.produced()),
        };
        self.finish_if_done();
        if n > 0 {
            self.tracker
                .report(self.sent, received, self.receive_total)?;
        }
        Ok(n)
    }

    /// Returns the connection to the pool once the body has ended, and
    /// hands over the trailer fields.
    fn finish_if_done(&mut self) {
        if !self.is_done() {
            return;
        }
        let trailers = match &mut self.source {
            Source::H1 { lease, reader } => {
                if let Some(mut lease) = lease.take() {
                    let clean = lease.conn().buffered().is_empty();
                    lease.release(reader.keep_alive() && clean);
                }
                reader.take_trailers()
            }
            Source::H2(body) => body.take_trailers(),
        };
        if self.trailers.get().is_none() {
            let _ = self.trailers.set(trailers);
        }
    }
}

/// Reads body bytes of an HTTP/1.1 response into `buf`: 0 at its end.
fn read_h1(
    lease: &mut Lease,
    reader: &mut ResponseReader,
    buf: &mut [u8],
    budget: &Budget<'_>,
) -> Result<usize, ClientError> {
    let conn = lease.conn();
    while !reader.is_done() {
        if conn.buffered().is_empty() && conn.fill(64 * 1024, budget)? == 0 {
            reader.eof()?;
            break;
        }
        // Offer at most `buf.len()` bytes so the data always fits.
        let input = &conn.buffered()[..conn.buffered().len().min(buf.len())];
        let step = reader.read_body(input)?;
        let n = step.data.len();
        buf[..n].copy_from_slice(&input[step.data]);
        conn.consume(step.consumed);
        if n > 0 {
            return Ok(n);
        }
    }
    Ok(0)
}
