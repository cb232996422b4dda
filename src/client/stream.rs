//! A response whose body is read by the caller piece by piece. Memory stays
//! flat: at most one socket read is buffered, whatever the body size.
use std::sync::Arc;
use std::time::Instant;

use super::body::Tracker;
use super::error::ClientError;
use super::exchange::Exchanged;
use super::response::{Response, Timings};
use crate::net::{Budget, Cancel, Lease, Timeouts};
use crate::proto::BodyDecoder;

pub struct Stream {
    /// The head, with an empty body.
    response: Response,
    lease: Option<Lease>,
    decoder: BodyDecoder,
    keep_alive: bool,
    cancel: Option<Arc<Cancel>>,
    timeouts: Timeouts,
    started: Instant,
    total_deadline: Option<Instant>,
    /// The first error; every later read reports it again.
    failed: Option<ClientError>,
    /// Progress reporting: request bytes sent, response body length if known.
    tracker: Tracker,
    sent: u64,
    receive_total: Option<u64>,
}

impl Stream {
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
    ) -> Stream {
        let Exchanged {
            lease,
            head,
            decoder,
            keep_alive,
            sent,
            tracker,
            ..
        } = ex;
        let receive_total = decoder.remaining_length();
        let mut s = Stream {
            response: Response {
                head,
                body: Vec::new(),
                url,
                reused,
                redirect_count,
                timings,
                redirect_not_followed: false,
            },
            lease: Some(lease),
            decoder,
            keep_alive,
            cancel,
            timeouts,
            started: budget.started,
            total_deadline: budget.total_deadline,
            failed: None,
            tracker,
            sent,
            receive_total,
        };
        s.finish_if_done();
        s
    }

    pub(crate) fn mark_redirect_not_followed(&mut self) {
        self.response.redirect_not_followed = true;
    }

    pub fn response(&self) -> &Response {
        &self.response
    }

    /// True once the body has been read to its end.
    pub fn is_done(&self) -> bool {
        self.decoder.is_done()
    }

    /// Reads body bytes into `buf`; 0 means the body has ended.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, ClientError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.read_inner(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                // Dropping the lease closes the connection.
                self.lease = None;
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    fn read_inner(&mut self, buf: &mut [u8]) -> Result<usize, ClientError> {
        if buf.is_empty() || self.decoder.is_done() {
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
            if self.decoder.is_done() {
                break;
            }
            if conn.buffered().is_empty() && conn.fill(64 * 1024, &budget)? == 0 {
                self.decoder.feed_eof()?;
                break;
            }
            // Offer at most `buf.len()` bytes so the data always fits.
            let input = &conn.buffered()[..conn.buffered().len().min(buf.len())];
            let step = self.decoder.decode(input)?;
            let n = step.data.len();
            buf[..n].copy_from_slice(&input[step.data]);
            conn.consume(step.consumed);
            if n > 0 {
                self.finish_if_done();
                let received = self.decoder.produced();
                self.tracker
                    .report(self.sent, received, self.receive_total)?;
                return Ok(n);
            }
        }
        self.finish_if_done();
        Ok(0)
    }

    /// Returns the connection to the pool once the body has ended.
    fn finish_if_done(&mut self) {
        if self.decoder.is_done() {
            if let Some(mut lease) = self.lease.take() {
                let clean = lease.conn().buffered().is_empty();
                lease.release(self.keep_alive && clean);
            }
        }
    }
}
