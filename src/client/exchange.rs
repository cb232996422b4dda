//! One request/response exchange on one pooled connection, and the single
//! transparent retry when a reused connection turns out to be dead.
use std::sync::Arc;

use url::Url;

use super::body::{Body, Tracker};
use super::error::{ClientError, ClientErrorKind};
use super::headers::HeaderList;
use super::log::{log_at, Level, Log};
use super::request::is_idempotent;
use super::response::Timings;
use crate::net::{Budget, Lease, Pool, PoolKey, TlsConfig};
use crate::proto::{
    self, encode_chunk, encode_request_head, parse_head, BodyDecoder, Limits, ResponseHead,
    LAST_CHUNK,
};

/// Bodies up to this size go out in the same write as the head.
const COALESCE_BODY: usize = 16 * 1024;

/// What one hop sends: everything already decided by the session.
pub(crate) struct Hop<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    /// Complete header list, Host and Content-Length included.
    pub headers: &'a HeaderList,
    pub body: Option<&'a Body>,
    pub tracker: &'a Tracker,
    /// The session's TLS configuration; `None` means the shared default.
    pub tls: Option<&'a Arc<TlsConfig>>,
    pub log: Option<&'a Log>,
}

/// A response whose head has been read; its body is still on the connection.
pub(crate) struct Exchanged {
    pub lease: Lease,
    pub head: ResponseHead,
    pub decoder: BodyDecoder,
    /// Whether the connection may serve another request once the body is read.
    pub keep_alive: bool,
    pub timings: Timings,
    /// Request body bytes sent, and who to tell about progress.
    pub sent: u64,
    pub tracker: Tracker,
}

/// The pool key of `url`: https connections are also keyed by the TLS
/// configuration they are made with.
pub(crate) fn pool_key(url: &Url, tls: Option<&Arc<TlsConfig>>) -> PoolKey {
    let tls =
        (url.scheme() == "https").then(|| tls.cloned().unwrap_or_else(TlsConfig::shared_default));
    PoolKey {
        scheme: url.scheme().to_string(),
        host: url.host_str().unwrap_or_default().to_string(),
        port: url.port_or_known_default().unwrap_or(80),
        tls,
    }
}

pub(crate) fn request_target(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{}", url.path(), q),
        None => url.path().to_string(),
    }
}

/// Sends `hop` and reads the final response head, skipping 1xx interim
/// responses. A failure on a reused connection before any response byte,
/// for an idempotent method, is retried once on a fresh connection.
pub(crate) fn exchange(
    pool: &Pool,
    hop: &Hop<'_>,
    limits: &Limits,
    budget: &Budget<'_>,
) -> Result<Exchanged, ClientError> {
    let mut head_bytes = Vec::with_capacity(256);
    encode_request_head(
        &mut head_bytes,
        hop.method,
        &request_target(hop.url),
        hop.headers.iter(),
    )?;
    let key = pool_key(hop.url, hop.tls);
    let result = match attempt(pool, &key, hop, &head_bytes, limits, budget, false) {
        Err((e, true)) if is_idempotent(hop.method) && e.closed_before_response() => {
            log_at!(
                hop.log,
                Level::Info,
                "retrying {} {} on a new connection: {}",
                hop.method,
                hop.url,
                e
            );
            attempt(pool, &key, hop, &head_bytes, limits, budget, true).map_err(|(e, _)| e)
        }
        other => other.map_err(|(e, _)| e),
    };
    match &result {
        Ok(ex) if ex.lease.reused => log_at!(
            hop.log,
            Level::Debug,
            "{} {}: reused a pooled connection",
            hop.method,
            hop.url
        ),
        Ok(ex) => log_at!(
            hop.log,
            Level::Debug,
            "{} {}: new connection (connected after {:?})",
            hop.method,
            hop.url,
            ex.timings.connect
        ),
        Err(_) => {}
    }
    result
}

