//! The event-driven core (`client::multi`) from Rust: many transfers on the
//! calling thread against scripted servers, keep-alive reuse through the
//! pool a blocking session shares, redirects, timeouts, cancel and free
//! with transfers in flight. The C API over it is tested in tests/c.
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqivo::client::multi::Multi;
use reqivo::client::{Session, ToResponse};
use reqivo::net::{Cancel, Pool, PoolConfig};
use support::*;

/// Names of this process's threads that reqivo started.
fn reqivo_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
        .filter(|name| name.starts_with("reqivo"))
        .collect()
}

#[test]
fn multi_runs_many_transfers_on_the_calling_thread() {
    let server = Server::serve(|seen| ok(&format!("answer to {}", seen.target)));
    let session = Session::new(Pool::new(PoolConfig {
        max_per_host: 200,
        max_total: 200,
        ..PoolConfig::default()
    }));
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    let h = m.handle();
    for i in 0..200 {
        let req = request("GET", &server.url(&format!("/n/{}", i)));
        h.add(&session, &req, None, ToResponse, i).unwrap();
    }
    assert_eq!(m.in_flight(), 200);
    let done = collect(&mut m, 200, Duration::from_secs(20));
    for (i, r) in done {
        let r = r.unwrap();
        assert_eq!(r.head.status, 200);
        assert_eq!(text(&r), format!("answer to /n/{}", i));
    }
    assert_eq!(m.in_flight(), 0);
}

#[test]
fn multi_resolves_names_on_the_bounded_resolver() {
    let server = Server::serve(|_| ok("named"));
    let session = Session::new(pool(100));
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    let url = format!("http://localhost:{}/", server.port());
    for i in 0..50 {
        m.handle()
            .add(&session, &request("GET", &url), None, ToResponse, i)
            .unwrap();
    }
    let done = collect(&mut m, 50, Duration::from_secs(20));
    assert!(done
        .iter()
        .all(|(_, r)| r.as_ref().is_ok_and(|r| text(r) == "named")));
    let resolvers = reqivo_threads();
    assert!(
        (1..=4).contains(&resolvers.len()),
        "50 names resolved on {} threads",
        resolvers.len()
    );
}

#[test]
fn multi_reuses_connections_a_blocking_session_opened() {
    let server = Server::serve(|_| ok("hi"));
    let session = session();
    assert_eq!(text(&get(&session, &server.url("/a")).unwrap()), "hi");
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    for i in 0..5 {
        m.handle()
            .add(
                &session,
                &request("GET", &server.url("/b")),
                None,
                ToResponse,
                i,
            )
            .unwrap();
        let done = collect(&mut m, 1, Duration::from_secs(10));
        assert!(
            done[0].1.as_ref().unwrap().reused,
            "request {} reused the connection",
            i
        );
    }
    assert_eq!(server.accepted(), 1);
    // And back: the blocking session reuses what the multi returned.
    assert!(get(&session, &server.url("/c")).unwrap().reused);
}

#[test]
fn blocking_sends_on_a_connection_the_multi_opened_keep_their_timeouts() {
    let server = Server::serve(|seen| {
        if seen.target == "/slow" {
            std::thread::sleep(Duration::from_millis(1500));
        }
        ok("hi")
    });
    let session = session();
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    m.handle()
        .add(
            &session,
            &request("GET", &server.url("/a")),
            None,
            ToResponse,
            0,
        )
        .unwrap();
    assert!(collect(&mut m, 1, Duration::from_secs(10))[0].1.is_ok());
    assert!(get(&session, &server.url("/b")).unwrap().reused);
    // The connection the multi opened (non-blocking until now) bounds a
    // blocking read by the read timeout.
    let mut t = timeouts_ms(5000);
    t.read = Some(Duration::from_millis(200));
    session.set_timeouts(t);
    let at = Instant::now();
    let e = get(&session, &server.url("/slow")).unwrap_err();
    assert_eq!(
        net_kind(&e),
        Some(reqivo::net::NetErrorKind::TimeoutRead),
        "{e}"
    );
    assert!(
        at.elapsed() < Duration::from_millis(1200),
        "{:?}",
        at.elapsed()
    );
    assert_eq!(server.accepted(), 1);
}

