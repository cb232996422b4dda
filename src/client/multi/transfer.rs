//! One transfer of a multi: a send run as a state machine that never
//! blocks. Each `run` goes as far as the sockets allow, then says what it
//! waits for; policy is `Chain`'s and bytes are `ResponseReader`'s, as in
//! the blocking send.
use crate::net::h2::{speaks_h2, HttpVersion};
use std::collections::VecDeque;

#[path = "transfer_h2.rs"]
mod h2;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Instant;

use polling::Poller;

use super::race::{Race, Raced};
use super::sink::{Flow, Sink, Streamed};
use super::upgrade::{WsDial, WsOutcome};
use super::Shared;
use crate::client::body::{Body, SourcePump, Tracker};
use crate::client::chain::{Chain, Next, Out};
use crate::client::decode::{self, Codings};
use crate::client::error::{ClientError, ClientErrorKind};
use crate::client::exchange::{
    closed_in_head, log_connection, log_retry, pool_key, request_target,
};
use crate::client::request::{is_idempotent, Request};
use crate::client::response::{Finish, Parts, Timings};
use crate::client::retry::{Retry, Stage};
use crate::client::session::{log_failure, Session, SessionConfig};
use crate::net::poller::{unwatch, watch, Watched};
use crate::net::{
    interleave, plan, resolver, Budget, Cancel, Checkout, Conn, ConnTimings, Endpoint, Handshake,
    Lease, NetError, NetErrorKind, Op, Plan, Pool, Reservation, Route, Timeouts, TlsConfig,
    TunnelAsk,
};
use crate::proto::{encode_request_head, Limits, RequestFacts, ResponseHead, ResponseReader};

/// What `Handle::add` hands over, besides the request (copied straight
/// into the transfer).
pub(crate) struct Added<F> {
    pub session: Session,
    pub cancel: Option<Arc<Cancel>>,
    pub finish: F,
    pub user: usize,
    pub weak: Weak<Shared<F>>,
    /// Where the body goes as it arrives; `None`: buffered.
    pub sink: Option<Box<dyn Sink>>,
    /// The transfer's number for `Handle::resume`.
    pub id: u64,
    /// A WebSocket dial: the 101's connection goes to it (`upgrade.rs`).
    pub ws: Option<Box<WsDial>>,
}

/// What a transfer's `run` needs from its multi.
pub(super) struct Ctx<'a> {
    pub poller: &'a Poller,
    pub key: usize,
    /// The poller reported this transfer's socket ready (for what it is
    /// watched for); false when a timer, an answer or an add runs it.
    pub woken: bool,
    /// The poller's report carried no error or hang-up condition.
    pub clean: bool,
    /// Makes the waker an HTTP/2 stream of this transfer wakes it with.
    pub waker: &'a dyn Fn() -> std::task::Waker,
}

/// Where a `run` stopped.
pub(super) enum Step<T> {
    /// Waiting for its socket (registered with the poller) or an answer,
    /// until `deadline`.
    Wait {
        deadline: Option<Instant>,
    },
    /// Waiting for a slot in `pool`.
    WaitPool {
        pool: Pool,
    },
    Done(Result<T, ClientError>),
}

/// Room reserved for a request head before it is encoded: most fit.
const HEAD_GUESS: usize = 512;

/// A hop's request encoded for HTTP/1.1: the bytes, `Connection: close`,
/// the head's length, the pump of a source body.
type EncodedH1 = (Vec<u8>, bool, usize, Option<SourcePump>);
/// A hop's request for an HTTP/2 stream, and the pump of a source body.
type EncodedH2 = (Option<http::Request<()>>, Option<SourcePump>);

/// A redirect body larger than this is not drained; its connection closes.
const DRAIN_LIMIT: u64 = 64 * 1024;

enum Phase {
    /// About to check out a connection for the current hop.
    Start,
    /// The pool had no room; waiting for a slot (under the pool timeout).
    WaitPool {
        until: Option<Instant>,
    },
    /// A slot is reserved; the resolver has the name.
    Resolving {
        slot: Reservation,
    },
    /// A slot is reserved; connecting to `addr`, then the rest in turn.
    Connecting {
        slot: Reservation,
        /// Boxed: the phase stays small.
        race: Box<Race>,
        dns_done: Option<Instant>,
    },
    /// A slot is reserved and the socket connected; the proxy's tunnel
    /// (the CONNECT and how much of it is written) and TLS come next.
    Opening {
        slot: Reservation,
        /// Boxed: the lease takes it as it is, and the phase stays small.
        conn: Box<Conn>,
        tunnel: Option<Box<TunnelAsk>>,
        /// TLS to start once the tunnel is open: the origin's name and config.
        tls_after_tunnel: Option<(String, Arc<TlsConfig>)>,
    },
    Exchange(Box<Exchange>),
    /// The request as a stream on a shared HTTP/2 connection.
    H2(Box<h2::H2Exchange>),
    /// The retry policy sends the request again at `until` (a timer of
    /// the transfer; the driver never sleeps).
    Backoff {
        until: Instant,
    },
    Over,
}

/// One request and its response on one connection.
struct Exchange {
    lease: Lease,
    /// Bytes of `Transfer::out` written so far.
    written: usize,
    /// The whole request has been written.
    request_sent: bool,
    reader: ResponseReader,
    answer: Answer,
}

/// The response half of an exchange, whatever carried it (HTTP/1.1 or an
/// HTTP/2 stream): the final head, what it means, and the body so far.
#[derive(Default)]
struct Answer {
    head: Option<ResponseHead>,
    /// What the final head means; `None` before it.
    next: Option<Next>,
    /// The body so far, after `front` bytes kept for the finisher.
    body: Vec<u8>,
    front: usize,
    codings: Option<Codings>,
    /// The body goes to a sink instead of `body`.
    streamed: Option<Streamed>,
    /// The body's length, when the head gave it (for progress).
    body_total: Option<u64>,
}