/// One try. The error's flag says whether it happened on a reused connection
/// before any response byte arrived.
fn attempt(
    pool: &Pool,
    key: &PoolKey,
    hop: &Hop<'_>,
    head_bytes: &[u8],
    limits: &Limits,
    budget: &Budget<'_>,
    fresh: bool,
) -> Result<Exchanged, (ClientError, bool)> {
    let mut lease = pool
        .checkout(key, fresh, budget)
        .map_err(|e| (e.into(), false))?;
    let reused = lease.reused;
    let mut timings = Timings::default();
    if !reused {
        // Reported from the start of the send, so a pool wait before the
        // connect shows in them.
        let t = lease.conn().timings;
        let since_start = |i: std::time::Instant| i.saturating_duration_since(budget.started);
        timings.dns = t.dns_done.map(since_start).unwrap_or_default();
        timings.connect = since_start(t.connected);
        timings.tls = t.tls_done.map(since_start).unwrap_or_default();
    }
    let mut got_bytes = false;
    let mut progress = Sent::default();
    // On error the lease drops, which closes the connection. A retry needs
    // the body again: impossible once a source body has been read from.
    let head = send_and_read_head(
        &mut lease,
        hop,
        head_bytes,
        limits,
        budget,
        &mut timings,
        &mut got_bytes,
        &mut progress,
    )
    .map_err(|e| (e, reused && !got_bytes && !progress.pulled))?;
    let framed = proto::response_body(hop.method.eq_ignore_ascii_case("HEAD"), &head)
        .and_then(|mode| Ok((mode, BodyDecoder::new(mode, limits)?)));
    let (mode, decoder) = framed.map_err(|e| (e.into(), false))?;
    let keep_alive =
        proto::keep_alive(&head, mode) && !hop.headers.has_token("connection", "close");
    Ok(Exchanged {
        lease,
        head,
        decoder,
        keep_alive,
        timings,
        sent: progress.bytes,
        tracker: hop.tracker.clone(),
    })
}

/// What writing the request body did.
#[derive(Default)]
struct Sent {
    /// Body bytes written.
    bytes: u64,
    /// True once a source body was read from (it cannot be sent again).
    pulled: bool,
}

/// Piece size for bodies written after the head.
const WRITE_PIECE: usize = 64 * 1024;

