//! One request/response exchange on one pooled connection, and the single
//! transparent retry when a reused connection turns out to be dead.
use std::sync::Arc;

use url::{Position, Url};

use super::body::{Body, SourcePump, Tracker};
use super::error::ClientError;
use super::h2::{self, H2Body};
use super::headers::HeaderList;
use super::log::{log_at, Level, Log};
use super::request::is_idempotent;
use super::response::Timings;
use super::retry::Stage;
use crate::net::h2::HttpVersion;
use crate::net::{Budget, KeyRef, Lease, Leased, Pool, Proxy, Route, Targets, TlsConfig, TlsInfo};
use crate::proto::{
    encode_request_head, Limits, RequestFacts, ResponseHead, ResponseReader, Trailers,
};

/// Bodies up to this size go out in the same write as the head.
const COALESCE_BODY: usize = 16 * 1024;

/// What one hop sends: everything already decided by the session.
pub(crate) struct Hop<'a, 'h> {
    pub method: &'a str,
    pub url: &'a Url,
    /// Complete header list, Host and Content-Length included.
    pub headers: &'a HeaderList<'h>,
    pub body: Option<&'a Body>,
    pub tracker: &'a Tracker,
    /// The session's TLS configuration; `None` means the shared default.
    pub tls: Option<&'a Arc<TlsConfig>>,
    /// The proxy this hop goes through: forwarding for http, a CONNECT
    /// tunnel for https; a SOCKS5 tunnel for both.
    pub proxy: Option<&'a Arc<Proxy>>,
    /// The session's dialling overrides.
    pub targets: Option<&'a Targets>,
    /// The HTTP versions the session speaks.
    pub version: HttpVersion,
    pub log: Option<&'a Log>,
}

/// A response whose head has been read; its body is still on the connection.
pub(crate) struct Exchanged {
    pub head: ResponseHead,
    /// Where the body comes from.
    pub wire: Wire,
    pub timings: Timings,
    /// Request body bytes sent, and who to tell about progress.
    pub sent: u64,
    pub tracker: Tracker,
}

/// Where a response body comes from: an HTTP/1.1 connection of its own,
/// read through the framing reader (which also holds the keep-alive
/// verdict), or a stream on a shared HTTP/2 connection.
pub(crate) enum Wire {
    H1 {
        lease: Lease,
        reader: ResponseReader,
    },
    H2(Box<H2Body>),
}

impl Wire {
    /// Whether the connection had served an earlier request.
    pub fn reused(&self) -> bool {
        match self {
            Wire::H1 { lease, .. } => lease.reused,
            Wire::H2(body) => body.reused(),
        }
    }

    pub fn tls_info(&self) -> Option<TlsInfo> {
        match self {
            Wire::H1 { lease, .. } => lease.tls_info(),
            Wire::H2(body) => body.tls_info(),
        }
    }

    /// True once the whole body has been read.
    pub fn is_done(&self) -> bool {
        match self {
            Wire::H1 { reader, .. } => reader.is_done(),
            Wire::H2(body) => body.is_done(),
        }
    }

    /// What Content-Length (or its HTTP/1.1 framing) says is still to come.
    pub fn remaining_length(&self) -> Option<u64> {
        match self {
            Wire::H1 { reader, .. } => reader.remaining_length(),
            Wire::H2(body) => body.remaining_length(),
        }
    }

    /// Whether reading the body to its end keeps the connection for
    /// later requests (an HTTP/2 stream never costs its connection).
    pub fn worth_draining(&self) -> bool {
        match self {
            Wire::H1 { reader, .. } => reader.keep_alive(),
            Wire::H2(_) => true,
        }
    }
}

/// Whether a failed try may go again at once, on a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Again {
    No,
    /// A reused HTTP/1.1 connection was found dead before any response
    /// byte: an idempotent request goes again.
    IfIdempotent,
    /// The HTTP/2 server said it never processed the stream (refused, or
    /// past its GOAWAY): any request goes again.
    Unprocessed,
}

