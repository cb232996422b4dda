//! Redirects (RFC 9110 §15.4): methods and bodies per status, Location
//! resolution, loop detection by state, limits, and credentials that never
//! follow a redirect to another origin.
mod support;

use reqivo::client::{ClientErrorKind, Session};
use support::*;

/// A server that routes by method and path: `routes` maps "METHOD /path"
/// to a response; anything else is 404.
fn router(routes: Vec<(&'static str, Vec<u8>)>) -> Server {
    Server::serve(move |req| {
        let key = format!("{} {}", req.method, req.target);
        routes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| response("404 Not Found", &[], key.as_bytes()))
    })
}

fn post_json(url: &str, body: &[u8]) -> reqivo::client::Request {
    let mut req = request("POST", url);
    req.add_header("Content-Type", "application/json").unwrap();
    req.set_body(body);
    req
}

#[test]
fn redirect_301_and_302_turn_post_into_get_and_drop_body_and_content_type() {
    for status in ["301 Moved Permanently", "302 Found"] {
        let srv = router(vec![
            ("POST /old", redirect(status, "/new")),
            ("GET /new", ok("landed")),
        ]);
        let r = session()
            .send(&post_json(&srv.url("/old"), b"{\"a\":1}"), None)
            .unwrap();
        assert_eq!(text(&r), "landed", "{}", status);
        assert_eq!(r.redirect_count, 1);
        let seen = srv.requests();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].body, b"{\"a\":1}");
        let hop = &seen[1];
        assert_eq!((hop.method.as_str(), hop.target.as_str()), ("GET", "/new"));
        assert!(hop.body.is_empty(), "{}", status);
        assert!(!hop.has_header("content-type"), "{}: {}", status, hop.head);
        assert!(
            !hop.has_header("content-length"),
            "{}: {}",
            status,
            hop.head
        );
    }
}

#[test]
fn redirect_302_keeps_put_and_its_body() {
    let srv = router(vec![
        ("PUT /old", redirect("302 Found", "/new")),
        ("PUT /new", ok("put again")),
    ]);
    let mut req = request("PUT", &srv.url("/old"));
    req.set_body(b"doc");
    let r = session().send(&req, None).unwrap();
    assert_eq!(text(&r), "put again");
    assert_eq!(srv.requests()[1].body, b"doc");
}

#[test]
fn redirect_303_turns_put_into_get() {
    let srv = router(vec![
        ("PUT /doc", redirect("303 See Other", "/status")),
        ("GET /status", ok("stored")),
    ]);
    let mut req = request("PUT", &srv.url("/doc"));
    req.add_header("Content-Type", "text/plain").unwrap();
    req.set_body(b"text");
    let r = session().send(&req, None).unwrap();
    assert_eq!(text(&r), "stored");
    let hop = &srv.requests()[1];
    assert_eq!(hop.method, "GET");
    assert!(hop.body.is_empty());
    assert!(!hop.has_header("content-type"), "{}", hop.head);
}

#[test]
fn redirect_303_keeps_head_as_head() {
    let srv = router(vec![
        ("HEAD /a", redirect("303 See Other", "/b")),
        (
            "HEAD /b",
            bytes("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"),
        ),
    ]);
    let r = session()
        .send(&request("HEAD", &srv.url("/a")), None)
        .unwrap();
    assert_eq!(r.head.status, 200);
    assert!(r.body.is_empty());
    let methods: Vec<String> = srv.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["HEAD", "HEAD"]);
}

#[test]
fn redirect_307_and_308_keep_method_and_body() {
    for status in ["307 Temporary Redirect", "308 Permanent Redirect"] {
        let srv = router(vec![
            ("POST /old", redirect(status, "/new")),
            ("POST /new", ok("posted")),
        ]);
        let r = session()
            .send(&post_json(&srv.url("/old"), b"{\"keep\":true}"), None)
            .unwrap();
        assert_eq!(text(&r), "posted", "{}", status);
        let hop = &srv.requests()[1];
        assert_eq!(hop.method, "POST");
        assert_eq!(hop.body, b"{\"keep\":true}");
        assert_eq!(hop.header("content-type"), Some("application/json"));
        assert_eq!(hop.header("content-length"), Some("13"));
    }
}

#[test]
fn relative_location_is_resolved_against_the_current_url() {
    // The last hop is a network-path reference ("//host:port/path"), which
    // needs the server's own port: it is set once the server is listening.
    let port = std::sync::Arc::new(std::sync::OnceLock::<u16>::new());
    let p = port.clone();
    let srv = Server::serve(
        move |req| match (req.method.as_str(), req.target.as_str()) {
            ("GET", "/dir/page") => redirect("302 Found", "other?x=1"),
            ("GET", "/dir/other?x=1") => redirect("302 Found", "../top"),
            ("GET", "/top") => {
                let port = p.get().expect("port set before the first request");
                redirect("302 Found", &format!("//127.0.0.1:{}/abs#frag", port))
            }
            ("GET", "/abs") => ok("resolved"),
            _ => response("404 Not Found", &[], b""),
        },
    );
    port.set(srv.port()).unwrap();
    let r = get(&session(), &srv.url("/dir/page")).unwrap();
    assert_eq!(text(&r), "resolved");
    assert_eq!(r.redirect_count, 3);
    assert_eq!(r.url, srv.url("/abs"));
    let targets: Vec<String> = srv.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(targets, ["/dir/page", "/dir/other?x=1", "/top", "/abs"]);
}