/// Writes the head and the body: small in-memory bodies in the same write
/// as the head, larger ones in pieces, source bodies as they are read
/// (chunked when no size was given), reporting progress after each piece.
fn write_request(
    conn: &mut crate::net::Conn,
    head_bytes: &[u8],
    hop: &Hop<'_>,
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
        Some(Body::Source { source, size }) => {
            conn.write_all(head_bytes, budget)?;
            let mut source = source.lock().unwrap_or_else(|p| p.into_inner());
            let mut buf = vec![0u8; WRITE_PIECE];
            let mut framed = Vec::with_capacity(WRITE_PIECE + 16);
            loop {
                let want = size.map_or(WRITE_PIECE, |total| {
                    (total - sent.bytes).min(WRITE_PIECE as u64) as usize
                });
                if want == 0 {
                    break;
                }
                sent.pulled = true;
                let n = source.read(&mut buf[..want])?;
                if n > want {
                    return Err(ClientError::new(
                        ClientErrorKind::InvalidArgument,
                        format!(
                            "body source returned {} bytes for a {}-byte buffer",
                            n, want
                        ),
                    ));
                }
                if n == 0 {
                    if let Some(total) = size {
                        return Err(ClientError::new(
                            ClientErrorKind::InvalidArgument,
                            format!(
                                "body source ended after {} of the {} bytes it declared",
                                sent.bytes, total
                            ),
                        ));
                    }
                    conn.write_all(LAST_CHUNK, budget)?;
                    break;
                }
                if size.is_some() {
                    conn.write_all(&buf[..n], budget)?;
                } else {
                    framed.clear();
                    encode_chunk(&mut framed, &buf[..n]);
                    conn.write_all(&framed, budget)?;
                }
                sent.bytes += n as u64;
                hop.tracker.report(sent.bytes, 0, None)?;
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn send_and_read_head(
    lease: &mut Lease,
    hop: &Hop<'_>,
    head_bytes: &[u8],
    limits: &Limits,
    budget: &Budget<'_>,
    timings: &mut Timings,
    got_bytes: &mut bool,
    sent: &mut Sent,
) -> Result<ResponseHead, ClientError> {
    let conn = lease.conn();
    write_request(conn, head_bytes, hop, budget, sent)?;
    timings.sent = budget.started.elapsed();
    // The buffer may hold up to one head plus one read beyond it.
    let max_buffered = limits.max_header_bytes + 16 * 1024;
    loop {
        if let Some((n, head)) = parse_head(conn.buffered(), limits)? {
            conn.consume(n);
            if proto::is_interim(head.status) {
                continue;
            }
            return Ok(head);
        }
        let n = conn.fill(max_buffered, budget)?;
        if n == 0 {
            let what = if *got_bytes {
                "inside the response head"
            } else {
                "before sending a response"
            };
            return Err(ClientError::Net(crate::net::NetError::new(
                crate::net::NetErrorKind::ConnectionClosed,
                format!("{} closed the connection {}", conn.peer(), what),
            )));
        }
        if !*got_bytes {
            *got_bytes = true;
            timings.first_byte = budget.started.elapsed();
        }
    }
}

/// Reads the rest of the body into memory under the limits, then returns the
/// connection to the pool (kept only when the response allows it and the
/// server sent nothing past the body).
/// `cap` stops early (closing the connection) for bodies we only drain.
pub(crate) fn read_body(
    mut ex: Exchanged,
    budget: &Budget<'_>,
    cap: u64,
) -> Result<(ResponseHead, Vec<u8>, Timings), ClientError> {
    if ex.decoder.remaining_length().unwrap_or(0) > cap {
        return Err(too_big_to_drain(cap));
    }
    let mut body = Vec::new();
    if let Some(left) = ex.decoder.remaining_length() {
        // Content-Length was checked against the limit when the decoder was made.
        body.reserve_exact(left.min(64 << 20) as usize);
    }
    let total = ex.decoder.remaining_length();
    let conn = ex.lease.conn();
    while !ex.decoder.is_done() {
        if ex.decoder.produced() > cap {
            return Err(too_big_to_drain(cap));
        }
        ex.tracker.report(ex.sent, body.len() as u64, total)?;
        if !conn.buffered().is_empty() {
            let step = ex.decoder.decode(conn.buffered())?;
            body.extend_from_slice(&conn.buffered()[step.data]);
            conn.consume(step.consumed);
            continue;
        }
        if let Some(left) = ex.decoder.remaining_length() {
            // Large known-length bodies: read from the kernel straight into place.
            let at = body.len();
            let want = left.min(1 << 20) as usize;
            body.resize(at + want, 0);
            let n = conn.read_direct(&mut body[at..], budget)?;
            body.truncate(at + n);
            if n == 0 {
                ex.decoder.feed_eof()?;
            } else {
                ex.decoder.decode(&body[at..])?;
            }
            continue;
        }
        if conn.fill(64 * 1024, budget)? == 0 {
            ex.decoder.feed_eof()?;
        }
    }
    ex.tracker.report(ex.sent, body.len() as u64, total)?;
    let clean = conn.buffered().is_empty();
    let Exchanged {
        lease,
        head,
        keep_alive,
        timings,
        ..
    } = ex;
    lease.release(keep_alive && clean);
    Ok((head, body, timings))
}

fn too_big_to_drain(cap: u64) -> ClientError {
    crate::proto::ProtoError::new(
        crate::proto::ProtoErrorKind::BodyTooLarge,
        format!("body larger than {} bytes is not drained", cap),
    )
    .into()
}