/// The pool key of `url`: https connections are also keyed by the TLS
/// configuration they are made with. Through an HTTP proxy, http requests
/// share the connections to the proxy whatever their origin, and https
/// requests get tunnels of their own per origin and proxy; through a
/// SOCKS5 proxy every request gets a tunnel per origin and proxy.
pub(crate) fn pool_key<'u>(
    url: &'u Url,
    tls: Option<&Arc<TlsConfig>>,
    proxy: Option<&'u Arc<Proxy>>,
    targets: Option<&Targets>,
    version: HttpVersion,
) -> KeyRef<'u> {
    let https = url.scheme() == "https";
    let tls = https.then(|| tls.cloned().unwrap_or_else(TlsConfig::shared_default));
    let (host, port, route) = match proxy {
        Some(p) if !https && p.forwards_http() => (p.host.as_str(), p.port, Route::Forward),
        _ => (
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(80),
            proxy.map_or(Route::Direct, |p| Route::Tunnel(p.clone())),
        ),
    };
    // The overrides apply to the host the socket is dialled to: the
    // origin, or the proxy a tunnel goes through.
    let dial = targets.and_then(|t| match &route {
        Route::Tunnel(p) => t.dial_for(&p.host, p.port),
        Route::Direct | Route::Forward => t.dial_for(host, port),
    });
    // A forwarding proxy is spoken to in HTTP/1.1 (absolute-form targets).
    let version = match route {
        Route::Forward => HttpVersion::Http11,
        _ => version.keyed(https),
    };
    KeyRef {
        scheme: url.scheme(),
        host,
        port,
        route,
        tls,
        dial,
        version,
    }
}

/// The request target: origin-form (`/path?query`), or absolute-form for a
/// forwarding proxy (RFC 9112 §3.2.2), never with the fragment. Slices of
/// the URL's own text.
pub(crate) fn request_target<'u>(url: &'u Url, route: &Route) -> &'u str {
    match route {
        Route::Forward => &url[..Position::AfterQuery],
        _ => &url[Position::BeforePath..Position::AfterQuery],
    }
}

