//! One open connection: a socket, plain or TLS, and its read buffer. Every
//! read and write goes through `Socket`, so each is bounded by its timeout,
//! the total deadline and the cancel token; a TLS handshake waits the same
//! way, under the connect timeout.
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;

use super::target::{Dial, Endpoint};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustls::{ClientConnection, HandshakeKind};

use super::budget::{Budget, Op};
use super::connect;
use super::error::{NetError, NetErrorKind};
use super::proxy::{self, Proxy};
use super::socket::{net_error, Bounded, Now, Socket};
use super::tls::{self, TlsConfig, TlsHints, TlsInfo};

/// Read buffer size: large enough for typical heads and one socket read.
const READ_CHUNK: usize = 16 * 1024;
/// A new connection's first buffer: enough for most whole responses to
/// small requests. Thousands of connections in flight each hold one, and
/// growing it to `READ_CHUNK` when more comes costs one copy.
const FIRST_CHUNK: usize = 4 * 1024;

/// When opening this connection resolved, connected and finished its TLS
/// handshake. Instants, not durations, so callers can report them from the
/// start of their send (which may include a wait for the pool).
#[derive(Debug, Clone, Copy)]
pub struct ConnTimings {
    /// `None` when no resolution happened (an IP literal).
    pub dns_done: Option<Instant>,
    pub connected: Instant,
    /// `None` without TLS.
    pub tls_done: Option<Instant>,
}

enum Transport {
    Plain(Socket),
    Tls(TlsStream),
}

struct TlsStream {
    sock: Socket,
    tls: Box<ClientConnection>,
    hints: TlsHints,
}

impl Transport {
    fn socket(&mut self) -> &mut Socket {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(TlsStream { sock, .. }) => sock,
        }
    }

    fn fd(&self) -> &OwnedFd {
        match self {
            Transport::Plain(s) => s.fd(),
            Transport::Tls(TlsStream { sock, .. }) => sock.fd(),
        }
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Transport::Plain(_) => "Plain",
            Transport::Tls(_) => "Tls",
        };
        f.debug_tuple(name).field(self.fd()).finish()
    }
}

/// Where a handshake driven by `Conn::try_handshake` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    Done,
    /// Call again when the socket is readable.
    WantRead,
    /// Call again when the socket is writable.
    WantWrite,
}

/// What one `Conn::try_write` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStep {
    /// Bytes of the caller's data taken (sent, or queued in rustls).
    pub accepted: usize,
    /// The socket is full and bytes are still pending.
    pub blocked: bool,
}

#[derive(Debug)]
pub struct Conn {
    transport: Transport,
    peer: String,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    pub(crate) idle_since: Instant,
    /// When opening this connection resolved, connected and shook hands.
    pub timings: ConnTimings,
    tls_info: Option<TlsInfo>,
}

impl Conn {
    /// Connects to `host:port` (or where `dial` says), directly or through
    /// a tunnel (CONNECT or SOCKS5) opened by `tunnel`, then, with `tls`, runs the TLS
    /// handshake (SNI and certificate name from `host`, offering the `alpn`
    /// protocols) under the connect timeout.
    pub fn open(
        host: &str,
        port: u16,
        tls: Option<(&TlsConfig, &[&[u8]])>,
        tunnel: Option<&Proxy>,
        dial: Option<&Dial>,
        budget: &Budget<'_>,
    ) -> Result<Conn, NetError> {
        let (dial_host, dial_port) = match tunnel {
            Some(p) => (p.host.as_str(), p.port),
            None => (host, port),
        };
        let connect::Connected {
            fd,
            peer,
            timings: t,
        } = connect::connect(dial_host, dial_port, dial, budget)?;
        let mut conn = Conn {
            transport: Transport::Plain(Socket::new(fd)),
            peer: peer.to_string(),
            buf: Vec::new(),
            start: 0,
            end: 0,
            idle_since: Instant::now(),
            timings: ConnTimings {
                dns_done: t.dns_done,
                connected: t.connected,
                tls_done: None,
            },
            tls_info: None,
        };
        if let Some(proxy) = tunnel {
            conn.via_proxy(host, port);
            proxy::open_tunnel(&mut conn, proxy, host, port, budget)?;
        }
        if let Some((cfg, alpn)) = tls {
            conn = conn.start_tls(host, cfg, alpn, budget)?;
        }
        conn.transport
            .socket()
            .set_blocking()
            .map_err(|e| NetError::io(&e, &format!("setting up {}", conn.peer)))?;
        Ok(conn)
    }

