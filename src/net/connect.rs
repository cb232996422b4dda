//! Opening a TCP connection: resolve every address, try each in turn with
//! its own connect timeout, all bounded by the send's budget.
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::budget::{Budget, OnCancel, Op};
use super::cancel::Cancel;
use super::error::{NetError, NetErrorKind};

/// When name resolution and the TCP handshake ended. Instants, not
/// durations, so callers can report them from the start of their send
/// (which may include a wait for the pool).
#[derive(Debug, Clone, Copy)]
pub struct ConnectTimings {
    /// `None` when no resolution happened (an IP literal).
    pub dns_done: Option<Instant>,
    pub connected: Instant,
}

/// Resolves `host`. IP literals (IPv6 with or without brackets) skip DNS.
/// Names are resolved on a helper thread, because getaddrinfo cannot be
/// interrupted: the caller stops waiting at the connect deadline or on
/// cancel, and the thread finishes on its own. The flag says whether a
/// resolution happened.
fn resolve(
    host: &str,
    port: u16,
    budget: &Budget<'_>,
) -> Result<(Vec<SocketAddr>, bool), NetError> {
    if let Some(addr) = ip_literal(host, port) {
        return Ok((vec![addr], false));
    }
    // The answer is handed over in a slot under a condvar, not a channel:
    // a channel's timed wait makes std allocate a thread handle for the
    // caller's thread, which a C program's main thread never frees.
    let slot: Arc<Answer> = Arc::default();
    let name = host.to_string();
    let for_thread = slot.clone();
    std::thread::Builder::new()
        .name("reqivo-dns".into())
        .spawn(move || {
            // Answers even if the lookup panics, so the caller never waits
            // for nothing.
            let guard = AnswerOnDrop(for_thread);
            let answer = (name.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>());
            guard.0.put(answer);
        })
        .map_err(|e| NetError::io(&e, "starting the resolver thread"))?;
    let deadline = budget.op_deadline(Op::Connect);
    let what = format!("resolving {}", host);
    loop {
        budget.check_cancel()?;
        let slice = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Err(budget.timeout_error(Op::Connect, &what));
                }
                (d - now).min(Cancel::SLICE)
            }
            None => Cancel::SLICE,
        };
        match slot.take_within(slice) {
            None => continue,
            Some(Ok(addrs)) if !addrs.is_empty() => return Ok((addrs, true)),
            Some(Ok(_)) => {
                return Err(NetError::new(
                    NetErrorKind::Dns,
                    format!("{} has no addresses", host),
                ))
            }
            Some(Err(e)) => {
                let mut err = NetError::new(
                    NetErrorKind::Dns,
                    format!("could not resolve {}: {}", host, e),
                );
                err.os_error = e.raw_os_error().unwrap_or(0);
                return Err(err);
            }
        }
    }
}

/// What the resolver thread found, handed to the waiting caller.
#[derive(Default)]
struct Answer {
    found: Mutex<Option<io::Result<Vec<SocketAddr>>>>,
    ready: Condvar,
}

struct AnswerOnDrop(Arc<Answer>);

impl Drop for AnswerOnDrop {
    fn drop(&mut self) {
        let mut found = self.0.found.lock().unwrap_or_else(|p| p.into_inner());
        if found.is_none() {
            *found = Some(Err(io::Error::other("the resolver thread stopped")));
            self.0.ready.notify_one();
        }
    }
}

impl Answer {
    fn put(&self, answer: io::Result<Vec<SocketAddr>>) {
        *self.found.lock().unwrap_or_else(|p| p.into_inner()) = Some(answer);
        self.ready.notify_one();
    }

    /// The answer, if it comes within `wait`.
    fn take_within(&self, wait: std::time::Duration) -> Option<io::Result<Vec<SocketAddr>>> {
        let found = self.found.lock().unwrap_or_else(|p| p.into_inner());
        let (mut found, _) = self
            .ready
            .wait_timeout_while(found, wait, |f| f.is_none())
            .unwrap_or_else(|p| p.into_inner());
        found.take()
    }
}

/// `host` as an address, when it is an IP literal (IPv6 with or without
/// brackets): no resolution needed.
pub fn ip_literal(host: &str, port: u16) -> Option<SocketAddr> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    literal
        .parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port))
}

/// Starts a non-blocking connect to `addr`. The flag says whether it is
/// still under way: then the socket becomes writable when it has ended.
/// Either way `finish_connect` says how it went.
pub fn start_connect(addr: SocketAddr) -> Result<(Socket, bool), NetError> {
    let what = || format!("connecting to {}", addr);
    // Made non-blocking by socket(2) itself where it can (one system call
    // instead of three).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let ty = Type::STREAM.nonblocking().cloexec();
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let ty = Type::STREAM.cloexec();
    let socket = Socket::new(Domain::for_address(addr), ty, Some(Protocol::TCP))
        .map_err(|e| NetError::io(&e, &what()))?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    socket
        .set_nonblocking(true)
        .map_err(|e| NetError::io(&e, &what()))?;
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => Ok((socket, false)),
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || e.kind() == io::ErrorKind::WouldBlock =>
        {
            Ok((socket, true))
        }
        Err(e) => Err(NetError::io(&e, &what())),
    }
}

/// The outcome of a connect started by `start_connect`, once it is no
/// longer under way: Ok when connected (small requests then go out at once
/// instead of waiting on Nagle), or why it failed. The socket stays the
/// caller's either way, so an event loop can forget it before it closes.
/// `known_ok`: a poller reported the socket writable without an error
/// condition, which already says the connect succeeded.
pub fn finish_connect(socket: &Socket, addr: SocketAddr, known_ok: bool) -> Result<(), NetError> {
    let what = || format!("connecting to {}", addr);
    if !known_ok {
        if let Some(e) = socket.take_error().map_err(|e| NetError::io(&e, &what()))? {
            return Err(NetError::io(&e, &what()));
        }
    }
    socket
        .set_tcp_nodelay(true)
        .map_err(|e| NetError::io(&e, &what()))
}

/// One non-blocking connect, waited on under the connect timeout.
fn connect_one(addr: SocketAddr, budget: &Budget<'_>) -> Result<TcpStream, NetError> {
    let (socket, pending) = start_connect(addr)?;
    if pending {
        let what = format_args!("connecting to {}", addr);
        budget.wait_fd(
            socket.as_fd(),
            true,
            Op::Connect,
            OnCancel::EndConnection,
            &what,
        )?;
    }
    finish_connect(&socket, addr, false)?;
    Ok(socket.into())
}

/// Connects to `host:port`, trying every resolved address in order. The
/// error of the last address tried is returned when all fail, unless the
/// cause is the caller's (cancel) or the total deadline.
pub fn connect(
    host: &str,
    port: u16,
    budget: &Budget<'_>,
) -> Result<(TcpStream, ConnectTimings), NetError> {
    let (addrs, resolved) = resolve(host, port, budget)?;
    let dns_done = resolved.then(Instant::now);
    let mut last = None;
    for addr in addrs {
        match connect_one(addr, budget) {
            Ok(stream) => {
                return Ok((
                    stream,
                    ConnectTimings {
                        dns_done,
                        connected: Instant::now(),
                    },
                ))
            }
            Err(e) if matches!(e.kind, NetErrorKind::Cancelled | NetErrorKind::TimeoutTotal) => {
                return Err(e)
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| NetError::new(NetErrorKind::Dns, format!("{} has no addresses", host))))
}
