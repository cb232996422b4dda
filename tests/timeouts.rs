//! Timeouts: each wait reports the timeout that bounded it. Only loopback
//! addresses are used, so unreachable-address cases are not tested here.
mod support;

use std::sync::mpsc;
use std::time::Duration;

use reqivo::net::{NetErrorKind, Timeouts};
use support::*;

fn ms(n: u64) -> Option<Duration> {
    Some(Duration::from_millis(n))
}

#[test]
fn stalled_server_is_timeout_read() {
    let srv = Server::scripted(vec![vec![Step::Read, Step::Hold]]);
    let s = session();
    s.set_timeouts(timeouts_ms(200));
    let e = expect_err(get(&s, &srv.url("/")));
    assert_eq!(net_kind(&e), Some(NetErrorKind::TimeoutRead), "{e:?}");
    assert!(e.to_string().contains("read timeout (200 ms)"), "{e}");
}

#[test]
fn stall_inside_the_body_is_timeout_read() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")),
        Step::Hold,
    ]]);
    let s = session();
    s.set_timeouts(timeouts_ms(200));
    let e = expect_err(get(&s, &srv.url("/")));
    assert_eq!(net_kind(&e), Some(NetErrorKind::TimeoutRead), "{e:?}");
}

#[test]
fn request_timeouts_override_the_session_ones() {
    let srv = Server::scripted(vec![vec![Step::Read, Step::Hold]]);
    let s = session();
    s.set_timeouts(timeouts_ms(30_000));
    let mut req = request("GET", &srv.url("/"));
    req.set_timeouts(timeouts_ms(150));
    let e = expect_err(s.send(&req, None));
    assert_eq!(net_kind(&e), Some(NetErrorKind::TimeoutRead), "{e:?}");
    assert!(e.to_string().contains("150 ms"), "{e}");
}

#[test]
fn slow_drip_headers_hit_the_total_timeout_though_each_read_is_quick() {
    // One byte every 50 ms: every read finishes well inside the 2 s read
    // timeout, but the head takes seconds, far past the 300 ms total.
    let head =
        "HTTP/1.1 200 OK\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nContent-Length: 0\r\n\r\n";
    let srv = Server::scripted(vec![vec![Step::Read, Step::Drip(bytes(head), 50)]]);
    let s = session();
    s.set_timeouts(Timeouts {
        total: ms(300),
        ..timeouts_ms(2000)
    });
    let e = expect_err(get(&s, &srv.url("/")));
    assert_eq!(net_kind(&e), Some(NetErrorKind::TimeoutTotal), "{e:?}");
    assert!(e.to_string().contains("total timeout (300 ms)"), "{e}");
}

#[test]
fn server_that_never_stops_sending_hits_the_total_timeout() {
    // The socket is always readable, so no read ever waits: the total
    // deadline must be checked even when no wait happens.
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\n\r\n")),
        Step::Flood,
    ]]);
    let s = session();
    s.set_timeouts(Timeouts {
        total: ms(300),
        ..timeouts_ms(2000)
    });
    s.set_limits(reqivo::proto::Limits::default(), Some(u64::MAX));
    let e = expect_err(get(&s, &srv.url("/")));
    assert_eq!(net_kind(&e), Some(NetErrorKind::TimeoutTotal), "{e:?}");
}

#[test]
fn total_timeout_spans_redirect_hops() {
    // Each hop answers after 150 ms: every read is inside the read timeout,
    // but the chain passes the 400 ms total on the third hop.
    let srv = Server::each(vec![
        Step::Read,
        Step::Sleep(150),
        Step::Send(redirect("302 Found", "/a")),
        Step::Read,
        Step::Sleep(150),
        Step::Send(redirect("302 Found", "/b")),
        Step::Read,
        Step::Sleep(150),
        Step::Send(redirect("302 Found", "/c")),
        Step::Read,
        Step::Sleep(150),
        Step::Send(ok("done")),
    ]);
    let s = session();
    s.set_timeouts(Timeouts {
        total: ms(400),
        ..timeouts_ms(2000)
    });
    let e = expect_err(get(&s, &srv.url("/")));
    assert_eq!(net_kind(&e), Some(NetErrorKind::TimeoutTotal), "{e:?}");
}

#[test]
fn server_that_takes_no_bytes_is_timeout_write() {
    // Neither side's socket buffers can hold 64 MiB, so the write must wait
    // on a server that never reads.
    let srv = Server::scripted(vec![vec![Step::Freeze]]);
    let s = session();
    s.set_timeouts(timeouts_ms(300));
    let mut req = request("POST", &srv.url("/upload"));
    req.set_body(&vec![b'u'; 64 << 20]);
    let e = expect_err(s.send(&req, None));
    assert_eq!(net_kind(&e), Some(NetErrorKind::TimeoutWrite), "{e:?}");
    assert!(e.to_string().contains("write timeout (300 ms)"), "{e}");
}

#[test]
fn pool_wait_is_timeout_pool_while_another_thread_holds_the_only_connection() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst part",
        )),
        Step::Hold,
    ]]);
    let s = reqivo::client::Session::new(pool(1));
    s.set_timeouts(timeouts_ms(2000));
    let (opened_tx, opened_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let (s, srv) = (&s, &srv);
        let holder = scope.spawn(move || {
            let stream = s.open(&request("GET", &srv.url("/stream")), None).unwrap();
            opened_tx.send(()).unwrap();
            // Keeps the stream, and so the only connection, until told.
            let _ = release_rx.recv_timeout(WAIT_MAX);
            drop(stream);
        });
        opened_rx.recv_timeout(WAIT_MAX).expect("stream opened");
        assert_eq!(s.pool().stats().in_use, 1);
        let mut req = request("GET", &srv.url("/other"));
        req.set_timeouts(Timeouts {
            pool: ms(200),
            ..timeouts_ms(2000)
        });
        let e = expect_err(s.send(&req, None));
        assert_eq!(net_kind(&e), Some(NetErrorKind::TimeoutPool), "{e:?}");
        assert!(e.to_string().contains("pool timeout (200 ms)"), "{e}");
        release_tx.send(()).unwrap();
        holder.join().unwrap();
    });
    assert_eq!(
        srv.accepted(),
        1,
        "the waiting request must not open a connection"
    );
    let stats = s.pool().stats();
    assert_eq!((stats.in_use, stats.waiting), (0, 0));
}

#[test]
fn closed_port_is_connect_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = session();
    let e = expect_err(get(&s, &format!("http://127.0.0.1:{}/", port)));
    assert_eq!(net_kind(&e), Some(NetErrorKind::ConnectRefused), "{e:?}");
    assert_eq!(s.pool().stats().in_use, 0);
}

#[test]
fn listener_with_a_full_backlog_is_timeout_connect() {
    // A loopback listener whose accept queue is full drops new SYNs
    // (Linux), so the handshake never completes: a connect timeout we can
    // provoke without an unreachable address.
    let (_listener, addr) = unaccepting_listener(0);
    // Fill the queue; these never get accepted.
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(c) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            fillers.push(c);
        }
    }
    let s = session();
    s.set_timeouts(timeouts_ms(250));
    let e = expect_err(get(&s, &format!("http://{}/", addr)));
    assert_eq!(net_kind(&e), Some(NetErrorKind::TimeoutConnect), "{e:?}");
    assert!(e.to_string().contains("connect timeout (250 ms)"), "{e}");
    drop(fillers);
}