    /// A plain connection to `peer` over `stream`, connected without
    /// blocking by the event-driven core (`start_connect`, `finish_connect`).
    /// The multi reads and writes it with MSG_DONTWAIT; its socket becomes
    /// blocking, like every pooled one, the first time a blocking send uses
    /// it (the kernel's timeouts bound those calls).
    pub fn plain(stream: OwnedFd, peer: &Endpoint, timings: ConnTimings) -> Conn {
        let peer = peer.to_string();
        let mut sock = Socket::new(stream);
        sock.set_blocking_later();
        Conn {
            transport: Transport::Plain(sock),
            peer,
            buf: Vec::new(),
            start: 0,
            end: 0,
            idle_since: Instant::now(),
            timings,
            tls_info: None,
        }
    }

    /// The socket, for an event loop to watch.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.transport.fd().as_fd()
    }

    /// Runs the TLS handshake on this (so far plain) connection.
    fn start_tls(
        self,
        host: &str,
        cfg: &TlsConfig,
        alpn: &[&[u8]],
        budget: &Budget<'_>,
    ) -> Result<Conn, NetError> {
        let mut conn = self.begin_tls(host, cfg, alpn)?;
        let Transport::Tls(TlsStream { sock, tls, hints }) = &mut conn.transport else {
            unreachable!("begin_tls makes a TLS transport");
        };
        handshake(sock, tls, &conn.peer, *hints, budget)?;
        conn.tls_done();
        Ok(conn)
    }

    /// Makes this plain connection a TLS one (SNI and certificate name from
    /// `host`) whose handshake has yet to run: `try_handshake` drives it
    /// without blocking. The handshake offers the `alpn` protocols
    /// (per connection: one configuration serves every HTTP version).
    pub fn begin_tls(self, host: &str, cfg: &TlsConfig, alpn: &[&[u8]]) -> Result<Conn, NetError> {
        let Transport::Plain(sock) = self.transport else {
            unreachable!("TLS starts once, on a plain connection");
        };
        let hints = TlsHints {
            min: cfg.min_version(),
            h2_only: matches!(alpn, [p] if *p == b"h2"),
        };
        let protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let tls = ClientConnection::new_with_alpn(
            cfg.client_config(),
            tls::server_name(host)?,
            protocols,
        )
        .map_err(|e| tls::map_error(&e, &self.peer, hints))?;
        Ok(Conn {
            transport: Transport::Tls(TlsStream {
                sock,
                tls: Box::new(tls),
                hints,
            }),
            ..self
        })
    }

    /// Takes the handshake as far as the socket allows now, never waiting;
    /// `Done` at once on a plain connection or a finished handshake.
    pub fn try_handshake(&mut self) -> Result<Handshake, NetError> {
        let Transport::Tls(TlsStream { sock, tls, hints }) = &mut self.transport else {
            return Ok(Handshake::Done);
        };
        if self.tls_info.is_some() {
            return Ok(Handshake::Done);
        }
        let (tcp, peer) = (sock.fd(), &self.peer);
        let what = || format!("the TLS handshake with {}", peer);
        loop {
            while tls.wants_write() {
                match tls.write_tls(&mut Now(tcp)) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(Handshake::WantWrite)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(NetError::io(&e, &what())),
                }
            }
            if !tls.is_handshaking() {
                break;
            }
            match tls.read_tls(&mut Now(tcp)) {
                Ok(0) => return Err(closed_in_handshake(peer)),
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        let _ = tls.write_tls(&mut Now(tcp));
                        return Err(tls::map_error(&e, peer, *hints));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Handshake::WantRead),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(NetError::io(&e, &what())),
            }
        }
        self.tls_done();
        Ok(Handshake::Done)
    }

    /// Records what the finished handshake settled on, and when.
    fn tls_done(&mut self) {
        if let Transport::Tls(TlsStream { tls, .. }) = &self.transport {
            self.tls_info = Some(TlsInfo {
                resumed: tls.handshake_kind() == Some(HandshakeKind::Resumed),
                version: tls.protocol_version().map_or(0, u16::from),
            });
            self.timings.tls_done = Some(Instant::now());
        }
    }

    /// Bytes rustls holds for the socket that it has not taken yet (a
    /// non-blocking write that stopped halfway); never true when plain.
    pub fn wants_flush(&self) -> bool {
        matches!(&self.transport, Transport::Tls(TlsStream { tls, .. }) if tls.wants_write())
    }

    /// Names the connection as reaching `host:port` through the proxy it
    /// is connected to, for error messages.
    pub fn via_proxy(&mut self, host: &str, port: u16) {
        self.peer = format!("{}:{} (via proxy {})", host, port, self.peer);
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// What the TLS handshake settled on; `None` for a plain connection.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.tls_info
    }

    /// Whether the TLS handshake chose HTTP/2 (ALPN `h2`).
    pub fn negotiated_h2(&self) -> bool {
        match &self.transport {
            Transport::Tls(TlsStream { tls, .. }) => tls.alpn_protocol() == Some(b"h2"),
            Transport::Plain(_) => false,
        }
    }

    /// Bytes read from the socket and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks `n` buffered bytes as used.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes into the buffer, growing it up to `max_buffered`
    /// bytes of unconsumed data. Returns the count read; 0 means EOF.
    pub fn fill(&mut self, max_buffered: usize, budget: &Budget<'_>) -> Result<usize, NetError> {
        self.fill_under(max_buffered, Op::Read, budget)
    }

    /// `fill` while connecting (a proxy's CONNECT answer): under the
    /// connect timeout.
    pub(crate) fn fill_connecting(
        &mut self,
        max_buffered: usize,
        budget: &Budget<'_>,
    ) -> Result<usize, NetError> {
        self.fill_under(max_buffered, Op::Connect, budget)
    }

    /// Moves unconsumed bytes to the front and grows the buffer for one more
    /// read, up to `max_buffered` bytes of unconsumed data.
    fn make_room(&mut self, max_buffered: usize) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let chunk = match self.buf.is_empty() {
            true => FIRST_CHUNK,
            false => READ_CHUNK,
        };
        let want = (self.end + chunk).min(max_buffered.max(self.end + 1));
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
    }

    fn fill_under(
        &mut self,
        max_buffered: usize,
        op: Op,
        budget: &Budget<'_>,
    ) -> Result<usize, NetError> {
        self.make_room(max_buffered);
        let (end, transport, peer) = (self.end, &mut self.transport, &self.peer);
        let n = read_with(transport, peer, &mut self.buf[end..], op, budget)?;
        self.end += n;
        Ok(n)
    }

    /// Reads straight into `dst`, bypassing the buffer, once the buffer is
    /// empty: large bodies are copied once, from the kernel to their place.
    pub fn read_direct(&mut self, dst: &mut [u8], budget: &Budget<'_>) -> Result<usize, NetError> {
        debug_assert!(self.buffered().is_empty());
        read_with(&mut self.transport, &self.peer, dst, Op::Read, budget)
    }

    pub fn write_all(&mut self, data: &[u8], budget: &Budget<'_>) -> Result<(), NetError> {
        self.write_under(data, Op::Write, budget)
    }

    /// `write_all` while connecting (a CONNECT request): under the connect
    /// timeout.
    pub(crate) fn write_all_connecting(
        &mut self,
        data: &[u8],
        budget: &Budget<'_>,
    ) -> Result<(), NetError> {
        self.write_under(data, Op::Connect, budget)
    }

    fn write_under(
        &mut self,
        mut data: &[u8],
        op: Op,
        budget: &Budget<'_>,
    ) -> Result<(), NetError> {
        let peer = &self.peer;
        let what = format_args!("writing to {}", peer);
        while !data.is_empty() {
            let n = match &mut self.transport {
                Transport::Plain(sock) => sock.send(data, op, budget, &what)?,
                Transport::Tls(TlsStream { sock, tls, .. }) => {
                    // rustls encrypts into its own buffer (bounded), which
                    // is then written out in full before taking more.
                    budget.check_cancel()?;
                    let n = tls
                        .writer()
                        .write(data)
                        .map_err(|e| NetError::io(&e, &what.to_string()))?;
                    flush_tls(sock, tls, budget, op, &what)?;
                    n
                }
            };
            if n == 0 {
                return Err(NetError::io(
                    &io::ErrorKind::WriteZero.into(),
                    &what.to_string(),
                ));
            }
            data = &data[n..];
        }
        Ok(())
    }

    /// A second descriptor for the socket, so a thread can wait for it to
    /// become ready without holding the lock that guards this connection
    /// (WebSocket send/receive split).
    pub fn wait_handle(&self) -> io::Result<OwnedFd> {
        self.transport.fd().try_clone()
    }

    /// Like `fill`, but never waits: `Ok(None)` when no byte is available
    /// now (over TLS: no whole record), `Ok(Some(0))` at EOF.
    pub fn try_fill(&mut self, max_buffered: usize) -> Result<Option<usize>, NetError> {
        self.try_fill_probing(max_buffered, true).map(|(n, _)| n)
    }

    /// `try_fill` that reads the socket only if `read_socket` (bytes TLS
    /// already holds are served either way), and tells whether a socket
    /// read found it emptied (it returned less than asked, or nothing):
    /// a driver can then wait in poll(2) instead of reading again to learn
    /// that the socket is empty.
    pub fn try_fill_probing(
        &mut self,
        max_buffered: usize,
        read_socket: bool,
    ) -> Result<(Option<usize>, bool), NetError> {
        self.make_room(max_buffered);
        let peer = &self.peer;
        let what = || format!("reading from {}", peer);
        let dst = &mut self.buf[self.end..];
        let mut drained = false;
        let n = match &mut self.transport {
            Transport::Plain(_) if !read_socket => return Ok((None, true)),
            Transport::Plain(sock) => loop {
                match (Probe {
                    fd: sock.fd(),
                    drained: &mut drained,
                })
                .read(dst)
                {
                    Ok(n) => break Some(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(NetError::io(&e, &what())),
                }
            },
            Transport::Tls(TlsStream { sock, tls, hints }) => loop {
                let tcp = sock.fd();
                match tls.reader().read(dst) {
                    Ok(n) => break Some(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if !read_socket {
                            return Ok((None, true));
                        }
                        // Replies rustls owes the server (a key update) go
                        // out if the socket takes them now; the rest later.
                        while tls.wants_write() {
                            if tls.write_tls(&mut Now(tcp)).is_err() {
                                break;
                            }
                        }
                        let mut probe = Probe {
                            fd: tcp,
                            drained: &mut drained,
                        };
                        match tls.read_tls(&mut probe) {
                            Ok(_) => {
                                if let Err(e) = tls.process_new_packets() {
                                    let _ = tls.write_tls(&mut Now(tcp));
                                    return Err(tls::map_error(&e, peer, *hints));
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(NetError::io(&e, &what())),
                        }
                    }
                    // Closed without close_notify: EOF, as in `read_with`.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break Some(0),
                    Err(e) => return Err(NetError::io(&e, &what())),
                }
            },
        };
        if let Some(n) = n {
            self.end += n;
        }
        Ok((n, drained))
    }

    /// Writes what the socket takes now, never waiting. Returns how many
    /// bytes of `data` were accepted and whether the socket is full with
    /// bytes still pending (then wait for writability and call again; over
    /// TLS, an empty `data` flushes what rustls holds).
    pub fn try_write(&mut self, data: &[u8]) -> Result<WriteStep, NetError> {
        let peer = &self.peer;
        let what = || format!("writing to {}", peer);
        match &mut self.transport {
            Transport::Plain(sock) => loop {
                if data.is_empty() {
                    return Ok(WriteStep::default());
                }
                match Now(sock.fd()).write(data) {
                    Ok(0) => return Err(NetError::io(&io::ErrorKind::WriteZero.into(), &what())),
                    Ok(n) => {
                        return Ok(WriteStep {
                            accepted: n,
                            blocked: false,
                        })
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(WriteStep {
                            accepted: 0,
                            blocked: true,
                        })
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(NetError::io(&e, &what())),
                }
            },
            Transport::Tls(TlsStream { sock, tls, .. }) => {
                let tcp = sock.fd();
                // Records already queued go first: rustls takes no more
                // plaintext while its outgoing buffer is at its limit.
                let mut accepted = 0;
                loop {
                    while tls.wants_write() {
                        match tls.write_tls(&mut Now(tcp)) {
                            Ok(_) => {}
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                return Ok(WriteStep {
                                    accepted,
                                    blocked: true,
                                })
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(NetError::io(&e, &what())),
                        }
                    }
                    if accepted > 0 || data.is_empty() {
                        return Ok(WriteStep {
                            accepted,
                            blocked: false,
                        });
                    }
                    accepted = tls
                        .writer()
                        .write(data)
                        .map_err(|e| NetError::io(&e, &what()))?;
                    if accepted == 0 {
                        return Err(NetError::io(&io::ErrorKind::WriteZero.into(), &what()));
                    }
                }
            }
        }
    }

    /// An idle connection is usable only if the server has sent nothing:
    /// readable means it closed (EOF) or sent bytes nobody asked for, and
    /// either way the next response could not be trusted. Over TLS, records
    /// that carry no data (session tickets) are taken in and do not count.
    pub fn is_stale(&mut self) -> bool {
        if !self.buffered().is_empty() {
            return true;
        }
        match &mut self.transport {
            Transport::Plain(sock) => readable_now(sock.fd()),
            Transport::Tls(TlsStream { sock, tls, .. }) => {
                let tcp = sock.fd();
                // A few records at most; a server that keeps talking is stale.
                for _ in 0..8 {
                    match tls.process_new_packets() {
                        Ok(st) if st.plaintext_bytes_to_read() > 0 || st.peer_has_closed() => {
                            return true
                        }
                        Ok(_) => {}
                        Err(_) => return true,
                    }
                    if !readable_now(tcp) {
                        return false;
                    }
                    match tls.read_tls(&mut Now(tcp)) {
                        Ok(0) => return true,
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                        Err(_) => return true,
                    }
                }
                true
            }
        }
    }

    pub fn idle_for(&self) -> Duration {
        self.idle_since.elapsed()
    }
}

impl Drop for TlsStream {
    /// Tells the server the connection ends on purpose (close_notify), if
    /// the socket takes it at once; never waits.
    fn drop(&mut self) {
        self.tls.send_close_notify();
        let _ = self.tls.write_tls(&mut Now(self.sock.fd()));
    }
}

/// A read that never waits and notes whether it found the socket emptied:
/// it returned less than asked, or would have blocked.
struct Probe<'a> {
    fd: &'a OwnedFd,
    drained: &'a mut bool,
}

impl Read for Probe<'_> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        let r = Now(self.fd).read(dst);
        *self.drained = match &r {
            Ok(n) => *n < dst.len(),
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        };
        r
    }
}

