//! The event-driven driver: many requests in flight on one thread.
//!
//! A `Multi` owns one poller (its descriptor is what an outside event loop
//! watches), a table of transfers, a heap of deadlines and the queue of
//! finished transfers. Each transfer runs the same machines as a blocking
//! send (`Chain` for policy, `proto::ResponseReader` for bytes) over
//! sockets it never blocks on; connections come from, and go back to, the
//! pool its session shares with blocking sends. Names resolve on the
//! process's bounded resolver (`net::resolver`), whose answers come back
//! through the multi's inbox with a wake-up of its poller.
//!
//! Threads: `add` and `wakeup` from any thread (they only touch `Shared`);
//! `perform`, `poll` and `next` from one thread at a time (`&mut self`).
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use polling::{Events, Poller};
use slab::Slab;

use super::error::ClientError;
use super::request::Request;
use super::response::Finish;
use super::session::Session;
use crate::net::{Cancel, NetError};

mod conns;
mod race;
mod sink;
mod transfer;
mod upgrade;

pub use sink::{Flow, Sink};
pub use upgrade::WsOutcome;

use transfer::{Step, Transfer};

/// A finished transfer, as `Multi::next` hands it out.
pub struct Done<T> {
    /// The value given to `add`.
    pub user: usize,
    pub result: Result<T, ClientError>,
    /// A WebSocket dial's (`Handle::add_ws`) when the server answered:
    /// the open connection (`result` is the 101), or why the handshake
    /// failed (`result` is the answer that was not 101).
    pub ws: Option<WsOutcome>,
}

/// What other threads hand to the driving thread.
struct Inbox<F> {
    added: Vec<Box<Transfer<F>>>,
    /// Resolver answers: transfer key, its generation, the addresses.
    resolved: Vec<(usize, u64, Result<Vec<SocketAddr>, NetError>)>,
    /// Pools (`Pool::id`) this multi waits on that freed a slot; each has
    /// forgotten the multi's waker.
    freed_pools: Vec<usize>,
    /// Streamed transfers (by id) to go on after their sink paused them.
    resumed: Vec<u64>,
    /// Transfers (key, generation) whose cancel token fired, or whose
    /// HTTP/2 stream made progress.
    cancelled: Vec<(usize, u64)>,
    /// HTTP/2 connections (`conns` ids) a thread handed the driver role
    /// back to this multi for.
    driven: Vec<usize>,
}

/// The part of a multi other threads reach.
pub(crate) struct Shared<F> {
    poller: Poller,
    inbox: Mutex<Inbox<F>>,
    /// Added and not yet finished.
    in_flight: AtomicUsize,
    /// The last transfer id handed out.
    last_id: AtomicU64,
}

