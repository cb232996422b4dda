//! The connection pool: thread-safe, shared by any number of sessions.
//!
//! Idle connections are kept per key (scheme, host, port, TLS config) in
//! LIFO order, so the most recently used, least likely to have been closed
//! by the server, is handed out first. Every checked-out connection is a
//! `Lease`; dropping a lease without `release(true)` closes the connection,
//! so an error path can never leak a slot. The per-host limits count per
//! key: each TLS config to a host has its own `max_per_host` and
//! `max_idle_per_host`. A connection released while its key already has
//! `max_idle_per_host` idle is closed instead of kept.
use std::hash::{Hash, Hasher};

use hashbrown::Equivalent;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::budget::{Budget, Op};
use super::cancel::Cancel;
use super::conn::Conn;
use super::error::NetError;
use super::h2::{speaks_h2, H2Conn, HttpVersion};
use super::proxy::Route;
use super::target::Dial;
use super::tls::{TlsConfig, TlsInfo};

/// foldhash: the maps hold at most `max_total` keys (one per open
/// connection), so even crafted colliding hosts cost only a short scan.
type HashMap<K, V> = hashbrown::HashMap<K, V>;

/// Connections are shared only between requests with the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolKey {
    pub scheme: String,
    /// Where the connection goes: the origin, or for `Route::Forward` the
    /// proxy itself.
    pub host: String,
    pub port: u16,
    /// Direct, to a forwarding proxy, or tunnelled through one.
    pub route: Route,
    /// The TLS configuration new connections are made with; `None` for
    /// plain HTTP. Compared by identity, so a connection made under one
    /// trust store or client certificate never serves a request made under
    /// another.
    pub tls: Option<Arc<TlsConfig>>,
    /// Where the socket goes when not where DNS says (an address
    /// override, another host and port, a Unix socket).
    pub dial: Option<Arc<Dial>>,
    /// The HTTP versions its connections may speak.
    pub version: HttpVersion,
}

/// A pool key made of borrowed parts, for lookups: a request finds its
/// connections without building a `PoolKey` (whose strings would be two
/// allocations per request).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyRef<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub route: Route,
    pub tls: Option<Arc<TlsConfig>>,
    pub dial: Option<Arc<Dial>>,
    pub version: HttpVersion,
}

impl KeyRef<'_> {
    pub fn to_owned(&self) -> PoolKey {
        PoolKey {
            scheme: self.scheme.to_string(),
            host: self.host.to_string(),
            port: self.port,
            route: self.route.clone(),
            tls: self.tls.clone(),
            dial: self.dial.clone(),
            version: self.version,
        }
    }
}

/// Hashed field by field as `KeyRef` derives it, so both forms find the
/// same entries.
impl Hash for PoolKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.scheme.as_str().hash(state);
        self.host.as_str().hash(state);
        self.port.hash(state);
        self.route.hash(state);
        self.tls.hash(state);
        self.dial.hash(state);
        self.version.hash(state);
    }
}

impl Equivalent<Arc<PoolKey>> for KeyRef<'_> {
    fn equivalent(&self, key: &Arc<PoolKey>) -> bool {
        self.scheme == key.scheme
            && self.host == key.host
            && self.port == key.port
            && self.route == key.route
            && self.tls == key.tls
            && self.dial == key.dial
            && self.version == key.version
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections per key, idle or in use (`usize::MAX`: no limit).
    pub max_per_host: usize,
    /// Most connections in all (`usize::MAX`: no limit).
    pub max_total: usize,
    /// Idle connections older than this are closed instead of reused.
    pub max_idle: Duration,
    /// Most idle connections kept per key; `None` is `max_per_host` (which
    /// bounds the idle ones anyway). A connection released beyond it is
    /// closed.
    pub max_idle_per_host: Option<usize>,
}

