//! A response body arriving as DATA frames on a shared HTTP/2 connection,
//! read as the caller asks: each frame's bytes are handed over, then their
//! window is released, so a caller that stops reading stops its own
//! stream (once the window is used up) and no other.
use std::collections::VecDeque;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use h2::RecvStream;

use crate::client::error::ClientError;
use crate::net::h2::protocol_error;
use crate::net::{Budget, H2Lease, Op, TlsInfo};
use crate::proto::{ProtoError, ProtoErrorKind, Trailers};

pub(crate) struct H2Body {
    /// Held until the body ends: the stream counts as open until then.
    lease: Option<H2Lease>,
    reused: bool,
    tls: Option<TlsInfo>,
    recv: RecvStream,
    /// Received and not yet handed over: the frame being read from, then
    /// those that came while the request was still being sent.
    chunk: Bytes,
    queue: VecDeque<Bytes>,
    /// The server ended the body (its trailers, if any, not taken yet).
    data_ended: bool,
    produced: u64,
    limit: u64,
    length: Option<u64>,
    done: bool,
    trailers: Trailers,
}

impl H2Body {
    /// `early` is what `Early` took in while the request went out: DATA,
    /// its length, and whether the body had ended.
    pub fn new(
        lease: H2Lease,
        recv: RecvStream,
        limit: u64,
        length: Option<u64>,
        early: (VecDeque<Bytes>, u64, bool),
    ) -> H2Body {
        let (queue, received, data_ended) = early;
        let done = recv.is_end_stream() && queue.is_empty() && !data_ended;
        let mut body = H2Body {
            reused: lease.reused,
            tls: lease.conn.tls_info(),
            lease: Some(lease),
            recv,
            chunk: Bytes::new(),
            queue,
            data_ended,
            produced: received,
            limit,
            length,
            done,
            trailers: Trailers::default(),
        };
        if done {
            body.lease = None;
        }
        body
    }

    pub fn reused(&self) -> bool {
        self.reused
    }

    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.tls
    }

    pub fn is_done(&self) -> bool {
        self.done && self.chunk.is_empty() && self.queue.is_empty()
    }

    /// Body bytes received so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// What Content-Length says is still to come, if it was given.
    pub fn remaining_length(&self) -> Option<u64> {
        self.length.map(|n| n.saturating_sub(self.produced))
    }

    pub fn take_trailers(&mut self) -> Trailers {
        std::mem::take(&mut self.trailers)
    }

    /// Copies up to `buf.len()` body bytes into `buf`, waiting for the
    /// next DATA frame if none is held; 0 once the body has ended.
    pub fn read(&mut self, buf: &mut [u8], budget: &Budget<'_>) -> Result<usize, ClientError> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.chunk.is_empty() {
            if let Some(next) = self.queue.pop_front() {
                self.chunk = next;
            } else if self.done || !self.next_frame(budget)? {
                return Ok(0);
            }
        }
        let n = self.chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }

    /// Appends the rest of the body to `out`, at most `cap` bytes in all.
    pub fn read_to_end(
        &mut self,
        out: &mut Vec<u8>,
        cap: u64,
        budget: &Budget<'_>,
        mut progress: impl FnMut(u64) -> Result<(), ClientError>,
    ) -> Result<(), ClientError> {
        loop {
            out.extend_from_slice(&self.chunk);
            self.chunk.clear();
            for early in self.queue.drain(..) {
                out.extend_from_slice(&early);
            }
            progress(self.produced)?;
            if self.produced > cap {
                return Err(ProtoError::new(
                    ProtoErrorKind::BodyTooLarge,
                    format!("body larger than {} bytes is not drained", cap),
                )
                .into());
            }
            if self.done || !self.next_frame(budget)? {
                return Ok(());
            }
        }
    }

    /// Waits for the next DATA frame; false at the end of the body (the
    /// trailers, if any, then taken).
    fn next_frame(&mut self, budget: &Budget<'_>) -> Result<bool, ClientError> {
        let Some(lease) = &self.lease else {
            return Ok(false);
        };
        let conn = lease.conn.clone();
        let what = format_args!("reading the response body from {}", conn.peer());
        let deadline = budget.op_deadline(Op::Read);
        match conn.block_on(|cx| self.poll_chunk(cx), deadline, Op::Read, budget, &what)?? {
            Some(data) => {
                self.chunk = data;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The next piece of the body without waiting (`Pending` registers
    /// `cx`): what came early first, then DATA as it arrives, its window
    /// released at once; `None` once the body and its trailers are in.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, ClientError>> {
        if let Some(early) = self.queue.pop_front() {
            return Poll::Ready(Ok(Some(early)));
        }
        let Some(lease) = &self.lease else {
            return Poll::Ready(Ok(None));
        };
        if !self.data_ended {
            match self.recv.poll_data(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(data))) => {
                    // Our memory holds it now: the server may send the next.
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    self.produced += data.len() as u64;
                    if self.produced > self.limit {
                        return Poll::Ready(Err(ProtoError::new(
                            ProtoErrorKind::BodyTooLarge,
                            format!("response body exceeds max_body_bytes ({})", self.limit),
                        )
                        .into()));
                    }
                    return Poll::Ready(Ok(Some(data)));
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(protocol_error(&e, lease.conn.peer()).into()))
                }
                Poll::Ready(None) => self.data_ended = true,
            }
        }
        let trailers = match self.recv.poll_trailers(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(t)) => t,
            Poll::Ready(Err(e)) => {
                return Poll::Ready(Err(protocol_error(&e, lease.conn.peer()).into()))
            }
        };
        if let Some(map) = trailers {
            for (name, value) in &map {
                name.as_str()
                    .bytes()
                    .for_each(|b| self.trailers.push_byte(b));
                self.trailers.push_byte(b':');
                self.trailers.push_byte(b' ');
                value
                    .as_bytes()
                    .iter()
                    .for_each(|&b| self.trailers.push_byte(b));
                self.trailers.end_line();
            }
        }
        self.done = true;
        self.lease = None;
        Poll::Ready(Ok(None))
    }
}
