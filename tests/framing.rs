//! Response framing end to end (RFC 9112 §6.3): every way a body can be
//! delimited, and every way a server can get it wrong, against exact bytes.
mod support;

use reqivo::proto::ProtoErrorKind;
use support::*;

/// Two requests on a fresh session; the second proves whether the first
/// left the connection clean for reuse.
fn second_get(s: &reqivo::client::Session, srv: &Server) -> reqivo::client::Response {
    get(s, &srv.url("/second")).expect("second request")
}

#[test]
fn content_length_body_is_read_exactly_and_connection_reused() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
        )),
        Step::Read,
        Step::Send(ok("again")),
    ]]);
    let s = session();
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!(r.head.status, 200);
    assert_eq!(text(&r), "hello world");
    assert!(!r.reused);
    let r2 = second_get(&s, &srv);
    assert_eq!(text(&r2), "again");
    assert!(r2.reused);
    assert_eq!(srv.accepted(), 1);
}

#[test]
fn content_length_body_split_across_many_writes_is_reassembled() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Le")),
        Step::Sleep(20),
        Step::Send(bytes("ngth: 10\r\n\r\n01")),
        Step::Sleep(20),
        Step::Drip(bytes("23456789"), 2),
    ]]);
    let r = get(&session(), &srv.url("/")).unwrap();
    assert_eq!(text(&r), "0123456789");
}

#[test]
fn chunked_body_with_extensions_and_trailers_is_decoded() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(concat!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "5;name=value\r\nhello\r\n",
            "6 ; a=b;c=\"quoted\"\r\n world\r\n",
            "A\r\n, chunked!\r\n",
            "0;last\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n",
        ))),
        Step::Read,
        Step::Send(ok("next")),
    ]]);
    let s = session();
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!(text(&r), "hello world, chunked!");
    // The trailers were consumed exactly: the connection serves the next request.
    let r2 = second_get(&s, &srv);
    assert_eq!(text(&r2), "next");
    assert!(r2.reused);
    assert_eq!(srv.accepted(), 1);
}

#[test]
fn chunked_body_sent_one_byte_at_a_time_is_decoded() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        )),
        Step::Drip(bytes("3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n"), 1),
    ]]);
    let r = get(&session(), &srv.url("/")).unwrap();
    assert_eq!(text(&r), "abcde");
}

#[test]
fn malformed_chunk_size_is_invalid_chunk() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        )),
    ]]);
    let e = expect_err(get(&session(), &srv.url("/")));
    assert_eq!(proto_kind(&e), Some(ProtoErrorKind::InvalidChunk), "{e:?}");
}

#[test]
fn close_delimited_body_ends_at_eof_and_connection_is_not_reused() {
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(bytes("HTTP/1.1 200 OK\r\n\r\nuntil ")),
            Step::Sleep(20),
            Step::Send(bytes("the end")),
            Step::Close,
        ],
        vec![Step::Read, Step::Send(ok("fresh"))],
    ]);
    let s = session();
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!(text(&r), "until the end");
    let r2 = second_get(&s, &srv);
    assert_eq!(text(&r2), "fresh");
    assert!(!r2.reused);
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn head_response_has_no_body_even_with_content_length() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        // No body follows: waiting for 1000 bytes would hang until the timeout.
        Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")),
        Step::Read,
        Step::Send(ok("after head")),
    ]]);
    let s = session();
    s.set_timeouts(timeouts_ms(3000));
    let r = s.send(&request("HEAD", &srv.url("/")), None).unwrap();
    assert_eq!(r.head.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(header(&r, "content-length").as_deref(), Some("1000"));
    let r2 = second_get(&s, &srv);
    assert_eq!(text(&r2), "after head");
    assert!(r2.reused);
    assert_eq!(srv.requests()[0].method, "HEAD");
}

#[test]
fn no_content_204_has_no_body_even_with_content_length() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        )),
        Step::Read,
        Step::Send(ok("after 204")),
    ]]);
    let s = session();
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!(r.head.status, 204);
    assert!(r.body.is_empty());
    let r2 = second_get(&s, &srv);
    assert_eq!(text(&r2), "after 204");
    assert!(r2.reused);
}

#[test]
fn not_modified_304_has_no_body_even_with_content_length() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\nETag: \"x\"\r\n\r\n",
        )),
        Step::Read,
        Step::Send(ok("after 304")),
    ]]);
    let s = session();
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!(r.head.status, 304);
    assert!(r.body.is_empty());
    let r2 = second_get(&s, &srv);
    assert_eq!(text(&r2), "after 304");
    assert!(r2.reused);
}

#[test]
fn interim_100_and_103_responses_are_skipped() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 100 Continue\r\n\r\n")),
        Step::Sleep(10),
        Step::Send(bytes(concat!(
            "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nfinal",
        ))),
    ]]);
    let r = get(&session(), &srv.url("/")).unwrap();
    assert_eq!(r.head.status, 200);
    assert_eq!(text(&r), "final");
    assert_eq!(header(&r, "x-final").as_deref(), Some("yes"));
    assert_eq!(header(&r, "link"), None, "interim headers leaked");
}

#[test]
fn transfer_encoding_with_content_length_is_invalid_framing_and_not_reused() {
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(bytes(concat!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                "5\r\nhello\r\n0\r\n\r\n",
            ))),
        ],
        vec![Step::Read, Step::Send(ok("fresh"))],
    ]);
    let s = session();
    let e = expect_err(get(&s, &srv.url("/")));
    assert_eq!(
        proto_kind(&e),
        Some(ProtoErrorKind::InvalidFraming),
        "{e:?}"
    );
    let r2 = second_get(&s, &srv);
    assert_eq!(text(&r2), "fresh");
    assert!(!r2.reused);
    assert_eq!(srv.accepted(), 2);
    let stats = s.pool().stats();
    assert_eq!((stats.opened, stats.reused), (2, 0));
}