impl PoolConfig {
    /// The idle cap in effect: `max_idle_per_host`, or `max_per_host`.
    pub fn idle_per_host(&self) -> usize {
        self.max_idle_per_host.unwrap_or(self.max_per_host)
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_per_host: 10,
            max_total: 100,
            max_idle: Duration::from_secs(30),
            max_idle_per_host: None,
        }
    }
}

/// A limit for messages: a number, or "no limit" for `usize::MAX`.
fn limit_text(n: usize) -> String {
    if n == usize::MAX {
        "no limit".to_string()
    } else {
        n.to_string()
    }
}

/// Counters (since creation) and gauges (now).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub opened: u64,
    pub reused: u64,
    pub closed: u64,
    pub idle: u64,
    pub in_use: u64,
    pub waiting: u64,
    /// HTTP/2 streams opened, in all.
    pub streams_opened: u64,
    /// HTTP/2 streams open now.
    pub streams_active: u64,
    /// HTTP/2 connections taking new streams now (each counts once in
    /// `in_use`, however many streams it carries).
    pub h2_connections: u64,
}

#[derive(Default)]
struct State {
    /// Idle connections per key, most recent last. A key's entry stays
    /// (possibly empty) while it has open connections, so a keep-alive
    /// request cycle moves a connection out and back without allocating.
    /// Boxed: a connection moves in and out of here on every request,
    /// and a pointer is cheaper to move than the connection.
    #[allow(clippy::vec_box)]
    idle: HashMap<Arc<PoolKey>, Vec<Box<Conn>>>,
    /// Open connections per key, idle or in use.
    open: HashMap<Arc<PoolKey>, usize>,
    open_total: usize,
    idle_count: usize,
    in_use: usize,
    waiting: usize,
    /// The HTTP/2 connection of each key that takes new streams. It holds
    /// one slot of its key (open and in use) while it is here.
    h2: HashMap<Arc<PoolKey>, Arc<H2Conn>>,
    /// Keys whose first connection is being opened and may come back
    /// HTTP/2: other checkouts wait for it rather than dial in parallel.
    h2_opening: Vec<Arc<PoolKey>>,
    /// Event-driven waiters (a multi with requests queued for a slot):
    /// called once, outside the lock, when a connection is released or
    /// closed, then forgotten; a waiter that still needs a slot registers
    /// again.
    wakers: Vec<Arc<dyn Fn() + Send + Sync>>,
}

impl State {
    /// One connection of `key` is gone; a key with none left is dropped.
    fn forget<Q: Hash + Equivalent<Arc<PoolKey>> + ?Sized>(&mut self, key: &Q) {
        self.open_total -= 1;
        if let Some(n) = self.open.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(key);
                self.idle.remove(key);
            }
        }
    }

    /// Whether `key`'s next new connection is to be waited for by other
    /// checkouts: it may come back HTTP/2, which none of the key's open
    /// connections did (one that came back HTTP/1.1 leaves the key an
    /// entry in `idle`, kept while it has open connections).
    fn opens_h2(&self, key: &KeyRef<'_>) -> bool {
        key.version.may_use_h2() && !self.idle.contains_key(key)
    }

    /// A connection of `key` that may have spoken HTTP/2 came back
    /// HTTP/1.1: the key is known to (`opens_h2`), and checkouts that
    /// waited for it dial their own.
    fn opened_h1(&mut self, key: &Arc<PoolKey>) {
        self.h2_opening.retain(|k| !Arc::ptr_eq(k, key));
        if !self.idle.contains_key(key) {
            self.idle.insert(key.clone(), Vec::new());
        }
    }

    /// The key's HTTP/2 connection if it takes new streams; one that no
    /// longer does, or sat without a stream past `max_idle`, leaves the
    /// pool (its streams finish on it; it closes after the last).
    fn h2_for(&mut self, key: &KeyRef<'_>, max_idle: Duration) -> Option<Arc<H2Conn>> {
        let (k, conn) = self.h2.get_key_value(key)?;
        if conn.is_open() && conn.idle_for() <= max_idle {
            return Some(conn.clone());
        }
        let k = k.clone();
        self.drop_h2(&k);
        None
    }

    /// Takes `key`'s HTTP/2 connection out of the pool, freeing its slot.
    fn drop_h2(&mut self, key: &Arc<PoolKey>) -> Option<Arc<H2Conn>> {
        let conn = self.h2.remove(key)?;
        conn.close_to_new();
        self.in_use -= 1;
        self.forget(key);
        Some(conn)
    }

    fn pop_idle(&mut self, key: &KeyRef<'_>) -> Option<(Arc<PoolKey>, Box<Conn>)> {
        let (k, list) = self.idle.get_key_value_mut(key)?;
        let conn = list.pop()?;
        self.idle_count -= 1;
        Some((k.clone(), conn))
    }

    /// Removes the oldest idle connection of any key but `keep`, to make room.
    fn evict_other(&mut self, keep: &KeyRef<'_>) -> Option<(Arc<PoolKey>, Box<Conn>)> {
        let (key, list) = self
            .idle
            .iter_mut()
            .filter(|(k, v)| !keep.equivalent(*k) && !v.is_empty())
            .min_by_key(|(_, v)| v[0].idle_since)?;
        let conn = list.remove(0);
        self.idle_count -= 1;
        Some((key.clone(), conn))
    }
}

