//! When a connection must not carry another request: every rule of RFC
//! 9112 §6 and §9 (and RFC 9110 where it applies) under which a client
//! must close the connection or distrust a response's framing, each
//! against exact bytes. The first connection keeps a trap open after the
//! response under test (a second response the client must never read);
//! the second request must arrive on a new connection and get "fresh".
//!
//! | rule | source |
//! |---|---|
//! | `Connection: close` from the server | RFC 9112 §9.6 |
//! | `Connection: close` sent by the client | RFC 9112 §9.6 |
//! | HTTP/1.0 without `keep-alive` | RFC 9112 §9.3 |
//! | HTTP/1.0 with Transfer-Encoding, keep-alive or not | RFC 9112 §6.1 |
//! | Transfer-Encoding with Content-Length | RFC 9112 §6.3 (3), §11.2 |
//! | a transfer coding other than a final `chunked` | RFC 9112 §6.3 (4) |
//! | an invalid Content-Length | RFC 9112 §6.3 (5) |
//! | differing Content-Length values | RFC 9112 §6.3 (5), RFC 9110 §8.6 |
//! | no framing: the body ends at close | RFC 9112 §6.3 (8) |
//! | an incomplete body (the peer went silent) | RFC 9112 §6.3, §8 |
//! | a malformed chunk | RFC 9112 §7.1, §8 |
//! | 101 Switching Protocols | RFC 9110 §15.2.2 |
//! | bytes past the end of the response | response splitting (RFC 9112 §11.2) |
//! | a body the caller stopped reading | RFC 9112 §9.3 (what is left is unread) |
//!
//! Not a rule: a 204 or 304 with Content-Length ends at its head (RFC 9112
//! §6.3 step 1); its connection is reused (tests/framing.rs), as curl and
//! net/http do.
mod support;

use std::time::Duration;

use reqivo::client::Session;
use support::*;

/// What the first request should give.
#[derive(Debug, PartialEq)]
enum First {
    Ok,
    Err,
}

const TRAP: &str = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale";

/// Serves `response` (then the trap) on the first connection and "fresh"
/// on the second, sends two GETs and checks that the second one opened a
/// new connection.
fn check_rule(rule: &str, response: &str, first: First) {
    check_rule_with(rule, response, first, |s, url| {
        get(s, url).map(|_| ()).map_err(|e| e.to_string())
    });
}

fn check_rule_with(
    rule: &str,
    response: &str,
    first: First,
    send: impl Fn(&Session, &str) -> Result<(), String>,
) {
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(bytes(response)),
            Step::Read,
            Step::Send(bytes(TRAP)),
            Step::Hold,
        ],
        vec![Step::Read, Step::Send(ok("fresh"))],
    ]);
    let s = session();
    s.set_timeouts(timeouts_ms(2000));
    let got = send(&s, &srv.url("/first"));
    assert_eq!(
        got.is_ok(),
        first == First::Ok,
        "{rule}: first request gave {got:?}"
    );
    let r = get(&s, &srv.url("/second")).unwrap_or_else(|e| panic!("{rule}: second: {e}"));
    assert_eq!(text(&r), "fresh", "{rule}: the connection was reused");
    assert!(!r.reused, "{rule}");
    assert_eq!(srv.accepted(), 2, "{rule}");
}

#[test]
fn connection_close_from_the_server() {
    check_rule(
        "Connection: close",
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        First::Ok,
    );
    check_rule(
        "close among other options",
        "HTTP/1.1 200 OK\r\nConnection: upgrade, CLOSE\r\nContent-Length: 2\r\n\r\nok",
        First::Ok,
    );
}

#[test]
fn connection_close_sent_by_the_client() {
    check_rule_with(
        "the request said close",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        First::Ok,
        |s, url| {
            let mut req = request("GET", url);
            req.add_header("Connection", "close").unwrap();
            s.send(&req, None).map(|_| ()).map_err(|e| e.to_string())
        },
    );
}

#[test]
fn http_1_0_without_keep_alive() {
    check_rule(
        "HTTP/1.0",
        "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        First::Ok,
    );
}

