//! Response limits: each trips where the bytes arrive, with a message that
//! names the limit and the size seen.
mod support;

use reqivo::client::{ClientError, Session};
use reqivo::proto::{Limits, ProtoErrorKind};
use support::*;

fn limited(limits: Limits, max_body: Option<u64>) -> Session {
    let s = session();
    s.set_limits(limits, max_body);
    s
}

/// Asserts the error kind and that the message mentions every fragment.
fn assert_limit_error(e: &ClientError, kind: ProtoErrorKind, fragments: &[&str]) {
    assert_eq!(proto_kind(e), Some(kind), "{e:?}");
    for f in fragments {
        assert!(
            e.to_string().contains(f),
            "message {:?} lacks {:?}",
            e.to_string(),
            f
        );
    }
}

#[test]
fn header_line_longer_than_max_line_bytes_is_header_too_large() {
    let long = "v".repeat(300);
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(&format!(
            "HTTP/1.1 200 OK\r\nX-Long: {}\r\nContent-Length: 0\r\n\r\n",
            long
        ))),
    ]]);
    let s = limited(
        Limits {
            max_line_bytes: 100,
            ..Limits::default()
        },
        None,
    );
    let e = expect_err(get(&s, &srv.url("/")));
    // "X-Long: " + 300 bytes = 308.
    assert_limit_error(
        &e,
        ProtoErrorKind::HeaderTooLarge,
        &["max_line_bytes", "100", "308"],
    );
}

#[test]
fn status_line_longer_than_max_line_bytes_is_header_too_large() {
    let reason = "R".repeat(200);
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(&format!(
            "HTTP/1.1 200 {}\r\nContent-Length: 0\r\n\r\n",
            reason
        ))),
    ]]);
    let s = limited(
        Limits {
            max_line_bytes: 64,
            ..Limits::default()
        },
        None,
    );
    let e = expect_err(get(&s, &srv.url("/")));
    assert_limit_error(
        &e,
        ProtoErrorKind::HeaderTooLarge,
        &["status line", "max_line_bytes", "64", "213"],
    );
}

#[test]
fn head_larger_than_max_header_bytes_is_header_too_large() {
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..40 {
        head.push_str(&format!("X-Field-{:02}: {}\r\n", i, "x".repeat(40)));
    }
    head.push_str("Content-Length: 0\r\n\r\n");
    let srv = Server::scripted(vec![vec![Step::Read, Step::Send(bytes(&head))]]);
    let s = limited(
        Limits {
            max_header_bytes: 1024,
            ..Limits::default()
        },
        None,
    );
    let e = expect_err(get(&s, &srv.url("/")));
    assert_limit_error(
        &e,
        ProtoErrorKind::HeaderTooLarge,
        &["max_header_bytes", "1024"],
    );
    // The size seen is reported too: some number above the limit.
    let sizes: Vec<u64> = e
        .to_string()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        sizes.iter().any(|&n| n > 1024),
        "no size in {:?}",
        e.to_string()
    );
}

#[test]
fn endless_head_stops_at_max_header_bytes_without_waiting_for_its_end() {
    // The head never ends; the client must give up once the limit is passed,
    // long before the read timeout.
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..200 {
        head.push_str(&format!("X-{}: {}\r\n", i, "y".repeat(50)));
    }
    let srv = Server::scripted(vec![vec![Step::Read, Step::Send(bytes(&head)), Step::Hold]]);
    let s = limited(
        Limits {
            max_header_bytes: 2048,
            ..Limits::default()
        },
        None,
    );
    s.set_timeouts(timeouts_ms(5000));
    let e = expect_err(get(&s, &srv.url("/")));
    assert_limit_error(
        &e,
        ProtoErrorKind::HeaderTooLarge,
        &["max_header_bytes", "2048"],
    );
}

#[test]
fn more_headers_than_max_header_count_is_too_many_headers() {
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..12 {
        head.push_str(&format!("X-{}: v\r\n", i));
    }
    head.push_str("Content-Length: 0\r\n\r\n");
    let srv = Server::scripted(vec![vec![Step::Read, Step::Send(bytes(&head))]]);
    let s = limited(
        Limits {
            max_header_count: 5,
            ..Limits::default()
        },
        None,
    );
    let e = expect_err(get(&s, &srv.url("/")));
    // 13 fields were sent against a limit of 5.
    assert_limit_error(
        &e,
        ProtoErrorKind::TooManyHeaders,
        &["max_header_count", "5", "13"],
    );
}

