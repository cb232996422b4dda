//! A transfer's hop as a stream on a shared HTTP/2 connection: opened,
//! its body sent under the send window, its response read, all by polling
//! h2's handles with the transfer's waker (a stream's progress steps the
//! transfer); the connection itself is driven by the multi (`conns.rs`).
//! What the answer means (redirects, retries, sinks, the finisher) is the
//! same code as over HTTP/1.1.
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use h2::client::SendRequest;
use h2::SendStream;

use super::{Answer, Carrier, Ctx, Phase, Step, Taken, Transfer};
use crate::client::body::{Body, SourcePump};
use crate::client::error::ClientError;
use crate::client::exchange::log_connection;
use crate::client::h2::{unprocessed, Early, H2Body};
use crate::client::response::Finish;
use crate::net::h2::{protocol_error, H2Conn};
use crate::net::poller::unwatch;
use crate::net::{Conn, H2Lease, NetError, NetErrorKind, Op, Reservation};

/// The most DATA asked for at once (as in the blocking send).
const SEND_PIECE: usize = 256 * 1024;

pub(crate) struct H2Exchange {
    conn: Arc<H2Conn>,
    reused: bool,
    /// The stream's claim on the connection, until the body takes it.
    lease: Option<H2Lease>,
    waker: Waker,
    sender: SendRequest<Bytes>,
    /// After the stream opened, until the head: the response side.
    early: Option<Early>,
    /// While the request body goes out.
    stream: Option<SendStream<Bytes>>,
    /// The piece of the body waiting for window.
    piece: Bytes,
    /// How far into an in-memory body, or that a source body has ended.
    offset: usize,
    body_done: bool,
    sent: u64,
    /// After the head: the body as it arrives.
    body: Option<H2Body>,
    pub(super) answer: Answer,
}