#[test]
fn post_answered_by_303_to_the_same_url_is_not_a_loop() {
    let srv = router(vec![
        ("POST /a", redirect("303 See Other", "/a")),
        ("GET /a", ok("result")),
    ]);
    let r = session()
        .send(&post_json(&srv.url("/a"), b"{}"), None)
        .unwrap();
    assert_eq!(text(&r), "result");
    assert_eq!(r.redirect_count, 1);
}

#[test]
fn get_redirected_to_the_same_url_is_a_redirect_loop() {
    let srv = router(vec![("GET /a", redirect("302 Found", "/a"))]);
    let e = expect_err(get(&session(), &srv.url("/a")));
    assert_eq!(
        client_kind(&e),
        Some(ClientErrorKind::RedirectLoop),
        "{e:?}"
    );
    assert_eq!(
        srv.request_count(),
        1,
        "the loop was detected before resending"
    );
}

#[test]
fn longer_cycle_is_a_redirect_loop() {
    let srv = router(vec![
        ("GET /a", redirect("302 Found", "/b")),
        ("GET /b", redirect("302 Found", "/c")),
        ("GET /c", redirect("302 Found", "/a")),
    ]);
    let e = expect_err(get(&session(), &srv.url("/a")));
    assert_eq!(
        client_kind(&e),
        Some(ClientErrorKind::RedirectLoop),
        "{e:?}"
    );
    assert_eq!(srv.request_count(), 3);
}

/// `/r/N` redirects to `/r/N+1`; `/r/<end>` answers 200.
fn chain(end: usize) -> Server {
    Server::serve(move |req| {
        let n: usize = req
            .target
            .strip_prefix("/r/")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if n >= end {
            ok(&format!("end at {}", n))
        } else {
            redirect("302 Found", &format!("/r/{}", n + 1))
        }
    })
}

#[test]
fn more_redirects_than_max_redirects_is_too_many_redirects() {
    let srv = chain(10);
    let s = session();
    s.set_max_redirects(3);
    let e = expect_err(get(&s, &srv.url("/r/0")));
    assert_eq!(
        client_kind(&e),
        Some(ClientErrorKind::TooManyRedirects),
        "{e:?}"
    );
    assert!(e.to_string().contains('3'), "{e}");
    // The original request and three followed redirects.
    assert_eq!(srv.request_count(), 4);
}

#[test]
fn exactly_max_redirects_redirects_are_followed() {
    let srv = chain(3);
    let s = session();
    s.set_max_redirects(3);
    let r = get(&s, &srv.url("/r/0")).unwrap();
    assert_eq!(text(&r), "end at 3");
    assert_eq!(r.redirect_count, 3);
    assert_eq!(r.url, srv.url("/r/3"));
    // Same-origin hops ride the kept-alive connection.
    assert_eq!(srv.accepted(), 1);
}

#[test]
fn max_redirects_zero_returns_the_3xx_itself() {
    let srv = chain(5);
    let s = session();
    s.set_max_redirects(0);
    let r = get(&s, &srv.url("/r/0")).unwrap();
    assert_eq!(r.head.status, 302);
    assert_eq!(header(&r, "location").as_deref(), Some("/r/1"));
    assert_eq!(r.redirect_count, 0);
    assert_eq!(r.url, srv.url("/r/0"));
    assert_eq!(srv.request_count(), 1);
}

#[test]
fn redirect_without_location_is_returned_as_is() {
    let srv = router(vec![("GET /", response("302 Found", &[], b"nowhere"))]);
    let r = get(&session(), &srv.url("/")).unwrap();
    assert_eq!((r.head.status, text(&r).as_str()), (302, "nowhere"));
}

#[test]
fn location_with_unsupported_scheme_is_invalid_location() {
    let srv = router(vec![(
        "GET /",
        redirect("302 Found", "ftp://example.com/file"),
    )]);
    let e = expect_err(get(&session(), &srv.url("/")));
    assert_eq!(
        client_kind(&e),
        Some(ClientErrorKind::InvalidLocation),
        "{e:?}"
    );
}

fn with_credentials(url: &str) -> reqivo::client::Request {
    let mut req = request("GET", url);
    req.add_header("Authorization", "Bearer secret-token")
        .unwrap();
    req.add_header("Cookie", "session=abc").unwrap();
    req.add_header("Proxy-Authorization", "Basic cHJveHk6cHc=")
        .unwrap();
    req.add_header("X-Custom", "kept").unwrap();
    req
}