#[test]
fn multi_follows_redirects_with_the_sessions_cookies() {
    let server = Server::serve(|seen| match seen.target.as_str() {
        "/start" => response(
            "302 Found",
            &[
                ("Location", "/end"),
                ("Set-Cookie", "k=v"),
                ("Content-Length", "0"),
            ],
            b"",
        ),
        _ => ok(&format!("cookie={}", seen.header("cookie").unwrap_or("-"))),
    });
    let session = session();
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    m.handle()
        .add(
            &session,
            &request("GET", &server.url("/start")),
            None,
            ToResponse,
            7,
        )
        .unwrap();
    let done = collect(&mut m, 1, Duration::from_secs(10));
    let r = done[0].1.as_ref().unwrap();
    assert_eq!((r.redirect_count, text(r).as_str()), (1, "cookie=k=v"));
    assert!(r.url.ends_with("/end"));
}

#[test]
fn multi_follows_redirects_it_cannot_or_need_not_drain_on_a_new_connection() {
    // A redirect that closes its connection and one whose body is too
    // large to drain: as in the blocking send, each is followed on another
    // connection.
    let big = vec![b'x'; 100 * 1024];
    let server = Server::serve(move |seen| match seen.target.as_str() {
        "/close" => response(
            "302 Found",
            &[("Location", "/big"), ("Connection", "close")],
            b"bye",
        ),
        "/big" => response("302 Found", &[("Location", "/end")], &big),
        _ => ok("arrived"),
    });
    let session = session();
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    for i in 0..3 {
        m.handle()
            .add(
                &session,
                &request("GET", &server.url("/close")),
                None,
                ToResponse,
                i,
            )
            .unwrap();
        let done = collect(&mut m, 1, Duration::from_secs(10));
        let r = done[0].1.as_ref().unwrap();
        assert_eq!((text(r).as_str(), r.redirect_count), ("arrived", 2));
    }
}

#[test]
fn multi_read_timeout_ends_only_the_stalled_transfer() {
    let server = Server::serve(|seen| {
        if seen.target == "/stall" {
            std::thread::sleep(Duration::from_secs(3));
        }
        ok("fine")
    });
    let session = session();
    session.set_timeouts(timeouts_ms(300));
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    let h = m.handle();
    h.add(
        &session,
        &request("GET", &server.url("/stall")),
        None,
        ToResponse,
        1,
    )
    .unwrap();
    h.add(
        &session,
        &request("GET", &server.url("/fast")),
        None,
        ToResponse,
        2,
    )
    .unwrap();
    let started = Instant::now();
    let mut done = collect(&mut m, 2, Duration::from_secs(10));
    done.sort_by_key(|d| d.0);
    assert!(
        done[0].1.as_ref().unwrap_err().contains("read timeout"),
        "{:?}",
        done[0].1
    );
    assert_eq!(text(done[1].1.as_ref().unwrap()), "fine");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn multi_cancel_ends_one_transfer_among_many() {
    let server = Server::serve(|seen| {
        if seen.target == "/hold" {
            std::thread::sleep(Duration::from_millis(800));
        }
        ok("held")
    });
    let session = Session::new(pool(20));
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    let h = m.handle();
    let cancel = Arc::new(Cancel::new().unwrap());
    for i in 0..10 {
        let token = (i == 3).then(|| cancel.clone());
        h.add(
            &session,
            &request("GET", &server.url("/hold")),
            token,
            ToResponse,
            i,
        )
        .unwrap();
    }
    for _ in 0..3 {
        m.poll(Some(Duration::from_millis(20))).unwrap();
    }
    // A token does not make the multi wake on a timer to look at it...
    let wait = m.timeout();
    assert!(
        wait.is_none_or(|d| d > Duration::from_secs(1)),
        "the wait was cut to {wait:?}"
    );
    // ...the trigger, from another thread, wakes a poll that would wait
    // for seconds.
    let c = cancel.clone();
    let trigger = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        c.trigger();
        Instant::now()
    });
    let mut first = None;
    let until = Instant::now() + Duration::from_secs(5);
    while first.is_none() && Instant::now() < until {
        m.poll(Some(Duration::from_secs(5))).unwrap();
        first = m.next_done();
    }
    let at = trigger.join().unwrap();
    let first = first.unwrap();
    assert_eq!(first.user, 3);
    assert!(first.result.unwrap_err().to_string().contains("cancel"));
    assert!(
        at.elapsed() < Duration::from_millis(300),
        "cancel took {:?}",
        at.elapsed()
    );
    let rest = collect(&mut m, 9, Duration::from_secs(10));
    assert!(rest.iter().all(|(_, r)| r.is_ok()));
}

