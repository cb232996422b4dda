//! Session credentials (basic, bearer, URL userinfo) and JSON bodies.
mod support;

use reqivo::client::{ClientError, ClientErrorKind};
use support::*;

fn echo_ok() -> Server {
    Server::serve(|_| ok("fine"))
}

#[test]
fn basic_auth_is_sent_to_the_origin() {
    let srv = echo_ok();
    let s = session();
    s.set_basic_auth("user", "pass").unwrap();
    get(&s, &srv.url("/a")).unwrap();
    // base64("user:pass")
    assert_eq!(
        srv.requests()[0].header("authorization"),
        Some("Basic dXNlcjpwYXNz")
    );
}

#[test]
fn basic_auth_user_with_colon_is_refused() {
    let e = session().set_basic_auth("a:b", "c").unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Client {
                kind: ClientErrorKind::InvalidArgument,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn bearer_token_is_replaced_by_a_request_header_and_cleared_by_empty() {
    let srv = echo_ok();
    let s = session();
    s.set_bearer_token("tok-123").unwrap();
    get(&s, &srv.url("/1")).unwrap();
    let mut req = request("GET", &srv.url("/2"));
    req.add_header("Authorization", "Bearer per-request")
        .unwrap();
    s.send(&req, None).unwrap();
    s.set_bearer_token("").unwrap();
    get(&s, &srv.url("/3")).unwrap();
    let seen = srv.requests();
    assert_eq!(seen[0].header("authorization"), Some("Bearer tok-123"));
    assert_eq!(seen[1].header("authorization"), Some("Bearer per-request"));
    assert_eq!(
        seen[1].head.matches("Authorization").count(),
        1,
        "{}",
        seen[1].head
    );
    assert_eq!(seen[2].header("authorization"), None);
    assert!(s.set_bearer_token("has space").is_err());
}

#[test]
fn redirect_drops_session_auth_cross_origin() {
    let other = echo_ok();
    let target = other.url("/landing");
    let first = Server::serve(move |_| redirect("302 Found", &target));
    let s = session();
    s.set_basic_auth("user", "pass").unwrap();
    let resp = get(&s, &first.url("/start")).unwrap();
    assert_eq!(resp.head.status, 200);
    assert!(first.requests()[0].has_header("authorization"));
    assert!(
        !other.requests()[0].has_header("authorization"),
        "credentials leaked to another origin"
    );
}

#[test]
fn url_userinfo_becomes_basic_auth_and_leaves_the_url() {
    let srv = echo_ok();
    let url = format!("http://al%40ice:p%3Ass@127.0.0.1:{}/private", srv.port());
    let resp = get(&session(), &url).unwrap();
    // base64("al@ice:p:ss")
    assert_eq!(
        srv.requests()[0].header("authorization"),
        Some("Basic YWxAaWNlOnA6c3M=")
    );
    assert_eq!(
        resp.url,
        srv.url("/private"),
        "no credentials in the reported URL"
    );
}

#[test]
fn json_body_is_validated_and_typed() {
    let srv = echo_ok();
    let s = session();
    let mut req = request("POST", &srv.url("/json"));
    req.add_header("Content-Type", "text/plain").unwrap();
    req.set_json(r#"{"name": "reqivo", "tags": ["http", "c"], "n": 1.5e3}"#)
        .unwrap();
    s.send(&req, None).unwrap();
    let seen = &srv.requests()[0];
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        seen.head.matches("Content-Type").count(),
        1,
        "{}",
        seen.head
    );
    assert_eq!(
        seen.body,
        br#"{"name": "reqivo", "tags": ["http", "c"], "n": 1.5e3}"#
    );

    let e = req.set_json("{\n  \"a\": 1,\n  \"b\": }").unwrap_err();
    match e {
        ClientError::Client {
            kind: ClientErrorKind::InvalidJson,
            message,
        } => {
            assert!(message.contains("line 3"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(req.set_json("1 2").is_err(), "one value only");
}

#[test]
fn json_body_keeps_a_json_type_the_caller_chose() {
    let srv = echo_ok();
    let s = session();
    for (given, sent) in [
        ("application/vnd.api+json", "application/vnd.api+json"),
        (
            "Application/JSON; charset=utf-8",
            "Application/JSON; charset=utf-8",
        ),
        ("application/jsonp", "application/json"),
        ("text/plain", "application/json"),
    ] {
        let mut req = request("POST", &srv.url("/json"));
        req.add_header("Content-Type", given).unwrap();
        req.set_json("[1]").unwrap();
        s.send(&req, None).unwrap();
        let seen = srv.requests().pop().unwrap();
        assert_eq!(seen.header("content-type"), Some(sent), "given {given}");
        assert_eq!(
            seen.head.matches("Content-Type").count(),
            1,
            "{}",
            seen.head
        );
    }
}
