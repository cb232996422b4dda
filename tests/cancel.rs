//! Cancellation from another thread stops whatever the send waits on.
//!
//! The library promises 50 ms; the assertions allow 500 ms so a loaded
//! machine cannot make them flaky, and no test asserts any lower bound.
mod support;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqivo::client::{ClientError, Session};
use reqivo::net::{Cancel, NetErrorKind};
use support::*;

const PROMPT: Duration = Duration::from_millis(500);

fn token() -> Arc<Cancel> {
    Arc::new(Cancel::new().expect("eventfd"))
}

fn assert_cancelled(e: &ClientError) {
    assert_eq!(net_kind(e), Some(NetErrorKind::Cancelled), "{e:?}");
}

/// Runs `work` on a thread, triggers `cancel` once `ready` returns, and
/// returns the work's result with the time from trigger to return.
fn cancel_while<T: Send>(
    cancel: &Cancel,
    work: impl FnOnce() -> T + Send,
    ready: impl FnOnce(),
) -> (T, Duration) {
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        let worker = scope.spawn(move || {
            let out = work();
            tx.send(Instant::now()).unwrap();
            out
        });
        ready();
        let triggered = Instant::now();
        cancel.trigger();
        let returned = rx
            .recv_timeout(WAIT_MAX)
            .expect("the cancelled work returned");
        (
            worker.join().unwrap(),
            returned.saturating_duration_since(triggered),
        )
    })
}

#[test]
fn cancel_during_read_returns_cancelled_promptly() {
    let srv = Server::scripted(vec![vec![Step::Read, Step::Hold]]);
    let s = session();
    s.set_timeouts(timeouts_ms(30_000));
    let c = token();
    let (res, took) = cancel_while(
        &c,
        || s.send(&request("GET", &srv.url("/slow")), Some(c.clone())),
        || assert!(srv.wait_requests(1), "the request reached the server"),
    );
    assert_cancelled(&expect_err(res));
    assert!(took < PROMPT, "returned {:?} after the trigger", took);
    let stats = s.pool().stats();
    assert_eq!((stats.in_use, stats.idle), (0, 0), "{stats:?}");
}

#[test]
fn cancel_during_pool_wait_returns_cancelled_promptly() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nheld")),
        Step::Hold,
    ]]);
    let s = Session::new(pool(1));
    s.set_timeouts(timeouts_ms(30_000));
    // This stream holds the only connection the pool may open.
    let held = s.open(&request("GET", &srv.url("/held")), None).unwrap();
    let c = token();
    let (res, took) = cancel_while(
        &c,
        || s.send(&request("GET", &srv.url("/waits")), Some(c.clone())),
        || {
            let deadline = Instant::now() + WAIT_MAX;
            while s.pool().stats().waiting == 0 {
                assert!(
                    Instant::now() < deadline,
                    "the send never waited on the pool"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
        },
    );
    assert_cancelled(&expect_err(res));
    assert!(took < PROMPT, "returned {:?} after the trigger", took);
    drop(held);
    assert_eq!(srv.accepted(), 1);
    assert_eq!(s.pool().stats().waiting, 0);
}

#[test]
fn cancel_during_stream_read_returns_cancelled_promptly() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst")),
        Step::Hold,
    ]]);
    let s = session();
    s.set_timeouts(timeouts_ms(30_000));
    let c = token();
    let mut st = s
        .open(&request("GET", &srv.url("/stream")), Some(c.clone()))
        .unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(st.read(&mut buf).unwrap(), 5);
    let (started_tx, started_rx) = mpsc::channel();
    let (res, took) = cancel_while(
        &c,
        move || {
            started_tx.send(()).unwrap();
            // Blocks: the server sends nothing more.
            let r = st.read(&mut buf);
            (r, st)
        },
        || {
            started_rx.recv_timeout(WAIT_MAX).unwrap();
            // Give the reader time to block; triggering earlier is still a
            // cancel, just not of a blocked read.
            std::thread::sleep(Duration::from_millis(50));
        },
    );
    let (r, mut st) = res;
    assert_cancelled(&r.unwrap_err());
    assert!(took < PROMPT, "returned {:?} after the trigger", took);
    // A failed stream keeps failing the same way and has let its connection go.
    assert_cancelled(&st.read(&mut [0u8; 8]).unwrap_err());
    assert_eq!(s.pool().stats().in_use, 0);
}

#[test]
fn cancel_stops_a_server_that_never_stops_sending() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\n\r\n")),
        Step::Flood,
    ]]);
    let s = session();
    s.set_limits(reqivo::proto::Limits::default(), Some(u64::MAX));
    let c = token();
    let (res, took) = cancel_while(
        &c,
        || s.send(&request("GET", &srv.url("/endless")), Some(c.clone())),
        || {
            assert!(srv.wait_requests(1));
            std::thread::sleep(Duration::from_millis(50));
        },
    );
    assert_cancelled(&expect_err(res));
    assert!(took < PROMPT, "returned {:?} after the trigger", took);
}

#[test]
fn cancelled_token_stops_a_send_before_it_connects() {
    let srv = Server::scripted(vec![serve_n(1, &ok("never"))]);
    let s = session();
    let c = token();
    c.trigger();
    let e = expect_err(s.send(&request("GET", &srv.url("/")), Some(c)));
    assert_cancelled(&e);
    assert_eq!(srv.request_count(), 0);
}

#[test]
fn cancel_during_connect_returns_cancelled_promptly() {
    // A listener with a full accept queue drops SYNs, so connect hangs.
    let (_listener, addr) = unaccepting_listener(0);
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(c) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            fillers.push(c);
        }
    }
    let s = session();
    s.set_timeouts(timeouts_ms(30_000));
    let c = token();
    let url = format!("http://{}/", addr);
    let (res, took) = cancel_while(
        &c,
        || s.send(&request("GET", &url), Some(c.clone())),
        || std::thread::sleep(Duration::from_millis(100)),
    );
    assert_cancelled(&expect_err(res));
    assert!(took < PROMPT, "returned {:?} after the trigger", took);
    assert_eq!(s.pool().stats().in_use, 0);
    drop(fillers);
}

#[test]
fn cancel_during_upload_returns_cancelled_promptly() {
    // The server never reads, so the 64 MiB body backs up and the write waits.
    let srv = Server::scripted(vec![vec![Step::Freeze]]);
    let s = session();
    s.set_timeouts(timeouts_ms(30_000));
    let mut req = request("PUT", &srv.url("/upload"));
    req.set_body(&vec![b'u'; 64 << 20]);
    let c = token();
    let (res, took) = cancel_while(
        &c,
        || s.send(&req, Some(c.clone())),
        || {
            assert!(srv.wait_accepted(1));
            std::thread::sleep(Duration::from_millis(100));
        },
    );
    assert_cancelled(&expect_err(res));
    assert!(took < PROMPT, "returned {:?} after the trigger", took);
}