#[test]
fn redirect_drops_auth_and_cookie_cross_origin() {
    let other = router(vec![("GET /landing", ok("other origin"))]);
    let target = other.url("/landing");
    let first = Server::serve(move |_| redirect("302 Found", &target));
    let r = session()
        .send(&with_credentials(&first.url("/start")), None)
        .unwrap();
    assert_eq!(text(&r), "other origin");
    assert_eq!(r.url, other.url("/landing"));
    assert_eq!(r.redirect_count, 1);
    let sent_first = &first.requests()[0];
    assert_eq!(
        sent_first.header("authorization"),
        Some("Bearer secret-token")
    );
    assert_eq!(sent_first.header("cookie"), Some("session=abc"));
    let hop = &other.requests()[0];
    for name in ["authorization", "cookie", "proxy-authorization"] {
        assert!(
            !hop.has_header(name),
            "{} leaked cross-origin:\n{}",
            name,
            hop.head
        );
    }
    assert_eq!(hop.header("x-custom"), Some("kept"));
    let host = format!("127.0.0.1:{}", other.port());
    assert_eq!(hop.header("host"), Some(host.as_str()));
}

#[test]
fn redirect_drops_session_default_auth_cross_origin() {
    let other = router(vec![("GET /landing", ok("other"))]);
    let target = other.url("/landing");
    let first = Server::serve(move |_| redirect("307 Temporary Redirect", &target));
    let s = session();
    s.set_header("Authorization", "Basic dXNlcjpwYXNz").unwrap();
    get(&s, &first.url("/")).unwrap();
    assert!(first.requests()[0].has_header("authorization"));
    assert!(
        !other.requests()[0].has_header("authorization"),
        "{}",
        other.requests()[0].head
    );
}

#[test]
fn same_host_on_another_port_is_another_origin() {
    // Both servers are 127.0.0.1: only the port differs, and that is enough.
    let other = router(vec![("GET /", ok("port two"))]);
    let target = other.url("/");
    let first = Server::serve(move |_| redirect("301 Moved Permanently", &target));
    get_with_creds_and_check(&first, &other);
}

fn get_with_creds_and_check(first: &Server, other: &Server) {
    let r = session()
        .send(&with_credentials(&first.url("/")), None)
        .unwrap();
    assert_eq!(r.head.status, 200);
    assert!(!other.requests()[0].has_header("authorization"));
    assert!(!other.requests()[0].has_header("cookie"));
}

#[test]
fn redirect_keeps_auth_and_cookie_on_the_same_origin() {
    let srv = router(vec![
        ("GET /start", redirect("302 Found", "/next")),
        ("GET /next", ok("same origin")),
    ]);
    let r = session()
        .send(&with_credentials(&srv.url("/start")), None)
        .unwrap();
    assert_eq!(text(&r), "same origin");
    let hop = &srv.requests()[1];
    assert_eq!(hop.header("authorization"), Some("Bearer secret-token"));
    assert_eq!(hop.header("cookie"), Some("session=abc"));
    assert_eq!(
        hop.header("proxy-authorization"),
        Some("Basic cHJveHk6cHc=")
    );
}

#[test]
fn redirect_count_and_final_url_are_reported_across_origins() {
    let other = chain(2);
    let target = other.url("/r/0");
    let first = Server::serve(move |_| redirect("302 Found", &target));
    let s: Session = session();
    let r = get(&s, &first.url("/entry")).unwrap();
    assert_eq!(text(&r), "end at 2");
    assert_eq!(r.redirect_count, 3);
    assert_eq!(r.url, other.url("/r/2"));
}

#[test]
fn redirect_bodies_are_drained_so_the_connection_is_reused() {
    let srv = router(vec![
        (
            "GET /a",
            response("302 Found", &[("Location", "/b")], &[b'x'; 5000]),
        ),
        (
            "GET /b",
            bytes(concat!(
                "HTTP/1.1 301 Moved Permanently\r\nLocation: /c\r\n",
                "Transfer-Encoding: chunked\r\n\r\n4\r\nmove\r\n0\r\n\r\n",
            )),
        ),
        ("GET /c", ok("drained")),
    ]);
    let r = get(&session(), &srv.url("/a")).unwrap();
    assert_eq!(text(&r), "drained");
    assert_eq!(r.redirect_count, 2);
    assert_eq!(srv.accepted(), 1);
}

#[test]
fn redirect_with_close_delimited_body_is_followed_without_waiting_for_the_close() {
    // The 302 has no length, so its body runs until the server closes, which
    // this one never does. The connection cannot be reused anyway, so the
    // client must move on instead of reading that body to its end.
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(bytes("HTTP/1.1 302 Found\r\nLocation: /b\r\n\r\nmoved, ")),
            Step::Hold,
        ],
        vec![Step::Read, Step::Send(ok("arrived"))],
    ]);
    let s = session();
    s.set_timeouts(reqivo::net::Timeouts {
        total: Some(std::time::Duration::from_secs(3)),
        ..timeouts_ms(30_000)
    });
    let r = get(&s, &srv.url("/a")).unwrap();
    assert_eq!(text(&r), "arrived");
    assert_eq!(srv.accepted(), 2);
}
