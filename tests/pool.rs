//! Keep-alive and pooling: reuse is proven by the server's accept count and
//! by the pool's counters, never assumed.
mod support;

use reqivo::client::Session;
use reqivo::net::NetErrorKind;
use reqivo::proto::ProtoErrorKind;
use support::*;

#[test]
fn keep_alive_serves_ten_requests_on_one_connection() {
    let srv = Server::scripted(vec![serve_n(10, &ok("pong"))]);
    let s = session();
    for i in 0..10 {
        let r = get(&s, &srv.url(&format!("/ping/{}", i))).unwrap();
        assert_eq!(text(&r), "pong");
        assert_eq!(r.reused, i > 0, "request {}", i);
    }
    assert_eq!(srv.accepted(), 1);
    assert_eq!(srv.request_count(), 10);
    let stats = s.pool().stats();
    assert_eq!((stats.opened, stats.reused), (1, 9), "{stats:?}");
    assert_eq!(
        (stats.in_use, stats.idle, stats.closed),
        (0, 1, 0),
        "{stats:?}"
    );
}

#[test]
fn response_with_connection_close_is_not_reused() {
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(response("200 OK", &[("Connection", "close")], b"bye")),
        ],
        vec![Step::Read, Step::Send(ok("fresh"))],
    ]);
    let s = session();
    assert_eq!(text(&get(&s, &srv.url("/")).unwrap()), "bye");
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!(text(&r), "fresh");
    assert!(!r.reused);
    assert_eq!(srv.accepted(), 2);
    let stats = s.pool().stats();
    assert_eq!(
        (stats.opened, stats.reused, stats.closed),
        (2, 0, 1),
        "{stats:?}"
    );
}

#[test]
fn request_with_connection_close_is_not_reused() {
    let srv = Server::scripted(vec![serve_n(1, &ok("one")), serve_n(1, &ok("two"))]);
    let s = session();
    let mut req = request("GET", &srv.url("/"));
    req.add_header("Connection", "close").unwrap();
    assert_eq!(text(&s.send(&req, None).unwrap()), "one");
    assert_eq!(srv.requests()[0].header("connection"), Some("close"));
    assert_eq!(text(&get(&s, &srv.url("/")).unwrap()), "two");
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn http10_response_without_keep_alive_is_not_reused() {
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(bytes("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold")),
        ],
        vec![Step::Read, Step::Send(ok("fresh"))],
    ]);
    let s = session();
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!((r.head.minor, text(&r).as_str()), (0, "old"));
    let r = get(&s, &srv.url("/")).unwrap();
    assert!(!r.reused);
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn http10_response_with_keep_alive_is_reused() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nold",
        )),
        Step::Read,
        Step::Send(ok("again")),
    ]]);
    let s = session();
    get(&s, &srv.url("/")).unwrap();
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!(text(&r), "again");
    assert!(r.reused);
    assert_eq!(srv.accepted(), 1);
}

#[test]
fn connection_is_not_reused_after_an_error() {
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(bytes(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX",
            )),
        ],
        vec![Step::Read, Step::Send(ok("fresh"))],
    ]);
    let s = session();
    let e = expect_err(get(&s, &srv.url("/")));
    assert_eq!(proto_kind(&e), Some(ProtoErrorKind::InvalidChunk), "{e:?}");
    let stats = s.pool().stats();
    assert_eq!(
        (stats.in_use, stats.idle, stats.closed),
        (0, 0, 1),
        "{stats:?}"
    );
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!(text(&r), "fresh");
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn idle_connection_closed_by_the_server_is_replaced_before_sending() {
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(ok("first")),
            Step::Close,
            Step::Mark("closed"),
        ],
        vec![Step::Read, Step::Send(ok("second"))],
    ]);
    let s = session();
    assert_eq!(text(&get(&s, &srv.url("/")).unwrap()), "first");
    assert!(srv.wait_mark("closed"));
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!(text(&r), "second");
    assert!(!r.reused);
    assert_eq!(srv.accepted(), 2);
    // The dead connection was noticed in the pool, so it never saw a request.
    let conns: Vec<usize> = srv.requests().iter().map(|r| r.conn).collect();
    assert_eq!(conns, vec![0, 1]);
}

