//! One HTTP/2 connection shared by every request to its origin: h2's
//! `Connection` future, the handle that opens streams, and the driver role.
//!
//! No thread of reqivo's is dedicated to a connection. A thread whose
//! stream needs progress (its response, its next DATA, send capacity)
//! becomes the connection's driver if no one is (the leader): it polls the
//! `Connection`, and unless its own stream was woken meanwhile, waits in
//! poll(2) on the socket and on the connection's eventfd, bounded by its own
//! deadline; then it polls again and hands the role to a queued thread.
//! A thread that finds the role taken queues and parks; its stream's waker
//! unparks it. Anything that gives the connection work from another thread
//! (a new stream, released window, a dropped stream) wakes the connection's
//! task, whose waker writes the eventfd, so the leader's wait ends and the
//! frames go out (docs/DESIGN.md §10).
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::{Connection, SendRequest};
use rustix::event::{eventfd, EventfdFlags, PollFlags};

use super::frames::{FramesSeen, Setup};
use super::io::{H2Io, IoState};
use crate::net::budget::{poll_once, Budget, Op};
use crate::net::conn::readable_now;
use crate::net::error::{NetError, NetErrorKind};
use crate::net::{Conn, ConnTimings, TlsInfo};

/// The longest a queued thread parks before looking again on its own: a
/// guard against a lost hand-over, never the way progress is made.
const PARK_GUARD: Duration = Duration::from_millis(100);

/// The most read from the socket in one poll of the connection. h2 reads
/// until the socket is empty, buffering every frame before any stream
/// takes its data; its small-frame budget (half the connection window)
/// then ends a connection whose server sends a large body in tiny frames
/// (ENHANCE_YOUR_CALM) although the reader keeps up. In rounds of this
/// size, the streams take their data between rounds.
const READ_ROUND: usize = 128 * 1024;

/// Each stream's receive window, and the connection's: large enough that
/// one stream moves a large body at the speed of the link (the server
/// stops once a window is used up, until we release it).
const STREAM_WINDOW: u32 = 4 << 20;
const CONNECTION_WINDOW: u32 = 16 << 20;

/// Streams assumed allowed before the server's SETTINGS arrive: the floor
/// RFC 9113 §6.5.2 recommends servers offer. Without it h2 assumes no limit
/// and a burst of requests on a new connection is refused by the server.
const FIRST_STREAM_LIMIT: usize = 100;

/// The settings reqivo's client speaks with. h2's header list limit is a
/// guard (it bounds a CONTINUATION flood); `max_header_bytes` itself is
/// held by the same count as HTTP/1.1's, after h2 (`ResponseHead`), so
/// that a head over it fails as over HTTP/1.1. h2 counts 32 bytes a field
/// beyond its name and value where reqivo counts 4, and a field costs
/// reqivo at least 4: a head within `max_header_bytes` comes to at most 8
/// times it in h2's count.
fn builder(max_header_bytes: usize) -> h2::client::Builder {
    let guard = max_header_bytes.saturating_mul(8).min(u32::MAX as usize) as u32;
    let mut b = h2::client::Builder::new();
    b.enable_push(false)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .initial_max_send_streams(FIRST_STREAM_LIMIT)
        .max_header_list_size(guard);
    b
}

/// A thread's waker: sets its flag and unparks it.
struct ThreadWake {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

std::thread_local! {
    /// This thread's waker, made once: a wait allocates nothing.
    static THIS_THREAD: (Arc<ThreadWake>, Waker) = {
        let me = Arc::new(ThreadWake {
            thread: std::thread::current(),
            woken: AtomicBool::new(false),
        });
        let waker = Waker::from(me.clone());
        (me, waker)
    };
}

/// The connection task's waker. It marks the connection as having work;
/// the eventfd is written only while a leader sleeps in poll(2) (`armed`),
/// so a thread that wakes the task and then drives it itself (the usual
/// single-thread request) makes no system call for it.
struct ConnWake {
    fd: OwnedFd,
    signalled: AtomicBool,
    /// A leader is in, or about to enter, poll(2) on the eventfd.
    armed: AtomicBool,
    /// The eventfd holds a count to read.
    written: AtomicBool,
}

impl ConnWake {
    fn signal(&self) {
        // SeqCst with `arm`: either the leader sees the signal before it
        // sleeps, or this sees it armed and writes.
        if !self.signalled.swap(true, Ordering::SeqCst)
            && self.armed.load(Ordering::SeqCst)
            && !self.written.swap(true, Ordering::SeqCst)
        {
            let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
        }
    }

