//! Sends one request as a stream on a shared HTTP/2 connection and waits
//! for its response head. Every wait goes through `H2Conn::block_on`, which
//! drives the connection as needed, bounded by this request's own timeouts
//! and cancel token.

use bytes::Bytes;
use h2::{Reason, SendStream};

use super::early::Early;
use crate::client::body::{Body, SourcePump};
use crate::client::error::ClientError;
use crate::client::exchange::{Again, Exchanged, Failure, Hop, Sent, Wire};
use crate::client::response::Timings;
use crate::client::retry::Stage;
use crate::net::h2::{protocol_error, H2Conn};
use crate::net::{Budget, H2Lease, NetError, Op};
use crate::proto::Limits;

/// The most DATA asked for at once: large enough to fill the windows a
/// fast server offers, small enough to keep one stream from hogging the
/// connection's send buffer.
const SEND_PIECE: usize = 256 * 1024;

/// Whether the server said it never processed the stream: refused
/// (REFUSED_STREAM), or above the last stream id of its GOAWAY. Such a
/// request may go again on a new connection whatever its method (RFC 9113
/// §8.7).
pub(crate) fn unprocessed(e: &h2::Error) -> bool {
    e.reason() == Some(Reason::REFUSED_STREAM)
        || (e.is_go_away() && e.reason() == Some(Reason::NO_ERROR))
}

/// A failed step of the exchange, with how far it got and whether the
/// request may go again on a new connection.
fn failed(e: &h2::Error, conn: &H2Conn, stage: Stage, replayable: bool, reused: bool) -> Failure {
    if e.is_go_away() || e.is_io() {
        conn.close_to_new();
    }
    let again = if unprocessed(e) && replayable {
        Again::Unprocessed
    } else {
        lost(reused, replayable)
    };
    (protocol_error(e, conn.peer()).into(), stage, again)
}

/// A connection that had served earlier streams was found gone before
/// this one's response: as over HTTP/1.1, an idempotent request goes again
/// on a new connection (the exchange checks the method and the error).
fn lost(reused: bool, replayable: bool) -> Again {
    match reused && replayable {
        true => Again::IfIdempotent,
        false => Again::No,
    }
}

pub(crate) fn exchange(
    lease: H2Lease,
    hop: &Hop<'_, '_>,
    request: http::Request<()>,
    limits: &Limits,
    budget: &Budget<'_>,
    mut timings: Timings,
) -> Result<Exchanged, Failure> {
    let conn = lease.conn.clone();
    let peer = conn.peer();
    let reused = lease.reused;
    let replayable = hop.body.is_none_or(Body::replayable);
    let net = |e: NetError, stage| -> Failure {
        let again = match stage {
            Stage::InResponse => Again::No,
            _ => lost(reused, replayable),
        };
        (e.into(), stage, again)
    };
    // A stream slot: the server's SETTINGS_MAX_CONCURRENT_STREAMS may have
    // every slot taken; waiting for one is a wait for the pool.
    let mut sender = conn.sender();
    let what = format_args!("waiting for a stream on {}", peer);
    conn.block_on(
        |cx| sender.poll_ready(cx),
        budget.op_deadline(Op::Pool),
        Op::Pool,
        budget,
        &what,
    )
    .map_err(|e| net(e, Stage::Connect))?
    .map_err(|e| failed(&e, &conn, Stage::Connect, replayable, reused))?;
    let empty = hop.body.is_none_or(|b| b.length() == Some(0));
    let (response, mut stream) = sender
        .send_request(request, empty)
        .map_err(|e| failed(&e, &conn, Stage::Connect, replayable, reused))?;
    let mut sent = Sent::default();
    let mut early = Early::new(response, limits.max_body_bytes);
    if let (Some(body), false) = (hop.body, empty) {
        send_body(&conn, &mut stream, &mut early, body, hop, budget, &mut sent).map_err(|e| {
            let again = match sent.pulled {
                true => Again::No,
                false => e.1,
            };
            (e.0, Stage::BeforeResponse, again)
        })?;
    }
    timings.sent = budget.started.elapsed();
    let what = format_args!("waiting for the response from {}", peer);
    conn.block_on(
        |cx| early.poll_head(cx),
        budget.op_deadline(Op::Read),
        Op::Read,
        budget,
        &what,
    )
    .map_err(|e| net(e, Stage::BeforeResponse))?
    .map_err(
        |e| match early.head_too_large(&e, &conn, limits.max_header_bytes) {
            Some(too_large) => (too_large, Stage::InResponse, Again::No),
            None => failed(
                &e,
                &conn,
                Stage::BeforeResponse,
                replayable && !sent.pulled,
                reused,
            ),
        },
    )?;
    timings.first_byte = budget.started.elapsed();
    let is_head = hop.method.eq_ignore_ascii_case("HEAD");
    let (head, body) = early
        .into_answer(lease, is_head, limits)
        .map_err(|e| (e, Stage::InResponse, Again::No))?;
    Ok(Exchanged {
        head,
        wire: Wire::H2(Box::new(body)),
        timings,
        sent: sent.bytes,
        tracker: hop.tracker.clone(),
    })
}