impl<F> Shared<F> {
    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox<F>> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// See the module comment.
pub struct Multi<F: Finish> {
    shared: Arc<Shared<F>>,
    transfers: Slab<Box<Transfer<F>>>,
    /// Deadlines: (when, transfer key, generation). Stale entries (the
    /// transfer finished or moved its deadline) are skipped when popped.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    done: VecDeque<Done<F::Output>>,
    events: Events,
    /// Transfers waiting for a pool slot.
    pool_waiters: Vec<usize>,
    /// Pools that hold a waker of this multi: one per pool, however many
    /// transfers wait on it.
    pool_wakes: Vec<usize>,
    /// Transfers to step (key, and whether the poller's report was clean),
    /// reused from one perform to the next.
    scratch: Vec<(usize, bool)>,
    /// Streamed transfers: id to key, for `resume`.
    streams: HashMap<u64, usize>,
    next_gen: u64,
    /// The HTTP/2 connections its transfers have streams on.
    conns: conns::Conns,
    /// Asks the multi to drive an HTTP/2 connection (made once).
    nudge: conns::Nudge,
}

impl<F> Multi<F>
where
    F: Finish + Send + 'static,
{
    pub fn new() -> Result<Multi<F>, ClientError> {
        let poller = Poller::new()
            .map_err(|e| ClientError::Net(NetError::io(&e, "creating the multi's poller")))?;
        let shared = Arc::new(Shared {
            poller,
            inbox: Mutex::new(Inbox {
                added: Vec::new(),
                resolved: Vec::new(),
                freed_pools: Vec::new(),
                resumed: Vec::new(),
                cancelled: Vec::new(),
                driven: Vec::new(),
            }),
            in_flight: AtomicUsize::new(0),
            last_id: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&shared);
        let nudge: conns::Nudge = Arc::new(move |id| {
            if let Some(shared) = weak.upgrade() {
                shared.inbox().driven.push(id);
                let _ = shared.poller.notify();
            }
        });
        Ok(Multi {
            shared,
            transfers: Slab::new(),
            timers: BinaryHeap::new(),
            done: VecDeque::new(),
            events: Events::new(),
            pool_waiters: Vec::new(),
            pool_wakes: Vec::new(),
            scratch: Vec::new(),
            streams: HashMap::new(),
            next_gen: 0,
            conns: conns::Conns::default(),
            nudge,
        })
    }

    /// The handle other threads use to add transfers and wake the poll.
    pub fn handle(&self) -> Handle<F> {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// The poller's descriptor: readable when `perform` has work.
    pub fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.shared.poller.as_raw_fd()
    }

    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Time until the earliest deadline (zero if one has passed, or an add
    /// or answer waits in the inbox); `None` without any. Entries of
    /// finished transfers, and those a retry's backoff replaced, are
    /// dropped first.
    pub fn timeout(&mut self) -> Option<Duration> {
        // Entries of finished transfers are dropped here, so a multi with
        // nothing in flight reports no timer.
        while let Some(&Reverse((at, key, gen))) = self.timers.peek() {
            let live =
                |t: &Transfer<F>| t.gen() == gen && t.armed_at().is_none_or(|armed| at >= armed);
            if self.transfers.get(key).is_some_and(|t| live(t)) {
                break;
            }
            self.timers.pop();
        }
        {
            let inbox = self.shared.inbox();
            if !inbox.added.is_empty()
                || !inbox.resolved.is_empty()
                || !inbox.freed_pools.is_empty()
                || !inbox.resumed.is_empty()
                || !inbox.cancelled.is_empty()
                || !inbox.driven.is_empty()
            {
                return Some(Duration::ZERO);
            }
        }
        self.timers
            .peek()
            .map(|Reverse((at, _, _))| at.saturating_duration_since(Instant::now()))
    }

    /// Waits up to `timeout` (`None`: until something happens) for socket
    /// activity, a deadline, an add or a wakeup, then performs.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        let wait = match (timeout, self.timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.events.clear();
        self.shared
            .poller
            .wait(&mut self.events, wait)
            .map_err(|e| ClientError::Net(NetError::io(&e, "waiting in the multi's poller")))?;
        if self.run_events() {
            self.run_ready()?;
        }
        self.perform_inner();
        Ok(())
    }

    /// Does everything that can be done now, never waiting.
    pub fn perform(&mut self) -> Result<(), ClientError> {
        self.run_ready()?;
        self.perform_inner();
        Ok(())
    }

    /// Steps the transfers whose sockets are ready now. A full event
    /// buffer may have left some unreported: the poller is asked again
    /// (a bounded number of times), so that after a perform the multi's
    /// descriptor is readable only for what happened since. An
    /// edge-triggered watcher of it (Go's netpoller) sees nothing new for
    /// what was left behind.
    fn run_ready(&mut self) -> Result<(), ClientError> {
        for _ in 0..16 {
            self.events.clear();
            self.shared
                .poller
                .wait(&mut self.events, Some(Duration::ZERO))
                .map_err(|e| ClientError::Net(NetError::io(&e, "reading the multi's poller")))?;
            if !self.run_events() {
                break;
            }
        }
        Ok(())
    }

    /// The next finished transfer, if any.
    pub fn next_done(&mut self) -> Option<Done<F::Output>> {
        self.done.pop_front()
    }

    /// Steps the transfers of the events just read; true when they filled
    /// the buffer (more may be ready).
    fn run_events(&mut self) -> bool {
        let mut ready = std::mem::take(&mut self.scratch);
        ready.clear();
        // Clean: no error or hang-up condition came with the report (a
        // connect that ended so has succeeded: no need to ask the socket).
        ready.extend(
            self.events
                .iter()
                .map(|e| (e.key, e.is_err() == Some(false) && !e.is_interrupt())),
        );
        for &(key, clean) in &ready {
            if key >= conns::CONN_KEYS {
                self.conns
                    .drive(key - conns::CONN_KEYS, &self.shared.poller, true);
                continue;
            }
            self.step(key, Some(clean));
        }
        self.scratch = ready;
        self.events.len() >= self.events.capacity().get()
    }

    fn step_all(&mut self, keys: &[usize]) {
        for &key in keys {
            self.step(key, None);
        }
    }

    fn perform_inner(&mut self) {
        let (added, resolved, freed, resumed, cancelled, driven) = {
            let mut inbox = self.shared.inbox();
            (
                std::mem::take(&mut inbox.added),
                std::mem::take(&mut inbox.resolved),
                std::mem::take(&mut inbox.freed_pools),
                std::mem::take(&mut inbox.resumed),
                std::mem::take(&mut inbox.cancelled),
                std::mem::take(&mut inbox.driven),
            )
        };
        for id in driven {
            self.conns.drive(id, &self.shared.poller, true);
        }
        for mut t in added {
            self.next_gen += 1;
            let gen = self.next_gen;
            t.set_gen(gen);
            let (streamed, id) = (t.is_streamed(), t.id());
            let key = self.transfers.insert(t);
            if streamed {
                self.streams.insert(id, key);
            }
            let shared = &self.shared;
            self.transfers[key].wake_on_cancel(|| {
                let weak = Arc::downgrade(shared);
                Box::new(move || {
                    if let Some(shared) = weak.upgrade() {
                        shared.inbox().cancelled.push((key, gen));
                        let _ = shared.poller.notify();
                    }
                })
            });
            self.step(key, None);
        }
        for (key, gen) in cancelled {
            if self.transfers.get(key).is_some_and(|t| t.gen() == gen) {
                self.step(key, None);
            }
        }
        for id in resumed {
            if let Some(&key) = self.streams.get(&id) {
                self.transfers[key].resume();
                self.step(key, None);
            }
        }
        for (key, gen, answer) in resolved {
            if let Some(t) = self.transfers.get_mut(key).filter(|t| t.gen() == gen) {
                t.resolved(answer);
                self.step(key, None);
            }
        }
        if !freed.is_empty() {
            self.pool_wakes.retain(|id| !freed.contains(id));
            let waiters = std::mem::take(&mut self.pool_waiters);
            self.step_all(&waiters);
        }
        let now = Instant::now();
        while let Some(&Reverse((at, key, gen))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.transfers.get(key).is_some_and(|t| t.gen() == gen) {
                self.step(key, None);
            }
        }
        self.conns.flush(&self.shared.poller);
    }

    /// Runs transfer `key` as far as it goes now and files what it waits on.
    /// `woken`: the poller reported the transfer's socket, and whether
    /// cleanly (see `run_events`).
    fn step(&mut self, key: usize, woken: Option<bool>) {
        let shared = &self.shared;
        let Some(t) = self.transfers.get_mut(key) else {
            return;
        };
        let gen = t.gen();
        let make_waker = || stream_waker(shared, key, gen);
        let ctx = transfer::Ctx {
            poller: &shared.poller,
            key,
            woken: woken.is_some(),
            clean: woken == Some(true),
            waker: &make_waker,
        };
        let step = t.run(&ctx);
        match t.h2_conn() {
            Some(conn) => self.conns.stream_on(key, conn, &shared.poller, &self.nudge),
            None if !self.conns.is_empty() => self.conns.forget(key, &shared.poller),
            None => {}
        }
        match step {
            Step::Wait { deadline } => {
                if let Some(at) = deadline {
                    if t.arm(at) {
                        self.timers.push(Reverse((at, key, t.gen())));
                    }
                }
            }
            Step::WaitPool { pool } => {
                self.pool_waiters.push(key);
                let id = pool.id();
                if !self.pool_wakes.contains(&id) {
                    self.pool_wakes.push(id);
                    let weak = Arc::downgrade(&self.shared);
                    pool.wake_on_free(Arc::new(move || {
                        if let Some(shared) = weak.upgrade() {
                            shared.inbox().freed_pools.push(id);
                            let _ = shared.poller.notify();
                        }
                    }));
                }
                if let Some(at) = t.pool_deadline() {
                    if t.arm(at) {
                        self.timers.push(Reverse((at, key, t.gen())));
                    }
                }
            }
            Step::Done(result) => {
                let mut t = self.transfers.remove(key);
                self.streams.remove(&t.id());
                let (user, ws) = (t.user(), t.take_ws());
                drop(t);
                self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
                self.done.push_back(Done { user, result, ws });
            }
        }
    }
}

impl<F: Finish> Drop for Multi<F> {
    /// Ends every transfer still in flight: their connections close (a
    /// half-done exchange cannot be reused), their slots free.
    fn drop(&mut self) {
        for (_, t) in self.transfers.iter_mut() {
            t.abandon(&self.shared.poller);
        }
        self.conns.clear(&self.shared.poller);
    }
}

/// The waker of transfer `key`'s HTTP/2 stream: its progress steps the
/// transfer (as a cancel does), from whichever thread drove it.
fn stream_waker<F: Send + 'static>(
    shared: &Arc<Shared<F>>,
    key: usize,
    gen: u64,
) -> std::task::Waker {
    struct StreamWake<F> {
        shared: std::sync::Weak<Shared<F>>,
        key: usize,
        gen: u64,
    }
    impl<F: Send + 'static> std::task::Wake for StreamWake<F> {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            if let Some(shared) = self.shared.upgrade() {
                shared.inbox().cancelled.push((self.key, self.gen));
                let _ = shared.poller.notify();
            }
        }
    }
    std::task::Waker::from(Arc::new(StreamWake {
        shared: Arc::downgrade(shared),
        key,
        gen,
    }))
}

