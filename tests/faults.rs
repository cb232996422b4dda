//! Fault injection: a server that breaks the exchange at every stage —
//! resets (RST) and half-closes (FIN) before the head, inside it, inside the
//! body and between keep-alive requests; trickles one byte every 100 ms;
//! sends garbage after a complete body or a second response nobody asked
//! for; never reads a large upload.
//!
//! Every case checks the same four things: the right error kind (or a
//! correct response), an end within the configured timeouts (a generous
//! wall-clock hang guard, not a timing assertion), no leaked connection (the
//! pool's counters add up and nothing is left in use), and a next request
//! on the same session that works.
mod support;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqivo::client::{ClientError, Request, Response, Session};
use reqivo::net::{Cancel, NetErrorKind, Timeouts};
use reqivo::proto::ProtoErrorKind;
use support::*;

/// A request that takes longer than this has hung: every timeout in these
/// cases is under 2 s, so 15 s means a missing bound, not a slow machine.
const HANG_GUARD: Duration = Duration::from_secs(15);

/// Aborts the whole test binary if a case outlives `HANG_GUARD` by far: a
/// hung send would otherwise block the test forever, and a panic on this
/// thread could not reach the one that is stuck.
struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    fn new(name: &'static str) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(HANG_GUARD * 4) {
                eprintln!("fault case {name} hung for {:?}: aborting", HANG_GUARD * 4);
                std::process::exit(101);
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Dropping the sender disconnects the channel, which frees the watcher.
        self.0.take();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Net(NetErrorKind),
    Proto(ProtoErrorKind),
}

fn kind_of(e: &ClientError) -> Option<Kind> {
    net_kind(e)
        .map(Kind::Net)
        .or_else(|| proto_kind(e).map(Kind::Proto))
}