#[test]
fn multi_dropped_with_transfers_in_flight_frees_their_slots() {
    let server = Server::serve(|_| {
        std::thread::sleep(Duration::from_millis(500));
        ok("late")
    });
    let session = Session::new(pool(4));
    {
        let mut m: Multi<ToResponse> = Multi::new().unwrap();
        for i in 0..4 {
            m.handle()
                .add(
                    &session,
                    &request("GET", &server.url("/x")),
                    None,
                    ToResponse,
                    i,
                )
                .unwrap();
        }
        m.perform().unwrap();
        assert_eq!(session.pool().stats().in_use, 4);
    }
    assert_eq!(session.pool().stats().in_use, 0);
    // The slots are free for a blocking send.
    assert_eq!(text(&get(&session, &server.url("/y")).unwrap()), "late");
}

#[test]
fn multi_queues_transfers_beyond_the_pool_and_runs_them_as_slots_free() {
    // Two connections for twenty transfers: the rest wait for slots the
    // multi's own transfers free, over and over.
    let server = Server::serve(|seen| ok(&seen.target));
    let session = Session::new(Pool::new(PoolConfig {
        max_per_host: 2,
        max_total: 2,
        ..PoolConfig::default()
    }));
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    for i in 0..20 {
        let url = server.url(&format!("/q/{}", i));
        m.handle()
            .add(&session, &request("GET", &url), None, ToResponse, i)
            .unwrap();
    }
    let done = collect(&mut m, 20, Duration::from_secs(20));
    for (i, r) in done {
        assert_eq!(text(r.as_ref().unwrap()), format!("/q/{}", i));
    }
    assert!(server.accepted() <= 2, "{} connections", server.accepted());
}

#[test]
fn multi_waits_for_pool_slots_a_blocking_send_frees() {
    let server = Server::serve(|seen| {
        if seen.target == "/slow" {
            std::thread::sleep(Duration::from_millis(300));
        }
        ok("ok")
    });
    let session = Arc::new(Session::new(pool(1)));
    let s2 = session.clone();
    let url = server.url("/slow");
    let blocking = std::thread::spawn(move || get(&s2, &url).map(|r| text(&r)));
    assert!(server.wait_requests(1));
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    m.handle()
        .add(
            &session,
            &request("GET", &server.url("/after")),
            None,
            ToResponse,
            1,
        )
        .unwrap();
    let done = collect(&mut m, 1, Duration::from_secs(10));
    assert_eq!(text(done[0].1.as_ref().unwrap()), "ok");
    assert_eq!(blocking.join().unwrap().unwrap(), "ok");
}

/// What a test sink saw, shared with the test.
#[derive(Default)]
struct Seen {
    status: u16,
    heads: usize,
    body: Vec<u8>,
    largest_piece: usize,
    pieces: usize,
    /// Pieces offered while the sink was paused (must be none).
    offered_while_paused: usize,
}

/// Collects the body; pauses on the `pause_every`-th piece (0: never),
/// refusing it; aborts once `abort_after` bytes arrived.
struct TestSink {
    seen: Arc<std::sync::Mutex<Seen>>,
    pause_every: usize,
    paused: Arc<std::sync::atomic::AtomicBool>,
    abort_after: Option<usize>,
}

impl reqivo::client::multi::Sink for TestSink {
    fn head(&mut self, parts: reqivo::client::Parts<'_>) -> reqivo::client::multi::Flow {
        let mut s = self.seen.lock().unwrap();
        s.heads += 1;
        s.status = parts.head.status;
        assert!(parts.body.is_empty());
        reqivo::client::multi::Flow::Continue
    }