#[test]
fn post_after_the_server_closed_the_idle_connection_uses_a_fresh_one() {
    // Detected before anything is sent, so even a non-idempotent request is safe.
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(ok("first")),
            Step::Close,
            Step::Mark("closed"),
        ],
        vec![Step::Read, Step::Send(ok("posted"))],
    ]);
    let s = session();
    get(&s, &srv.url("/")).unwrap();
    assert!(srv.wait_mark("closed"));
    let mut req = request("POST", &srv.url("/form"));
    req.set_body(b"a=1");
    assert_eq!(text(&s.send(&req, None).unwrap()), "posted");
    assert_eq!(srv.accepted(), 2);
}

/// The server answers one request, keeps the connection idle, then closes
/// it as soon as the next request arrives, without answering: the race a
/// keep-alive client loses when the server's idle timeout fires.
fn closes_on_second_request() -> Vec<Step> {
    vec![Step::Read, Step::Send(ok("first")), Step::Read, Step::Close]
}

#[test]
fn get_is_retried_once_on_a_fresh_connection_when_reused_one_closes_before_response() {
    let srv = Server::scripted(vec![
        closes_on_second_request(),
        vec![Step::Read, Step::Send(ok("retried"))],
    ]);
    let s = session();
    get(&s, &srv.url("/")).unwrap();
    let r = get(&s, &srv.url("/again")).unwrap();
    assert_eq!(text(&r), "retried");
    assert!(!r.reused);
    assert_eq!(srv.accepted(), 2);
    let seen: Vec<(usize, String)> = srv
        .requests()
        .iter()
        .map(|r| (r.conn, r.target.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![(0, "/".into()), (0, "/again".into()), (1, "/again".into())]
    );
}

#[test]
fn get_is_retried_when_reused_connection_is_reset_before_response() {
    let srv = Server::scripted(vec![
        vec![Step::Read, Step::Send(ok("first")), Step::Read, Step::Reset],
        vec![Step::Read, Step::Send(ok("retried"))],
    ]);
    let s = session();
    get(&s, &srv.url("/")).unwrap();
    assert_eq!(text(&get(&s, &srv.url("/")).unwrap()), "retried");
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn post_is_not_retried_when_reused_connection_closes_before_response() {
    let srv = Server::scripted(vec![
        closes_on_second_request(),
        vec![Step::Read, Step::Send(ok("must not be reached"))],
    ]);
    let s = session();
    get(&s, &srv.url("/")).unwrap();
    let mut req = request("POST", &srv.url("/order"));
    req.set_body(b"buy=1");
    let e = expect_err(s.send(&req, None));
    assert_eq!(net_kind(&e), Some(NetErrorKind::ConnectionClosed), "{e:?}");
    assert_eq!(srv.accepted(), 1, "the POST was sent twice");
    assert_eq!(srv.request_count(), 2);
}

#[test]
fn stale_retry_happens_at_most_once() {
    let srv = Server::scripted(vec![
        closes_on_second_request(),
        vec![Step::Read, Step::Close],
        vec![Step::Read, Step::Send(ok("third connection"))],
    ]);
    let s = session();
    get(&s, &srv.url("/")).unwrap();
    let e = expect_err(get(&s, &srv.url("/")));
    assert_eq!(net_kind(&e), Some(NetErrorKind::ConnectionClosed), "{e:?}");
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn response_started_on_reused_connection_is_not_retried() {
    // Bytes of a response arrived, so the server acted on the request: a
    // retry could repeat its effect even for GET.
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(ok("first")),
            Step::Read,
            Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Le")),
            Step::Close,
        ],
        vec![Step::Read, Step::Send(ok("must not be reached"))],
    ]);
    let s = session();
    get(&s, &srv.url("/")).unwrap();
    let e = expect_err(get(&s, &srv.url("/")));
    assert_eq!(net_kind(&e), Some(NetErrorKind::ConnectionClosed), "{e:?}");
    assert_eq!(srv.accepted(), 1);
}