impl<F: Finish + Send + 'static> Transfer<F> {
    /// The HTTP/2 connection this transfer has a stream on, if it has one.
    pub(crate) fn h2_conn(&self) -> Option<&std::sync::Arc<H2Conn>> {
        match &self.phase {
            Phase::H2(ex) => Some(&ex.conn),
            _ => None,
        }
    }

    /// A new connection of a key that speaks HTTP/2: HTTP/2 starts on it
    /// (the preface goes out), and it becomes the key's shared connection.
    pub(super) fn opened_h2(
        &mut self,
        ctx: &Ctx<'_>,
        slot: Reservation,
        conn: Conn,
    ) -> Result<(), ClientError> {
        // The poller forgets the socket: the connection watches a
        // descriptor of its own from now on.
        unwatch(ctx.poller, &mut self.watching);
        let budget = self.budget();
        let h2 = H2Conn::start(conn, self.limits.max_header_bytes, &budget)?;
        self.begin_h2(ctx, slot.fill_h2(h2))
    }

    pub(super) fn begin_h2(&mut self, ctx: &Ctx<'_>, lease: H2Lease) -> Result<(), ClientError> {
        if self.h2_request.is_none() {
            (self.h2_request, self.pump) = self.encode_h2()?;
        }
        self.connecting = false;
        unwatch(ctx.poller, &mut self.watching);
        log_connection(
            self.cfg.log.as_ref(),
            self.chain.method(&self.req),
            self.chain.url(&self.req),
            lease.reused,
            self.timings.connect,
        );
        let sender = lease.conn.sender();
        self.phase = Phase::H2(Box::new(H2Exchange {
            conn: lease.conn.clone(),
            reused: lease.reused,
            lease: Some(lease),
            waker: (ctx.waker)(),
            sender,
            early: None,
            stream: None,
            piece: Bytes::new(),
            offset: 0,
            body_done: false,
            sent: 0,
            body: None,
            answer: Answer::default(),
        }));
        self.deadline = None;
        self.progress(Op::Pool);
        Ok(())
    }

    pub(super) fn step_h2(
        &mut self,
        ctx: &Ctx<'_>,
    ) -> Result<Option<Step<F::Output>>, ClientError> {
        match self.h2_io(ctx) {
            Err(H2Failed::Unprocessed(e)) => {
                let replayable = !self.pump.as_ref().is_some_and(|p| p.pulled);
                if self.retried || !replayable {
                    return Err(e);
                }
                // Never seen by the server: once more, on a new connection.
                self.retried = true;
                self.fresh = true;
                self.h2_request = None;
                self.phase = super::Phase::Start;
                Ok(None)
            }
            Err(H2Failed::Other(e)) => Err(e),
            Ok(step) => Ok(step),
        }
    }

    fn h2_io(&mut self, ctx: &Ctx<'_>) -> Result<Option<Step<F::Output>>, H2Failed> {
        loop {
            let Phase::H2(ex) = &mut self.phase else {
                unreachable!()
            };
            // Named in errors only; an Arc clone, not a String a step.
            let conn = ex.conn.clone();
            let peer = conn.peer();
            let waker = ex.waker.clone();
            let mut cx = Context::from_waker(&waker);
            if ex.early.is_none() && ex.body.is_none() {
                match ex.sender.poll_ready(&mut cx) {
                    Poll::Pending => {
                        return Ok(Some(self.h2_wait(
                            &conn,
                            Op::Pool,
                            "waiting for a stream",
                        )?))
                    }
                    Poll::Ready(Err(e)) => return Err(H2Failed::of(&e, peer)),
                    Poll::Ready(Ok(())) => {}
                }
                let request = self
                    .h2_request
                    .take()
                    .expect("the hop's request is made before its stream opens");
                let empty = match self.chain.body(&self.req) {
                    None => true,
                    Some(b) => b.length() == Some(0),
                };
                let (response, stream) = ex
                    .sender
                    .send_request(request, empty)
                    .map_err(|e| H2Failed::of(&e, peer))?;
                ex.early = Some(Early::new(response, self.limits.max_body_bytes));
                ex.stream = (!empty).then_some(stream);
                ex.body_done = empty;
                self.deadline = None;
                self.progress(Op::Write);
                continue;
            }
            if ex.stream.is_some() {
                if let Some(step) = self.h2_send(ctx, &mut cx, peer)? {
                    return Ok(Some(step));
                }
                continue;
            }
            if ex.body.is_none() {
                let early = ex.early.as_mut().expect("the stream is open");
                match early.poll_head(&mut cx) {
                    Poll::Pending => {
                        return Ok(Some(self.h2_wait(
                            &conn,
                            Op::Read,
                            "reading the response",
                        )?))
                    }
                    Poll::Ready(Err(e)) => {
                        let max = self.limits.max_header_bytes;
                        return Err(match early.head_too_large(&e, &conn, max) {
                            Some(too_large) => H2Failed::Other(too_large),
                            None => H2Failed::of(&e, peer),
                        });
                    }
                    Poll::Ready(Ok(())) => {}
                }
                if !self.h2_head(ctx)? {
                    return Ok(None);
                }
                continue;
            }
            let body = ex.body.as_mut().expect("after the head");
            match body.poll_chunk(&mut cx) {
                Poll::Pending => {
                    return Ok(Some(self.h2_wait(
                        &conn,
                        Op::Read,
                        "reading the response",
                    )?))
                }
                Poll::Ready(Err(e)) => return Err(H2Failed::Other(e)),
                Poll::Ready(Ok(None)) => {
                    if let Some(st) = &mut ex.answer.streamed {
                        if !st.finish()? {
                            return Ok(self.pause(ctx)?);
                        }
                    }
                    return Ok(self.end_h2()?);
                }
                Poll::Ready(Ok(Some(data))) => {
                    self.progress(Op::Read);
                    let Phase::H2(ex) = &mut self.phase else {
                        unreachable!()
                    };
                    let produced = ex.body.as_ref().map_or(0, H2Body::produced);
                    match ex.answer.take(&data, produced, ex.sent, &self.tracker)? {
                        Taken::More => {}
                        Taken::Paused => return Ok(self.pause(ctx)?),
                        Taken::TooBigToDrain => {
                            self.drop_exchange(ctx);
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }

    /// Sends what the window allows of the request body; a step when it
    /// must wait, `None` when the body is out (or more can be tried).
    fn h2_send(
        &mut self,
        ctx: &Ctx<'_>,
        cx: &mut Context<'_>,
        peer: &str,
    ) -> Result<Option<Step<F::Output>>, H2Failed> {
        let Phase::H2(ex) = &mut self.phase else {
            unreachable!()
        };
        if ex.piece.is_empty() && !ex.body_done {
            match self.chain.body(&self.req) {
                Some(Body::Bytes(b)) => {
                    let end = (ex.offset + SEND_PIECE).min(b.len());
                    ex.piece = Bytes::copy_from_slice(&b[ex.offset..end]);
                    ex.offset = end;
                    ex.body_done = end == b.len();
                }
                _ => {
                    let pump: &mut SourcePump =
                        self.pump.as_mut().expect("a source body has a pump");
                    let mut piece = Vec::new();
                    if !pump.next_piece_now(&mut piece)? {
                        return Ok(Some(self.pause_upload(ctx)?));
                    }
                    ex.body_done = pump.is_done();
                    ex.piece = Bytes::from(piece);
                }
            }
        }
        let stream = ex.stream.as_mut().expect("sending");
        if ex.piece.is_empty() {
            if ex.body_done {
                stream
                    .send_data(Bytes::new(), true)
                    .map_err(|e| H2Failed::of(&e, peer))?;
                self.request_out();
            }
            return Ok(None);
        }
        stream.reserve_capacity(ex.piece.len());
        let room = match stream.poll_capacity(cx) {
            Poll::Pending => {
                // The server may answer before it has read it all.
                if let Some(early) = &mut ex.early {
                    early.take_in(cx);
                }
                let conn = ex.conn.clone();
                return Ok(Some(self.h2_wait(
                    &conn,
                    Op::Write,
                    "sending the request body",
                )?));
            }
            Poll::Ready(Some(Ok(n))) => n,
            Poll::Ready(Some(Err(e))) => return Err(H2Failed::of(&e, peer)),
            Poll::Ready(None) => {
                return Err(H2Failed::Other(
                    NetError::new(
                        NetErrorKind::Http2Protocol,
                        format!(
                            "{} closed the stream before the request body was sent",
                            peer
                        ),
                    )
                    .into(),
                ))
            }
        };
        if room == 0 {
            return Ok(None);
        }
        let part = ex.piece.split_to(room.min(ex.piece.len()));
        let n = part.len() as u64;
        let end = ex.body_done && ex.piece.is_empty();
        stream
            .send_data(part, end)
            .map_err(|e| H2Failed::of(&e, peer))?;
        ex.sent += n;
        let sent = ex.sent;
        self.tracker.report(sent, 0, None)?;
        self.progress(Op::Write);
        if end {
            self.request_out();
        }
        Ok(None)
    }

    /// A wait on the stream, which the connection's setup deadline ends
    /// too while the server's SETTINGS (or its ACK of ours) are awaited.
    fn h2_wait(
        &mut self,
        conn: &H2Conn,
        op: Op,
        what: &str,
    ) -> Result<Step<F::Output>, ClientError> {
        if let Some(e) = conn.setup_failed() {
            return Err(e.into());
        }
        let mut step = self.wait(op, what)?;
        if let (Step::Wait { deadline }, Some(at)) = (&mut step, conn.setup_deadline()) {
            *deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
        Ok(step)
    }

    /// The request (and its body) is out: the wait for the answer starts.
    fn request_out(&mut self) {
        if let Phase::H2(ex) = &mut self.phase {
            ex.stream = None;
        }
        self.timings.sent = self.started.elapsed();
        self.deadline = None;
        self.progress(Op::Read);
    }

    /// The head arrived: it becomes reqivo's, and the chain says what it
    /// means. False when the exchange is over already (a redirect not
    /// worth draining).
    fn h2_head(&mut self, ctx: &Ctx<'_>) -> Result<bool, H2Failed> {
        if self.timings.first_byte.is_zero() {
            self.timings.first_byte = self.started.elapsed();
        }
        let Phase::H2(ex) = &mut self.phase else {
            unreachable!()
        };
        let is_head = self.chain.method(&self.req).eq_ignore_ascii_case("HEAD");
        let early = ex.early.take().expect("the stream is open");
        let lease = ex.lease.take().expect("the stream's claim, until the body");
        let (head, body) = early.into_answer(lease, is_head, &self.limits)?;
        let carrier = Carrier {
            reused: ex.reused,
            tls: ex.conn.tls_info(),
            remaining: body.remaining_length(),
            worth_draining: true,
        };
        ex.body = Some(body);
        self.on_final_head(ctx, head, carrier)
            .map_err(H2Failed::Other)
    }

    /// The body has ended: the stream is done, and the response is
    /// finished or the redirect followed.
    fn end_h2(&mut self) -> Result<Option<Step<F::Output>>, ClientError> {
        let Phase::H2(ex) = std::mem::replace(&mut self.phase, Phase::Over) else {
            unreachable!()
        };
        let H2Exchange {
            conn,
            reused,
            body,
            answer,
            ..
        } = *ex;
        let trailers = body.map(|mut b| b.take_trailers()).unwrap_or_default();
        self.finish_answer(answer, reused, conn.tls_info(), trailers)
    }
}

/// How an HTTP/2 step failed: the server never processed the stream
/// (it may go again on a new connection), or anything else.
enum H2Failed {
    Unprocessed(ClientError),
    Other(ClientError),
}

impl H2Failed {
    fn of(e: &h2::Error, peer: &str) -> H2Failed {
        let err = protocol_error(e, peer).into();
        match unprocessed(e) {
            true => H2Failed::Unprocessed(err),
            false => H2Failed::Other(err),
        }
    }
}

impl From<ClientError> for H2Failed {
    fn from(e: ClientError) -> Self {
        H2Failed::Other(e)
    }
}

impl From<NetError> for H2Failed {
    fn from(e: NetError) -> Self {
        H2Failed::Other(e.into())
    }
}
