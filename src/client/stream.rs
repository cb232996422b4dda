//! A response whose body is read by the caller piece by piece. Memory stays
//! flat: at most one socket read (and, for a content-coded body, one
//! decoder window) is buffered, whatever the body size.
use std::io::{self, Read};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::body::Tracker;
use super::decode::{self, carry, uncarry, Codings};
use super::error::ClientError;
use super::exchange::Exchanged;
use super::response::{Response, Timings};
use crate::net::{Budget, Cancel, Lease, Timeouts};
use crate::proto::{ResponseReader, Trailers};

/// The body as framed on the connection (transfer coding undone).
struct Raw {
    lease: Option<Lease>,
    reader: ResponseReader,
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
        let Exchanged {
            lease,
            head,
            reader,
            sent,
            tracker,
            ..
        } = ex;
        let receive_total = reader.remaining_length();
        let tls = lease.tls_info();
        let mut raw = Raw {
            lease: Some(lease),
            reader,
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
            Reader::Plain(raw) => raw.reader.is_done(),
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
    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, ClientError> {
        if buf.is_empty() || self.reader.is_done() {
            return Ok(0);
        }
        let budget = Budget {
            timeouts: self.timeouts,
            started: self.started,
            total_deadline: self.total_deadline,
            cancel: self.cancel.as_deref(),
        };
        let Some(lease) = self.lease.as_mut() else {
            return Ok(0);
        };
        let conn = lease.conn();
        loop {
            if self.reader.is_done() {
                break;
            }
            if conn.buffered().is_empty() && conn.fill(64 * 1024, &budget)? == 0 {
                self.reader.eof()?;
                break;
            }
            // Offer at most `buf.len()` bytes so the data always fits.
            let input = &conn.buffered()[..conn.buffered().len().min(buf.len())];
            let step = self.reader.read_body(input)?;
            let n = step.data.len();
            buf[..n].copy_from_slice(&input[step.data]);
            conn.consume(step.consumed);
            if n > 0 {
                self.finish_if_done();
                let received = self.reader.produced();
                self.tracker
                    .report(self.sent, received, self.receive_total)?;
                return Ok(n);
            }
        }
        self.finish_if_done();
        Ok(0)
    }

    /// Returns the connection to the pool once the body has ended, and
    /// hands over the trailer fields.
    fn finish_if_done(&mut self) {
        if self.reader.is_done() {
            if self.trailers.get().is_none() {
                let _ = self.trailers.set(self.reader.take_trailers());
            }
            if let Some(mut lease) = self.lease.take() {
                let clean = lease.conn().buffered().is_empty();
                lease.release(self.reader.keep_alive() && clean);
            }
        }
    }
}