/// What the faulty request must end with.
enum Want {
    /// A complete 200 response with this body.
    Body(&'static str),
    /// A complete response with this status and body.
    Status(u16, &'static str),
    /// An error of one of these kinds. Two kinds are allowed only where the
    /// kernel decides which one the client sees (an RST either arrives as
    /// ECONNRESET or, when it overtakes nothing, as a plain EOF).
    Err(&'static [Kind]),
}

const CLOSED: Kind = Kind::Net(NetErrorKind::ConnectionClosed);
const EOF: Kind = Kind::Proto(ProtoErrorKind::UnexpectedEof);

struct Case {
    name: &'static str,
    /// The script of the first connection; later connections answer every
    /// request with `fresh`.
    fault: Vec<Step>,
    /// Requests sent (and answered `warm`) before the faulty one, on the
    /// same keep-alive connection.
    warmup: usize,
    /// A mark the fault script records once the fault happened; waited
    /// for before the faulty request, for faults between requests.
    after_mark: Option<&'static str>,
    method: &'static str,
    body: Option<Vec<u8>>,
    timeouts: Timeouts,
    want: Want,
    /// A mark waited for between the faulty request and the next one, for
    /// faults that happen after a complete response.
    before_next: Option<&'static str>,
    /// Stream the response instead of buffering it.
    stream: bool,
}

impl Case {
    fn new(name: &'static str, fault: Vec<Step>, want: Want) -> Case {
        Case {
            name,
            fault,
            warmup: 0,
            after_mark: None,
            method: "GET",
            body: None,
            timeouts: timeouts_ms(1000),
            want,
            before_next: None,
            stream: false,
        }
    }
}

fn ms(n: u64) -> Option<Duration> {
    Some(Duration::from_millis(n))
}

fn fresh() -> Vec<Step> {
    vec![Step::Serve(Arc::new(|_| ok("fresh")))]
}

/// Sends `req` buffered, or streamed and read to the end in small pieces.
fn send(s: &Session, req: &Request, stream: bool) -> Result<Response, ClientError> {
    if !stream {
        return s.send(req, None);
    }
    let mut st = s.open(req, None)?;
    let mut body = Vec::new();
    let mut buf = [0u8; 7];
    // Bounded: every read returns at least one byte until the end, and
    // no case sends more than a few hundred bytes to a stream.
    for _ in 0..100_000 {
        let n = st.read(&mut buf)?;
        if n == 0 {
            let mut r = st.response().clone();
            r.body = body;
            return Ok(r);
        }
        body.extend_from_slice(&buf[..n]);
    }
    panic!("stream never ended");
}

/// The pool's books balance: every connection opened is closed, idle or
/// in use, and nothing is in use or waiting between requests.
fn assert_no_leak(s: &Session, when: &str, name: &str) -> u64 {
    let st = s.pool().stats();
    assert_eq!(
        (st.in_use, st.waiting),
        (0, 0),
        "{name}: {when}: connection left in use: {st:?}"
    );
    assert_eq!(
        st.opened,
        st.closed + st.idle,
        "{name}: {when}: opened connections unaccounted for: {st:?}"
    );
    assert!(
        st.idle <= 1,
        "{name}: {when}: more idle connections than requests in flight: {st:?}"
    );
    st.idle
}

fn run(case: Case) {
    let _watchdog = Watchdog::new(case.name);
    let name = case.name;
    let srv = Server::scripted(vec![case.fault, fresh(), fresh()]);
    let s = Session::new(pool(2));
    s.set_timeouts(case.timeouts);
    for i in 0..case.warmup {
        let r = get(&s, &srv.url("/warm")).unwrap_or_else(|e| panic!("{name}: warm-up: {e}"));
        assert_eq!(text(&r), "warm", "{name}: warm-up {i}");
    }
    wait_mark(&srv, case.after_mark, name);
    let mut req = request(case.method, &srv.url("/fault"));
    if let Some(body) = &case.body {
        req.set_body(body);
    }
    let started = Instant::now();
    let result = send(&s, &req, case.stream);
    let took = started.elapsed();
    assert!(
        took < HANG_GUARD,
        "{name}: the faulty request took {took:?}"
    );
    match (&case.want, result) {
        (Want::Body(want), Ok(r)) => {
            assert_eq!(r.head.status, 200, "{name}");
            assert_eq!(text(&r), *want, "{name}");
        }
        (Want::Status(status, want), Ok(r)) => {
            assert_eq!(r.head.status, *status, "{name}");
            assert_eq!(text(&r), *want, "{name}");
        }
        (Want::Body(want) | Want::Status(_, want), Err(e)) => {
            panic!("{name}: wanted body {want:?}, got error {e:?}")
        }
        (Want::Err(kinds), Ok(r)) => panic!(
            "{name}: wanted one of {kinds:?}, got {} with body {:?}",
            r.head.status,
            text(&r)
        ),
        (Want::Err(kinds), Err(e)) => {
            let got = kind_of(&e);
            assert!(
                got.is_some_and(|k| kinds.contains(&k)),
                "{name}: wanted one of {kinds:?}, got {e:?}"
            );
        }
    }
    assert_no_leak(&s, "after the fault", name);
    wait_mark(&srv, case.before_next, name);
    // The session goes on: the next request gets a correct answer from a
    // well-behaved connection, never leftovers of the broken one.
    let started = Instant::now();
    let r = get(&s, &srv.url("/next")).unwrap_or_else(|e| panic!("{name}: next request: {e:?}"));
    assert!(started.elapsed() < HANG_GUARD, "{name}: next request hung");
    assert_eq!((r.head.status, text(&r).as_str()), (200, "fresh"), "{name}");
    let idle = assert_no_leak(&s, "after the next request", name);
    assert_eq!(idle, 1, "{name}: the good connection is kept for reuse");
    assert!(srv.requests().iter().any(|q| q.target == "/next"), "{name}");
}

fn wait_mark(srv: &Server, mark: Option<&'static str>, name: &str) {
    if let Some(mark) = mark {
        assert!(
            srv.wait_mark(mark),
            "{name}: the server never got to {mark}"
        );
        // The mark is recorded just after the fault; give the kernel a
        // moment to deliver the bytes, FIN or RST to the client's socket.
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn head_then(bytes_: &str, then: Step) -> Vec<Step> {
    vec![Step::Read, Step::Send(bytes(bytes_)), Step::Sleep(50), then]
}

/// The script of a connection that serves `n` warm-up requests first.
fn after_warmup(n: usize, rest: Vec<Step>) -> Vec<Step> {
    let mut s = serve_n(n, &ok("warm"));
    s.extend(rest);
    s
}

// ------------------------------------------------------------------ reset

#[test]
fn reset_before_the_head_is_connection_closed() {
    run(Case::new(
        "reset before head",
        vec![Step::Read, Step::Reset],
        Want::Err(&[CLOSED]),
    ));
}

#[test]
fn reset_inside_the_head_is_connection_closed() {
    run(Case::new(
        "reset mid-head",
        head_then("HTTP/1.1 200 OK\r\nContent-Le", Step::Reset),
        Want::Err(&[CLOSED]),
    ));
}

#[test]
fn reset_inside_a_sized_body_is_an_error() {
    run(Case::new(
        "reset mid-body (Content-Length)",
        head_then(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..",
            Step::Reset,
        ),
        Want::Err(&[CLOSED, EOF]),
    ));
}

#[test]
fn reset_inside_a_chunked_body_is_an_error() {
    run(Case::new(
        "reset mid-body (chunked)",
        head_then(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            Step::Reset,
        ),
        Want::Err(&[CLOSED, EOF]),
    ));
}

#[test]
fn reset_inside_a_streamed_body_is_an_error() {
    let mut c = Case::new(
        "reset mid-body (streamed)",
        head_then(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..",
            Step::Reset,
        ),
        Want::Err(&[CLOSED, EOF]),
    );
    c.stream = true;
    run(c);
}

#[test]
fn reset_of_an_idle_keep_alive_connection_is_not_noticed() {
    // The pool sees the dead connection at checkout and opens a new one.
    // (A reset ends the script, so the mark comes just before it.)
    let mut c = Case::new(
        "reset between requests (idle)",
        after_warmup(1, vec![Step::Mark("faulted"), Step::Reset]),
        Want::Body("fresh"),
    );
    c.warmup = 1;
    c.after_mark = Some("faulted");
    run(c);
}

#[test]
fn reset_after_reading_a_reused_get_is_retried_on_a_new_connection() {
    // The stale connection looked alive at checkout; the server reads the
    // request and resets. A GET sent on a reused connection that got no
    // response byte is retried once (DESIGN §5).
    let mut c = Case::new(
        "reset after the second request (GET)",
        after_warmup(1, vec![Step::Read, Step::Reset]),
        Want::Body("fresh"),
    );
    c.warmup = 1;
    run(c);
}

#[test]
fn reset_after_reading_a_reused_post_is_connection_closed() {
    // The same, but a POST is not idempotent: it is never sent twice.
    let mut c = Case::new(
        "reset after the second request (POST)",
        after_warmup(1, vec![Step::Read, Step::Reset]),
        Want::Err(&[CLOSED]),
    );
    c.warmup = 1;
    c.method = "POST";
    c.body = Some(b"payload".to_vec());
    run(c);
}

// ------------------------------------------------------------- half-close

#[test]
fn half_close_before_the_head_is_connection_closed() {
    run(Case::new(
        "half-close before head",
        vec![Step::Read, Step::HalfClose],
        Want::Err(&[CLOSED]),
    ));
}

#[test]
fn half_close_inside_the_head_is_connection_closed() {
    run(Case::new(
        "half-close mid-head",
        head_then("HTTP/1.1 200 OK\r\nContent-Le", Step::HalfClose),
        Want::Err(&[CLOSED]),
    ));
}

#[test]
fn half_close_inside_a_sized_body_is_unexpected_eof() {
    run(Case::new(
        "half-close mid-body (Content-Length)",
        head_then(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..",
            Step::HalfClose,
        ),
        Want::Err(&[EOF]),
    ));
}

#[test]
fn half_close_inside_a_chunked_body_is_unexpected_eof() {
    run(Case::new(
        "half-close mid-body (chunked)",
        head_then(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            Step::HalfClose,
        ),
        Want::Err(&[EOF]),
    ));
}

#[test]
fn half_close_inside_a_streamed_body_is_unexpected_eof() {
    let mut c = Case::new(
        "half-close mid-body (streamed)",
        head_then(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..",
            Step::HalfClose,
        ),
        Want::Err(&[EOF]),
    );
    c.stream = true;
    run(c);
}

#[test]
fn half_close_ends_a_close_delimited_body() {
    // RFC 9112 §6.3 step 8: without framing headers the body runs to the
    // server's close, so a FIN is the correct end, not an error.
    run(Case::new(
        "half-close ends close-delimited body",
        head_then("HTTP/1.1 200 OK\r\n\r\nuntil close", Step::HalfClose),
        Want::Body("until close"),
    ));
}

#[test]
fn half_close_of_an_idle_keep_alive_connection_is_not_noticed() {
    let mut c = Case::new(
        "half-close between requests (idle)",
        after_warmup(1, vec![Step::HalfClose, Step::Mark("faulted")]),
        Want::Body("fresh"),
    );
    c.warmup = 1;
    c.after_mark = Some("faulted");
    run(c);
}

#[test]
fn half_close_after_reading_a_reused_get_is_retried() {
    let mut c = Case::new(
        "half-close after the second request (GET)",
        after_warmup(1, vec![Step::Read, Step::HalfClose]),
        Want::Body("fresh"),
    );
    c.warmup = 1;
    run(c);
}

// ---------------------------------------------------------------- trickle

/// A head and body of a few dozen bytes, one byte every 100 ms: seconds
/// in all, far past the timeouts these cases set.
const SLOW: &str = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\ntwenty bytes of body";

fn trickle(from: usize) -> Vec<Step> {
    let (now, slow) = SLOW.split_at(from);
    let mut s = vec![Step::Read];
    if !now.is_empty() {
        s.push(Step::Send(bytes(now)));
    }
    s.push(Step::Drip(bytes(slow), 100));
    s
}

/// Each byte comes well inside the read timeout; the total ends it.
fn total_only(total_ms: u64) -> Timeouts {
    Timeouts {
        total: ms(total_ms),
        ..timeouts_ms(2000)
    }
}

#[test]
fn trickled_head_hits_the_total_timeout() {
    let mut c = Case::new(
        "trickle head, total",
        trickle(0),
        Want::Err(&[Kind::Net(NetErrorKind::TimeoutTotal)]),
    );
    c.timeouts = total_only(700);
    run(c);
}

#[test]
fn trickled_body_hits_the_total_timeout() {
    let mut c = Case::new(
        "trickle body, total",
        trickle(SLOW.find("\r\n\r\n").unwrap() + 4),
        Want::Err(&[Kind::Net(NetErrorKind::TimeoutTotal)]),
    );
    c.timeouts = total_only(700);
    run(c);
}

#[test]
fn trickled_streamed_body_hits_the_total_timeout() {
    let mut c = Case::new(
        "trickle streamed body, total",
        trickle(SLOW.find("\r\n\r\n").unwrap() + 4),
        Want::Err(&[Kind::Net(NetErrorKind::TimeoutTotal)]),
    );
    c.timeouts = total_only(700);
    c.stream = true;
    run(c);
}

#[test]
fn trickle_slower_than_the_read_timeout_is_timeout_read() {
    // 100 ms between bytes against a 40 ms read timeout and no total.
    let mut c = Case::new(
        "trickle head, read",
        trickle(5),
        Want::Err(&[Kind::Net(NetErrorKind::TimeoutRead)]),
    );
    c.timeouts = timeouts_ms(40);
    c.timeouts.connect = ms(1000);
    run(c);
}

#[test]
fn trickled_body_slower_than_the_read_timeout_is_timeout_read() {
    let mut c = Case::new(
        "trickle body, read",
        trickle(SLOW.find("\r\n\r\n").unwrap() + 4),
        Want::Err(&[Kind::Net(NetErrorKind::TimeoutRead)]),
    );
    c.timeouts = timeouts_ms(40);
    c.timeouts.connect = ms(1000);
    run(c);
}

// ------------------------------------------------------- extra bytes sent

#[test]
fn garbage_after_a_complete_body_is_not_read_as_the_next_response() {
    // The response is complete and correct; the bytes after it mean the
    // connection is out of step, so it must not serve another request.
    run(Case::new(
        "garbage after body (same write)",
        vec![
            Step::Read,
            Step::Send([ok("one"), bytes("GARBAGE\r\n\r\n")].concat()),
        ],
        Want::Body("one"),
    ));
}

#[test]
fn garbage_arriving_after_the_body_spoils_the_idle_connection() {
    // The garbage comes later, while the connection sits idle in the pool;
    // checkout must see it and open a new connection.
    let mut c = Case::new(
        "garbage after body (later)",
        vec![
            Step::Read,
            Step::Send(ok("one")),
            Step::Sleep(50),
            Step::Send(bytes("GARBAGE\r\n\r\n")),
            Step::Mark("garbage"),
        ],
        Want::Body("one"),
    );
    // Only garbage that is there before the next send can be seen; garbage
    // sent after the request left is indistinguishable from an answer.
    c.before_next = Some("garbage");
    run(c);
}

#[test]
fn unsolicited_second_response_is_never_taken_as_the_next_answer() {
    run(Case::new(
        "second response nobody asked for (same write)",
        vec![
            Step::Read,
            Step::Send([ok("one"), ok("unsolicited")].concat()),
        ],
        Want::Body("one"),
    ));
}

#[test]
fn unsolicited_response_on_an_idle_connection_is_never_taken_as_the_next_answer() {
    let mut c = Case::new(
        "second response nobody asked for (idle)",
        after_warmup(
            1,
            vec![Step::Send(ok("unsolicited")), Step::Mark("faulted")],
        ),
        Want::Body("fresh"),
    );
    c.warmup = 1;
    c.after_mark = Some("faulted");
    run(c);
}

#[test]
fn garbage_after_a_complete_chunked_body_is_not_read_as_the_next_response() {
    run(Case::new(
        "garbage after chunked body",
        vec![
            Step::Read,
            Step::Send(bytes(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n0\r\n\r\nGARBAGE",
            )),
        ],
        Want::Body("one"),
    ));
}

#[test]
fn body_sent_to_a_head_request_spoils_the_connection() {
    // RFC 9112 §6.3: a HEAD response has no body, whatever its
    // Content-Length says; the bytes that follow are not the next answer.
    let mut c = Case::new(
        "body after a HEAD response",
        vec![Step::Read, Step::Send(ok("body nobody asked for"))],
        Want::Body(""),
    );
    c.method = "HEAD";
    run(c);
}

#[test]
fn body_after_a_204_spoils_the_connection() {
    run(Case::new(
        "body after 204",
        vec![
            Step::Read,
            Step::Send(bytes("HTTP/1.1 204 No Content\r\n\r\nsurprise")),
        ],
        Want::Status(204, ""),
    ));
}

#[test]
fn reset_while_draining_a_redirect_body_still_follows_the_redirect() {
    // The redirect's body is drained only to reuse its connection; a reset
    // there costs the connection, not the request.
    run(Case::new(
        "reset while draining a redirect",
        head_then(
            "HTTP/1.1 302 Found\r\nLocation: /hop\r\nContent-Length: 100\r\n\r\npartial",
            Step::Reset,
        ),
        Want::Body("fresh"),
    ));
}

#[test]
fn endless_interim_responses_are_bounded_by_the_head_limit() {
    // RFC 9110 §15.2 lets a server send any number of 1xx responses before
    // the final one, but a server that never stops would keep the client
    // busy forever: each one is well inside the read timeout and, without
    // a total timeout, nothing else ends the wait. Their bytes count
    // against max_header_bytes, as if they were one long head.
    let mut c = Case::new(
        "endless 100 Continue",
        vec![
            Step::Read,
            Step::Repeat(bytes("HTTP/1.1 100 Continue\r\n\r\n")),
        ],
        Want::Err(&[Kind::Proto(ProtoErrorKind::HeaderTooLarge)]),
    );
    c.timeouts = timeouts_ms(5000);
    run(c);
}

/// Kinds a head or trailer section without end may end with: over the
/// byte limit, over the field-count limit, or a line over the line limit.
const HEAD_LIMITS: &[Kind] = &[
    Kind::Proto(ProtoErrorKind::HeaderTooLarge),
    Kind::Proto(ProtoErrorKind::TooManyHeaders),
];

#[test]
fn endless_header_lines_are_bounded_by_the_head_limits() {
    let mut c = Case::new(
        "endless header lines",
        vec![
            Step::Read,
            Step::Send(bytes("HTTP/1.1 200 OK\r\n")),
            Step::Repeat(bytes("X-More: and more\r\n")),
        ],
        Want::Err(HEAD_LIMITS),
    );
    c.timeouts = timeouts_ms(5000);
    run(c);
}

#[test]
fn endless_trailer_lines_are_bounded_by_the_head_limits() {
    let mut c = Case::new(
        "endless trailer lines",
        vec![
            Step::Read,
            Step::Send(bytes(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n",
            )),
            Step::Repeat(bytes("X-Trailer: and more\r\n")),
        ],
        // proto reports an oversized trailer section as a chunked-coding
        // error (it is part of the chunked body, RFC 9112 §7.1.2).
        Want::Err(&[Kind::Proto(ProtoErrorKind::InvalidChunk)]),
    );
    c.timeouts = timeouts_ms(5000);
    run(c);
}

#[test]
fn endless_blank_lines_before_the_status_line_are_bounded() {
    let mut c = Case::new(
        "endless blank lines before the head",
        vec![Step::Read, Step::Repeat(bytes("\r\n"))],
        Want::Err(&[
            Kind::Proto(ProtoErrorKind::HeaderTooLarge),
            Kind::Proto(ProtoErrorKind::InvalidStatusLine),
        ]),
    );
    c.timeouts = timeouts_ms(5000);
    run(c);
}

#[test]
fn endless_chunk_extension_is_bounded_by_the_line_limit() {
    let mut c = Case::new(
        "endless chunk extension",
        vec![
            Step::Read,
            Step::Send(bytes(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=",
            )),
            Step::Repeat(bytes("aaaaaaaa")),
        ],
        Want::Err(&[
            Kind::Proto(ProtoErrorKind::InvalidChunk),
            Kind::Proto(ProtoErrorKind::HeaderTooLarge),
        ]),
    );
    c.timeouts = timeouts_ms(5000);
    run(c);
}

// ---------------------------------------------------------------- uploads

#[test]
fn upload_to_a_server_that_never_reads_is_timeout_write() {
    // Neither side's socket buffers hold 64 MiB, so the write must wait on
    // a server that accepted and never reads.
    let mut c = Case::new(
        "never-read upload",
        vec![Step::Freeze],
        Want::Err(&[Kind::Net(NetErrorKind::TimeoutWrite)]),
    );
    c.method = "PUT";
    c.body = Some(vec![b'u'; 64 << 20]);
    c.timeouts = timeouts_ms(300);
    run(c);
}

#[test]
fn upload_to_a_server_that_never_reads_hits_the_total_timeout_first() {
    let mut c = Case::new(
        "never-read upload, total",
        vec![Step::Freeze],
        Want::Err(&[Kind::Net(NetErrorKind::TimeoutTotal)]),
    );
    c.method = "PUT";
    c.body = Some(vec![b'u'; 64 << 20]);
    c.timeouts = total_only(300);
    run(c);
}

// ----------------------------------------------------------- cancellation

/// Triggers `cancel` 250 ms after the server accepted the send's
/// connection: on a loaded machine a fixed delay alone could fire before the
/// client connected, and the next request would then meet the fault script.
fn cancel_once_accepted(srv: &Server, cancel: Arc<Cancel>) -> std::thread::JoinHandle<()> {
    let log = srv.log_handle();
    std::thread::spawn(move || {
        log.wait_for(|l| l.accepted >= 1);
        std::thread::sleep(Duration::from_millis(250));
        cancel.trigger();
    })
}

#[test]
fn cancel_during_a_trickle_ends_the_send_and_frees_the_connection() {
    let _watchdog = Watchdog::new("cancel during trickle");
    let srv = Server::scripted(vec![trickle(0), fresh()]);
    let s = Session::new(pool(2));
    s.set_timeouts(timeouts_ms(5000));
    let cancel = Arc::new(Cancel::new().unwrap());
    let c2 = cancel.clone();
    let trigger = cancel_once_accepted(&srv, c2);
    let started = Instant::now();
    let e = expect_err(s.send(&request("GET", &srv.url("/fault")), Some(cancel)));
    assert!(started.elapsed() < HANG_GUARD);
    trigger.join().unwrap();
    assert_eq!(net_kind(&e), Some(NetErrorKind::Cancelled), "{e:?}");
    assert_no_leak(&s, "after the cancel", "cancel during trickle");
    assert_eq!(text(&get(&s, &srv.url("/next")).unwrap()), "fresh");
    assert_eq!(assert_no_leak(&s, "after next", "cancel during trickle"), 1);
}

#[test]
fn cancel_during_a_never_read_upload_ends_the_write_wait() {
    let _watchdog = Watchdog::new("cancel during upload");
    let srv = Server::scripted(vec![vec![Step::Freeze], fresh()]);
    let s = Session::new(pool(2));
    s.set_timeouts(timeouts_ms(5000));
    let cancel = Arc::new(Cancel::new().unwrap());
    let c2 = cancel.clone();
    let trigger = cancel_once_accepted(&srv, c2);
    let mut req = request("PUT", &srv.url("/upload"));
    req.set_body(&vec![b'u'; 64 << 20]);
    let started = Instant::now();
    let e = expect_err(s.send(&req, Some(cancel)));
    assert!(started.elapsed() < HANG_GUARD);
    trigger.join().unwrap();
    assert_eq!(net_kind(&e), Some(NetErrorKind::Cancelled), "{e:?}");
    assert_no_leak(&s, "after the cancel", "cancel during upload");
    assert_eq!(text(&get(&s, &srv.url("/next")).unwrap()), "fresh");
    assert_eq!(assert_no_leak(&s, "after next", "cancel during upload"), 1);
}

#[test]
fn a_request_waiting_for_the_only_connection_gets_it_when_a_fault_frees_it() {
    // Pool of one: the first request stalls on a silent server until its
    // read timeout; the second waits for the slot meanwhile. The failure
    // must free the slot and wake the waiter, which then gets a new
    // connection and a correct answer.
    let _watchdog = Watchdog::new("waiter woken by a fault");
    let srv = Server::scripted(vec![vec![Step::Read, Step::Hold], fresh()]);
    let s = Session::new(pool(1));
    s.set_timeouts(Timeouts {
        pool: ms(10_000),
        ..timeouts_ms(400)
    });
    std::thread::scope(|scope| {
        let stalled = scope.spawn(|| get(&s, &srv.url("/stall")));
        assert!(srv.wait_requests(1), "the first request reached the server");
        let started = Instant::now();
        let waiter = scope.spawn(|| get(&s, &srv.url("/next")));
        let e = expect_err(stalled.join().unwrap());
        assert_eq!(net_kind(&e), Some(NetErrorKind::TimeoutRead), "{e:?}");
        let r = waiter.join().unwrap().expect("the waiter is served");
        assert_eq!(text(&r), "fresh");
        assert!(started.elapsed() < HANG_GUARD);
    });
    assert_eq!(
        assert_no_leak(&s, "at the end", "waiter woken by a fault"),
        1
    );
    assert_eq!(srv.accepted(), 2);
}