std::thread_local! {
    /// The thread's buffer for encoding request heads, kept between sends.
    static HEAD_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The thread's head buffer, taken for one send and put back on drop, so
/// a request head costs no allocation once the thread has sent one. A send
/// started from inside a callback of another finds it taken and uses a
/// fresh one.
struct HeadBuffer(Vec<u8>);

impl HeadBuffer {
    /// Heads larger than this are not worth keeping memory for.
    const KEEP: usize = 16 * 1024;

    fn take() -> HeadBuffer {
        let mut buf = HEAD_BUFFER.take();
        buf.clear();
        HeadBuffer(buf)
    }
}

impl std::ops::Deref for HeadBuffer {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for HeadBuffer {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl Drop for HeadBuffer {
    fn drop(&mut self) {
        if self.0.capacity() <= Self::KEEP {
            // `try_with`: during thread exit the slot may be gone already.
            let buf = std::mem::take(&mut self.0);
            let _ = HEAD_BUFFER.try_with(|slot| slot.set(buf));
        }
    }
}

/// What goes on the wire for a hop, made before a connection is taken, so
/// a field that cannot be sent fails without one: the HTTP/1.1 head, or
/// for a session that asks for HTTP/2 the h2 request, and then the
/// HTTP/1.1 head only if the connection speaks HTTP/1.1 (ALPN chose it).
struct Prepared {
    head: HeadBuffer,
    encoded: bool,
    h2: Option<http::Request<()>>,
}

impl Prepared {
    fn new() -> Prepared {
        Prepared {
            head: HeadBuffer::take(),
            encoded: false,
            h2: None,
        }
    }

    /// A key that speaks one protocol has its request made before the
    /// checkout (a field that cannot be sent fails before any
    /// connection); under the default over TLS the lease says which, and
    /// only that one is made. Made in place: the h2 request is large, and
    /// moves are copies.
    fn prepare(&mut self, hop: &Hop<'_, '_>, key: &KeyRef<'_>) -> Result<(), ClientError> {
        if key.version.requires_h2() {
            self.h2 = Some(h2::to_h2(hop.method, hop.url, hop.headers)?);
        } else if !key.version.may_use_h2() {
            self.h1_head(hop, &key.route)?;
        }
        Ok(())
    }

    fn h1_head(&mut self, hop: &Hop<'_, '_>, route: &Route) -> Result<&[u8], ClientError> {
        if !self.encoded {
            encode_request_head(
                &mut self.head,
                hop.method,
                request_target(hop.url, route),
                hop.headers.iter(),
            )?;
            self.encoded = true;
        }
        Ok(&self.head)
    }

    /// The h2 request: the one made up front, or (a retry) a new one.
    fn h2_request(&mut self, hop: &Hop<'_, '_>) -> Result<http::Request<()>, ClientError> {
        match self.h2.take() {
            Some(r) => Ok(r),
            None => h2::to_h2(hop.method, hop.url, hop.headers),
        }
    }
}

/// Sends `hop` and reads the final response head, skipping 1xx interim
/// responses. A failure on a reused connection before any response byte,
/// for an idempotent method, is retried once on a fresh connection. An
/// error comes with how far the exchange had got (for the retry policy).
/// Why an exchange failed: the error, how far it got, and whether it
/// failed on a reused connection before any response byte (so one retry
/// on a fresh connection may follow). Passed up as is: converting the
/// `Result` would copy the `Exchanged` on every success.
pub(crate) type Failure = (ClientError, Stage, Again);

pub(crate) fn exchange(
    pool: &Pool,
    hop: &Hop<'_, '_>,
    limits: &Limits,
    budget: &Budget<'_>,
) -> Result<Exchanged, Failure> {
    let key = pool_key(hop.url, hop.tls, hop.proxy, hop.targets, hop.version);
    let mut wire = Prepared::new();
    wire.prepare(hop, &key)
        .map_err(|e| (e, Stage::Connect, Again::No))?;
    let result = match attempt(pool, &key, hop, &mut wire, limits, budget, false) {
        Err((e, _, Again::IfIdempotent))
            if is_idempotent(hop.method) && e.closed_before_response() =>
        {
            log_retry(hop.log, hop.method, hop.url, &e);
            attempt(pool, &key, hop, &mut wire, limits, budget, true)
        }
        Err((e, _, Again::Unprocessed)) => {
            log_retry(hop.log, hop.method, hop.url, &e);
            attempt(pool, &key, hop, &mut wire, limits, budget, true)
        }
        other => other,
    };
    if let Ok(ex) = &result {
        log_connection(
            hop.log,
            hop.method,
            hop.url,
            ex.wire.reused(),
            ex.timings.connect,
        );
    }
    result
}

/// Logs the retry of a request whose reused connection was found dead
/// (both drivers).
pub(crate) fn log_retry(log: Option<&Log>, method: &str, url: &Url, e: &ClientError) {
    log_at!(
        log,
        Level::Info,
        "retrying {} {} on a new connection: {}",
        method,
        url,
        e
    );
}

/// Logs which connection an exchange went out on (both drivers).
pub(crate) fn log_connection(
    log: Option<&Log>,
    method: &str,
    url: &Url,
    reused: bool,
    connect: std::time::Duration,
) {
    if reused {
        log_at!(
            log,
            Level::Debug,
            "{} {}: reused a pooled connection",
            method,
            url
        );
    } else {
        log_at!(
            log,
            Level::Debug,
            "{} {}: new connection (connected after {:?})",
            method,
            url,
            connect
        );
    }
}

/// One try. The error comes with how far the try had got, and a flag
/// saying whether it happened on a reused connection before any response
/// byte arrived.
fn attempt(
    pool: &Pool,
    key: &KeyRef<'_>,
    hop: &Hop<'_, '_>,
    wire: &mut Prepared,
    limits: &Limits,
    budget: &Budget<'_>,
    fresh: bool,
) -> Result<Exchanged, Failure> {
    let leased = pool
        .checkout(key, fresh, limits.max_header_bytes, budget)
        .map_err(|e| (e.into(), Stage::Connect, Again::No))?;
    let (reused, opened) = match &leased {
        Leased::H1(lease) => (lease.reused, lease.conn_ref().timings),
        Leased::H2(lease) => (lease.reused, lease.conn.timings),
    };
    let mut timings = Timings::default();
    if !reused {
        // Reported from the start of the send, so a pool wait before the
        // connect shows in them.
        let since_start = |i: std::time::Instant| i.saturating_duration_since(budget.started);
        timings.dns = opened.dns_done.map(since_start).unwrap_or_default();
        timings.connect = since_start(opened.connected);
        timings.tls = opened.tls_done.map(since_start).unwrap_or_default();
    }
    let mut lease = match leased {
        Leased::H1(lease) => lease,
        Leased::H2(lease) => {
            let request = wire
                .h2_request(hop)
                .map_err(|e| (e, Stage::Connect, Again::No))?;
            return h2::exchange(lease, hop, request, limits, budget, timings);
        }
    };
    let head_bytes = wire
        .h1_head(hop, &key.route)
        .map_err(|e| (e, Stage::Connect, Again::No))?;
    let mut progress = Sent::default();
    let mut reader = ResponseReader::new(
        RequestFacts {
            head: hop.method.eq_ignore_ascii_case("HEAD"),
            close: hop.headers.has_token("connection", "close"),
            connect: false,
        },
        limits,
    );
    // On error the lease drops, which closes the connection. A retry needs
    // the body again: impossible once a source body has been read from.
    let head = send_and_read_head(
        &mut lease,
        hop,
        head_bytes,
        &mut reader,
        budget,
        &mut timings,
        &mut progress,
    )
    .map_err(|e| {
        let stage = match reader.head_started() {
            true => Stage::InResponse,
            false => Stage::BeforeResponse,
        };
        let again = match reused && !reader.head_started() && !progress.pulled {
            true => Again::IfIdempotent,
            false => Again::No,
        };
        (e, stage, again)
    })?;
    Ok(Exchanged {
        head,
        wire: Wire::H1 { lease, reader },
        timings,
        sent: progress.bytes,
        tracker: hop.tracker.clone(),
    })
}

/// What writing the request body did.
#[derive(Default)]
pub(crate) struct Sent {
    /// Body bytes written.
    pub bytes: u64,
    /// True once a source body was read from (it cannot be sent again).
    pub pulled: bool,
}

/// Piece size for bodies written after the head.
const WRITE_PIECE: usize = 64 * 1024;

/// Writes the head and the body: small in-memory bodies in the same write
/// as the head, larger ones in pieces, source bodies as they are read
/// (chunked when no size was given), reporting progress after each piece.
fn write_request(
    conn: &mut crate::net::Conn,
    head_bytes: &[u8],
    hop: &Hop<'_, '_>,
    budget: &Budget<'_>,
    sent: &mut Sent,
) -> Result<(), ClientError> {
    match hop.body {
        None => conn.write_all(head_bytes, budget)?,
        Some(Body::Bytes(body)) if body.len() <= COALESCE_BODY => {
            let mut out = Vec::with_capacity(head_bytes.len() + body.len());
            out.extend_from_slice(head_bytes);
            out.extend_from_slice(body);
            conn.write_all(&out, budget)?;
            sent.bytes = body.len() as u64;
            hop.tracker.report(sent.bytes, 0, None)?;
        }
        Some(Body::Bytes(body)) => {
            conn.write_all(head_bytes, budget)?;
            for piece in body.chunks(WRITE_PIECE) {
                conn.write_all(piece, budget)?;
                sent.bytes += piece.len() as u64;
                hop.tracker.report(sent.bytes, 0, None)?;
            }
        }
        Some(body) => {
            // Opened before the head goes out: a reopened body that cannot
            // be produced (a file gone) fails with nothing written.
            let Some(mut pump) = SourcePump::start(body)? else {
                unreachable!("in-memory bodies are matched above")
            };
            conn.write_all(head_bytes, budget)?;
            let mut framed = Vec::with_capacity(SourcePump::PIECE + 16);
            while !pump.is_done() {
                framed.clear();
                let read = pump.next_piece(&mut framed);
                sent.pulled = pump.pulled;
                read?;
                conn.write_all(&framed, budget)?;
                sent.bytes = pump.sent;
                hop.tracker.report(sent.bytes, 0, None)?;
            }
        }
    }
    Ok(())
}

/// Writes the request, then runs `reader` over the connection until the
/// final head.
fn send_and_read_head(
    lease: &mut Lease,
    hop: &Hop<'_, '_>,
    head_bytes: &[u8],
    reader: &mut ResponseReader,
    budget: &Budget<'_>,
    timings: &mut Timings,
    sent: &mut Sent,
) -> Result<ResponseHead, ClientError> {
    let conn = lease.conn();
    write_request(conn, head_bytes, hop, budget, sent)?;
    timings.sent = budget.started.elapsed();
    // The buffer may hold up to one head plus one read beyond it.
    let max_buffered = reader.limits().max_header_bytes.saturating_add(16 * 1024);
    loop {
        match reader.read_head(conn.buffered())? {
            Some((n, head)) => {
                conn.consume(n);
                if !reader.wants_head() {
                    return Ok(head);
                }
            }
            None => {
                let started = reader.head_started();
                if conn.fill(max_buffered, budget)? == 0 {
                    return Err(closed_in_head(conn.peer(), started));
                }
                if !started && timings.first_byte.is_zero() {
                    timings.first_byte = budget.started.elapsed();
                }
            }
        }
    }
}

/// The server closed the connection before a final head was complete.
pub(crate) fn closed_in_head(peer: &str, head_started: bool) -> ClientError {
    let what = if head_started {
        "inside the response head"
    } else {
        "before sending a response"
    };
    ClientError::Net(crate::net::NetError::new(
        crate::net::NetErrorKind::ConnectionClosed,
        format!("{} closed the connection {}", peer, what),
    ))
}

/// Reads the rest of the body into memory under the limits, then returns the
/// connection to the pool (kept only when the response allows it and the
/// server sent nothing past the body).
/// `cap` stops early (closing the connection) for bodies we only drain.
/// The body is read in after `front` zero bytes, room the caller keeps
/// for itself (see `Finish`); one byte more is reserved past a body of
/// known length, for a terminator.
pub(crate) fn read_body(
    ex: Exchanged,
    budget: &Budget<'_>,
    cap: u64,
    front: usize,
) -> Result<ReadBody, ClientError> {
    if ex.wire.remaining_length().unwrap_or(0) > cap {
        return Err(too_big_to_drain(cap));
    }
    // Content-Length was checked against the limit when the decoder was made.
    let expected = ex
        .wire
        .remaining_length()
        .map_or(0, |n| n.min(64 << 20) as usize + 1);
    let mut body = Vec::with_capacity(front + expected);
    body.resize(front, 0);
    let total = ex.wire.remaining_length();
    let Exchanged {
        head,
        wire,
        timings,
        sent,
        tracker,
    } = ex;
    let (lease, mut reader) = match wire {
        Wire::H1 { lease, reader } => (lease, reader),
        Wire::H2(mut h2) => {
            h2.read_to_end(&mut body, cap, budget, |got| {
                tracker.report(sent, got, total)
            })?;
            tracker.report(sent, (body.len() - front) as u64, total)?;
            return Ok(ReadBody {
                head,
                body,
                timings,
                trailers: h2.take_trailers(),
            });
        }
    };
    let mut lease = lease;
    let conn = lease.conn();
    while !reader.is_done() {
        if reader.produced() > cap {
            return Err(too_big_to_drain(cap));
        }
        tracker.report(sent, (body.len() - front) as u64, total)?;
        if !conn.buffered().is_empty() {
            let step = reader.read_body(conn.buffered())?;
            body.extend_from_slice(&conn.buffered()[step.data]);
            conn.consume(step.consumed);
            continue;
        }
        if let Some(left) = reader.remaining_length() {
            // Large known-length bodies: read from the kernel straight into place.
            let at = body.len();
            let want = left.min(1 << 20) as usize;
            body.resize(at + want, 0);
            let n = conn.read_direct(&mut body[at..], budget)?;
            body.truncate(at + n);
            if n == 0 {
                reader.eof()?;
            } else {
                reader.read_body(&body[at..])?;
            }
            continue;
        }
        if conn.fill(64 * 1024, budget)? == 0 {
            reader.eof()?;
        }
    }
    tracker.report(sent, (body.len() - front) as u64, total)?;
    let clean = conn.buffered().is_empty();
    lease.release(reader.keep_alive() && clean);
    Ok(ReadBody {
        head,
        body,
        timings,
        trailers: reader.take_trailers(),
    })
}

/// A body read into memory, with what came with it.
pub(crate) struct ReadBody {
    pub head: ResponseHead,
    /// The body, after the room in front the caller asked for.
    pub body: Vec<u8>,
    pub timings: Timings,
    /// The trailer fields of a chunked body.
    pub trailers: Trailers,
}

fn too_big_to_drain(cap: u64) -> ClientError {
    crate::proto::ProtoError::new(
        crate::proto::ProtoErrorKind::BodyTooLarge,
        format!("body larger than {} bytes is not drained", cap),
    )
    .into()
}