    /// The leader is about to sleep; false if work came meanwhile (then it
    /// polls the connection instead).
    fn arm(&self) -> bool {
        self.armed.store(true, Ordering::SeqCst);
        if self.signalled.load(Ordering::SeqCst) {
            self.armed.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }

    /// Clears the signal before the connection is polled: a wake after
    /// this counts again.
    fn clear(&self) {
        self.signalled.store(false, Ordering::SeqCst);
        if self.written.swap(false, Ordering::SeqCst) {
            let mut buf = [0u8; 8];
            let _ = rustix::io::read(&self.fd, &mut buf);
        }
    }
}

impl Wake for ConnWake {
    fn wake(self: Arc<Self>) {
        self.signal();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.signal();
    }
}

struct Driver {
    conn: Connection<H2Io, Bytes>,
    /// Set once the connection future has ended: closed after GOAWAY, or
    /// failed. Its streams have failed with it.
    ended: Option<String>,
}

#[derive(Default)]
struct Role {
    leader: bool,
    /// Threads (and multis) waiting for progress while another leads,
    /// first come first; each is woken to take the role in turn.
    waiting: VecDeque<Waker>,
}

pub struct H2Conn {
    driver: Mutex<Driver>,
    send: Mutex<SendRequest<Bytes>>,
    role: Mutex<Role>,
    /// A second descriptor for the socket (the first is inside h2's
    /// connection), for the leader's poll(2).
    socket: OwnedFd,
    io: Arc<IoState>,
    /// Until the server's SETTINGS and its ACK of ours: the deadline.
    setup: Setup,
    /// What the frame headers h2 read told (`frames.rs`).
    seen: Arc<FramesSeen>,
    wake: Arc<ConnWake>,
    waker: Waker,
    peer: String,
    tls_info: Option<TlsInfo>,
    pub timings: ConnTimings,
    /// No new stream may start: the connection ended, or the server sent
    /// GOAWAY (a refused `send_request` tells).
    closing: AtomicBool,
    /// Streams open on it now (for the pool: idle once none are).
    streams: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl fmt::Debug for H2Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2Conn")
            .field("peer", &self.peer)
            .field("streams", &self.streams.load(Ordering::Relaxed))
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl H2Conn {
    /// Speaks HTTP/2 on `conn` (TLS that chose `h2`, or cleartext with
    /// prior knowledge): sends the preface and SETTINGS under the connect
    /// timeout, which from now on also bounds the server's SETTINGS and
    /// its ACK of ours (`Setup`).
    pub fn start(
        conn: Conn,
        max_header_bytes: usize,
        budget: &Budget<'_>,
    ) -> Result<Arc<H2Conn>, NetError> {
        let peer = conn.peer().to_string();
        let tls_info = conn.tls_info();
        let timings = conn.timings;
        let socket = conn
            .wait_handle()
            .map_err(|e| NetError::io(&e, &format!("setting up {}", peer)))?;
        let made = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| NetError::io(&e.into(), "making an eventfd"))?;
        let wake = Arc::new(ConnWake {
            fd: made,
            signalled: AtomicBool::new(false),
            armed: AtomicBool::new(false),
            written: AtomicBool::new(false),
        });
        let waker = Waker::from(wake.clone());
        let io = H2Io::new(conn, max_header_bytes);
        let state = io.state();
        let seen = io.seen();
        let setup = Setup::new(seen.clone(), budget.timeouts.connect);
        let mut handshake = Box::pin(builder(max_header_bytes).handshake::<_, Bytes>(io));
        let deadline = budget.op_deadline(Op::Connect);
        let what = format_args!("starting HTTP/2 with {}", peer);
        let (send, connection) = loop {
            if let Poll::Ready(r) = handshake.as_mut().poll(&mut Context::from_waker(&waker)) {
                break r.map_err(|e| protocol_error(&e, &peer))?;
            }
            wait_socket(&socket, state.write_blocked(), None, deadline, budget)?
                .ok_or_else(|| budget.timeout_error(Op::Connect, &what))?;
        };
        Ok(Arc::new(H2Conn {
            driver: Mutex::new(Driver {
                conn: connection,
                ended: None,
            }),
            send: Mutex::new(send),
            role: Mutex::new(Role::default()),
            socket,
            io: state,
            setup,
            seen,
            wake,
            waker,
            peer,
            tls_info,
            timings,
            closing: AtomicBool::new(false),
            streams: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        }))
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.tls_info
    }

