//! The response side of a stream while its request body is still going
//! out. A server may answer before it has read the whole request (an echo,
//! a gRPC-style stream): its DATA is taken in as it comes and its window
//! released, or the server could block on a full window and stop reading
//! the body we are still sending, each side waiting for the other.
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::client::ResponseFuture;

use super::body::H2Body;
use crate::client::error::ClientError;
use crate::net::h2::H2Conn;
use crate::net::H2Lease;
use crate::proto::{Limits, ProtoError, ProtoErrorKind, ResponseHead};

/// The most response body held while the request is still being sent;
/// past it the server's window fills and it waits, as over HTTP/1.1 once
/// the socket buffers are full.
const EARLY_LIMIT: u64 = 64 << 20;

pub(crate) struct Early {
    response: ResponseFuture,
    head: Option<(http::response::Parts, h2::RecvStream)>,
    /// DATA received before the caller reads the body.
    pub chunks: VecDeque<Bytes>,
    pub received: u64,
    /// The server ended its body (END_STREAM) already.
    pub ended: bool,
    limit: u64,
    failed: Option<h2::Error>,
}

impl Early {
    pub fn new(response: ResponseFuture, body_limit: u64) -> Early {
        Early {
            response,
            head: None,
            chunks: VecDeque::new(),
            received: 0,
            ended: false,
            limit: body_limit.min(EARLY_LIMIT),
            failed: None,
        }
    }

    /// Takes in whatever has arrived (the head, DATA up to the limit),
    /// never waiting; registers `cx` for more.
    pub fn take_in(&mut self, cx: &mut Context<'_>) {
        if self.failed.is_some() {
            return;
        }
        if self.head.is_none() {
            match self.poll_head(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => {
                    self.failed = Some(e);
                    return;
                }
                Poll::Pending => return,
            }
        }
        let Some((_, recv)) = &mut self.head else {
            return;
        };
        while !self.ended && self.received <= self.limit {
            match recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    let _ = recv.flow_control().release_capacity(data.len());
                    self.received += data.len() as u64;
                    self.chunks.push_back(data);
                }
                Poll::Ready(Some(Err(e))) => {
                    self.failed = Some(e);
                    return;
                }
                Poll::Ready(None) => self.ended = true,
                Poll::Pending => return,
            }
        }
    }

    /// What a failed `poll_head` means when the head was over
    /// `max_header_bytes`: the error HTTP/1.1 gives. h2 fails such a stream
    /// with PROTOCOL_ERROR, or the connection with COMPRESSION_ERROR, the
    /// codes a malformed head gets too; the connection saw how large the
    /// header block was (`H2Conn::big_head`). `None` for any other failure.
    pub fn head_too_large(
        &self,
        e: &h2::Error,
        conn: &H2Conn,
        max_header_bytes: usize,
    ) -> Option<ClientError> {
        if e.is_remote() {
            return None;
        }
        let size = conn.big_head(self.response.stream_id())?;
        Some(
            ProtoError::new(
                ProtoErrorKind::HeaderTooLarge,
                format!(
                    "response head from {} exceeds max_header_bytes ({}): its HTTP/2 header block reached {} bytes",
                    conn.peer(),
                    max_header_bytes,
                    size
                ),
            )
            .into(),
        )
    }

    /// Ready once the response head has arrived (or the stream failed).
    pub fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), h2::Error>> {
        if let Some(e) = self.failed.take() {
            return Poll::Ready(Err(e));
        }
        if self.head.is_some() {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut self.response).poll(cx) {
            Poll::Ready(Ok(r)) => {
                self.head = Some(r.into_parts());
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The head as reqivo's (held to `limits`, as an HTTP/1.1 head is) and
    /// the body that follows, with what came early, once `poll_head` was
    /// ready with `Ok`. `lease` is the stream's claim on its connection;
    /// the answer to a HEAD request has no body whatever Content-Length
    /// says.
    pub fn into_answer(
        self,
        lease: H2Lease,
        is_head: bool,
        limits: &Limits,
    ) -> Result<(ResponseHead, H2Body), ClientError> {
        let (parts, recv) = self.head.expect("poll_head was ready");
        let fields = || {
            parts
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
        };
        let head = ResponseHead::from_fields(parts.status.as_u16(), fields, limits)?;
        let length = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .filter(|_| !is_head);
        if let Some(n) = length.filter(|&n| n > limits.max_body_bytes) {
            return Err(ProtoError::new(
                ProtoErrorKind::BodyTooLarge,
                format!(
                    "response body of {} bytes exceeds max_body_bytes ({})",
                    n, limits.max_body_bytes
                ),
            )
            .into());
        }
        let early = (self.chunks, self.received, self.ended);
        let body = H2Body::new(lease, recv, limits.max_body_bytes, length, early);
        Ok((head, body))
    }
}