    fn data(&mut self, bytes: &[u8]) -> reqivo::client::multi::Flow {
        use reqivo::client::multi::Flow;
        use std::sync::atomic::Ordering;
        let mut s = self.seen.lock().unwrap();
        assert_eq!(s.heads, 1, "the head comes first");
        if self.paused.load(Ordering::SeqCst) {
            s.offered_while_paused += 1;
        }
        s.pieces += 1;
        if self.pause_every > 0 && s.pieces % self.pause_every == 0 {
            self.paused.store(true, Ordering::SeqCst);
            return Flow::Pause;
        }
        s.body.extend_from_slice(bytes);
        s.largest_piece = s.largest_piece.max(bytes.len());
        match self.abort_after {
            Some(n) if s.body.len() >= n => Flow::Abort,
            _ => Flow::Continue,
        }
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// A chunked response of `body` in chunks of `chunk` bytes.
fn chunked(body: &[u8], chunk: usize, extra_headers: &str) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{extra_headers}\r\n")
        .into_bytes();
    for c in body.chunks(chunk) {
        r.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        r.extend_from_slice(c);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\nX-Done: yes\r\n\r\n");
    r
}

#[test]
fn multi_streams_a_body_to_its_sink_with_pauses_and_resumes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let body = pattern(8 << 20);
    let answer = chunked(&body, 100_000, "");
    let server = Server::serve(move |_| answer.clone());
    let session = Session::new(Pool::new(PoolConfig::default()));
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    let h = m.handle();
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let paused = Arc::new(AtomicBool::new(false));
    let sink = TestSink {
        seen: seen.clone(),
        pause_every: 7,
        paused: paused.clone(),
        abort_after: None,
    };
    let id = h
        .add_streamed(
            &session,
            &request("GET", &server.url("/big")),
            None,
            ToResponse,
            Box::new(sink),
            1,
        )
        .unwrap();
    // A plain transfer beside it is not held up by the pauses.
    h.add(
        &session,
        &request("GET", &server.url("/other")),
        None,
        ToResponse,
        2,
    )
    .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    let (mut done, mut resumes) = (Vec::new(), 0);
    while done.len() < 2 {
        assert!(
            Instant::now() < until,
            "the streamed transfer did not finish"
        );
        m.poll(Some(Duration::from_millis(20))).unwrap();
        while let Some(d) = m.next_done() {
            done.push(d);
        }
        if paused.load(Ordering::SeqCst) {
            // Nothing is offered while paused, however long it lasts.
            for _ in 0..3 {
                m.poll(Some(Duration::from_millis(1))).unwrap();
            }
            paused.store(false, Ordering::SeqCst);
            h.resume(id).unwrap();
            resumes += 1;
        }
    }
    let s = seen.lock().unwrap();
    assert_eq!(s.status, 200);
    assert_eq!(s.offered_while_paused, 0);
    assert!(s.body == body, "the body arrived whole and in order");
    assert!(
        s.largest_piece <= 64 * 1024,
        "pieces of at most a read: {}",
        s.largest_piece
    );
    assert!(resumes >= 10, "paused {resumes} times");
    let streamed = done
        .iter()
        .find(|d| d.user == 1)
        .unwrap()
        .result
        .as_ref()
        .unwrap();
    assert!(streamed.body.is_empty(), "a streamed result has no body");
    let trailers: Vec<_> = streamed.trailers.iter().collect();
    assert_eq!(trailers, vec![(&b"X-Done"[..], &b"yes"[..])]);
}

#[test]
fn multi_streams_decoded_bodies_and_stops_when_the_sink_aborts() {
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;
    let body = pattern(3 << 20);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&body).unwrap();
    let answer = chunked(&gz.finish().unwrap(), 5000, "Content-Encoding: gzip\r\n");
    let server = Server::serve(move |_| answer.clone());
    let session = Session::new(Pool::new(PoolConfig::default()));
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    let h = m.handle();
    let sink = |abort_after| TestSink {
        seen: Arc::new(std::sync::Mutex::new(Seen::default())),
        pause_every: 0,
        paused: Arc::default(),
        abort_after,
    };
    let (whole, aborting) = (sink(None), sink(Some(100_000)));
    let (whole_seen, aborting_seen) = (whole.seen.clone(), aborting.seen.clone());
    let url = server.url("/gz");
    h.add_streamed(
        &session,
        &request("GET", &url),
        None,
        ToResponse,
        Box::new(whole),
        1,
    )
    .unwrap();
    h.add_streamed(
        &session,
        &request("GET", &url),
        None,
        ToResponse,
        Box::new(aborting),
        2,
    )
    .unwrap();
    let mut done = collect(&mut m, 2, Duration::from_secs(20));
    done.sort_by_key(|(u, _)| *u);
    let r = done[0].1.as_ref().unwrap();
    assert!(r.decompressed);
    assert!(
        whole_seen.lock().unwrap().body == body,
        "decoded as it arrived"
    );
    let e = done[1].1.as_ref().unwrap_err();
    assert!(e.contains("data callback aborted"), "{e}");
    assert!(aborting_seen.lock().unwrap().body.len() < body.len());
}

/// A connect the peer refuses ends its transfer with the refusal (the
/// kernel's answer, or the poller's error report on the socket) and only
/// it; a transfer beside it is answered.
#[test]
fn multi_refused_connect_fails_only_its_transfer() {
    let server = Server::serve(|_| ok("up"));
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let session = Session::new(pool(10));
    for _ in 0..20 {
        let got = multi_get(
            &session,
            &[format!("http://127.0.0.1:{}/", closed), server.url("/")],
        );
        let refused = got[0].as_ref().unwrap_err();
        assert!(refused.contains("refused"), "{}", refused);
        assert_eq!(text(got[1].as_ref().unwrap()), "up");
    }
}