/// Whether `stream` has bytes to read (or hung up) now, without waiting.
pub(crate) fn readable_now(stream: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(stream, PollFlags::IN)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    !matches!(poll(&mut fds, Some(&zero)), Ok(0))
}

/// Runs the TLS handshake to its end, every wait under the connect timeout.
fn handshake(
    sock: &mut Socket,
    tls: &mut ClientConnection,
    peer: &str,
    hints: TlsHints,
    budget: &Budget<'_>,
) -> Result<(), NetError> {
    let what = format!("doing the TLS handshake with {}", peer);
    while tls.is_handshaking() {
        if tls.wants_write() {
            flush_tls(sock, tls, budget, Op::Connect, &what)?;
            continue;
        }
        if !pump_tls(sock, tls, peer, hints, budget, Op::Connect, &what)? {
            return Err(closed_in_handshake(peer));
        }
    }
    flush_tls(sock, tls, budget, Op::Connect, &what)
}

fn closed_in_handshake(peer: &str) -> NetError {
    NetError::new(
        NetErrorKind::TlsHandshake,
        format!(
            "TLS with {}: the server closed the connection during the handshake",
            peer
        ),
    )
}

/// Writes every TLS record rustls has queued, waiting under `op`.
fn flush_tls(
    sock: &mut Socket,
    tls: &mut ClientConnection,
    budget: &Budget<'_>,
    op: Op,
    what: &dyn fmt::Display,
) -> Result<(), NetError> {
    while tls.wants_write() {
        let mut out = Bounded {
            sock,
            op,
            budget,
            what,
        };
        tls.write_tls(&mut out).map_err(|e| net_error(e, what))?;
    }
    Ok(())
}