/// Sends the request body as DATA frames, each piece once the stream and
/// the connection have window for it (h2 buffers nothing past what it was
/// given room for), reporting progress after each piece.
fn send_body(
    conn: &H2Conn,
    stream: &mut SendStream<Bytes>,
    early: &mut Early,
    body: &Body,
    hop: &Hop<'_, '_>,
    budget: &Budget<'_>,
    sent: &mut Sent,
) -> Result<(), (ClientError, Again)> {
    let peer = conn.peer();
    let what = format_args!("sending the request body to {}", peer);
    // Waits for window, then sends `data` (all of it) in as many frames.
    let mut send =
        |mut data: Bytes, last: bool, sent: &mut Sent| -> Result<(), (ClientError, Again)> {
            if data.is_empty() {
                // The end of a body whose last read was empty.
                return stream.send_data(data, last).map_err(|e| {
                    (
                        failed(&e, conn, Stage::BeforeResponse, true, false).0,
                        Again::No,
                    )
                });
            }
            loop {
                stream.reserve_capacity(data.len().min(SEND_PIECE));
                let room = conn
                    .block_on(
                        |cx| {
                            early.take_in(cx);
                            stream.poll_capacity(cx)
                        },
                        budget.op_deadline(Op::Write),
                        Op::Write,
                        budget,
                        &what,
                    )
                    .map_err(|e| (e.into(), Again::No))?;
                let room = match room {
                    Some(Ok(n)) => n,
                    Some(Err(e)) => {
                        return Err((
                            failed(&e, conn, Stage::BeforeResponse, true, false).0,
                            Again::No,
                        ))
                    }
                    None => {
                        return Err((
                            NetError::new(
                                crate::net::NetErrorKind::Http2Protocol,
                                format!(
                                    "{} closed the stream before the request body was sent",
                                    peer
                                ),
                            )
                            .into(),
                            Again::No,
                        ))
                    }
                };
                if room == 0 {
                    continue;
                }
                let piece = data.split_to(room.min(data.len()));
                let n = piece.len() as u64;
                let end = last && data.is_empty();
                stream.send_data(piece, end).map_err(|e| {
                    (
                        failed(&e, conn, Stage::BeforeResponse, true, false).0,
                        Again::No,
                    )
                })?;
                sent.bytes += n;
                hop.tracker
                    .report(sent.bytes, 0, None)
                    .map_err(|e| (e, Again::No))?;
                if data.is_empty() {
                    return Ok(());
                }
            }
        };
    match body {
        Body::Bytes(bytes) => {
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let take = rest.len().min(SEND_PIECE);
                let last = take == rest.len();
                send(Bytes::copy_from_slice(&rest[..take]), last, sent)?;
                rest = &rest[take..];
            }
        }
        _ => {
            let Some(mut pump) = SourcePump::start_unframed(body).map_err(|e| (e, Again::No))?
            else {
                unreachable!("in-memory bodies are matched above")
            };
            let mut piece = Vec::with_capacity(SourcePump::PIECE);
            while !pump.is_done() {
                piece.clear();
                let read = pump.next_piece(&mut piece);
                sent.pulled = pump.pulled;
                read.map_err(|e| (e, Again::No))?;
                let last = pump.is_done();
                if piece.is_empty() && !last {
                    continue;
                }
                let before = sent.bytes;
                send(Bytes::copy_from_slice(&piece), last, sent)?;
                debug_assert_eq!(sent.bytes - before, piece.len() as u64);
            }
        }
    }
    Ok(())
}