#[test]
fn two_sessions_share_one_pool_and_its_connections() {
    let srv = Server::scripted(vec![serve_n(2, &ok("shared"))]);
    let p = pool(4);
    let a = Session::new(p.clone());
    let b = Session::new(p.clone());
    assert!(!get(&a, &srv.url("/a")).unwrap().reused);
    assert!(get(&b, &srv.url("/b")).unwrap().reused);
    assert_eq!(srv.accepted(), 1);
    let stats = p.stats();
    assert_eq!((stats.opened, stats.reused), (1, 1), "{stats:?}");
}

#[test]
fn connections_are_kept_per_origin() {
    let one = Server::scripted(vec![serve_n(2, &ok("one"))]);
    let two = Server::scripted(vec![serve_n(2, &ok("two"))]);
    let s = session();
    for _ in 0..2 {
        assert_eq!(text(&get(&s, &one.url("/")).unwrap()), "one");
        assert_eq!(text(&get(&s, &two.url("/")).unwrap()), "two");
    }
    assert_eq!((one.accepted(), two.accepted()), (1, 1));
    let stats = s.pool().stats();
    assert_eq!(
        (stats.opened, stats.reused, stats.idle),
        (2, 2, 2),
        "{stats:?}"
    );
}

#[test]
fn eight_threads_share_four_connections_consistently() {
    const THREADS: usize = 8;
    const EACH: usize = 25;
    let srv = Server::serve(|req| ok(&format!("echo {}", req.target)));
    let s = Session::new(pool(4));
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (s, srv) = (&s, &srv);
            scope.spawn(move || {
                for i in 0..EACH {
                    let path = format!("/t{}/r{}", t, i);
                    let r = get(s, &srv.url(&path)).expect("request in thread");
                    assert_eq!(text(&r), format!("echo {}", path));
                }
            });
        }
    });
    let stats = s.pool().stats();
    let total = (THREADS * EACH) as u64;
    assert!(stats.opened <= 4, "{stats:?}");
    assert_eq!(stats.opened + stats.reused, total, "{stats:?}");
    assert_eq!(
        (stats.in_use, stats.waiting, stats.closed),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.idle, stats.opened, "{stats:?}");
    assert_eq!(srv.accepted() as u64, stats.opened);
    assert_eq!(srv.request_count(), THREADS * EACH);
}