/// What became of a piece of the body `Answer::take` was given.
enum Taken {
    /// Kept (or, for a redirect being drained, dropped): read on.
    More,
    /// The sink paused: stop reading until `resume`.
    Paused,
    /// A redirect's body past `DRAIN_LIMIT`: not worth its connection.
    TooBigToDrain,
}

impl Answer {
    /// Takes a piece of the body, `produced` bytes so far in all: to the
    /// sink, into the buffer, or dropped while a redirect is drained;
    /// progress is reported for a delivered body (`sent` request bytes).
    fn take(
        &mut self,
        data: &[u8],
        produced: u64,
        sent: u64,
        tracker: &Tracker,
    ) -> Result<Taken, ClientError> {
        let delivered = matches!(self.next, Some(Next::Deliver(_)));
        match &mut self.streamed {
            Some(st) => st.take(data)?,
            None if delivered => self.body.extend_from_slice(data),
            None if produced > DRAIN_LIMIT => return Ok(Taken::TooBigToDrain),
            None => {}
        }
        if delivered {
            tracker.report(sent, produced, self.body_total)?;
        }
        Ok(
            match self.streamed.as_ref().is_some_and(Streamed::is_paused) {
                true => Taken::Paused,
                false => Taken::More,
            },
        )
    }
}

/// What the answer's handling needs to know of the connection that
/// carried the head.
struct Carrier {
    reused: bool,
    tls: Option<crate::net::TlsInfo>,
    /// The body's announced remaining length.
    remaining: Option<u64>,
    /// Reading the body to its end keeps the connection for later.
    worth_draining: bool,
}

pub(crate) struct Transfer<F> {
    user: usize,
    gen: u64,
    weak: Weak<Shared<F>>,
    session: Session,
    cfg: Arc<SessionConfig>,
    /// The caller's request, copied; boxed with the rest of the transfer
    /// small enough for the allocator's per-thread cache.
    req: Box<Request>,
    chain: Chain,
    finish: Option<F>,
    cancel: Option<Arc<Cancel>>,
    timeouts: Timeouts,
    limits: Limits,
    started: Instant,
    total_deadline: Option<Instant>,
    phase: Phase,
    /// The current wait's deadline and the kind of wait it bounds.
    deadline: Option<(Instant, Op)>,
    /// The earliest deadline this transfer has in the multi's heap.
    armed: Option<Instant>,
    watching: Option<Watched>,
    /// The current hop's request head and in-memory body.
    out: Vec<u8>,
    /// The hop's request says `Connection: close`.
    close: bool,
    /// The hop has been retried on a fresh connection.
    retried: bool,
    fresh: bool,
    timings: Timings,
    /// A chain error found when the transfer was added.
    failed: Option<ClientError>,
    /// Until the final head: where a streamed transfer's body goes.
    sink: Option<Box<dyn Sink>>,
    id: u64,
    /// The sink (or the body source) paused the transfer; `resume` goes on.
    paused: bool,
    /// It was the body source: nothing is written until `resume`.
    upload_paused: bool,
    /// The hop's body, when it comes from a source, and how far it is.
    pump: Option<SourcePump>,
    /// Bytes of `out` that are the request head (the body follows).
    head_len: usize,
    tracker: Tracker,
    /// The waker registered with `cancel`, forgotten when the transfer ends.
    cancel_waker: Option<u64>,
    retry: Retry,
    /// When the retried response being drained is to be sent again.
    retry_at: Option<Instant>,
    /// The current hop has no connection yet (a failure is a connect's).
    connecting: bool,
    ws: Option<Box<WsDial>>,
    /// The HTTP versions the current hop may speak (HTTP/1.1 for a
    /// WebSocket dial whatever the session says).
    version: HttpVersion,
    /// The hop's request as an HTTP/2 stream opens it, when the hop
    /// speaks HTTP/2.
    h2_request: Option<http::Request<()>>,
}

impl<F> Drop for Transfer<F> {
    fn drop(&mut self) {
        if let (Some(c), Some(id)) = (&self.cancel, self.cancel_waker) {
            c.forget(id);
        }
    }
}

impl<F: Finish> Transfer<F> {
    /// Ends the transfer where it stands: its connection closes.
    pub(super) fn abandon(&mut self, poller: &Poller) {
        self.unwatch_all(poller);
        self.phase = Phase::Over;
    }

    /// Makes the poller forget this transfer's sockets: its connection's,
    /// and the connect attempts of a race under way.
    fn unwatch_all(&mut self, poller: &Poller) {
        unwatch(poller, &mut self.watching);
        if let Phase::Connecting { race, .. } = &mut self.phase {
            race.abandon(poller);
        }
    }
}