/// Reads TLS records from the socket, waiting under `op`, until rustls has
/// taken some in. Returns false at EOF.
fn pump_tls(
    sock: &mut Socket,
    tls: &mut ClientConnection,
    peer: &str,
    hints: TlsHints,
    budget: &Budget<'_>,
    op: Op,
    what: &dyn fmt::Display,
) -> Result<bool, NetError> {
    let mut input = Bounded {
        sock,
        op,
        budget,
        what,
    };
    let n = tls.read_tls(&mut input).map_err(|e| net_error(e, what))?;
    if let Err(e) = tls.process_new_packets() {
        // rustls queued an alert saying why; best effort, no wait.
        let _ = tls.write_tls(&mut Now(input.sock.fd()));
        return Err(tls::map_error(&e, peer, hints));
    }
    Ok(n > 0)
}

fn read_with(
    transport: &mut Transport,
    peer: &str,
    dst: &mut [u8],
    op: Op,
    budget: &Budget<'_>,
) -> Result<usize, NetError> {
    let what = format_args!("reading from {}", peer);
    match transport {
        Transport::Plain(sock) => sock.recv(dst, op, budget, &what),
        Transport::Tls(TlsStream { sock, tls, hints }) => loop {
            // Checked here too: plaintext rustls already holds is read
            // without a socket call, and a server that never stops sending
            // must not keep a cancelled or overdue transfer alive.
            budget.check_cancel()?;
            if budget.total_passed() {
                return Err(budget.timeout_error(op, &what));
            }
            match tls.reader().read(dst) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Replies rustls owes the server (a key update) go first.
                    flush_tls(sock, tls, budget, Op::Write, &what)?;
                    pump_tls(sock, tls, peer, *hints, budget, op, &what)?;
                }
                // The server closed without close_notify. Bodies framed by
                // length or chunks still detect truncation in proto; a
                // close-delimited body ends here, as in most clients.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(NetError::io(&e, &what.to_string())),
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;
    use crate::net::{NetErrorKind, Timeouts};

    #[test]
    fn conn_read_with_bytes_ready_still_stops_at_the_total_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let budget = Budget::new(Timeouts::default(), None);
        let mut conn = Conn::open("127.0.0.1", port, None, None, None, &budget).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        peer.write_all(b"ready").unwrap();
        budget
            .wait_fd(
                std::os::fd::AsFd::as_fd(conn.transport.fd()),
                false,
                Op::Read,
                crate::net::OnCancel::EndConnection,
                &"waiting for test bytes",
            )
            .unwrap();
        // Bytes are ready, so the read would never wait: only the check
        // before it can notice that the deadline has passed.
        let overdue = Budget {
            timeouts: Timeouts {
                total: Some(Duration::from_millis(1)),
                ..Timeouts::default()
            },
            total_deadline: Some(Instant::now()),
            ..budget
        };
        let e = conn.fill(1024, &overdue).unwrap_err();
        assert_eq!(e.kind, NetErrorKind::TimeoutTotal, "{e:?}");
        assert_eq!(conn.fill(1024, &budget).unwrap(), 5);
    }

    fn silent_server() -> (TcpListener, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    #[test]
    fn conn_blocking_read_ends_at_the_read_timeout() {
        let (listener, port) = silent_server();
        let budget = Budget::new(Timeouts::default(), None);
        let mut conn = Conn::open("127.0.0.1", port, None, None, None, &budget).unwrap();
        let _peer = listener.accept().unwrap();
        let short = Budget::new(
            Timeouts {
                read: Some(Duration::from_millis(150)),
                ..Timeouts::default()
            },
            None,
        );
        let started = Instant::now();
        let e = conn.fill(1024, &short).unwrap_err();
        assert_eq!(e.kind, NetErrorKind::TimeoutRead, "{e:?}");
        assert!(started.elapsed() >= Duration::from_millis(150));
        // The total deadline, when nearer, ends the same wait as TimeoutTotal.
        let total = Budget::new(
            Timeouts {
                read: Some(Duration::from_secs(10)),
                total: Some(Duration::from_millis(100)),
                ..Timeouts::default()
            },
            None,
        );
        let e = conn.fill(1024, &total).unwrap_err();
        assert_eq!(e.kind, NetErrorKind::TimeoutTotal, "{e:?}");
    }

    #[test]
    fn conn_blocking_read_and_write_wake_on_cancel() {
        let (listener, port) = silent_server();
        let budget = Budget::new(Timeouts::default(), None);
        for write in [false, true] {
            let mut conn = Conn::open("127.0.0.1", port, None, None, None, &budget).unwrap();
            let (mut peer, _) = listener.accept().unwrap();
            let cancel = std::sync::Arc::new(crate::net::Cancel::new().unwrap());
            let c2 = cancel.clone();
            let trigger = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                c2.trigger();
            });
            let long = Budget::new(
                Timeouts {
                    read: Some(Duration::from_secs(30)),
                    write: Some(Duration::from_secs(30)),
                    ..Timeouts::default()
                },
                Some(&cancel),
            );
            let started = Instant::now();
            // The peer never reads: 64 MiB cannot all fit in the buffers.
            let e = if write {
                conn.write_all(&vec![0u8; 64 << 20], &long).unwrap_err()
            } else {
                conn.fill(1024, &long).unwrap_err()
            };
            trigger.join().unwrap();
            assert_eq!(e.kind, NetErrorKind::Cancelled, "write={write}: {e:?}");
            assert!(started.elapsed() < Duration::from_secs(10), "write={write}");
            if !write {
                // The call blocked in the kernel and the token ended it by
                // shutting the socket down (a wait in poll would have left
                // the connection open until dropped): the peer sees EOF.
                peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                assert_eq!(peer.read(&mut [0u8; 1]).unwrap(), 0);
            }
            drop(conn);
        }
    }
}