#[test]
fn exactly_max_header_count_headers_are_accepted() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(
            "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 2\r\n\r\nok",
        )),
    ]]);
    let s = limited(
        Limits {
            max_header_count: 3,
            ..Limits::default()
        },
        None,
    );
    assert_eq!(text(&get(&s, &srv.url("/")).unwrap()), "ok");
}

/// A head with `fields` fields named X-0..X-(n-1), each `value_len` bytes
/// of value, and a two-byte body.
fn wide_head(fields: usize, value_len: usize) -> String {
    let value = "v".repeat(value_len);
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..fields {
        head.push_str(&format!("X-{}: {}\r\n", i, value));
    }
    head.push_str("Content-Length: 2\r\n\r\nok");
    head
}

fn serve_once(head: String) -> Server {
    Server::scripted(vec![vec![Step::Read, Step::Send(bytes(&head))]])
}

#[test]
fn default_limits_accept_what_curl_accepts() {
    // 120 fields, a 10,000-byte value and a 99 KiB line: real servers send
    // heads like these (large cookies, CSP and Link headers, baggage).
    for (fields, value_len) in [(120, 1), (1, 10_000), (1, 99 * 1024), (2000, 100)] {
        let srv = serve_once(wide_head(fields, value_len));
        let r = get(&session(), &srv.url("/"))
            .unwrap_or_else(|e| panic!("{fields} fields of {value_len} bytes: {e}"));
        assert_eq!(r.head.header_count(), fields + 1);
        assert_eq!(r.head.value("X-0").map(<[u8]>::len), Some(value_len));
        assert_eq!(text(&r), "ok");
    }
}

#[test]
fn default_limits_refuse_past_100_kib_lines_and_300_kib_heads() {
    let srv = serve_once(wide_head(1, 100 * 1024));
    let e = expect_err(get(&session(), &srv.url("/")));
    assert_limit_error(
        &e,
        ProtoErrorKind::HeaderTooLarge,
        &["max_line_bytes", "102400", "102405"],
    );
    // 4 fields of 80 KiB: each line fits, the head does not.
    let srv = serve_once(wide_head(4, 80 * 1024));
    let e = expect_err(get(&session(), &srv.url("/")));
    assert_limit_error(
        &e,
        ProtoErrorKind::HeaderTooLarge,
        &["max_header_bytes", "307200"],
    );
}

#[test]
fn a_huge_header_count_limit_reserves_nothing_up_front() {
    // A limit of u32::MAX fields once made the first send reserve 128 GiB
    // and abort; slots now grow with the lines that arrived.
    for max_header_count in [u32::MAX as usize, usize::MAX] {
        let s = limited(
            Limits {
                max_header_count,
                ..Limits::default()
            },
            None,
        );
        for fields in [0, 1, 200, 5000] {
            let srv = serve_once(wide_head(fields, 3));
            let r = get(&s, &srv.url("/")).unwrap();
            assert_eq!(r.head.header_count(), fields + 1);
        }
    }
}

#[test]
fn a_header_count_limit_above_the_stack_slots_still_counts() {
    // More fields than fit on the stack, fewer than the limit, then more.
    for (limit, fields, ok) in [(300, 298, true), (300, 299, true), (300, 300, false)] {
        let srv = serve_once(wide_head(fields, 1));
        let s = limited(
            Limits {
                max_header_count: limit,
                ..Limits::default()
            },
            None,
        );
        match get(&s, &srv.url("/")) {
            Ok(r) => assert!(
                ok,
                "{fields} + 1 fields accepted under {limit}: {:?}",
                r.head
            ),
            Err(e) => {
                assert!(!ok, "{fields} + 1 fields refused under {limit}: {e}");
                assert_limit_error(
                    &e,
                    ProtoErrorKind::TooManyHeaders,
                    &["max_header_count (300)", "301"],
                );
            }
        }
    }
}

