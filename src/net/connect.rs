//! Opening a connection: resolve the name (unless an override or a Unix
//! socket says where to go), then race the addresses as Happy Eyeballs
//! does (RFC 8305), all under the connect timeout and the send's budget.
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::budget::{Budget, OnCancel, Op};
use super::cancel::Cancel;
use super::error::{NetError, NetErrorKind};
use super::target::{Dial, Endpoint};

/// RFC 8305 §5: the next attempt starts this long after the one before,
/// unless that one fails first.
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

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
    deadline: Option<Instant>,
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

/// Resolves an origin's name for a `socks5` proxy (which is sent the
/// address), under the connect timeout like the proxy's own name.
pub(crate) fn resolve_for_proxy(
    host: &str,
    port: u16,
    budget: &Budget<'_>,
) -> Result<Vec<SocketAddr>, NetError> {
    resolve(host, port, budget.op_deadline(Op::Connect), budget).map(|(addrs, _)| addrs)
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

/// Starts a non-blocking connect to `to`. The flag says whether it is
/// still under way: then the socket becomes writable when it has ended.
/// Either way `finish_connect` says how it went.
pub fn start_connect(to: &Endpoint) -> Result<(Socket, bool), NetError> {
    let what = || format!("connecting to {}", to);
    let (domain, protocol, addr) = match to {
        Endpoint::Ip(a) => (
            Domain::for_address(*a),
            Some(Protocol::TCP),
            SockAddr::from(*a),
        ),
        Endpoint::Unix(path) => {
            use std::os::unix::ffi::OsStrExt;
            let path = std::ffi::OsStr::from_bytes(path);
            let addr = SockAddr::unix(path).map_err(|e| NetError::io(&e, &what()))?;
            (Domain::UNIX, None, addr)
        }
    };
    // Made non-blocking by socket(2) itself where it can (one system call
    // instead of three).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let ty = Type::STREAM.nonblocking().cloexec();
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let ty = Type::STREAM.cloexec();
    let socket = Socket::new(domain, ty, protocol).map_err(|e| NetError::io(&e, &what()))?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    socket
        .set_nonblocking(true)
        .map_err(|e| NetError::io(&e, &what()))?;
    match socket.connect(&addr) {
        Ok(()) => Ok((socket, false)),
        // A Unix socket whose listener's queue is full says EAGAIN, which
        // for it means "not connected" rather than "under way": it falls
        // through to the error.
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || (e.kind() == io::ErrorKind::WouldBlock && matches!(to, Endpoint::Ip(_))) =>
        {
            Ok((socket, true))
        }
        Err(e) => {
            let mut failed = NetError::io(&e, &what());
            // No socket file: nothing listens there, as a refused TCP
            // connect says (the OS error stays ENOENT).
            if matches!(to, Endpoint::Unix(_)) && e.kind() == io::ErrorKind::NotFound {
                failed.kind = NetErrorKind::ConnectRefused;
            }
            Err(failed)
        }
    }
}

/// The outcome of a connect started by `start_connect`, once it is no
/// longer under way: Ok when connected (small requests then go out at once
/// instead of waiting on Nagle), or why it failed. The socket stays the
/// caller's either way, so an event loop can forget it before it closes.
/// `known_ok`: a poller reported the socket writable without an error
/// condition, which already says the connect succeeded.
pub fn finish_connect(socket: &Socket, to: &Endpoint, known_ok: bool) -> Result<(), NetError> {
    let what = || format!("connecting to {}", to);
    if !known_ok {
        if let Some(e) = socket.take_error().map_err(|e| NetError::io(&e, &what()))? {
            return Err(NetError::io(&e, &what()));
        }
    }
    match to {
        Endpoint::Ip(_) => socket
            .set_tcp_nodelay(true)
            .map_err(|e| NetError::io(&e, &what())),
        Endpoint::Unix(_) => Ok(()),
    }
}

/// Orders addresses as RFC 8305 §4 asks: families alternate, starting
/// with the family of the first address the resolver gave.
pub fn interleave(addrs: impl IntoIterator<Item = SocketAddr>) -> VecDeque<Endpoint> {
    let mut first_family = None;
    let (mut same, mut other) = (VecDeque::new(), VecDeque::new());
    for a in addrs {
        let v6 = a.is_ipv6();
        if *first_family.get_or_insert(v6) == v6 {
            same.push_back(a);
        } else {
            other.push_back(a);
        }
    }
    let mut out = VecDeque::with_capacity(same.len() + other.len());
    while !same.is_empty() || !other.is_empty() {
        out.extend(same.pop_front().map(Endpoint::Ip));
        out.extend(other.pop_front().map(Endpoint::Ip));
    }
    out
}

/// Where a connection to a host and port goes, before any I/O.
pub enum Plan<'a> {
    /// The endpoints to race, known without DNS: a Unix socket, address
    /// overrides, an IP literal.
    Endpoints(VecDeque<Endpoint>),
    /// This host and port (another, when `dial` named one) to resolve.
    Resolve(&'a str, u16),
}

/// The plan for `host:port` under `dial`, for both drivers: the blocking
/// `connect` resolves on a helper thread, the multi on its resolvers.
pub fn plan<'a>(host: &'a str, port: u16, dial: Option<&'a Dial>) -> Plan<'a> {
    let (host, port) = match dial {
        Some(Dial::Unix(path)) => {
            return Plan::Endpoints(VecDeque::from([Endpoint::Unix(path.clone())]))
        }
        Some(Dial::Addrs(addrs)) => return Plan::Endpoints(interleave(addrs.iter().copied())),
        Some(Dial::Host(h, p)) => (h.as_str(), *p),
        None => (host, port),
    };
    match ip_literal(host, port) {
        Some(addr) => Plan::Endpoints(VecDeque::from([Endpoint::Ip(addr)])),
        None => Plan::Resolve(host, port),
    }
}

/// A connected socket, where it goes, and when it got there.
pub struct Connected {
    pub fd: OwnedFd,
    pub peer: Endpoint,
    pub timings: ConnectTimings,
}

/// Connects to `host:port`, or where `dial` says instead. Several
/// addresses race (`race`); the error of the last one tried is returned
/// when all fail, unless the cause is the caller's (cancel) or a deadline.
/// One connect timeout bounds name resolution and the race together, as
/// in the multi.
pub fn connect(
    host: &str,
    port: u16,
    dial: Option<&Dial>,
    budget: &Budget<'_>,
) -> Result<Connected, NetError> {
    let deadline = budget.op_deadline(Op::Connect);
    let (endpoints, resolved) = match plan(host, port, dial) {
        Plan::Endpoints(endpoints) => (endpoints, false),
        Plan::Resolve(host, port) => {
            let (addrs, resolved) = resolve(host, port, deadline, budget)?;
            (interleave(addrs), resolved)
        }
    };
    let dns_done = resolved.then(Instant::now);
    let (socket, peer) = match endpoints.len() {
        1 => connect_one(endpoints.into_iter().next().unwrap(), deadline, budget)?,
        _ => race(endpoints, deadline, budget)?,
    };
    Ok(Connected {
        fd: socket.into(),
        peer,
        timings: ConnectTimings {
            dns_done,
            connected: Instant::now(),
        },
    })
}

/// One address: a non-blocking connect waited on until `deadline`; a
/// cancel shuts the socket down, which ends the wait (no descriptor of the
/// token's own).
fn connect_one(
    to: Endpoint,
    deadline: Option<Instant>,
    budget: &Budget<'_>,
) -> Result<(Socket, Endpoint), NetError> {
    let (socket, pending) = start_connect(&to)?;
    if pending {
        let what = format_args!("connecting to {}", to);
        budget.wait_fd_by(
            socket.as_fd(),
            true,
            deadline,
            Op::Connect,
            OnCancel::EndConnection,
            &what,
        )?;
    }
    finish_connect(&socket, &to, false)?;
    Ok((socket, to))
}

/// Happy Eyeballs (RFC 8305 §5): one attempt at a time, the next started
/// `ATTEMPT_DELAY` after the one before or as soon as it fails; the first
/// to connect wins and the others close. The connect timeout bounds the
/// whole race, not each attempt.
fn race(
    mut queue: VecDeque<Endpoint>,
    deadline: Option<Instant>,
    budget: &Budget<'_>,
) -> Result<(Socket, Endpoint), NetError> {
    let mut pending: Vec<(Socket, Endpoint)> = Vec::new();
    let mut last = None;
    let mut next_at = Instant::now();
    loop {
        budget.check_cancel()?;
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            let what = match pending.first() {
                Some((_, to)) => format!("connecting to {}", to),
                None => "connecting".to_string(),
            };
            return Err(budget.timeout_error(Op::Connect, &what));
        }
        if now >= next_at || pending.is_empty() {
            let Some(to) = queue.pop_front() else {
                if pending.is_empty() {
                    return Err(last.unwrap_or_else(|| {
                        NetError::new(NetErrorKind::Dns, "no address to connect to")
                    }));
                }
                next_at = deadline.unwrap_or(now + Cancel::SLICE);
                continue;
            };
            match start_connect(&to) {
                Ok((socket, false)) => match finish_connect(&socket, &to, false) {
                    Ok(()) => return Ok((socket, to)),
                    Err(e) => last = Some(e),
                },
                Ok((socket, true)) => {
                    pending.push((socket, to));
                    next_at = now + ATTEMPT_DELAY;
                }
                Err(e) => last = Some(e),
            }
            if pending.is_empty() || now >= next_at {
                continue;
            }
        }
        // Wait for an attempt to end, the next to be due or the deadline;
        // with a cancel token, in slices (a race is short and rare, and
        // watching every attempt through the token is not worth it).
        let mut until = if queue.is_empty() {
            deadline
        } else {
            Some(next_at)
        };
        if let Some(d) = deadline {
            until = Some(until.map_or(d, |u| u.min(d)));
        }
        if budget.cancel.is_some() {
            let slice = now + Cancel::SLICE;
            until = Some(until.map_or(slice, |u| u.min(slice)));
        }
        let mut fds: Vec<PollFd<'_>> = pending
            .iter()
            .map(|(s, _)| PollFd::new(s, PollFlags::OUT))
            .collect();
        let timeout = until.map(|u| {
            Timespec::try_from(u.saturating_duration_since(now)).unwrap_or(Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0,
            })
        });
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(NetError::io(&e.into(), "waiting for a connect")),
        }
        let ended: Vec<usize> = (0..pending.len())
            .filter(|&i| !fds[i].revents().is_empty())
            .collect();
        drop(fds);
        for i in ended.into_iter().rev() {
            let (socket, to) = pending.swap_remove(i);
            match finish_connect(&socket, &to, false) {
                // The other attempts close as `pending` drops.
                Ok(()) => return Ok((socket, to)),
                Err(e) => {
                    last = Some(e);
                    next_at = Instant::now();
                }
            }
        }
    }
}