    /// Whether a new stream may go out on this connection.
    pub fn is_open(&self) -> bool {
        !self.closing.load(Ordering::Acquire) && self.setup.failed(&self.peer).is_none()
    }

    /// While the connection is not yet set up (the server's SETTINGS and
    /// its ACK of ours), the deadline by which it must be: every wait on
    /// it ends there at the latest.
    pub fn setup_deadline(&self) -> Option<Instant> {
        self.setup.deadline()
    }

    /// How large `stream`'s header block had grown when it passed
    /// `max_header_bytes`, if it did: h2 then fails the stream (or the
    /// connection) with codes that do not say so.
    pub fn big_head(&self, stream: h2::StreamId) -> Option<usize> {
        self.seen.big_head(stream.into())
    }

    /// The connect timeout's error once the setup deadline has passed
    /// unmet; the connection then takes no new stream.
    pub fn setup_failed(&self) -> Option<NetError> {
        let e = self.setup.failed(&self.peer)?;
        self.close_to_new();
        Some(e)
    }

    /// No new streams from now on (GOAWAY, or a failure).
    pub fn close_to_new(&self) {
        self.closing.store(true, Ordering::Release);
    }

    pub fn streams(&self) -> usize {
        self.streams.load(Ordering::Acquire)
    }

    /// How long the connection has carried no stream (zero while it does).
    pub fn idle_for(&self) -> Duration {
        match self.streams() {
            0 => lock(&self.idle_since).elapsed(),
            _ => Duration::ZERO,
        }
    }

    /// Counts a stream as open (`stream_ended` counts it closed).
    pub fn stream_started(&self) {
        self.streams.fetch_add(1, Ordering::AcqRel);
    }

    pub fn stream_ended(&self) {
        if self.streams.fetch_sub(1, Ordering::AcqRel) == 1 {
            *lock(&self.idle_since) = Instant::now();
        }
    }

    /// A handle that opens streams; each request takes its own clone, so
    /// a request waiting for a stream slot holds no lock.
    pub fn sender(&self) -> SendRequest<Bytes> {
        lock(&self.send).clone()
    }

    /// Takes in what the server sent while no stream waited (a GOAWAY, a
    /// close), without waiting: a connection found ended or closing takes
    /// no new stream. Does nothing if another thread is driving, or if the
    /// last read found the socket empty and nothing came since (one
    /// poll(2) without waiting tells, as HTTP/1.1's stale check).
    pub fn refresh(&self) {
        if !self.io.may_read() && !readable_now(&self.socket) {
            return;
        }
        THIS_THREAD.with(|(_, waker)| {
            self.drive_now(waker, true);
        });
    }

    /// Polls the connection once without waiting, for an event loop (the
    /// multi) or a look at an idle connection: true when it did; false
    /// when another thread leads, and then `waker` is woken once the role
    /// is free, to try again. `readable`: the socket was reported
    /// readable (or should be read whatever the last read found).
    pub fn drive_now(&self, waker: &Waker, readable: bool) -> bool {
        if !self.try_lead(waker) {
            return false;
        }
        let mut driver = lock(&self.driver);
        if readable {
            self.io.set_readable();
        }
        self.poll_connection(&mut driver);
        drop(driver);
        self.hand_off(waker);
        self.leave(waker);
        true
    }

