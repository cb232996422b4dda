//! A scripted HTTP server for integration tests, and small client helpers.
//!
//! The server listens on 127.0.0.1:0 and runs each accepted connection on
//! its own thread through a script of steps that send exact bytes, so every
//! framing, timing and keep-alive case is reproducible. It records what the
//! client did (connections accepted, request heads and bodies, connections
//! the client closed) for the test to assert on.
//!
//! Rule for this file: every wait is bounded (by `WAIT_MAX` at most), and
//! dropping the `Server` stops the accept thread and every connection thread
//! and joins them, so a failing test can never hang the test binary.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqivo::client::{ClientError, ClientErrorKind, Request, Response, Session};
use reqivo::net::{NetErrorKind, Pool, PoolConfig, Timeouts};
use reqivo::proto::ProtoErrorKind;

/// The longest any single wait in this harness may last, server side or test
/// side. Far above what a passing test needs, even on a loaded machine.
pub const WAIT_MAX: Duration = Duration::from_secs(10);
/// Granularity at which blocked server threads notice a stop request.
const SLICE: Duration = Duration::from_millis(5);

/// Produces the response bytes for one request (see `Step::Serve`).
pub type Handler = Arc<dyn Fn(&Seen) -> Vec<u8> + Send + Sync>;

/// One step of a connection's script.
#[derive(Clone)]
pub enum Step {
    /// Reads one request: its head and a Content-Length body. The
    /// connection ends if the client closes first.
    Read,
    /// Sends these exact bytes.
    Send(Vec<u8>),
    /// Sleeps this many milliseconds.
    Sleep(u64),
    /// Sends the bytes one at a time, sleeping this many milliseconds
    /// before each one.
    Drip(Vec<u8>, u64),
    /// Sends a chunked body of `total` bytes in `chunk`-byte chunks (a
    /// multiple of 256), then the last chunk. Byte `i` of the body is
    /// `i % 256`. The frame is built once, so the server stays small.
    ChunkedBody { chunk: usize, total: u64 },
    /// Sends `0xAB` bytes as fast as the client takes them, until the
    /// client goes away (for a close-delimited body that never ends).
    Flood,
    /// Sends these bytes over and over, as fast as the client takes them,
    /// until the client goes away (e.g. endless interim responses).
    Repeat(Vec<u8>),
    /// Records a marker the test can wait for with `Server::wait_mark`.
    Mark(&'static str),
    /// Closes the connection (FIN).
    Close,
    /// Half-closes: sends FIN (shutdown of the write side) but keeps
    /// reading, so the client sees EOF while its own writes still land.
    HalfClose,
    /// Aborts the connection (RST, via SO_LINGER 0).
    Reset,
    /// Keeps the connection open without answering: reads (and records any
    /// complete request) until the client closes it.
    Hold,
    /// Keeps the connection open and neither reads nor writes, so the
    /// client's writes back up.
    Freeze,
    /// Answers every request with the handler's bytes until the client
    /// closes; closes after a response whose head says `Connection: close`.
    Serve(Handler),
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Accept order of the connection it came on, from 0.
    pub conn: usize,
    /// The raw head, up to and including the blank line.
    pub head: String,
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// The first value of `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
}

/// What the server observed so far.
#[derive(Default, Debug, Clone)]
pub struct Log {
    /// Connections accepted.
    pub accepted: usize,
    /// Every complete request, in arrival order.
    pub requests: Vec<Seen>,
    /// Markers recorded by `Step::Mark`, in order.
    pub marks: Vec<&'static str>,
    /// Connections the client closed or reset (seen as EOF or an error).
    pub client_closes: usize,
}

struct Shared {
    log: Mutex<Log>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, f: impl FnOnce(&mut Log)) {
        f(&mut self.log());
        self.changed.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

enum Plan {
    /// Connection `i` runs script `i`; any further connection is closed at once.
    Scripts(Vec<Vec<Step>>),
    /// Every connection runs the same script.
    Each(Vec<Step>),
}

/// A scripted server on 127.0.0.1. Dropping it stops everything it runs.
/// The server's log, shareable with other threads.
pub struct LogHandle(Arc<Shared>);

impl LogHandle {
    /// Waits (at most `WAIT_MAX`) until `pred` holds; returns whether it did.
    pub fn wait_for(&self, pred: impl Fn(&Log) -> bool) -> bool {
        let deadline = Instant::now() + WAIT_MAX;
        let mut log = self.0.log();
        loop {
            if pred(&log) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            log = self
                .0
                .changed
                .wait_timeout(log, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Connection `i` (in accept order) runs `scripts[i]`; connections past
    /// the last script are accepted, counted and closed at once.
    pub fn scripted(scripts: Vec<Vec<Step>>) -> Server {
        Server::start(Plan::Scripts(scripts))
    }

    /// Every connection runs `script`.
    pub fn each(script: Vec<Step>) -> Server {
        Server::start(Plan::Each(script))
    }

    /// Every connection answers each request with `f(request)`.
    pub fn serve(f: impl Fn(&Seen) -> Vec<u8> + Send + Sync + 'static) -> Server {
        Server::each(vec![Step::Serve(Arc::new(f))])
    }

    fn start(plan: Plan) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let shared = Arc::new(Shared {
            log: Mutex::new(Log::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("server-{}", addr.port()))
            .spawn(move || accept_loop(listener, plan, sh))
            .expect("spawn server thread");
        Server {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>`
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin(), path)
    }

    /// A copy of everything observed so far.
    pub fn log(&self) -> Log {
        self.shared.log().clone()
    }

    pub fn accepted(&self) -> usize {
        self.shared.log().accepted
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.shared.log().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.log().requests.len()
    }

    /// Waits (at most `WAIT_MAX`) until `pred` holds; returns whether it did.
    pub fn wait_for(&self, pred: impl Fn(&Log) -> bool) -> bool {
        self.log_handle().wait_for(pred)
    }

    /// A handle on the log that another thread can wait on.
    pub fn log_handle(&self) -> LogHandle {
        LogHandle(self.shared.clone())
    }

    pub fn wait_requests(&self, n: usize) -> bool {
        self.wait_for(|l| l.requests.len() >= n)
    }

    pub fn wait_accepted(&self, n: usize) -> bool {
        self.wait_for(|l| l.accepted >= n)
    }

    pub fn wait_mark(&self, mark: &'static str) -> bool {
        self.wait_for(|l| l.marks.contains(&mark))
    }

    pub fn wait_client_closes(&self, n: usize) -> bool {
        self.wait_for(|l| l.client_closes >= n)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, plan: Plan, shared: Arc<Shared>) {
    let mut workers = Vec::new();
    let mut index = 0usize;
    while !shared.stopped() {
        match listener.accept() {
            Ok((stream, _)) => {
                let conn = index;
                index += 1;
                shared.record(|l| l.accepted += 1);
                let script = match &plan {
                    Plan::Scripts(s) => s.get(conn).cloned(),
                    Plan::Each(s) => Some(s.clone()),
                };
                let Some(script) = script else {
                    drop(stream);
                    continue;
                };
                let sh = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("server-conn-{}", conn))
                    .spawn(move || run_script(stream, conn, script, sh));
                if let Ok(h) = spawned {
                    workers.push(h);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(SLICE),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => std::thread::sleep(SLICE),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

/// Why a connection's script stopped early.
enum End {
    /// The client closed or reset the connection.
    ClientClosed,
    /// The server is stopping, or a wait hit `WAIT_MAX`.
    Stop,
}

struct Conn {
    stream: TcpStream,
    conn: usize,
    buf: Vec<u8>,
    shared: Arc<Shared>,
    /// Set once a step closed the connection.
    done: bool,
}

fn run_script(stream: TcpStream, conn: usize, script: Vec<Step>, shared: Arc<Shared>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(SLICE));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(20)));
    let mut c = Conn {
        stream,
        conn,
        buf: Vec::new(),
        shared,
        done: false,
    };
    for step in script {
        match c.step(step) {
            Ok(()) => {}
            Err(End::ClientClosed) => {
                c.shared.record(|l| l.client_closes += 1);
                return;
            }
            Err(End::Stop) => return,
        }
    }
    // A script that does not end the connection itself keeps it open, as
    // a keep-alive server would, until the client closes it.
    if !c.done {
        if let Err(End::ClientClosed) = c.hold() {
            c.shared.record(|l| l.client_closes += 1);
        }
    }
}

impl Conn {
    fn step(&mut self, step: Step) -> Result<(), End> {
        match step {
            Step::Read => {
                let seen = self.read_request()?;
                self.shared.record(|l| l.requests.push(seen));
                Ok(())
            }
            Step::Send(bytes) => self.send(&bytes),
            Step::Sleep(ms) => self.sleep(Duration::from_millis(ms)),
            Step::Drip(bytes, ms) => {
                for b in bytes {
                    self.sleep(Duration::from_millis(ms))?;
                    self.send(&[b])?;
                }
                Ok(())
            }
            Step::ChunkedBody { chunk, total } => self.chunked_body(chunk, total),
            Step::Flood => {
                let block = vec![0xABu8; 64 * 1024];
                let deadline = Instant::now() + WAIT_MAX;
                while Instant::now() < deadline {
                    self.send(&block)?;
                }
                Err(End::Stop)
            }
            Step::Repeat(unit) => {
                let block = unit.repeat((64 * 1024 / unit.len().max(1)).max(1));
                let deadline = Instant::now() + WAIT_MAX;
                while Instant::now() < deadline {
                    self.send(&block)?;
                }
                Err(End::Stop)
            }
            Step::Mark(m) => {
                self.shared.record(|l| l.marks.push(m));
                Ok(())
            }
            Step::Close => {
                let _ = self.stream.shutdown(Shutdown::Both);
                self.done = true;
                Ok(())
            }
            Step::HalfClose => {
                let _ = self.stream.shutdown(Shutdown::Write);
                Ok(())
            }
            Step::Reset => {
                // Closing a socket with a zero linger time sends RST; the
                // socket closes when the connection thread returns.
                let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
                self.done = true;
                Err(End::Stop)
            }
            Step::Hold => self.hold(),
            Step::Freeze => {
                self.sleep(WAIT_MAX)?;
                Err(End::Stop)
            }
            Step::Serve(handler) => loop {
                let seen = self.read_request()?;
                let out = handler(&seen);
                self.shared.record(|l| l.requests.push(seen));
                self.send(&out)?;
                if says_close(&out) {
                    let _ = self.stream.shutdown(Shutdown::Both);
                    self.done = true;
                    return Ok(());
                }
            },
        }
    }

    /// Sleeps `d`, in slices so a stop request is noticed.
    fn sleep(&self, d: Duration) -> Result<(), End> {
        let until = Instant::now() + d.min(WAIT_MAX);
        loop {
            if self.shared.stopped() {
                return Err(End::Stop);
            }
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            std::thread::sleep(SLICE.min(until - now));
        }
    }

    /// Reads more bytes into `buf`.
    fn fill(&mut self, deadline: Instant) -> Result<(), End> {
        let mut tmp = [0u8; 16 * 1024];
        loop {
            if self.shared.stopped() || Instant::now() >= deadline {
                return Err(End::Stop);
            }
            match self.stream.read(&mut tmp) {
                Ok(0) => return Err(End::ClientClosed),
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(End::ClientClosed),
            }
        }
    }

    fn send(&mut self, mut data: &[u8]) -> Result<(), End> {
        let deadline = Instant::now() + WAIT_MAX;
        while !data.is_empty() {
            if self.shared.stopped() || Instant::now() >= deadline {
                return Err(End::Stop);
            }
            match self.stream.write(data) {
                Ok(0) => return Err(End::ClientClosed),
                Ok(n) => data = &data[n..],
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(End::ClientClosed),
            }
        }
        Ok(())
    }

    /// Parses one complete request from the front of `buf`, if there is one.
    fn take_request(&mut self) -> Option<Seen> {
        let end = find(&self.buf, b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let target = first.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| {
                let (n, v) = l.split_once(':')?;
                Some((n.to_string(), v.trim().to_string()))
            })
            .collect();
        let len = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        if self.buf.len() < end + len {
            return None;
        }
        let body = self.buf[end..end + len].to_vec();
        self.buf.drain(..end + len);
        Some(Seen {
            conn: self.conn,
            head,
            method,
            target,
            headers,
            body,
        })
    }

    fn read_request(&mut self) -> Result<Seen, End> {
        let deadline = Instant::now() + WAIT_MAX;
        loop {
            if let Some(seen) = self.take_request() {
                return Ok(seen);
            }
            self.fill(deadline)?;
        }
    }

    /// Keeps the connection open, recording any request that arrives,
    /// until the client closes it (or the server stops).
    fn hold(&mut self) -> Result<(), End> {
        let deadline = Instant::now() + WAIT_MAX;
        loop {
            while let Some(seen) = self.take_request() {
                self.shared.record(|l| l.requests.push(seen));
            }
            self.fill(deadline)?;
        }
    }

    fn chunked_body(&mut self, chunk: usize, total: u64) -> Result<(), End> {
        assert!(
            chunk > 0 && chunk % 256 == 0,
            "chunk must be a multiple of 256"
        );
        let mut frame = format!("{:x}\r\n", chunk).into_bytes();
        frame.extend((0..chunk).map(|i| (i % 256) as u8));
        frame.extend_from_slice(b"\r\n");
        let mut left = total;
        while left >= chunk as u64 {
            self.send(&frame)?;
            left -= chunk as u64;
        }
        if left > 0 {
            let mut last = format!("{:x}\r\n", left).into_bytes();
            last.extend((0..left).map(|i| (i % 256) as u8));
            last.extend_from_slice(b"\r\n");
            self.send(&last)?;
        }
        self.send(b"0\r\n\r\n")
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// True when a response head carries `Connection: close`.
fn says_close(response: &[u8]) -> bool {
    let end = find(response, b"\r\n\r\n").unwrap_or(response.len());
    String::from_utf8_lossy(&response[..end])
        .to_ascii_lowercase()
        .split("\r\n")
        .any(|l| l.starts_with("connection:") && l.contains("close"))
}

// ---------------------------------------------------------------- responses

/// A complete response with the given status line, header lines and a
/// Content-Length body.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {}\r\n", status);
    for (n, v) in headers {
        out.push_str(&format!("{}: {}\r\n", n, v));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// `200 OK` with `body` and its Content-Length.
pub fn ok(body: &str) -> Vec<u8> {
    response("200 OK", &[], body.as_bytes())
}

/// A redirect with `status` (e.g. "302 Found") to `location`, empty body.
pub fn redirect(status: &str, location: &str) -> Vec<u8> {
    response(status, &[("Location", location)], b"")
}

/// `n` pairs of (read a request, send `resp`).
pub fn serve_n(n: usize, resp: &[u8]) -> Vec<Step> {
    (0..n)
        .flat_map(|_| [Step::Read, Step::Send(resp.to_vec())])
        .collect()
}

pub fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

// ------------------------------------------------------------------- client

pub fn pool(max_per_host: usize) -> Pool {
    Pool::new(PoolConfig {
        max_per_host,
        ..PoolConfig::default()
    })
}

/// A session on a pool of its own with default settings.
pub fn session() -> Session {
    Session::new(Pool::new(PoolConfig::default()))
}

/// Timeouts of `ms` milliseconds for connect, read, write and pool; no total.
pub fn timeouts_ms(ms: u64) -> Timeouts {
    let d = Some(Duration::from_millis(ms));
    Timeouts {
        connect: d,
        read: d,
        write: d,
        total: None,
        pool: d,
    }
}

pub fn request(method: &str, url: &str) -> Request {
    Request::new(method, url).expect("valid request")
}

pub fn get(s: &Session, url: &str) -> Result<Response, ClientError> {
    s.send(&request("GET", url), None)
}

/// The body as text, for readable assertions.
pub fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The first value of a response header as text.
pub fn header(r: &Response, name: &str) -> Option<String> {
    r.head
        .value(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

pub fn net_kind(e: &ClientError) -> Option<NetErrorKind> {
    match e {
        ClientError::Net(n) => Some(n.kind),
        _ => None,
    }
}

pub fn proto_kind(e: &ClientError) -> Option<ProtoErrorKind> {
    match e {
        ClientError::Proto(p) => Some(p.kind),
        _ => None,
    }
}

pub fn client_kind(e: &ClientError) -> Option<ClientErrorKind> {
    match e {
        ClientError::Client { kind, .. } => Some(*kind),
        _ => None,
    }
}

/// Unwraps an error, failing with the response's status if there was none.
pub fn expect_err(r: Result<Response, ClientError>) -> ClientError {
    match r {
        Ok(resp) => panic!(
            "expected an error, got {} with {} body bytes",
            resp.head.status,
            resp.body.len()
        ),
        Err(e) => e,
    }
}

/// A listener on 127.0.0.1 that accepts nothing, with room for `backlog`
/// connections in its queue: the kernel completes that many connects and
/// leaves the rest hanging (a connect that never finishes, without an
/// unreachable address). Returns it with its address.
pub fn unaccepting_listener(backlog: i32) -> (socket2::Socket, std::net::SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    listener.bind(&any.into()).unwrap();
    listener.listen(backlog).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    (listener, addr)
}

/// xorshift64*: a fast, seedable generator, so a failure names a seed
/// that reproduces it.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Drives `m` until `n` transfers have finished (bounded by `limit`):
/// each transfer's user value and its result.
pub fn collect(
    m: &mut reqivo::client::multi::Multi<reqivo::client::ToResponse>,
    n: usize,
    limit: Duration,
) -> Vec<(usize, Result<Response, String>)> {
    let until = Instant::now() + limit;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < until,
            "only {} of {} transfers finished",
            out.len(),
            n
        );
        m.poll(Some(Duration::from_millis(100))).expect("poll");
        while let Some(d) = m.next_done() {
            out.push((d.user, d.result.map_err(|e| e.to_string())));
        }
    }
    out
}

/// Sends each of `urls` through one multi on this thread with session
/// `s`; the results in the order of `urls`.
pub fn multi_get(s: &Session, urls: &[String]) -> Vec<Result<Response, String>> {
    let mut m = reqivo::client::multi::Multi::new().unwrap();
    let h = m.handle();
    for (i, url) in urls.iter().enumerate() {
        h.add(
            s,
            &Request::new("GET", url).unwrap(),
            None,
            reqivo::client::ToResponse,
            i,
        )
        .unwrap();
    }
    let mut done = collect(&mut m, urls.len(), WAIT_MAX);
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}