impl<F: Finish + Send + 'static> Transfer<F> {
    /// Built by the adding thread, on the heap: a transfer is about 2 KB
    /// and moves from the inbox to the multi's table by its pointer (moving
    /// the value cost more than a tenth of a keep-alive transfer's
    /// instructions). Its generation is set when the multi takes it.
    pub(super) fn new(a: Added<F>, req: &Request) -> Box<Transfer<F>> {
        let cfg = a.session.config();
        let timeouts = req.timeouts.over(cfg.timeouts);
        let mut limits = cfg.limits;
        limits.max_body_bytes = cfg.max_body_bytes.unwrap_or(match a.sink {
            Some(_) => u64::MAX,
            None => Limits::DEFAULT_BUFFERED_BODY_BYTES,
        });
        let tracker = Tracker {
            progress: req.progress.clone(),
            send_total: req.body.as_ref().and_then(Body::length),
        };
        let mut chain = Chain::new();
        let failed = chain.begin(&cfg, req).err();
        let budget = Budget::new(timeouts, None);
        let retry = Retry::new(&cfg);
        Box::new(Transfer {
            user: a.user,
            gen: 0,
            weak: a.weak,
            session: a.session,
            cfg,
            req: Box::new(req.clone()),
            chain,
            finish: Some(a.finish),
            cancel: a.cancel,
            timeouts,
            limits,
            started: budget.started,
            total_deadline: budget.total_deadline,
            phase: Phase::Start,
            deadline: None,
            armed: None,
            watching: None,
            out: Vec::new(),
            close: false,
            retried: false,
            fresh: false,
            timings: Timings::default(),
            failed,
            sink: a.sink,
            id: a.id,
            paused: false,
            upload_paused: false,
            pump: None,
            head_len: 0,
            tracker,
            cancel_waker: None,
            retry,
            retry_at: None,
            connecting: true,
            ws: a.ws,
            version: HttpVersion::Default,
            h2_request: None,
        })
    }

    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// Its body goes to a sink (asked before the transfer starts).
    pub(super) fn is_streamed(&self) -> bool {
        self.sink.is_some()
    }

    /// Goes on after the sink paused: what it refused is offered again.
    /// A sink that paused at the head has not stopped the transfer yet
    /// (it stops once body bytes come): its resume counts all the same.
    pub(super) fn resume(&mut self) {
        let answer = match &mut self.phase {
            Phase::Exchange(ex) => &mut ex.answer,
            Phase::H2(ex) => &mut ex.answer,
            _ => return,
        };
        if self.upload_paused {
            // The body source is asked again, from the start of the piece.
            self.upload_paused = false;
            self.paused = false;
            return;
        }
        let Some(st) = answer.streamed.as_mut().filter(|st| st.is_paused()) else {
            return;
        };
        self.deadline = None;
        match st.resume() {
            Err(e) => {
                self.paused = false;
                self.failed = Some(e);
            }
            // It paused again on what it was offered.
            Ok(()) => self.paused = st.is_paused(),
        }
    }

    pub(super) fn gen(&self) -> u64 {
        self.gen
    }

    pub(super) fn set_gen(&mut self, gen: u64) {
        self.gen = gen;
    }

    pub(super) fn user(&self) -> usize {
        self.user
    }

    /// A WebSocket dial's outcome, once the server answered.
    pub(super) fn take_ws(&mut self) -> Option<WsOutcome> {
        self.ws.as_mut().and_then(|w| w.take_outcome())
    }

    /// Has the transfer's cancel token (if any) tell the multi when it
    /// fires: the waker `make` builds pushes the transfer into the multi's
    /// inbox. Built only for a transfer with a token (it costs an
    /// allocation).
    pub(super) fn wake_on_cancel(&mut self, make: impl FnOnce() -> crate::net::CancelWaker) {
        if let Some(c) = &self.cancel {
            self.cancel_waker = Some(c.on_trigger(make()));
        }
    }

    /// Records that the heap holds an entry at `at` for this transfer;
    /// false when an earlier one is already there (it will re-check).
    pub(super) fn arm(&mut self, at: Instant) -> bool {
        match self.armed {
            Some(a) if a <= at && a > Instant::now() => false,
            _ => {
                self.armed = Some(at);
                true
            }
        }
    }

    /// The earliest deadline the transfer has in the multi's heap; an
    /// entry of it before this one is stale (a backoff replaced it).
    pub(super) fn armed_at(&self) -> Option<Instant> {
        self.armed
    }

    pub(super) fn pool_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::WaitPool { until } => until,
            _ => None,
        }
    }

    fn budget(&self) -> Budget<'_> {
        Budget {
            timeouts: self.timeouts,
            started: self.started,
            total_deadline: self.total_deadline,
            cancel: self.cancel.as_deref(),
        }
    }

    /// Starts the clock of a wait of kind `op` (after progress, or when a
    /// new kind of wait begins).
    fn progress(&mut self, op: Op) {
        self.deadline = self.budget().op_deadline(op).map(|at| (at, op));
    }

    /// The resolver answered for the current hop: the host to dial, or
    /// the origin a `socks5` proxy is to be sent the address of.
    pub(super) fn resolved(&mut self, answer: Result<Vec<SocketAddr>, NetError>) {
        if let Phase::Opening {
            tunnel: Some(ask), ..
        } = &mut self.phase
        {
            if let Err(e) = answer.and_then(|addrs| ask.resolved(addrs)) {
                self.failed = Some(e.into());
            }
            self.deadline = None;
            self.progress(Op::Connect);
            return;
        }
        let Phase::Resolving { .. } = self.phase else {
            return;
        };
        let Phase::Resolving { slot } = std::mem::replace(&mut self.phase, Phase::Over) else {
            unreachable!()
        };
        self.phase = match answer {
            Ok(addrs) => connecting(slot, interleave(addrs), Some(Instant::now())),
            Err(e) => {
                self.failed = Some(e.into());
                Phase::Over
            }
        };
    }

    /// Runs as far as the transfer can go now.
    pub(super) fn run(&mut self, ctx: &Ctx<'_>) -> Step<F::Output> {
        self.armed = self.armed.filter(|&a| a > Instant::now());
        let mut ctx = Ctx { ..*ctx };
        loop {
            let e = match self.advance(&ctx) {
                Ok(step) => return step,
                Err(e) => e,
            };
            let stage = self.stage();
            self.unwatch_all(ctx.poller);
            self.phase = Phase::Over;
            let deadline = self.total_deadline;
            match (self.retry).after_error(&self.cfg, &self.req, &self.chain, deadline, e, stage) {
                Ok(until) => {
                    self.retry_at = Some(until);
                    self.next_hop();
                    // The poller's report was for the failed attempt's socket.
                    ctx.woken = false;
                    ctx.clean = false;
                }
                Err(e) => {
                    log_failure(self.cfg.log.as_ref(), &self.req.method, &e);
                    return Step::Done(Err(e));
                }
            }
        }
    }

    /// How far the current attempt had got, for the retry policy.
    fn stage(&self) -> Stage {
        match &self.phase {
            Phase::Exchange(ex) if ex.answer.head.is_none() && !ex.reader.head_started() => {
                Stage::BeforeResponse
            }
            Phase::H2(ex) if ex.answer.head.is_none() => Stage::BeforeResponse,
            _ if self.connecting => Stage::Connect,
            _ => Stage::InResponse,
        }
    }

    fn advance(&mut self, ctx: &Ctx<'_>) -> Result<Step<F::Output>, ClientError> {
        loop {
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            self.budget().check_cancel()?;
            if self.paused {
                return self.paused_wait();
            }
            match &mut self.phase {
                Phase::Start => {
                    if let Some(step) = self.start_hop(ctx, None)? {
                        return Ok(step);
                    }
                }
                Phase::WaitPool { until } => {
                    let until = *until;
                    if let Some(step) = self.start_hop(ctx, until)? {
                        return Ok(step);
                    }
                }
                Phase::Resolving { .. } => return self.wait(Op::Connect, "resolving the host"),
                Phase::Connecting { .. } => {
                    if let Some(step) = self.step_connect(ctx)? {
                        return Ok(step);
                    }
                }
                Phase::Opening { .. } => {
                    if let Some(step) = self.step_opening(ctx)? {
                        return Ok(step);
                    }
                }
                Phase::Exchange(_) => {
                    if let Some(step) = self.step_exchange(ctx)? {
                        return Ok(step);
                    }
                }
                Phase::H2(_) => {
                    if let Some(step) = self.step_h2(ctx)? {
                        return Ok(step);
                    }
                }
                Phase::Backoff { until } => {
                    let until = *until;
                    if Instant::now() < until {
                        return Ok(Step::Wait {
                            deadline: Some(until),
                        });
                    }
                    self.phase = Phase::Start;
                }
                Phase::Over => {
                    return Err(ClientError::Net(NetError::new(
                        NetErrorKind::Io,
                        "the transfer ended without a result",
                    )))
                }
            }
        }
    }

    /// The sink paused: the socket is not read until `resume`, and only
    /// the total deadline (and cancel) can end the transfer meanwhile.
    fn pause(&mut self, ctx: &Ctx<'_>) -> Result<Option<Step<F::Output>>, ClientError> {
        self.paused = true;
        unwatch(ctx.poller, &mut self.watching);
        self.paused_wait().map(Some)
    }

    /// The body source had nothing ready: nothing is written until
    /// `resume`, which only a transfer with an id (a streamed one) can get.
    fn pause_upload(&mut self, ctx: &Ctx<'_>) -> Result<Step<F::Output>, ClientError> {
        if !self.is_streamed() {
            return Err(ClientError::new(
                ClientErrorKind::AbortedByCallback,
                "the body read callback paused a transfer that cannot be resumed \
                 (only a transfer added with reqivo_multi_add_streamed has an id to resume)",
            ));
        }
        self.paused = true;
        self.upload_paused = true;
        self.deadline = None;
        unwatch(ctx.poller, &mut self.watching);
        self.paused_wait()
    }

    fn paused_wait(&mut self) -> Result<Step<F::Output>, ClientError> {
        if self.total_deadline.is_some_and(|at| Instant::now() >= at) {
            let what = if self.upload_paused {
                "paused by the body read callback"
            } else {
                "paused by the data callback"
            };
            let op = if self.upload_paused {
                Op::Write
            } else {
                Op::Read
            };
            return Err(self.timeout(op, what));
        }
        Ok(Step::Wait {
            deadline: self.total_deadline,
        })
    }

    /// A wait with nothing to do now: fails if its deadline passed.
    fn wait(&mut self, op: Op, what: &str) -> Result<Step<F::Output>, ClientError> {
        if self.deadline.is_none() {
            self.progress(op);
        }
        let deadline = self.deadline.map(|(at, _)| at);
        if let Some((at, op)) = self.deadline {
            if Instant::now() >= at {
                return Err(self.timeout(op, what));
            }
        }
        Ok(Step::Wait { deadline })
    }

    fn timeout(&self, op: Op, what: &str) -> ClientError {
        let url = self.chain.url(&self.req);
        let what = format!("{} ({})", what, url);
        ClientError::Net(self.budget().timeout_error(op, &what))
    }

    /// Encodes the hop's request and checks out a connection for it.
    /// `pool_until` is the deadline of a wait for a slot already under way.
    fn start_hop(
        &mut self,
        ctx: &Ctx<'_>,
        pool_until: Option<Instant>,
    ) -> Result<Option<Step<F::Output>>, ClientError> {
        self.connecting = true;
        let (cfg, req) = (&self.cfg, &self.req);
        let proxy = self.chain.proxy(cfg, req);
        let url = self.chain.url(req);
        // A WebSocket dial is an HTTP/1.1 upgrade whatever the version.
        self.version = match self.ws {
            Some(_) => HttpVersion::Http11,
            None => cfg.http_version,
        };
        let key = pool_key(
            url,
            cfg.tls.as_ref(),
            proxy,
            cfg.targets.as_deref(),
            self.version,
        );
        // The request is encoded for the protocol the hop speaks; when
        // that is up to TLS (h2 offered, HTTP/1.1 allowed), once the
        // lease says which.
        if key.version.requires_h2() && self.h2_request.is_none() {
            (self.h2_request, self.pump) = self.encode_h2()?;
        } else if !key.version.may_use_h2() && self.out.is_empty() {
            (self.out, self.close, self.head_len, self.pump) = self.encode_h1(&key.route)?;
        }
        let pool = self.session.pool();
        match pool.try_checkout(&key, self.fresh) {
            Checkout::Idle(lease) => {
                self.begin_exchange(lease)?;
                Ok(None)
            }
            Checkout::H2(lease) => {
                self.begin_h2(ctx, lease)?;
                Ok(None)
            }
            Checkout::Reserved(slot) => {
                // A tunnel's connection is dialled to its proxy.
                let (host, port) = match &key.route {
                    Route::Tunnel(p) => (p.host.as_str(), p.port),
                    Route::Direct | Route::Forward => (key.host, key.port),
                };
                let known = match plan(host, port, key.dial.as_deref()) {
                    Plan::Endpoints(endpoints) => Some(endpoints),
                    Plan::Resolve(host, port) => {
                        let (weak, key_no, gen) = (self.weak.clone(), ctx.key, self.gen);
                        resolver::resolve(
                            host,
                            port,
                            Box::new(move |answer| {
                                super::deliver_answer(&weak, key_no, gen, answer)
                            }),
                        )?;
                        None
                    }
                };
                self.deadline = None;
                self.progress(Op::Connect);
                if let Some(endpoints) = known {
                    self.phase = connecting(slot, endpoints, None);
                    return Ok(None);
                }
                self.phase = Phase::Resolving { slot };
                Ok(Some(self.wait(Op::Connect, "resolving the host")?))
            }
            Checkout::Full => {
                let until = pool_until.or_else(|| self.budget().op_deadline(Op::Pool));
                if until.is_some_and(|at| Instant::now() >= at) {
                    return Err(self.timeout(Op::Pool, "waiting for a free connection"));
                }
                self.phase = Phase::WaitPool { until };
                Ok(Some(Step::WaitPool { pool: pool.clone() }))
            }
        }
    }

    /// The hop's request as HTTP/1.1 bytes (the head, then an in-memory
    /// body): the bytes, whether it says `Connection: close`, the head's
    /// length, and the pump of a body that comes from a source.
    fn encode_h1(&self, route: &Route) -> Result<EncodedH1, ClientError> {
        let (cfg, req) = (&self.cfg, &self.req);
        let mut number = itoa::Buffer::new();
        let headers = self
            .chain
            .headers(cfg, req, self.session.cookies(), &mut number)?;
        // One allocation for the head and an in-memory body, rather than
        // the doublings of pushing field by field into an empty vector.
        let body = self.chain.body(req);
        let body_len = match body {
            Some(Body::Bytes(b)) => b.len(),
            _ => 0,
        };
        let mut out = Vec::with_capacity(HEAD_GUESS + body_len);
        encode_request_head(
            &mut out,
            self.chain.method(req),
            request_target(self.chain.url(req), route),
            headers.iter(),
        )?;
        let head_len = out.len();
        let mut pump = None;
        match body {
            Some(Body::Bytes(b)) => out.extend_from_slice(b),
            Some(body) => pump = SourcePump::start(body)?,
            None => {}
        }
        Ok((
            out,
            headers.has_token("connection", "close"),
            head_len,
            pump,
        ))
    }

    /// The hop's request as an HTTP/2 stream opens it, and the pump of a
    /// body that comes from a source.
    fn encode_h2(&self) -> Result<EncodedH2, ClientError> {
        let (cfg, req) = (&self.cfg, &self.req);
        let mut number = itoa::Buffer::new();
        let headers = self
            .chain
            .headers(cfg, req, self.session.cookies(), &mut number)?;
        let request =
            crate::client::h2::to_h2(self.chain.method(req), self.chain.url(req), &headers)?;
        let pump = match self.chain.body(req) {
            Some(Body::Bytes(_)) | None => None,
            Some(body) => SourcePump::start_unframed(body)?,
        };
        Ok((Some(request), pump))
    }

    fn step_connect(&mut self, ctx: &Ctx<'_>) -> Result<Option<Step<F::Output>>, ClientError> {
        let Phase::Connecting { race, .. } = &mut self.phase else {
            unreachable!()
        };
        let (socket, addr, watched) = match race.step(ctx.poller, ctx.key, ctx.woken, ctx.clean)? {
            Raced::Won(socket, addr, watched) => (socket, addr, watched),
            Raced::Waiting { next_attempt } => {
                let mut step = self.wait(Op::Connect, "connecting")?;
                if let (Step::Wait { deadline }, Some(next)) = (&mut step, next_attempt) {
                    *deadline = Some(deadline.map_or(next, |d| d.min(next)));
                }
                return Ok(Some(step));
            }
        };
        let Phase::Connecting { slot, dns_done, .. } =
            std::mem::replace(&mut self.phase, Phase::Over)
        else {
            unreachable!()
        };
        self.watching = watched;
        // The poller keeps watching the descriptor: it is the connection's.
        let timings = ConnTimings {
            dns_done,
            connected: Instant::now(),
            tls_done: None,
        };
        let conn = Box::new(Conn::plain(socket.into(), &addr, timings));
        let since = |i: Instant| i.saturating_duration_since(self.started);
        self.timings.dns = dns_done.map(since).unwrap_or_default();
        self.timings.connect = since(timings.connected);
        self.phase = self.open(slot, conn, ctx.key)?;
        Ok(None)
    }

    /// The socket is connected: a proxy tunnel and TLS come next, if the
    /// hop's route has them.
    fn open(
        &mut self,
        slot: Reservation,
        mut conn: Box<Conn>,
        key_no: usize,
    ) -> Result<Phase, NetError> {
        let (cfg, req) = (&self.cfg, &self.req);
        let key = pool_key(
            self.chain.url(req),
            cfg.tls.as_ref(),
            self.chain.proxy(cfg, req),
            cfg.targets.as_deref(),
            self.version,
        );
        let tunnel = match &key.route {
            Route::Tunnel(proxy) => {
                conn.via_proxy(key.host, key.port);
                let ask = TunnelAsk::new(proxy, key.host, key.port)?;
                if let Some(name) = ask.unresolved() {
                    // socks5: the client resolves the origin's name.
                    let (weak, gen) = (self.weak.clone(), self.gen);
                    resolver::resolve(
                        name,
                        key.port,
                        Box::new(move |answer| super::deliver_answer(&weak, key_no, gen, answer)),
                    )?;
                }
                Some(Box::new(ask))
            }
            Route::Direct | Route::Forward => None,
        };
        let tls = match (&key.tls, &tunnel) {
            (Some(tls), None) => {
                conn = Box::new(conn.begin_tls(key.host, tls, key.version.alpn())?);
                None
            }
            (tls, _) => tls.clone().map(|t| (key.host.to_string(), t)),
        };
        self.deadline = None;
        self.progress(Op::Connect);
        Ok(Phase::Opening {
            slot,
            conn,
            tunnel,
            tls_after_tunnel: tls,
        })
    }

    /// Sets up a connected socket: the CONNECT exchange with a proxy, then
    /// the TLS handshake, each wait under the connect timeout.
    fn step_opening(&mut self, ctx: &Ctx<'_>) -> Result<Option<Step<F::Output>>, ClientError> {
        let Phase::Opening { conn, tunnel, .. } = &mut self.phase else {
            unreachable!()
        };
        let (read, write, what) = loop {
            if let Some(ask) = tunnel {
                if ask.unresolved().is_some() {
                    break (false, false, "resolving the host");
                }
                if !ask.to_send().is_empty() {
                    let step = conn.try_write(ask.to_send())?;
                    ask.sent(step.accepted);
                    if step.blocked {
                        break (false, true, "asking the proxy for a tunnel");
                    }
                    continue;
                }
                if ask.take_answer(conn)? {
                    *tunnel = None;
                    self.tunnel_opened()?;
                    return Ok(None);
                }
                if !ask.to_send().is_empty() {
                    continue;
                }
                match conn.try_fill(TunnelAsk::READ_LIMIT)? {
                    None => break (true, false, "waiting for the proxy's answer"),
                    Some(0) => return Err(ask.closed().into()),
                    Some(_) => continue,
                }
            }
            match conn.try_handshake()? {
                Handshake::Done => {
                    self.opened(ctx)?;
                    return Ok(None);
                }
                Handshake::WantRead => break (true, false, "doing the TLS handshake"),
                Handshake::WantWrite => break (false, true, "doing the TLS handshake"),
            }
        };
        watch(
            ctx.poller,
            &mut self.watching,
            conn.fd(),
            ctx.key,
            read,
            write,
        )
        .map_err(|e| NetError::io(&e, "watching a socket"))?;
        Ok(Some(self.wait(Op::Connect, what)?))
    }

    /// The proxy opened the tunnel: TLS with the origin starts inside it
    /// (for https; plain http through a SOCKS5 tunnel has none).
    fn tunnel_opened(&mut self) -> Result<(), NetError> {
        let Phase::Opening {
            slot,
            conn,
            tls_after_tunnel,
            ..
        } = std::mem::replace(&mut self.phase, Phase::Over)
        else {
            unreachable!()
        };
        let conn = match tls_after_tunnel {
            Some((host, tls)) => Box::new(conn.begin_tls(&host, &tls, self.version.alpn())?),
            None => conn,
        };
        self.phase = Phase::Opening {
            slot,
            conn,
            tunnel: None,
            tls_after_tunnel: None,
        };
        self.deadline = None;
        self.progress(Op::Connect);
        Ok(())
    }

    /// The connection is set up: the exchange starts on it.
    fn opened(&mut self, ctx: &Ctx<'_>) -> Result<(), ClientError> {
        let Phase::Opening { slot, conn, .. } = std::mem::replace(&mut self.phase, Phase::Over)
        else {
            unreachable!()
        };
        if let Some(at) = conn.timings.tls_done {
            self.timings.tls = at.saturating_duration_since(self.started);
        }
        if speaks_h2(&conn, self.version)? {
            return self.opened_h2(ctx, slot, *conn);
        }
        self.begin_exchange(slot.fill(conn))
    }

    fn begin_exchange(&mut self, lease: Lease) -> Result<(), ClientError> {
        if self.out.is_empty() {
            (self.out, self.close, self.head_len, self.pump) = self.encode_h1(lease.route())?;
        }
        self.connecting = false;
        log_connection(
            self.cfg.log.as_ref(),
            self.chain.method(&self.req),
            self.chain.url(&self.req),
            lease.reused,
            self.timings.connect,
        );
        let facts = RequestFacts {
            head: self.chain.method(&self.req).eq_ignore_ascii_case("HEAD"),
            close: self.close,
            connect: false,
        };
        self.phase = Phase::Exchange(Box::new(Exchange {
            lease,
            written: 0,
            request_sent: false,
            reader: ResponseReader::new(facts, &self.limits),
            answer: Answer::default(),
        }));
        self.deadline = None;
        self.progress(Op::Write);
        Ok(())
    }

    fn step_exchange(&mut self, ctx: &Ctx<'_>) -> Result<Option<Step<F::Output>>, ClientError> {
        match self.exchange_io(ctx) {
            Ok(step) => Ok(step),
            Err(e) => {
                let Phase::Exchange(ex) = &self.phase else {
                    return Err(e);
                };
                // A redirect's body is drained only to keep its connection;
                // when that fails the redirect is followed all the same.
                if matches!(ex.answer.next, Some(Next::Follow)) {
                    self.drop_exchange(ctx);
                    return Ok(None);
                }
                // One retry on a fresh connection, as in the blocking send.
                // A source body already read cannot be sent again.
                let retry = ex.lease.reused
                    && !ex.reader.head_started()
                    && !self.retried
                    && !self.pump.as_ref().is_some_and(|p| p.pulled)
                    && is_idempotent(self.chain.method(&self.req))
                    && e.closed_before_response();
                if !retry {
                    return Err(e);
                }
                unwatch(ctx.poller, &mut self.watching);
                self.phase = Phase::Over;
                log_retry(
                    self.cfg.log.as_ref(),
                    self.chain.method(&self.req),
                    self.chain.url(&self.req),
                    &e,
                );
                self.retried = true;
                self.fresh = true;
                self.out.clear();
                self.phase = Phase::Start;
                Ok(None)
            }
        }
    }

    fn exchange_io(&mut self, ctx: &Ctx<'_>) -> Result<Option<Step<F::Output>>, ClientError> {
        let Phase::Exchange(ex) = &mut self.phase else {
            unreachable!()
        };
        let conn = ex.lease.conn();
        let (mut wrote, mut blocked) = (false, false);
        // Over TLS, records rustls holds after a write that stopped halfway
        // go out before the request counts as sent. A source body is read
        // a piece at a time, each when the last one is written.
        let pumping = |p: &Option<SourcePump>| p.as_ref().is_some_and(|p| !p.is_done());
        while ex.written < self.out.len() || conn.wants_flush() || pumping(&self.pump) {
            if ex.written == self.out.len() && !conn.wants_flush() {
                let Some(pump) = &mut self.pump else {
                    unreachable!("pumping a source body")
                };
                self.out.clear();
                ex.written = 0;
                // A reopened body (a multipart form's files) is read here,
                // on the multi's thread: local file reads, not waits on a
                // peer.
                if !pump.next_piece_now(&mut self.out)? {
                    return self.pause_upload(ctx).map(Some);
                }
                self.tracker.report(pump.sent, 0, None)?;
                continue;
            }
            let step = conn.try_write(&self.out[ex.written..])?;
            ex.written += step.accepted;
            wrote |= step.accepted > 0;
            if step.blocked {
                watch(
                    ctx.poller,
                    &mut self.watching,
                    conn.fd(),
                    ctx.key,
                    false,
                    true,
                )
                .map_err(|e| NetError::io(&e, "watching a socket"))?;
                blocked = true;
                break;
            }
        }
        if blocked {
            if wrote {
                self.progress(Op::Write);
            }
            return Ok(Some(self.wait(Op::Write, "sending the request")?));
        }
        if !ex.request_sent {
            ex.request_sent = true;
            if self.pump.is_none() && self.out.len() > self.head_len {
                let sent = (self.out.len() - self.head_len) as u64;
                self.tracker.report(sent, 0, None)?;
            }
            self.timings.sent = self.started.elapsed();
            self.deadline = None;
            self.progress(Op::Read);
            // The answer cannot have come yet: wait for the socket rather
            // than try a read that fails with EAGAIN (and makes room in the
            // buffer for nothing).
            let Phase::Exchange(ex) = &mut self.phase else {
                unreachable!()
            };
            if ex.lease.conn().buffered().is_empty() {
                return self.wait_readable(ctx).map(Some);
            }
        }
        let max_head = self.limits.max_header_bytes.saturating_add(16 * 1024);
        let sent = match &self.pump {
            Some(p) => p.sent,
            None => (self.out.len() - self.head_len) as u64,
        };
        loop {
            let Phase::Exchange(ex) = &mut self.phase else {
                unreachable!()
            };
            let conn = ex.lease.conn();
            if ex.reader.wants_head() {
                if let Some((n, head)) = ex.reader.read_head(conn.buffered())? {
                    conn.consume(n);
                    let carrier = Carrier {
                        reused: ex.lease.reused,
                        tls: ex.lease.tls_info(),
                        remaining: ex.reader.remaining_length(),
                        worth_draining: ex.reader.keep_alive(),
                    };
                    if !ex.reader.wants_head() && !self.on_final_head(ctx, head, carrier)? {
                        return Ok(None);
                    }
                    continue;
                }
            } else if !ex.reader.is_done() {
                if !conn.buffered().is_empty() {
                    let step = ex.reader.read_body(conn.buffered())?;
                    let data = &conn.buffered()[step.data];
                    let taken = ex
                        .answer
                        .take(data, ex.reader.produced(), sent, &self.tracker)?;
                    conn.consume(step.consumed);
                    match taken {
                        Taken::More => continue,
                        Taken::Paused => return self.pause(ctx),
                        Taken::TooBigToDrain => {
                            self.drop_exchange(ctx);
                            return Ok(None);
                        }
                    }
                }
            } else {
                if let Some(st) = &mut ex.answer.streamed {
                    if !st.finish()? {
                        return self.pause(ctx);
                    }
                }
                return self.end_exchange(ctx);
            }
            let limit = if ex.reader.wants_head() {
                max_head
            } else {
                64 * 1024
            };
            match conn.try_fill(limit)? {
                None => return self.wait_readable(ctx).map(Some),
                Some(0) if ex.reader.wants_head() => {
                    return Err(closed_in_head(conn.peer(), ex.reader.head_started()));
                }
                Some(0) => ex.reader.eof()?,
                Some(_) => {
                    if self.timings.first_byte.is_zero() {
                        self.timings.first_byte = self.started.elapsed();
                    }
                    self.progress(Op::Read);
                }
            }
        }
    }

    /// Waits for the exchange's socket to have the response's next bytes.
    fn wait_readable(&mut self, ctx: &Ctx<'_>) -> Result<Step<F::Output>, ClientError> {
        let Phase::Exchange(ex) = &mut self.phase else {
            unreachable!()
        };
        let fd = ex.lease.conn().fd();
        watch(ctx.poller, &mut self.watching, fd, ctx.key, true, false)
            .map_err(|e| NetError::io(&e, "watching a socket"))?;
        self.wait(Op::Read, "reading the response")
    }

    /// The final head of the hop arrived: the chain decides what it means.
    /// False when the exchange is over already: a redirect whose body is
    /// not worth draining (its connection cannot be reused, or the body is
    /// larger than `DRAIN_LIMIT`) is followed at once.
    fn on_final_head(
        &mut self,
        ctx: &Ctx<'_>,
        head: ResponseHead,
        carrier: Carrier,
    ) -> Result<bool, ClientError> {
        let mut next = self.chain.after_head(
            &self.cfg,
            &self.req,
            self.session.cookies(),
            &head,
            self.ws.is_none(),
        )?;
        // A WebSocket dial is not retried: its answer is the caller's.
        if let (Next::Deliver(_), None) = (&next, &self.ws) {
            let (cfg, req, deadline) = (&self.cfg, &self.req, self.total_deadline);
            self.retry_at = self
                .retry
                .after_head(cfg, req, &self.chain, deadline, &head);
            if self.retry_at.is_some() {
                // Drained (or closed) like a followed redirect, then the backoff.
                next = Next::Follow;
            }
        }
        let answer = match &mut self.phase {
            Phase::Exchange(ex) => &mut ex.answer,
            Phase::H2(ex) => &mut ex.answer,
            _ => unreachable!(),
        };
        if let Next::Deliver(_) = next {
            answer.codings = match self.cfg.decompress {
                true => decode::codings_of(&head)?,
                false => None,
            };
            let url = self.chain.url(&self.req);
            answer.body_total = carrier.remaining;
            if let (Some(mut sink), Next::Deliver(out)) = (self.sink.take(), &next) {
                let mut timings = self.timings;
                timings.total = self.started.elapsed();
                let flow = sink.head(Parts {
                    head: head.clone(),
                    body: Vec::new(),
                    body_start: 0,
                    url,
                    reused: carrier.reused,
                    redirect_count: out.redirect_count,
                    timings,
                    redirect_not_followed: out.not_followed,
                    decompressed: answer.codings.is_some(),
                    tls: carrier.tls,
                    trailers: Default::default(),
                });
                if flow == Flow::Abort {
                    return Err(ClientError::new(
                        ClientErrorKind::AbortedByCallback,
                        "the data callback aborted the transfer at its head",
                    ));
                }
                let codings = answer.codings.take();
                let mut streamed = Streamed::new(sink, codings, self.limits.max_body_bytes);
                if flow == Flow::Pause {
                    streamed.hold();
                }
                answer.streamed = Some(streamed);
                // The finished result has no body: only the finisher's room.
                answer.front = self
                    .finish
                    .as_ref()
                    .map_or(0, |f| f.front(&head, url.as_str()));
                answer.body.resize(answer.front, 0);
                answer.head = Some(head);
                answer.next = Some(next);
                return Ok(true);
            }
            answer.front = match (&answer.codings, &self.finish) {
                (None, Some(f)) => f.front(&head, url.as_str()),
                _ => 0,
            };
            let expected = carrier
                .remaining
                .map_or(0, |n| n.min(64 << 20) as usize + 1);
            answer.body.reserve_exact(answer.front + expected);
            answer.body.resize(answer.front, 0);
        } else if !carrier.worth_draining || carrier.remaining.unwrap_or(0) > DRAIN_LIMIT {
            self.drop_exchange(ctx);
            return Ok(false);
        }
        answer.head = Some(head);
        answer.next = Some(next);
        Ok(true)
    }

    /// Ends the exchange of a followed redirect without reading the rest of
    /// it: the poller forgets the socket, the connection closes, and the
    /// next hop starts.
    fn drop_exchange(&mut self, ctx: &Ctx<'_>) {
        unwatch(ctx.poller, &mut self.watching);
        self.phase = Phase::Start;
        self.next_hop();
    }

    /// Prepares the next hop of a followed redirect, or the next attempt
    /// of a retry (after its backoff).
    fn next_hop(&mut self) {
        self.out.clear();
        self.h2_request = None;
        self.retried = false;
        self.fresh = false;
        self.deadline = None;
        if let Some(until) = self.retry_at.take() {
            self.phase = Phase::Backoff { until };
            // The backoff is now the transfer's only timer: earlier ones in
            // the multi's heap are stale (see `armed_at`).
            self.armed = None;
        }
    }

    /// The body has ended: the connection goes back to the pool, and the
    /// response is finished or the redirect followed.
    fn end_exchange(&mut self, ctx: &Ctx<'_>) -> Result<Option<Step<F::Output>>, ClientError> {
        unwatch(ctx.poller, &mut self.watching);
        let Phase::Exchange(ex) = std::mem::replace(&mut self.phase, Phase::Over) else {
            unreachable!()
        };
        let Exchange {
            mut lease,
            mut reader,
            answer,
            ..
        } = *ex;
        let clean = lease.conn().buffered().is_empty();
        let reused = lease.reused;
        let tls = lease.tls_info();
        let lease = match (&mut self.ws, &answer.next, &answer.head) {
            (Some(ws), Some(Next::Deliver(_)), Some(head)) => {
                let mut timings = self.timings;
                timings.total = self.started.elapsed();
                let url = self.chain.url(&self.req);
                ws.answered(lease, head, &self.session, url, timings, self.timeouts)?
            }
            _ => Some(lease),
        };
        if let Some(lease) = lease {
            lease.release(reader.keep_alive() && clean);
        }
        self.finish_answer(answer, reused, tls, reader.take_trailers())
    }

    /// The hop's answer is whole (whatever carried it): the response is
    /// finished, or the redirect (or retry) goes on to the next hop.
    fn finish_answer(
        &mut self,
        answer: Answer,
        reused: bool,
        tls: Option<crate::net::TlsInfo>,
        trailers: crate::proto::Trailers,
    ) -> Result<Option<Step<F::Output>>, ClientError> {
        let Answer {
            head,
            next,
            body,
            front,
            codings,
            streamed,
            ..
        } = answer;
        let decoded = streamed.as_ref().is_some_and(Streamed::decoded);
        drop(streamed);
        let out = match next {
            Some(Next::Deliver(out)) => out,
            _ => {
                self.phase = Phase::Start;
                self.next_hop();
                return Ok(None);
            }
        };
        let head = head.expect("a delivered exchange has its head");
        let finished = self.deliver(
            head, body, front, codings, decoded, out, reused, tls, trailers,
        );
        Ok(Some(Step::Done(finished)))
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        head: ResponseHead,
        mut body: Vec<u8>,
        front: usize,
        codings: Option<Codings>,
        streamed_decoded: bool,
        out: Out,
        reused: bool,
        tls: Option<crate::net::TlsInfo>,
        trailers: crate::proto::Trailers,
    ) -> Result<F::Output, ClientError> {
        let finish = self.finish.take().expect("a transfer finishes once");
        let url = self.chain.url(&self.req);
        let mut body_start = front;
        let buffered_decoded = codings.is_some() && body.len() > front;
        let decompressed = streamed_decoded || buffered_decoded;
        if let (Some(codings), true) = (&codings, buffered_decoded) {
            let front = finish.front(&head, url.as_str());
            body = decode::decode_all(codings, &body, self.limits.max_body_bytes, front)?;
            body_start = front;
        }
        let mut timings = self.timings;
        timings.total = self.started.elapsed();
        Ok(finish.finish(Parts {
            head,
            body,
            body_start,
            url,
            reused,
            redirect_count: out.redirect_count,
            timings,
            redirect_not_followed: out.not_followed,
            decompressed,
            tls,
            trailers,
        }))
    }
}

/// The phase that connects to `endpoints`: they race (`race::Race`) when
/// the transfer next runs.
fn connecting(
    slot: Reservation,
    endpoints: VecDeque<Endpoint>,
    dns_done: Option<Instant>,
) -> Phase {
    Phase::Connecting {
        slot,
        race: Box::new(Race::new(endpoints)),
        dns_done,
    }
}