#[test]
fn content_length_over_max_body_bytes_fails_before_reading_the_body() {
    // The server announces a large body but never sends it: only a check on
    // the announced length can fail here without waiting for the timeout.
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n")),
        Step::Hold,
    ]]);
    let s = limited(Limits::default(), Some(1000));
    s.set_timeouts(timeouts_ms(5000));
    let e = expect_err(get(&s, &srv.url("/")));
    assert_limit_error(
        &e,
        ProtoErrorKind::BodyTooLarge,
        &["max_body_bytes", "1000", "5000000"],
    );
}

#[test]
fn body_exactly_at_max_body_bytes_is_accepted() {
    let body = "z".repeat(1000);
    let srv = Server::scripted(vec![vec![Step::Read, Step::Send(ok(&body))]]);
    let s = limited(Limits::default(), Some(1000));
    assert_eq!(get(&s, &srv.url("/")).unwrap().body.len(), 1000);
}

#[test]
fn chunked_body_over_max_body_bytes_is_body_too_large() {
    let mut wire = String::from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..5 {
        wire.push_str(&format!("100\r\n{}\r\n", "c".repeat(256)));
    }
    wire.push_str("0\r\n\r\n");
    let srv = Server::scripted(vec![vec![Step::Read, Step::Send(bytes(&wire))]]);
    let s = limited(Limits::default(), Some(1000));
    let e = expect_err(get(&s, &srv.url("/")));
    // The fourth chunk takes the body to 1024 bytes.
    assert_limit_error(
        &e,
        ProtoErrorKind::BodyTooLarge,
        &["max_body_bytes", "1000", "1024"],
    );
}

#[test]
fn close_delimited_body_over_max_body_bytes_is_body_too_large() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\n\r\n")),
        Step::Send(vec![b'd'; 3000]),
        Step::Close,
    ]]);
    let s = limited(Limits::default(), Some(1000));
    let e = expect_err(get(&s, &srv.url("/")));
    assert_limit_error(
        &e,
        ProtoErrorKind::BodyTooLarge,
        &["max_body_bytes", "1000"],
    );
}

#[test]
fn endless_close_delimited_body_stops_at_max_body_bytes() {
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes("HTTP/1.1 200 OK\r\n\r\n")),
        Step::Flood,
    ]]);
    let s = limited(Limits::default(), Some(256 * 1024));
    let e = expect_err(get(&s, &srv.url("/")));
    assert_limit_error(
        &e,
        ProtoErrorKind::BodyTooLarge,
        &["max_body_bytes", "262144"],
    );
}

#[test]
fn streamed_body_over_max_body_bytes_fails_on_read() {
    let mut wire = String::from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..3 {
        wire.push_str(&format!("200\r\n{}\r\n", "s".repeat(512)));
    }
    wire.push_str("0\r\n\r\n");
    let srv = Server::scripted(vec![vec![Step::Read, Step::Send(bytes(&wire))]]);
    let s = limited(Limits::default(), Some(1000));
    let mut st = s.open(&request("GET", &srv.url("/")), None).unwrap();
    let mut buf = [0u8; 4096];
    let mut total = 0;
    let err = loop {
        match st.read(&mut buf) {
            Ok(0) => panic!("stream ended after {} bytes without the limit", total),
            Ok(n) => total += n,
            Err(e) => break e,
        }
        assert!(total <= 1000, "{} bytes passed a 1000-byte limit", total);
    };
    assert_limit_error(
        &err,
        ProtoErrorKind::BodyTooLarge,
        &["max_body_bytes", "1000"],
    );
}

#[test]
fn chunk_size_line_longer_than_max_line_bytes_is_invalid_chunk() {
    let ext = "e".repeat(200);
    let srv = Server::scripted(vec![vec![
        Step::Read,
        Step::Send(bytes(&format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;{}\r\nok\r\n0\r\n\r\n",
            ext
        ))),
    ]]);
    let s = limited(
        Limits {
            max_line_bytes: 64,
            ..Limits::default()
        },
        None,
    );
    let e = expect_err(get(&s, &srv.url("/")));
    assert_limit_error(&e, ProtoErrorKind::InvalidChunk, &["max_line_bytes", "64"]);
}
