//! The session cookie jar: storing, scoping by host and path, expiry,
//! Secure, isolation between sessions, saving and loading, switching off.
mod support;

use support::*;

/// Answers /set?<cookie> with that Set-Cookie, anything else with 200.
fn cookie_server() -> Server {
    Server::serve(|seen| match seen.target.split_once("/set?") {
        Some((_, c)) => {
            let value = c.replace("%20", " ");
            response("200 OK", &[("Set-Cookie", value.as_str())], b"set")
        }
        None => ok("plain"),
    })
}

fn cookie_sent(srv: &Server, i: usize) -> Option<String> {
    srv.requests()[i].header("cookie").map(str::to_string)
}

#[test]
fn cookie_round_trip_within_a_session() {
    let srv = cookie_server();
    let s = session();
    get(&s, &srv.url("/set?sid=abc;%20Path=/")).unwrap();
    get(&s, &srv.url("/account")).unwrap();
    assert_eq!(cookie_sent(&srv, 0), None);
    assert_eq!(cookie_sent(&srv, 1).as_deref(), Some("sid=abc"));
}

#[test]
fn cookies_are_scoped_by_path() {
    let srv = cookie_server();
    let s = session();
    get(&s, &srv.url("/app/set?a=1;%20Path=/app")).unwrap();
    get(&s, &srv.url("/app/page")).unwrap();
    get(&s, &srv.url("/other")).unwrap();
    assert_eq!(cookie_sent(&srv, 1).as_deref(), Some("a=1"));
    assert_eq!(cookie_sent(&srv, 2), None);
}

#[test]
fn host_only_cookie_is_not_sent_to_another_host() {
    let srv = cookie_server();
    let s = session();
    get(&s, &srv.url("/set?h=1")).unwrap();
    // Same server and port, reached as "localhost": another host for cookies.
    let other = format!("http://localhost:{}/x", srv.port());
    get(&s, &other).unwrap();
    get(&s, &srv.url("/y")).unwrap();
    assert_eq!(
        cookie_sent(&srv, 1),
        None,
        "a 127.0.0.1 cookie went to localhost"
    );
    assert_eq!(cookie_sent(&srv, 2).as_deref(), Some("h=1"));
}

#[test]
fn expired_and_deleted_cookies_are_not_sent() {
    let srv = cookie_server();
    let s = session();
    get(&s, &srv.url("/set?gone=1;%20Max-Age=0")).unwrap();
    get(&s, &srv.url("/set?keep=1")).unwrap();
    get(&s, &srv.url("/set?keep=2;%20Max-Age=0")).unwrap(); // deletes keep
    get(
        &s,
        &srv.url("/set?old=1;%20Expires=Wed,%2021%20Oct%202015%2007:28:00%20GMT"),
    )
    .unwrap();
    get(&s, &srv.url("/check")).unwrap();
    assert_eq!(cookie_sent(&srv, 4), None, "{}", srv.requests()[4].head);
}

#[test]
fn secure_cookies_go_to_loopback_as_to_https() {
    // Loopback is a secure context (as browsers treat it), so a Secure
    // cookie set over http://127.0.0.1 is kept and sent back there; the
    // jar refuses Secure cookies from other plain-http hosts.
    let srv = cookie_server();
    let s = session();
    get(&s, &srv.url("/set?sec=1;%20Secure")).unwrap();
    get(&s, &srv.url("/check")).unwrap();
    assert_eq!(cookie_sent(&srv, 1).as_deref(), Some("sec=1"));
}

#[test]
fn sessions_never_share_cookies() {
    let srv = cookie_server();
    let (a, b) = (session(), session());
    get(&a, &srv.url("/set?who=a")).unwrap();
    get(&b, &srv.url("/look")).unwrap();
    assert_eq!(cookie_sent(&srv, 1), None);
}

#[test]
fn jar_is_saved_and_loaded_as_text() {
    let srv = cookie_server();
    let s = session();
    get(&s, &srv.url("/set?persist=yes;%20Max-Age=3600")).unwrap();
    get(&s, &srv.url("/set?transient=yes")).unwrap();
    let text = s.cookies().save().unwrap();
    assert!(text.contains("persist"), "{text}");
    assert!(
        !text.contains("transient"),
        "session cookies are not saved: {text}"
    );
    let later = session();
    later.cookies().load(&text).unwrap();
    get(&later, &srv.url("/back")).unwrap();
    assert_eq!(cookie_sent(&srv, 2).as_deref(), Some("persist=yes"));
    assert!(later.cookies().load("not json").is_err());
    later.cookies().clear();
    get(&later, &srv.url("/cleared")).unwrap();
    assert_eq!(cookie_sent(&srv, 3), None);
}

#[test]
fn cookies_off_sends_and_stores_nothing() {
    let srv = cookie_server();
    let s = session();
    s.set_cookies(false);
    get(&s, &srv.url("/set?x=1")).unwrap();
    s.set_cookies(true);
    get(&s, &srv.url("/after")).unwrap();
    assert_eq!(cookie_sent(&srv, 1), None);
}

#[test]
fn redirect_keeps_jar_scoping_and_drops_caller_cookie_cross_origin() {
    let other = cookie_server();
    let target = format!("http://localhost:{}/landing", other.port());
    let first = Server::serve(move |seen| {
        if seen.target == "/start" {
            response(
                "302 Found",
                &[("Location", target.as_str()), ("Set-Cookie", "first=1")],
                b"",
            )
        } else {
            ok("x")
        }
    });
    let s = session();
    let mut req = request("GET", &first.url("/start"));
    req.add_header("Cookie", "mine=1").unwrap();
    s.send(&req, None).unwrap();
    assert_eq!(first.requests()[0].header("cookie"), Some("mine=1"));
    assert_eq!(
        other.requests()[0].header("cookie"),
        None,
        "no caller or jar cookie crossed origins"
    );
    // The cookie set on the redirect hop itself was stored.
    get(&s, &first.url("/again")).unwrap();
    assert_eq!(first.requests()[1].header("cookie"), Some("first=1"));
}