#[test]
fn http_1_0_with_transfer_encoding_is_faulty_framing() {
    // Even with keep-alive and even though chunked parses: RFC 9112 §6.1.
    check_rule(
        "HTTP/1.0 + chunked + keep-alive",
        "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        First::Ok,
    );
}

#[test]
fn transfer_encoding_with_content_length() {
    check_rule(
        "TE + CL",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        First::Err,
    );
}

#[test]
fn a_transfer_coding_other_than_a_final_chunked() {
    check_rule(
        "TE: gzip",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
        First::Err,
    );
    check_rule(
        "TE: chunked, gzip",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        First::Err,
    );
}

#[test]
fn an_invalid_or_conflicting_content_length() {
    for cl in ["-1", "2x", "+2", "0x2", "", "99999999999999999999"] {
        check_rule(
            &format!("Content-Length: {cl:?}"),
            &format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\nok"),
            First::Err,
        );
    }
    check_rule(
        "Content-Length: 2, 3",
        "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
        First::Err,
    );
    check_rule(
        "two Content-Length fields",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        First::Err,
    );
}

#[test]
fn no_framing_means_the_body_ends_at_close() {
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(bytes("HTTP/1.1 200 OK\r\n\r\nto the end")),
            Step::Close,
        ],
        vec![Step::Read, Step::Send(ok("fresh"))],
    ]);
    let s = session();
    assert_eq!(text(&get(&s, &srv.url("/a")).unwrap()), "to the end");
    let r = get(&s, &srv.url("/b")).unwrap();
    assert_eq!((text(&r).as_str(), r.reused), ("fresh", false));
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn an_incomplete_body() {
    // The peer sends half the body and goes silent: a read timeout, and
    // the rest must never be read as the start of the next response.
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")),
            Step::Sleep(600),
            Step::Send(bytes("-body")),
            Step::Send(bytes(TRAP)),
            Step::Hold,
        ],
        vec![Step::Read, Step::Send(ok("fresh"))],
    ]);
    let s = session();
    s.set_timeouts(timeouts_ms(300));
    assert!(get(&s, &srv.url("/a")).is_err());
    std::thread::sleep(Duration::from_millis(400));
    s.set_timeouts(timeouts_ms(2000));
    let r = get(&s, &srv.url("/b")).unwrap();
    assert_eq!((text(&r).as_str(), r.reused), ("fresh", false));
}

#[test]
fn a_malformed_chunk() {
    for body in [
        "zz\r\nok\r\n0\r\n\r\n",
        "2\r\nokX0\r\n\r\n",
        "2 2\r\nok\r\n0\r\n\r\n",
    ] {
        check_rule(
            &format!("chunked body {body:?}"),
            &format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{body}"),
            First::Err,
        );
    }
}

#[test]
fn switching_protocols() {
    check_rule(
        "101",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\nConnection: upgrade\r\n\r\n",
        First::Ok,
    );
}

#[test]
fn bytes_past_the_end_of_the_response() {
    check_rule(
        "a second response in the same write",
        &format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok{TRAP}"),
        First::Ok,
    );
}

#[test]
fn a_body_the_caller_stopped_reading() {
    check_rule_with(
        "stream dropped after 3 of 100 000 bytes",
        &format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{}",
            "b".repeat(100_000)
        ),
        First::Ok,
        |s, url| {
            let mut st = s
                .open(&request("GET", url), None)
                .map_err(|e| e.to_string())?;
            let mut buf = [0u8; 3];
            st.read(&mut buf).map(|_| ()).map_err(|e| e.to_string())
        },
    );
}

#[test]
fn control_a_clean_response_is_reused() {
    // The same harness, with nothing wrong: the trap is what the second
    // request gets, on the first connection. Proves the rules above fail
    // for the reason they name.
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")),
        Step::Read,
        Step::Send(bytes(TRAP)),
    ]]);
    let s = session();
    get(&s, &srv.url("/a")).unwrap();
    let r = get(&s, &srv.url("/b")).unwrap();
    assert_eq!((text(&r).as_str(), r.reused), ("stale", true));
}