/// While this lives, a trigger of `cancel` wakes the pool's waiters.
struct CancelWake<'a> {
    cancel: &'a Cancel,
    id: u64,
}

impl<'a> CancelWake<'a> {
    fn register(cancel: &'a Cancel, shared: &Arc<Shared>) -> CancelWake<'a> {
        let shared = Arc::downgrade(shared);
        let id = cancel.on_trigger(Box::new(move || {
            if let Some(shared) = shared.upgrade() {
                // Under the lock: a waiter either waits already (and is
                // notified) or has yet to check the token (and sees it).
                let _st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
                shared.freed.notify_all();
            }
        }));
        CancelWake { cancel, id }
    }
}

impl Drop for CancelWake<'_> {
    fn drop(&mut self) {
        self.cancel.forget(self.id);
    }
}

struct Shared {
    config: PoolConfig,
    /// `config.idle_per_host()`, worked out once.
    idle_cap: usize,
    state: Mutex<State>,
    freed: Condvar,
    opened: AtomicU64,
    reused: AtomicU64,
    closed: AtomicU64,
    streams_opened: AtomicU64,
}

/// A handle to a pool; clones share it.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

/// What a checkout that must not wait found.
pub enum Checkout {
    /// An idle connection, checked for staleness.
    Idle(Lease),
    /// A slot for a new connection, reserved: open it and `fill` it.
    Reserved(Reservation),
    /// No idle connection and no room; `Pool::wake_on_free` tells when to
    /// try again.
    Full,
    /// The key's HTTP/2 connection, to open a stream on.
    H2(H2Lease),
}

/// A slot in the pool held for a connection being opened without
/// blocking. Dropping it frees the slot.
pub struct Reservation {
    key: Arc<PoolKey>,
    pool: Option<Pool>,
}

impl Reservation {
    /// The connection is open and speaks HTTP/2: it becomes the key's
    /// shared connection (replacing one that was, which takes no new
    /// streams from now on), and this stream's lease on it.
    pub fn fill_h2(mut self, conn: Arc<H2Conn>) -> H2Lease {
        let pool = self.pool.take().expect("a reservation is filled once");
        pool.shared.opened.fetch_add(1, Ordering::Relaxed);
        let mut st = pool.lock();
        drop(st.drop_h2(&self.key));
        st.h2.insert(self.key.clone(), conn.clone());
        st.h2_opening.retain(|k| !Arc::ptr_eq(k, &self.key));
        let lease = H2Lease::new(conn, false, &pool);
        // Checkouts that waited for this connection share it now.
        pool.notify_freed(st);
        lease
    }