    /// The socket, for an event loop to watch (the connection's own
    /// descriptor stays inside h2).
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// The socket is full with frames h2 holds: watch for writability too.
    pub fn write_blocked(&self) -> bool {
        self.io.write_blocked()
    }

    /// Polls `f` (a stream's future) until it is ready, driving the
    /// connection meanwhile as its leader or waiting for the leader to.
    /// Bounded by `deadline` (the caller's: a read, a write, the connect),
    /// reported as a timeout of kind `op`, and by the cancel token.
    pub fn block_on<T>(
        &self,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
        deadline: Option<Instant>,
        op: Op,
        budget: &Budget<'_>,
        what: &dyn fmt::Display,
    ) -> Result<T, NetError> {
        THIS_THREAD.with(|(me, waker)| {
            // Ready already (the usual case once the response is in): no
            // cancel hook, no driver role, no queue to leave.
            me.woken.store(false, Ordering::Release);
            if let Poll::Ready(v) = f(&mut Context::from_waker(waker)) {
                return Ok(v);
            }
            // A cancel wakes this thread, parked or leading (the eventfd).
            let on_cancel = budget.cancel.map(|c| {
                let (me, wake) = (me.clone(), self.wake.clone());
                let id = c.on_trigger(Box::new(move || {
                    me.wake_by_ref();
                    wake.signal();
                }));
                (c, id)
            });
            let result = self.poll_until(&mut f, me, waker, deadline, op, budget, what);
            if let Some((c, id)) = on_cancel {
                c.forget(id);
            }
            self.leave(waker);
            result
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn poll_until<T>(
        &self,
        f: &mut impl FnMut(&mut Context<'_>) -> Poll<T>,
        me: &Arc<ThreadWake>,
        waker: &Waker,
        deadline: Option<Instant>,
        op: Op,
        budget: &Budget<'_>,
        what: &dyn fmt::Display,
    ) -> Result<T, NetError> {
        // `f` was polled once already (`block_on`), with `me.woken` cleared
        // before: each round clears it, then polls `f`, so a wake after
        // the clear is seen by the next wait.
        loop {
            budget.check_cancel()?;
            if let Some(e) = self.setup_failed() {
                return Err(e);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(budget.timeout_error(op, what));
            }
            let deadline = earliest(deadline, self.setup.deadline());
            if self.try_lead(waker) {
                let driven = self.drive(me, deadline, budget);
                self.hand_off(waker);
                if let Some(reason) = driven? {
                    // The connection ended; a stream still pending will
                    // never be served.
                    if let Poll::Ready(v) = f(&mut Context::from_waker(waker)) {
                        return Ok(v);
                    }
                    return Err(NetError::new(NetErrorKind::ConnectionClosed, reason));
                }
            } else if !me.woken.load(Ordering::Acquire) {
                let guard = Instant::now() + PARK_GUARD;
                let until = deadline.map_or(guard, |d| d.min(guard));
                std::thread::park_timeout(until.saturating_duration_since(Instant::now()));
            }
            me.woken.store(false, Ordering::Release);
            if let Poll::Ready(v) = f(&mut Context::from_waker(waker)) {
                return Ok(v);
            }
        }
    }

    /// Takes the driver role if it is free; otherwise queues `me`.
    fn try_lead(&self, me: &Waker) -> bool {
        let mut role = lock(&self.role);
        if !role.leader {
            role.leader = true;
            return true;
        }
        if !role.waiting.iter().any(|w| w.will_wake(me)) {
            role.waiting.push_back(me.clone());
        }
        false
    }

    /// Gives the role up and wakes the first queued waiter to take it.
    fn hand_off(&self, me: &Waker) {
        let next = {
            let mut role = lock(&self.role);
            role.leader = false;
            role.waiting.iter().find(|w| !w.will_wake(me)).cloned()
        };
        if let Some(w) = next {
            w.wake();
        }
    }

    /// `me`'s wait is over: out of the queue, and if no one leads, the
    /// next queued waiter is woken to.
    fn leave(&self, me: &Waker) {
        let next = {
            let mut role = lock(&self.role);
            role.waiting.retain(|w| !w.will_wake(me));
            match role.leader {
                true => None,
                false => role.waiting.front().cloned(),
            }
        };
        if let Some(w) = next {
            w.wake();
        }
    }

    /// One round as leader: poll the connection; unless this thread's own
    /// stream was woken by that, wait for the socket or the eventfd (never
    /// past `deadline`) and poll again. `Some(reason)` once the connection
    /// has ended.
    fn drive(
        &self,
        me: &ThreadWake,
        deadline: Option<Instant>,
        budget: &Budget<'_>,
    ) -> Result<Option<String>, NetError> {
        let mut driver = lock(&self.driver);
        self.poll_connection(&mut driver);
        // Bytes left unread in the socket (the read allowance ran out), or
        // this thread's stream has news: no sleeping.
        if driver.ended.is_some() || me.woken.load(Ordering::Acquire) || self.io.read_capped() {
            return Ok(driver.ended.clone());
        }
        if self.wake.arm() {
            let waited = wait_socket(
                &self.socket,
                self.io.write_blocked(),
                Some(&self.wake.fd),
                deadline,
                budget,
            );
            self.wake.disarm();
            if waited? == Some(true) {
                self.io.set_readable();
            }
        }
        self.poll_connection(&mut driver);
        Ok(driver.ended.clone())
    }

    fn poll_connection(&self, driver: &mut Driver) {
        if driver.ended.is_some() {
            return;
        }
        self.wake.clear();
        self.io.allow_reads(READ_ROUND);
        let polled = Pin::new(&mut driver.conn).poll(&mut Context::from_waker(&self.waker));
        if let Poll::Ready(r) = polled {
            self.close_to_new();
            driver.ended = Some(match r {
                Ok(()) => format!("{} closed the HTTP/2 connection", self.peer),
                Err(e) => protocol_error(&e, &self.peer).message,
            });
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Waits until `socket` is readable (or writable, with `write`), `wake` is
/// readable, or `deadline` passes (`None`); `Some(true)` when the socket
/// has bytes to read (or hung up). A cancel is seen by the caller.
fn wait_socket(
    socket: &OwnedFd,
    write: bool,
    wake: Option<&OwnedFd>,
    deadline: Option<Instant>,
    budget: &Budget<'_>,
) -> Result<Option<bool>, NetError> {
    let mut flags = PollFlags::IN;
    if write {
        flags |= PollFlags::OUT;
    }
    budget.check_cancel()?;
    let ready = poll_once(socket.as_fd(), flags, wake.map(|w| w.as_fd()), deadline)
        .map_err(|e| NetError::io(&e, "waiting on an HTTP/2 connection"))?;
    Ok(ready.map(|r| r.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)))
}

/// An h2 error as reqivo's: the RFC 9113 error code by name when there is
/// one, and whether the server sent it.
pub(crate) fn protocol_error(e: &h2::Error, peer: &str) -> NetError {
    if let Some(io) = e.get_io() {
        return NetError::io(io, &format!("HTTP/2 connection to {}", peer));
    }
    let kind = NetErrorKind::Http2Protocol;
    let by = if e.is_remote() {
        "the server"
    } else {
        "reqivo"
    };
    let message = match e.reason() {
        Some(r) if e.is_go_away() => format!(
            "{} sent GOAWAY ({:?}) on the HTTP/2 connection to {}",
            by, r, peer
        ),
        Some(r) if e.is_reset() => format!("{} reset the HTTP/2 stream to {} ({:?})", by, peer, r),
        _ => format!("HTTP/2 error with {}: {}", peer, e),
    };
    NetError::new(kind, message)
}