#[test]
fn idle_connection_past_max_idle_is_closed_not_reused() {
    let srv = Server::scripted(vec![serve_n(1, &ok("one")), serve_n(1, &ok("two"))]);
    let p = reqivo::net::Pool::new(reqivo::net::PoolConfig {
        max_idle: std::time::Duration::ZERO,
        ..reqivo::net::PoolConfig::default()
    });
    let s = Session::new(p);
    get(&s, &srv.url("/")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!(text(&r), "two");
    assert!(!r.reused);
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn stale_retry_works_when_max_per_host_is_one() {
    // The dead connection must give its slot back before the retry opens one.
    let srv = Server::scripted(vec![
        closes_on_second_request(),
        vec![Step::Read, Step::Send(ok("retried"))],
    ]);
    let s = Session::new(pool(1));
    s.set_timeouts(timeouts_ms(2000));
    get(&s, &srv.url("/")).unwrap();
    assert_eq!(text(&get(&s, &srv.url("/")).unwrap()), "retried");
    assert_eq!(srv.accepted(), 2);
    let stats = s.pool().stats();
    assert_eq!(
        (stats.in_use, stats.idle, stats.waiting),
        (0, 1, 0),
        "{stats:?}"
    );
}

#[test]
fn full_pool_closes_an_idle_connection_of_another_origin_instead_of_waiting() {
    let one = Server::scripted(vec![serve_n(1, &ok("one")), serve_n(1, &ok("one again"))]);
    let two = Server::scripted(vec![serve_n(1, &ok("two"))]);
    let p = reqivo::net::Pool::new(reqivo::net::PoolConfig {
        max_total: 1,
        ..reqivo::net::PoolConfig::default()
    });
    let s = Session::new(p.clone());
    s.set_timeouts(timeouts_ms(2000));
    assert_eq!(text(&get(&s, &one.url("/")).unwrap()), "one");
    assert_eq!(text(&get(&s, &two.url("/")).unwrap()), "two");
    assert!(
        one.wait_client_closes(1),
        "the idle connection to one was not closed"
    );
    assert_eq!(text(&get(&s, &one.url("/")).unwrap()), "one again");
    let stats = p.stats();
    assert_eq!(
        (stats.opened, stats.closed, stats.idle),
        (3, 2, 1),
        "{stats:?}"
    );
}

#[test]
fn close_idle_closes_idle_connections_and_leaves_ones_in_use() {
    let one = Server::scripted(vec![serve_n(1, &ok("one")), serve_n(1, &ok("one again"))]);
    let two = Server::scripted(vec![serve_n(1, &ok("two"))]);
    let busy = Server::scripted(vec![serve_n(1, &ok("busy"))]);
    let s = session();
    assert_eq!(text(&get(&s, &one.url("/")).unwrap()), "one");
    assert_eq!(text(&get(&s, &two.url("/")).unwrap()), "two");
    let mut st = s.open(&request("GET", &busy.url("/")), None).unwrap();
    let stats = s.pool().stats();
    assert_eq!((stats.idle, stats.in_use), (2, 1), "{stats:?}");

    assert_eq!(s.pool().close_idle(), 2);
    let stats = s.pool().stats();
    assert_eq!(
        (stats.idle, stats.in_use, stats.closed),
        (0, 1, 2),
        "{stats:?}"
    );
    assert!(one.wait_client_closes(1) && two.wait_client_closes(1));
    assert_eq!(s.pool().close_idle(), 0);

    // The connection in use finishes its body and goes back to the pool.
    let mut buf = [0u8; 16];
    let mut body = Vec::new();
    loop {
        let n = st.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    assert_eq!(body, b"busy");
    drop(st);
    let stats = s.pool().stats();
    assert_eq!((stats.idle, stats.in_use), (1, 0), "{stats:?}");

    // The next request to a closed origin opens a new connection.
    let r = get(&s, &one.url("/")).unwrap();
    assert_eq!((text(&r).as_str(), r.reused), ("one again", false));
    assert_eq!(one.accepted(), 2);
    let stats = s.pool().stats();
    assert_eq!((stats.opened, stats.idle), (4, 2), "{stats:?}");
}

#[test]
fn released_connections_beyond_the_idle_cap_are_closed() {
    let srv = Server::scripted(vec![
        serve_n(1, &ok("a")),
        serve_n(1, &ok("b")),
        serve_n(1, &ok("c")),
    ]);
    let p = reqivo::net::Pool::new(reqivo::net::PoolConfig {
        max_per_host: usize::MAX,
        max_total: usize::MAX,
        max_idle_per_host: Some(1),
        ..reqivo::net::PoolConfig::default()
    });
    let s = Session::new(p.clone());
    // Three connections in use at once, then released one after another:
    // the first is kept idle, the two beyond the cap are closed.
    let streams: Vec<_> = (0..3)
        .map(|_| s.open(&request("GET", &srv.url("/")), None).unwrap())
        .collect();
    assert_eq!(p.stats().in_use, 3);
    for mut st in streams {
        let mut buf = [0u8; 16];
        while st.read(&mut buf).unwrap() > 0 {}
    }
    assert!(srv.wait_client_closes(2), "two connections were not closed");
    let stats = p.stats();
    assert_eq!(
        (stats.opened, stats.in_use, stats.idle, stats.closed),
        (3, 0, 1, 2),
        "{stats:?}"
    );
    assert_eq!(p.config().idle_per_host(), 1);
    assert_eq!(reqivo::net::PoolConfig::default().idle_per_host(), 10);
}