    /// The connection is open: it becomes a lease in the reserved slot.
    pub fn fill(mut self, conn: Box<Conn>) -> Lease {
        let pool = self.pool.take().expect("a reservation is filled once");
        pool.shared.opened.fetch_add(1, Ordering::Relaxed);
        if self.key.version.may_use_h2() {
            let mut st = pool.lock();
            st.opened_h1(&self.key);
            pool.notify_freed(st);
        }
        Lease {
            conn: Some(conn),
            key: self.key.clone(),
            pool,
            reused: false,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.forget_detached_slot(&self.key);
        }
    }
}

/// A connection just opened, by the protocol it speaks.
enum Opened {
    H1(Box<Conn>),
    H2(Arc<H2Conn>),
}

/// What a blocking checkout hands out: a connection of its own for one
/// HTTP/1.1 exchange, or a shared HTTP/2 connection to open a stream on.
pub enum Leased {
    H1(Lease),
    H2(H2Lease),
}

/// A stream's claim on a shared HTTP/2 connection: counted as open from
/// checkout until dropped.
pub struct H2Lease {
    pub conn: Arc<H2Conn>,
    /// True when the connection had carried an earlier stream.
    pub reused: bool,
}

impl H2Lease {
    fn new(conn: Arc<H2Conn>, reused: bool, pool: &Pool) -> H2Lease {
        conn.stream_started();
        pool.shared.streams_opened.fetch_add(1, Ordering::Relaxed);
        if reused {
            pool.shared.reused.fetch_add(1, Ordering::Relaxed);
        }
        H2Lease { conn, reused }
    }
}

impl Drop for H2Lease {
    fn drop(&mut self) {
        self.conn.stream_ended();
    }
}

/// A connection checked out of the pool.
pub struct Lease {
    conn: Option<Box<Conn>>,
    key: Arc<PoolKey>,
    pool: Pool,
    /// True when the connection had served an earlier request.
    pub reused: bool,
}

impl Lease {
    /// How the connection reaches its origin (a forwarding proxy takes
    /// absolute-form request targets).
    pub fn route(&self) -> &Route {
        &self.key.route
    }

    pub fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until released")
    }

    pub fn conn_ref(&self) -> &Conn {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until released")
    }

    /// What the connection's TLS handshake settled on; `None` for plain HTTP.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.conn.as_ref().and_then(|c| c.tls_info())
    }

    /// Takes the connection out of the pool for good: an upgraded
    /// connection (WebSocket) speaks another protocol and is never reused.
    /// Its slot is freed at once, and the pool counts it as closed, since
    /// it will never see it again.
    pub fn detach(mut self) -> Conn {
        let conn = self
            .conn
            .take()
            .expect("a lease holds its connection until released");
        self.pool.forget_detached(&self.key);
        *conn
    }

    /// Gives the connection back: kept idle when `reusable`, else closed.
    pub fn release(mut self, reusable: bool) {
        if let Some(conn) = self.conn.take() {
            self.pool.checkin(&self.key, conn, reusable);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.checkin(&self.key, conn, false);
        }
    }
}