/// Adds transfers and wakes the poll, from any thread.
pub struct Handle<F> {
    shared: Arc<Shared<F>>,
}

impl<F> Clone for Handle<F> {
    fn clone(&self) -> Self {
        Handle {
            shared: self.shared.clone(),
        }
    }
}

impl<F> Handle<F> {
    /// Added and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }
}

impl<F: Finish + Send + 'static> Handle<F> {
    /// Queues `req` (copied: the caller may free or reuse it at once) on
    /// `session` with the multi; `user` comes back with its result.
    pub fn add(
        &self,
        session: &Session,
        req: &Request,
        cancel: Option<Arc<Cancel>>,
        finish: F,
        user: usize,
    ) -> Result<(), ClientError> {
        self.add_with(session, req, cancel, finish, None, None, user)
            .map(|_| ())
    }

    /// Queues a WebSocket dial: `dial`'s handshake on `session`, its
    /// outcome in `Done::ws` beside the answer's response.
    pub fn add_ws(
        &self,
        session: &Session,
        dial: crate::client::ws::Dial,
        cancel: Option<Arc<Cancel>>,
        finish: F,
        user: usize,
    ) -> Result<(), ClientError> {
        let req = dial.req.clone();
        let ws = Some(upgrade::WsDial::new(dial));
        self.add_with(session, &req, cancel, finish, None, ws, user)
            .map(|_| ())
    }

    /// `add`, with the body handed to `sink` as it arrives instead of
    /// buffered; the result (from `next_done`) then has an empty body.
    /// Returns the transfer's id, for `resume`.
    pub fn add_streamed(
        &self,
        session: &Session,
        req: &Request,
        cancel: Option<Arc<Cancel>>,
        finish: F,
        sink: Box<dyn Sink>,
        user: usize,
    ) -> Result<u64, ClientError> {
        self.add_with(session, req, cancel, finish, Some(sink), None, user)
    }

    #[allow(clippy::too_many_arguments)]
    fn add_with(
        &self,
        session: &Session,
        req: &Request,
        cancel: Option<Arc<Cancel>>,
        finish: F,
        sink: Option<Box<dyn Sink>>,
        ws: Option<Box<upgrade::WsDial>>,
        user: usize,
    ) -> Result<u64, ClientError> {
        let id = self.shared.last_id.fetch_add(1, Ordering::Relaxed) + 1;
        let added = Transfer::new(
            transfer::Added {
                session: session.share(),
                cancel,
                finish,
                user,
                weak: Arc::downgrade(&self.shared),
                sink,
                id,
                ws,
            },
            req,
        );
        self.shared.in_flight.fetch_add(1, Ordering::AcqRel);
        self.shared.inbox().added.push(added);
        self.wakeup()?;
        Ok(id)
    }

    /// Lets streamed transfer `id`, paused by its sink, go on (from any
    /// thread); the piece it refused is offered again first. An id that
    /// is not paused, or has finished, is ignored.
    pub fn resume(&self, id: u64) -> Result<(), ClientError> {
        self.shared.inbox().resumed.push(id);
        self.wakeup()
    }

    /// Makes a poll in progress (or the next one) return.
    pub fn wakeup(&self) -> Result<(), ClientError> {
        self.shared
            .poller
            .notify()
            .map_err(|e| ClientError::Net(NetError::io(&e, "waking the multi's poller")))
    }
}

/// Where resolver answers for a transfer go.
pub(crate) fn deliver_answer<F>(
    weak: &std::sync::Weak<Shared<F>>,
    key: usize,
    gen: u64,
    answer: Result<Vec<SocketAddr>, NetError>,
) {
    if let Some(shared) = weak.upgrade() {
        shared.inbox().resolved.push((key, gen, answer));
        let _ = shared.poller.notify();
    }
}