#[test]
fn differing_duplicate_content_length_is_invalid_framing_and_not_reused() {
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(bytes(
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            )),
        ],
        vec![Step::Read, Step::Send(ok("fresh"))],
    ]);
    let s = session();
    let e = expect_err(get(&s, &srv.url("/")));
    assert_eq!(
        proto_kind(&e),
        Some(ProtoErrorKind::InvalidFraming),
        "{e:?}"
    );
    assert!(
        e.to_string().contains('5') && e.to_string().contains('6'),
        "{e}"
    );
    let r2 = second_get(&s, &srv);
    assert!(!r2.reused);
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn identical_duplicate_content_length_is_accepted() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        )),
    ]]);
    let r = get(&session(), &srv.url("/")).unwrap();
    assert_eq!(text(&r), "hello");
}

#[test]
fn unknown_transfer_coding_is_invalid_framing() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        )),
    ]]);
    let e = expect_err(get(&session(), &srv.url("/")));
    assert_eq!(
        proto_kind(&e),
        Some(ProtoErrorKind::InvalidFraming),
        "{e:?}"
    );
}

#[test]
fn eof_inside_content_length_body_is_unexpected_eof() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")),
        Step::Close,
    ]]);
    let e = expect_err(get(&session(), &srv.url("/")));
    assert_eq!(proto_kind(&e), Some(ProtoErrorKind::UnexpectedEof), "{e:?}");
    assert!(e.to_string().contains("10"), "{e}");
}

#[test]
fn eof_inside_chunked_body_is_unexpected_eof() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n8\r\nwor",
        )),
        Step::Close,
    ]]);
    let e = expect_err(get(&session(), &srv.url("/")));
    assert_eq!(proto_kind(&e), Some(ProtoErrorKind::UnexpectedEof), "{e:?}");
}

#[test]
fn eof_before_last_chunk_is_unexpected_eof() {
    // Every data chunk arrived, but the terminating zero chunk did not.
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        )),
        Step::Close,
    ]]);
    let e = expect_err(get(&session(), &srv.url("/")));
    assert_eq!(proto_kind(&e), Some(ProtoErrorKind::UnexpectedEof), "{e:?}");
}

#[test]
fn eof_inside_head_is_connection_closed() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Len")),
        Step::Close,
    ]]);
    let e = expect_err(get(&session(), &srv.url("/")));
    assert_eq!(
        net_kind(&e),
        Some(reqivo::net::NetErrorKind::ConnectionClosed),
        "{e:?}"
    );
}

#[test]
fn garbage_after_a_complete_body_prevents_reuse() {
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(bytes(
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\ngarbage",
            )),
        ],
        vec![Step::Read, Step::Send(ok("fresh"))],
    ]);
    let s = session();
    let r = get(&s, &srv.url("/")).unwrap();
    assert_eq!(text(&r), "ok");
    let r2 = second_get(&s, &srv);
    assert_eq!(text(&r2), "fresh", "stray bytes were read as a response");
    assert!(!r2.reused);
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn garbage_arriving_while_idle_prevents_reuse() {
    let srv = Server::scripted(vec![
        vec![
            Step::Read,
            Step::Send(ok("ok")),
            Step::Sleep(30),
            Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")),
            Step::Mark("garbage sent"),
        ],
        vec![Step::Read, Step::Send(ok("fresh"))],
    ]);
    let s = session();
    assert_eq!(text(&get(&s, &srv.url("/")).unwrap()), "ok");
    assert!(srv.wait_mark("garbage sent"));
    let r2 = second_get(&s, &srv);
    assert_eq!(
        text(&r2),
        "fresh",
        "unsolicited bytes were read as a response"
    );
    assert_eq!(srv.accepted(), 2);
}

#[test]
fn header_without_space_after_colon_is_accepted() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 200 OK\r\nX-Tight:value\r\nContent-Length:2\r\n\r\nok",
        )),
    ]]);
    let r = get(&session(), &srv.url("/")).unwrap();
    assert_eq!(header(&r, "x-tight").as_deref(), Some("value"));
    assert_eq!(text(&r), "ok");
}

#[test]
fn obs_fold_header_is_rejected() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
        )),
    ]]);
    let e = expect_err(get(&session(), &srv.url("/")));
    assert_eq!(
        proto_kind(&e),
        Some(ProtoErrorKind::InvalidResponseHeader),
        "{e:?}"
    );
}

#[test]
fn request_head_has_host_with_port_and_keep_alive() {
    let srv = Server::scripted(vec![vec![Step::Read, Step::Send(ok("x"))]]);
    let mut req = request("POST", &srv.url("/path?q=1"));
    req.set_body(b"payload");
    session().send(&req, None).unwrap();
    let seen = &srv.requests()[0];
    assert!(
        seen.head.starts_with("POST /path?q=1 HTTP/1.1\r\n"),
        "{}",
        seen.head
    );
    let host = format!("127.0.0.1:{}", srv.port());
    assert_eq!(seen.header("host"), Some(host.as_str()));
    assert_eq!(seen.header("connection"), Some("keep-alive"));
    assert_eq!(seen.header("content-length"), Some("7"));
    assert_eq!(seen.body, b"payload");
}