impl Pool {
    pub fn new(config: PoolConfig) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                idle_cap: config.idle_per_host(),
                config,
                state: Mutex::new(State::default()),
                freed: Condvar::new(),
                opened: AtomicU64::new(0),
                reused: AtomicU64::new(0),
                closed: AtomicU64::new(0),
                streams_opened: AtomicU64::new(0),
            }),
        }
    }

    pub fn config(&self) -> PoolConfig {
        self.shared.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counts that are still
        // consistent (every update is a single statement), so keep going.
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stats(&self) -> PoolStats {
        let st = self.lock();
        PoolStats {
            opened: self.shared.opened.load(Ordering::Relaxed),
            reused: self.shared.reused.load(Ordering::Relaxed),
            closed: self.shared.closed.load(Ordering::Relaxed),
            idle: st.idle_count as u64,
            in_use: st.in_use as u64,
            waiting: st.waiting as u64,
            streams_opened: self.shared.streams_opened.load(Ordering::Relaxed),
            streams_active: st.h2.values().map(|c| c.streams() as u64).sum(),
            h2_connections: st.h2.len() as u64,
        }
    }

    /// Closes every idle connection now and returns how many it closed.
    /// Connections in use are untouched: they come back as usual when
    /// released, and later checkouts open new connections. Waiters for a
    /// slot are woken, since the closed connections freed theirs.
    pub fn close_idle(&self) -> usize {
        let (idle, h2) = {
            let mut st = self.lock();
            let idle = std::mem::take(&mut st.idle);
            st.idle_count = 0;
            for (key, conns) in &idle {
                for _ in conns {
                    st.forget(key);
                }
            }
            let quiet: Vec<_> = st
                .h2
                .iter()
                .filter(|(_, c)| c.streams() == 0)
                .map(|(k, _)| k.clone())
                .collect();
            let h2: Vec<_> = quiet.iter().filter_map(|k| st.drop_h2(k)).collect();
            (idle, h2)
        };
        // Close outside the lock: a TLS connection says goodbye on close.
        let mut n = h2.len();
        self.shared.closed.fetch_add(n as u64, Ordering::Relaxed);
        drop(h2);
        for conn in idle.into_values().flatten() {
            self.close(conn);
            n += 1;
        }
        if n > 0 {
            self.notify_freed(self.lock());
        }
        n
    }

    fn close(&self, conn: Box<Conn>) {
        self.shared.closed.fetch_add(1, Ordering::Relaxed);
        drop(conn);
    }

    /// Checks out a connection for `key`: its HTTP/2 connection when it
    /// has one taking streams, else the most recent idle one that is still
    /// fresh, else a new one when the limits allow, else waits for a slot
    /// under the pool timeout. While a key's first connection is being
    /// opened and may come back HTTP/2, other checkouts for it wait for it
    /// too. `fresh` skips pooled connections (the retry after a stale
    /// reuse). `max_header_bytes` bounds the header lists a new HTTP/2
    /// connection accepts.
    pub fn checkout(
        &self,
        key: &KeyRef<'_>,
        fresh: bool,
        max_header_bytes: usize,
        budget: &Budget<'_>,
    ) -> Result<Leased, NetError> {
        let cfg = self.shared.config;
        let mut deadline: Option<Option<Instant>> = None;
        let mut woken_by_cancel = None;
        let mut st = self.lock();
        loop {
            budget.check_cancel()?;
            let mut opening = false;
            if key.version.may_use_h2() {
                st = match self.claim_h2(st, key, fresh) {
                    Ok(lease) => return Ok(Leased::H2(lease)),
                    Err(st) => st,
                };
                opening = st.h2_opening.iter().any(|k| key.equivalent(k));
            }
            if !fresh && !opening {
                while let Some((owned, mut conn)) = st.pop_idle(key) {
                    st.in_use += 1;
                    drop(st);
                    if conn.idle_for() <= cfg.max_idle && !conn.is_stale() {
                        self.shared.reused.fetch_add(1, Ordering::Relaxed);
                        return Ok(Leased::H1(Lease {
                            conn: Some(conn),
                            key: owned,
                            pool: self.clone(),
                            reused: true,
                        }));
                    }
                    self.close(conn);
                    st = self.lock();
                    st.in_use -= 1;
                    st.forget(key);
                }
            }
            if !opening {
                let per_key = st.open.get(key).copied().unwrap_or(0);
                if per_key < cfg.max_per_host && st.open_total < cfg.max_total {
                    return self.open_new(st, key, max_header_bytes, budget);
                }
                // Room can be made by closing an idle connection: of another
                // key when the total is full, of this key when a fresh one is
                // needed.
                let victim = if per_key < cfg.max_per_host {
                    st.evict_other(key)
                } else if fresh {
                    st.pop_idle(key)
                } else {
                    None
                };
                if let Some((k, conn)) = victim {
                    st.forget(&k);
                    self.close(conn);
                    continue;
                }
            }
            let until = *deadline.get_or_insert_with(|| budget.op_deadline(Op::Pool));
            let now = Instant::now();
            if until.is_some_and(|d| now >= d) {
                let what = format!(
                    "waiting for a free connection to {}:{} ({} per host, {} total)",
                    key.host,
                    key.port,
                    limit_text(cfg.max_per_host),
                    limit_text(cfg.max_total)
                );
                return Err(budget.timeout_error(Op::Pool, &what));
            }
            let wait = until.map_or(Duration::from_secs(3600), |d| d - now);
            // The token wakes this wait when it fires: no slices, so a
            // thousand callers queued here cost nothing while they wait.
            // (Registered without the lock, which the waker takes: then
            // everything is checked again under it.)
            if let (Some(c), None) = (budget.cancel, &woken_by_cancel) {
                drop(st);
                woken_by_cancel = Some(CancelWake::register(c, &self.shared));
                st = self.lock();
                continue;
            }
            st.waiting += 1;
            st = self
                .shared
                .freed
                .wait_timeout(st, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            st.waiting -= 1;
        }
    }

    /// `checkout` for the event-driven core: never waits and never
    /// connects. An idle connection comes back as a lease; otherwise a slot
    /// is reserved when the limits allow (making room by closing another
    /// key's idle connection, as `checkout` does), or the pool is full.
    pub fn try_checkout(&self, key: &KeyRef<'_>, fresh: bool) -> Checkout {
        let cfg = self.shared.config;
        let mut st = self.lock();
        loop {
            if key.version.may_use_h2() {
                st = match self.claim_h2(st, key, fresh) {
                    Ok(lease) => return Checkout::H2(lease),
                    Err(st) => st,
                };
            }
            if !fresh {
                while let Some((owned, mut conn)) = st.pop_idle(key) {
                    st.in_use += 1;
                    drop(st);
                    if conn.idle_for() <= cfg.max_idle && !conn.is_stale() {
                        self.shared.reused.fetch_add(1, Ordering::Relaxed);
                        return Checkout::Idle(Lease {
                            conn: Some(conn),
                            key: owned,
                            pool: self.clone(),
                            reused: true,
                        });
                    }
                    self.close(conn);
                    st = self.lock();
                    st.in_use -= 1;
                    st.forget(key);
                }
            }
            // The key's first connection is being opened and will speak
            // HTTP/2: wait for it (the pool wakes its waiters then).
            if key.version.may_use_h2() && st.h2_opening.iter().any(|k| key.equivalent(k)) {
                return Checkout::Full;
            }
            let per_key = st.open.get(key).copied().unwrap_or(0);
            if per_key < cfg.max_per_host && st.open_total < cfg.max_total {
                let may_h2 = st.opens_h2(key);
                let owned = Self::reserve(&mut st, key);
                if may_h2 {
                    st.h2_opening.push(owned.clone());
                }
                return Checkout::Reserved(Reservation {
                    key: owned,
                    pool: Some(self.clone()),
                });
            }
            let victim = if per_key < cfg.max_per_host {
                st.evict_other(key)
            } else if fresh {
                st.pop_idle(key)
            } else {
                None
            };
            match victim {
                Some((k, conn)) => {
                    st.forget(&k);
                    self.close(conn);
                }
                None => return Checkout::Full,
            }
        }
    }

    /// A new stream's lease on `key`'s HTTP/2 connection, if it takes one
    /// (the lock released); else the lock back. `fresh` retires the
    /// connection instead (the retry after a failure on it). One that sat
    /// idle is polled first, never waiting: a GOAWAY or a close that came
    /// meanwhile retires it.
    fn claim_h2<'p>(
        &'p self,
        mut st: MutexGuard<'p, State>,
        key: &KeyRef<'_>,
        fresh: bool,
    ) -> Result<H2Lease, MutexGuard<'p, State>> {
        if fresh {
            let stale = st.h2.get_key_value(key).map(|(k, _)| k.clone());
            if let Some(k) = stale {
                drop(st.drop_h2(&k));
            }
            return Err(st);
        }
        let max_idle = self.shared.config.max_idle;
        while let Some(conn) = st.h2_for(key, max_idle) {
            drop(st);
            if conn.streams() == 0 {
                conn.refresh();
            }
            if conn.is_open() {
                return Ok(H2Lease::new(conn, true, self));
            }
            st = self.lock();
        }
        Err(st)
    }

    /// This pool's identity (every clone has the same), for a waiter that
    /// must tell pools apart without holding one.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// Calls `wake` once, the next time a connection of this pool is
    /// released or closed (a slot may then be free).
    pub fn wake_on_free(&self, wake: Arc<dyn Fn() + Send + Sync>) {
        self.lock().wakers.push(wake);
    }

    /// Counts a new connection of `key` as open and in use; returns the
    /// key's shared owned form, made once with its first connection.
    fn reserve(st: &mut State, key: &KeyRef<'_>) -> Arc<PoolKey> {
        let owned = match st.open.get_key_value_mut(key) {
            Some((k, n)) => {
                *n += 1;
                k.clone()
            }
            None => {
                let k = Arc::new(key.to_owned());
                st.open.insert(k.clone(), 1);
                k
            }
        };
        st.open_total += 1;
        st.in_use += 1;
        owned
    }

    /// A reserved slot was given up before its connection opened.
    fn forget_detached_slot(&self, key: &Arc<PoolKey>) {
        let mut st = self.lock();
        st.h2_opening.retain(|k| !Arc::ptr_eq(k, key));
        st.in_use -= 1;
        st.forget(key);
        self.notify_freed(st);
    }

    /// Wakes every waiter for a slot: threads in `checkout` and registered
    /// event-driven waiters. Takes the lock's guard so the count of waiters
    /// is read under it; the wake-ups happen after it is released.
    fn notify_freed(&self, mut st: MutexGuard<'_, State>) {
        let wake = st.waiting > 0;
        let wakers = std::mem::take(&mut st.wakers);
        drop(st);
        if wake {
            self.shared.freed.notify_all();
        }
        for w in wakers {
            w();
        }
    }

    fn open_new(
        &self,
        mut st: MutexGuard<'_, State>,
        key: &KeyRef<'_>,
        max_header_bytes: usize,
        budget: &Budget<'_>,
    ) -> Result<Leased, NetError> {
        // Reserve the slot, then connect without holding the lock.
        let may_h2 = st.opens_h2(key);
        let owned = Self::reserve(&mut st, key);
        if may_h2 {
            st.h2_opening.push(owned.clone());
        }
        drop(st);
        let opened = self.open_conn(key, max_header_bytes, budget);
        let mut st = self.lock();
        if may_h2 {
            st.h2_opening.retain(|k| !Arc::ptr_eq(k, &owned));
        }
        match opened {
            Ok(Opened::H1(conn)) => {
                if key.version.may_use_h2() {
                    st.opened_h1(&owned);
                    self.notify_freed(st);
                }
                Ok(Leased::H1(Lease {
                    conn: Some(conn),
                    key: owned,
                    pool: self.clone(),
                    reused: false,
                }))
            }
            Ok(Opened::H2(conn)) => {
                drop(st.drop_h2(&owned));
                st.h2.insert(owned, conn.clone());
                self.notify_freed(st);
                Ok(Leased::H2(H2Lease::new(conn, false, self)))
            }
            Err(e) => {
                st.in_use -= 1;
                st.forget(key);
                self.notify_freed(st);
                Err(e)
            }
        }
    }

    /// Connects for `key`, and starts HTTP/2 on the connection when TLS
    /// chose it or the key speaks it with prior knowledge.
    fn open_conn(
        &self,
        key: &KeyRef<'_>,
        max_header_bytes: usize,
        budget: &Budget<'_>,
    ) -> Result<Opened, NetError> {
        let tunnel = match &key.route {
            Route::Tunnel(proxy) => Some(proxy.as_ref()),
            Route::Direct | Route::Forward => None,
        };
        let conn = Conn::open(
            key.host,
            key.port,
            key.tls.as_deref().map(|t| (t, key.version.alpn())),
            tunnel,
            key.dial.as_deref(),
            budget,
        )?;
        self.shared.opened.fetch_add(1, Ordering::Relaxed);
        let h2 = match speaks_h2(&conn, key.version) {
            Ok(h2) => h2,
            Err(e) => {
                self.shared.closed.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        if !h2 {
            return Ok(Opened::H1(Box::new(conn)));
        }
        match H2Conn::start(conn, max_header_bytes, budget) {
            Ok(c) => Ok(Opened::H2(c)),
            Err(e) => {
                self.shared.closed.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn forget_detached(&self, key: &Arc<PoolKey>) {
        self.shared.closed.fetch_add(1, Ordering::Relaxed);
        let mut st = self.lock();
        st.in_use -= 1;
        st.forget(key);
        self.notify_freed(st);
    }

    fn checkin(&self, key: &Arc<PoolKey>, mut conn: Box<Conn>, reusable: bool) {
        let mut st = self.lock();
        st.in_use -= 1;
        // Waiters register under this lock before they sleep, so reading
        // the count here loses no wake-up; skipping the notify when nobody
        // waits saves a futex call on every request.
        let waiters = st.waiting > 0 || !st.wakers.is_empty();
        // Kept while the key has fewer idle than the cap; else closed.
        let cap = self.shared.idle_cap;
        let kept = if !reusable {
            Err(conn)
        } else {
            conn.idle_since = Instant::now();
            match st.idle.get_mut(key) {
                Some(list) if list.len() >= cap => Err(conn),
                Some(list) => {
                    list.push(conn);
                    Ok(())
                }
                None if cap == 0 => Err(conn),
                None => {
                    st.idle.insert(key.clone(), vec![conn]);
                    Ok(())
                }
            }
        };
        if let Err(conn) = kept {
            st.forget(key);
            drop(st);
            self.close(conn);
            if waiters {
                self.notify_freed(self.lock());
            }
        } else {
            st.idle_count += 1;
            if waiters {
                self.notify_freed(st);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;
    use crate::net::Proxy;

    #[test]
    fn a_key_and_its_borrowed_form_hash_and_compare_alike() {
        let state = hashbrown::DefaultHashBuilder::default();
        let proxy = Arc::new(Proxy::http("proxy.test".into(), 3128, None));
        let unix = Some(Arc::new(Dial::Unix(b"/run/x.sock".to_vec())));
        for (route, tls, dial) in [
            (Route::Direct, None, None),
            (Route::Forward, None, None),
            (
                Route::Tunnel(proxy),
                Some(TlsConfig::shared_default()),
                None,
            ),
            (Route::Direct, None, unix),
        ] {
            let borrowed = KeyRef {
                scheme: "https",
                host: "example.test",
                port: 8443,
                route,
                tls,
                dial,
                version: HttpVersion::Default,
            };
            let owned = Arc::new(borrowed.to_owned());
            assert_eq!(state.hash_one(&borrowed), state.hash_one(&owned));
            assert!(borrowed.equivalent(&owned));
            let other = KeyRef {
                port: 8444,
                ..borrowed.clone()
            };
            assert!(!other.equivalent(&owned));
            let elsewhere = KeyRef {
                dial: Some(Arc::new(Dial::Addrs(vec!["127.0.0.2:8443"
                    .parse()
                    .unwrap()]))),
                ..borrowed.clone()
            };
            assert!(!elsewhere.equivalent(&owned));
        }
    }
}
