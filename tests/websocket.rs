//! The WebSocket client against a scripted raw server (each protocol
//! violation, a 2^63-byte header, a silent peer, a connection dropped
//! mid-frame) and against a real one (the `websockets` package; see
//! ws_support). Every wait here is bounded: sockets carry read timeouts,
//! server threads are joined, sessions use short timeouts.
mod ws_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqivo::client::ws::{connect, Message, WebSocket, WsConnectError, WsOptions};
use reqivo::client::{ClientError, Session};
use reqivo::net::{Cancel, NetErrorKind, Pool, PoolConfig, Timeouts};
use reqivo::ws::{accept_for, Kind, WsErrorKind};

const BOUND: Duration = Duration::from_secs(10);

fn session(read_ms: u64) -> Session {
    let s = Session::new(Pool::new(PoolConfig::default()));
    let t = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
    s.set_timeouts(Timeouts {
        connect: t(5000),
        read: t(read_ms),
        write: t(5000),
        total: None,
        pool: t(5000),
    });
    s
}

fn ws_kind(e: &ClientError) -> Option<WsErrorKind> {
    match e {
        ClientError::Ws(w) => Some(w.kind),
        _ => None,
    }
}

fn net_kind(e: &ClientError) -> Option<NetErrorKind> {
    match e {
        ClientError::Net(n) => Some(n.kind),
        _ => None,
    }
}

// ---------------------------------------------------------------- raw server

/// A one-connection server: answers the handshake with a correct 101, then
/// runs `script` on the socket. `script` returns what the test wants back.
struct Raw<T> {
    port: u16,
    thread: Option<JoinHandle<T>>,
}

impl<T> Raw<T> {
    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }
    fn join(mut self) -> T {
        self.thread.take().unwrap().join().expect("server thread")
    }
}

fn raw<T: Send + 'static>(script: impl FnOnce(&mut TcpStream) -> T + Send + 'static) -> Raw<T> {
    raw_with("", script)
}

/// `extra` is added to the 101 head (e.g. an extension header line).
fn raw_with<T: Send + 'static>(
    extra: &'static str,
    script: impl FnOnce(&mut TcpStream) -> T + Send + 'static,
) -> Raw<T> {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        l.set_nonblocking(true).unwrap();
        let start = Instant::now();
        let mut s = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(_) if start.elapsed() < BOUND => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("no client: {e}"),
            }
        };
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(BOUND)).unwrap();
        let head = read_head(&mut s);
        let key = key_of(&head);
        let reply = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{}\r\n",
            accept_for(&key),
            extra
        );
        s.write_all(reply.as_bytes()).unwrap();
        script(&mut s)
    });
    Raw {
        port,
        thread: Some(thread),
    }
}

/// The Sec-WebSocket-Key of a handshake request head.
fn key_of(head: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a key")
        .trim()
        .to_string()
}

fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap_or(0) == 0 {
            break;
        }
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads one client frame: (fin, opcode, unmasked payload); None at EOF.
fn read_frame(s: &mut TcpStream) -> Option<(bool, u8, Vec<u8>)> {
    read_frame_b0(s).map(|(b0, p)| (b0 & 0x80 != 0, b0 & 0x0f, p))
}

/// Reads one client frame: its first byte and unmasked payload.
fn read_frame_b0(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).ok()?;
    assert_eq!(h[1] & 0x80, 0x80, "client frames are masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).ok()?;
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).ok()?;
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut key = [0u8; 4];
    s.read_exact(&mut key).ok()?;
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).ok()?;
    for (i, b) in p.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
    Some((h[0], p))
}

/// Reads client frames until a Close; returns its code (None if empty or EOF).
fn read_close_code(s: &mut TcpStream) -> Option<u16> {
    while let Some((_, op, p)) = read_frame(s) {
        if op == 8 {
            return (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]]));
        }
    }
    None
}

fn open(url: &str, opts: &WsOptions, read_ms: u64) -> WebSocket {
    connect(&session(read_ms), url, opts, None)
        .map_err(|e| e.error)
        .expect("connects")
}

/// A server that sends `bytes` after the handshake, then reports the code
/// of the Close the client sent back.
fn violation(bytes: &'static [u8], opts: WsOptions) -> (ClientError, Option<u16>) {
    let srv = raw(move |s| {
        s.write_all(bytes).unwrap();
        read_close_code(s)
    });
    let ws = open(&srv.url(), &opts, 5000);
    let e = ws.receive(None).unwrap_err();
    // Later calls report the connection closed.
    let again = ws.receive(None).unwrap_err();
    assert_eq!(ws_kind(&again), Some(WsErrorKind::Closed), "{again}");
    assert_eq!(
        ws_kind(&ws.send(Kind::Text, b"x", None).unwrap_err()),
        Some(WsErrorKind::Closed)
    );
    (e, srv.join())
}

fn assert_violation(bytes: &'static [u8], kind: WsErrorKind, code: u16, words: &str) {
    let (e, sent) = violation(bytes, WsOptions::default());
    assert_eq!(ws_kind(&e), Some(kind), "{e}");
    assert!(e.to_string().contains(words), "{e}");
    assert_eq!(sent, Some(code), "close code sent for {e}");
}

#[test]
fn ws_masked_server_frame_closes_1002() {
    assert_violation(
        b"\x81\x81\x01\x02\x03\x04a",
        WsErrorKind::Protocol,
        1002,
        "masked",
    );
}

#[test]
fn ws_reserved_bits_close_1002() {
    assert_violation(b"\xc1\x01a", WsErrorKind::Protocol, 1002, "reserved bits");
}

#[test]
fn ws_unknown_opcode_closes_1002() {
    assert_violation(b"\x83\x00", WsErrorKind::Protocol, 1002, "opcode");
}

#[test]
fn ws_long_control_frame_closes_1002() {
    assert_violation(b"\x89\x7e\x00\x80", WsErrorKind::Protocol, 1002, "over 125");
}

#[test]
fn ws_fragmented_control_frame_closes_1002() {
    assert_violation(
        b"\x09\x00",
        WsErrorKind::Protocol,
        1002,
        "fragmented control",
    );
}

#[test]
fn ws_bad_close_code_closes_1002() {
    assert_violation(
        b"\x88\x02\x03\xed",
        WsErrorKind::Protocol,
        1002,
        "invalid code 1005",
    );
}

#[test]
fn ws_continuation_without_start_closes_1002() {
    assert_violation(b"\x80\x01a", WsErrorKind::Protocol, 1002, "continuation");
}

#[test]
fn ws_new_message_inside_fragmented_one_closes_1002() {
    assert_violation(
        b"\x01\x01a\x82\x01b",
        WsErrorKind::Protocol,
        1002,
        "unfinished",
    );
}

#[test]
fn ws_invalid_utf8_closes_1007() {
    assert_violation(b"\x81\x02\xc3\x28", WsErrorKind::InvalidUtf8, 1007, "UTF-8");
    // Split across fragments, the bad byte in the second.
    assert_violation(
        b"\x01\x01\xe2\x80\x01\x28",
        WsErrorKind::InvalidUtf8,
        1007,
        "UTF-8",
    );
}

#[test]
fn ws_length_2_pow_63_refused_before_allocation() {
    // Only the header is sent: the refusal cannot wait for a payload.
    assert_violation(
        b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00",
        WsErrorKind::Protocol,
        1002,
        "most significant bit",
    );
    // 2^63 - 1 is a legal length, over any limit: 1009.
    assert_violation(
        b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff",
        WsErrorKind::MessageTooBig,
        1009,
        "maximum frame size",
    );
}

#[test]
fn ws_frame_and_message_limits_close_1009() {
    let small = WsOptions {
        limits: reqivo::ws::Limits {
            max_frame: 4,
            max_message: 6,
        },
        ..Default::default()
    };
    let (e, code) = violation(b"\x82\x05hello", small.clone());
    assert_eq!(
        (ws_kind(&e), code),
        (Some(WsErrorKind::MessageTooBig), Some(1009))
    );
    let (e, code) = violation(b"\x02\x04abcd\x80\x04efgh", small);
    assert_eq!(
        (ws_kind(&e), code),
        (Some(WsErrorKind::MessageTooBig), Some(1009))
    );
    assert!(e.to_string().contains("maximum message size"), "{e}");
}

#[test]
fn ws_connection_dropped_mid_frame_is_an_error() {
    let srv = raw(|s| {
        s.write_all(b"\x82\x0ahalf").unwrap();
    });
    let ws = open(&srv.url(), &WsOptions::default(), 5000);
    srv.join();
    let e = ws.receive(None).unwrap_err();
    assert_eq!(net_kind(&e), Some(NetErrorKind::ConnectionClosed), "{e}");
    assert!(e.to_string().contains("middle of a frame"), "{e}");
    assert_eq!(
        ws_kind(&ws.receive(None).unwrap_err()),
        Some(WsErrorKind::Closed)
    );
}

#[test]
fn ws_connection_dropped_between_frames_is_1006() {
    let srv = raw(|s| {
        s.write_all(b"\x81\x02hi").unwrap();
    });
    let ws = open(&srv.url(), &WsOptions::default(), 5000);
    srv.join();
    assert_eq!(ws.receive(None).unwrap(), Message::Text(b"hi".to_vec()));
    let e = ws.receive(None).unwrap_err();
    assert!(e.to_string().contains("1006"), "{e}");
}

#[test]
fn ws_peer_that_stops_answering_pings_times_out() {
    let srv = raw(read_close_code);
    let opts = WsOptions {
        ping_interval: Some(Duration::from_millis(100)),
        pong_timeout: Some(Duration::from_millis(200)),
        ..Default::default()
    };
    let ws = open(&srv.url(), &opts, 0);
    let t = Instant::now();
    let e = ws.receive(None).unwrap_err();
    assert_eq!(ws_kind(&e), Some(WsErrorKind::PingTimeout), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(srv.join(), Some(1001));
}

#[test]
fn ws_caller_ping_without_pong_times_out() {
    let srv = raw(|s| {
        let (_, op, p) = read_frame(s).unwrap();
        assert_eq!((op, p.as_slice()), (9, &b"are you there"[..]));
        read_close_code(s)
    });
    let opts = WsOptions {
        pong_timeout: Some(Duration::from_millis(150)),
        ..Default::default()
    };
    let ws = open(&srv.url(), &opts, 0);
    ws.ping(b"are you there", None).unwrap();
    let e = ws.receive(None).unwrap_err();
    assert_eq!(ws_kind(&e), Some(WsErrorKind::PingTimeout), "{e}");
    assert_eq!(srv.join(), Some(1001));
}

#[test]
fn ws_pings_answered_even_inside_a_fragmented_message() {
    let srv = raw(|s| {
        s.write_all(b"\x01\x03Hel\x89\x04ping\x80\x02lo").unwrap();
        let pong = read_frame(s).unwrap();
        s.write_all(b"\x88\x02\x03\xe8").unwrap();
        let close = read_frame(s).unwrap();
        (pong, close)
    });
    let ws = open(&srv.url(), &WsOptions::default(), 5000);
    assert_eq!(ws.receive(None).unwrap(), Message::Text(b"Hello".to_vec()));
    let m = ws.receive(None).unwrap();
    assert_eq!(
        m,
        Message::Close {
            code: 1000,
            reason: String::new()
        }
    );
    let (pong, close) = srv.join();
    assert_eq!(pong, (true, 10, b"ping".to_vec()));
    // The Close echoes the server's code (RFC 6455 §5.5.1).
    assert_eq!(close, (true, 8, b"\x03\xe8".to_vec()));
}

#[test]
fn ws_empty_close_reported_as_1005() {
    let srv = raw(|s| {
        s.write_all(b"\x88\x00").unwrap();
        read_frame(s)
    });
    let ws = open(&srv.url(), &WsOptions::default(), 5000);
    assert_eq!(
        ws.receive(None).unwrap(),
        Message::Close {
            code: 1005,
            reason: String::new()
        }
    );
    assert_eq!(srv.join(), Some((true, 8, Vec::new())));
}

#[test]
fn ws_receive_timeout_leaves_connection_usable() {
    let srv = raw(|s| {
        s.write_all(b"\x01\x02ab").unwrap();
        std::thread::sleep(Duration::from_millis(400));
        s.write_all(b"\x80\x01c").unwrap();
        read_close_code(s)
    });
    let ws = open(&srv.url(), &WsOptions::default(), 100);
    let e = ws.receive(None).unwrap_err();
    assert_eq!(net_kind(&e), Some(NetErrorKind::TimeoutRead), "{e}");
    let t = Instant::now();
    let m = loop {
        match ws.receive(None) {
            Ok(m) => break m,
            Err(e) if net_kind(&e) == Some(NetErrorKind::TimeoutRead) && t.elapsed() < BOUND => {}
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(m, Message::Text(b"abc".to_vec()));
    ws.close(1000, b"", None).unwrap_err_or_ok();
    assert_eq!(srv.join(), Some(1000));
}

trait Settle {
    fn unwrap_err_or_ok(self);
}

impl Settle for Result<(), ClientError> {
    /// The close handshake may end in the server's silence (a read
    /// timeout) in scripts that never answer; either outcome is fine.
    fn unwrap_err_or_ok(self) {}
}

#[test]
fn ws_cancel_ends_a_receive() {
    let srv = raw(read_close_code);
    let ws = Arc::new(open(&srv.url(), &WsOptions::default(), 0));
    let cancel = Arc::new(Cancel::new().unwrap());
    let c = cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        c.trigger();
    });
    let e = ws.receive(Some(&cancel)).unwrap_err();
    assert_eq!(net_kind(&e), Some(NetErrorKind::Cancelled), "{e}");
    t.join().unwrap();
    drop(ws);
    srv.join();
}

#[test]
fn ws_bad_accept_fails_the_handshake() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(BOUND)).unwrap();
        read_head(&mut s);
        s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n").unwrap();
    });
    let r = connect(
        &session(5000),
        &format!("ws://127.0.0.1:{port}/"),
        &WsOptions::default(),
        None,
    );
    let Err(WsConnectError { error, refused }) = r else {
        panic!("connected")
    };
    assert_eq!(ws_kind(&error), Some(WsErrorKind::Handshake), "{error}");
    assert!(
        error.to_string().contains("Sec-WebSocket-Accept"),
        "{error}"
    );
    assert!(refused.is_none());
    t.join().unwrap();
}

// --------------------------------------------------------------- real server

macro_rules! server {
    () => {
        match ws_support::start() {
            Some(s) => s,
            None => return,
        }
    };
}

#[test]
fn ws_echo_text_and_binary_0_to_16_mib() {
    let srv = server!();
    let ws = open(&srv.url("/echo"), &WsOptions::default(), 20000);
    for len in [0usize, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.send(Kind::Binary, &data, None).unwrap();
        assert_eq!(
            ws.receive(None).unwrap(),
            Message::Binary(data),
            "binary {len}"
        );
        let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        ws.send(Kind::Text, text.as_bytes(), None).unwrap();
        assert_eq!(
            ws.receive(None).unwrap(),
            Message::Text(text.into_bytes()),
            "text {len}"
        );
    }
    ws.close(1000, b"done", None).unwrap();
}

#[test]
fn ws_fragmented_sends_are_reassembled_by_the_server() {
    let srv = server!();
    let ws = open(&srv.url("/echo"), &WsOptions::default(), 5000);
    let text = "fragments: κόσμε €".as_bytes();
    // Split inside the two-byte 'κ' and the three-byte '€'.
    let cut1 = text.iter().position(|&b| b == 0xce).unwrap() + 1;
    let cut2 = text.len() - 2;
    ws.send_fragment(Kind::Text, &text[..cut1], false, None)
        .unwrap();
    ws.send_fragment(Kind::Text, &text[cut1..cut2], false, None)
        .unwrap();
    ws.send_fragment(Kind::Text, &text[cut2..], true, None)
        .unwrap();
    assert_eq!(ws.receive(None).unwrap(), Message::Text(text.to_vec()));
    ws.send_fragment(Kind::Binary, b"ab", false, None).unwrap();
    // A whole message cannot start inside a fragmented one, nor another kind.
    assert!(ws.send(Kind::Binary, b"x", None).is_err());
    assert!(ws.send_fragment(Kind::Text, b"x", true, None).is_err());
    ws.send_fragment(Kind::Binary, b"", false, None).unwrap();
    ws.send_fragment(Kind::Binary, b"cd", true, None).unwrap();
    assert_eq!(ws.receive(None).unwrap(), Message::Binary(b"abcd".to_vec()));
    // Invalid text is refused before it is sent.
    assert!(ws.send(Kind::Text, b"\xff", None).is_err());
    ws.close(1000, b"", None).unwrap();
}

#[test]
fn ws_ping_is_answered_before_the_pong_deadline() {
    let srv = server!();
    let opts = WsOptions {
        pong_timeout: Some(Duration::from_millis(500)),
        ping_interval: Some(Duration::from_millis(50)),
        ..Default::default()
    };
    let ws = open(&srv.url("/echo"), &opts, 5000);
    ws.ping(b"payload", None).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    ws.send(Kind::Text, b"still here", None).unwrap();
    assert_eq!(
        ws.receive(None).unwrap(),
        Message::Text(b"still here".to_vec())
    );
    ws.close(1000, b"", None).unwrap();
}

#[test]
fn ws_close_codes_both_ways() {
    let srv = server!();
    let ws = open(&srv.url("/echo"), &WsOptions::default(), 5000);
    ws.close(4001, "bye ☺".as_bytes(), None).unwrap();
    assert_eq!(
        ws_kind(&ws.send(Kind::Text, b"x", None).unwrap_err()),
        Some(WsErrorKind::Closed)
    );
    ws.close(1000, b"", None).unwrap(); // a second close does nothing
    drop(ws);
    // The server records the code once its side of the close is done:
    // ask until it has (bounded).
    let t = Instant::now();
    let seen = loop {
        let check = open(&srv.url("/last-close"), &WsOptions::default(), 5000);
        let m = check.receive(None).unwrap();
        check.close(1000, b"", None).unwrap();
        if m != Message::Text(b"none".to_vec()) || t.elapsed() > BOUND {
            break m;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(seen, Message::Text("4001 bye ☺".as_bytes().to_vec()));

    let ws = open(
        &srv.url("/close?code=4002&reason=server%20done"),
        &WsOptions::default(),
        5000,
    );
    ws.send(Kind::Text, b"go", None).unwrap();
    assert_eq!(
        ws.receive(None).unwrap(),
        Message::Close {
            code: 4002,
            reason: "server done".into()
        }
    );
    assert_eq!(
        ws_kind(&ws.receive(None).unwrap_err()),
        Some(WsErrorKind::Closed)
    );
    // Invalid codes are refused before anything is sent.
    let ws = open(&srv.url("/echo"), &WsOptions::default(), 5000);
    assert!(ws.close(1005, b"", None).is_err());
    assert!(ws.close(1000, &[b'x'; 124], None).is_err());
    ws.close(1000, b"", None).unwrap();
}

#[test]
fn ws_subprotocol_selection() {
    let srv = server!();
    let mut opts = WsOptions::default();
    opts.add_protocol("x-unknown").unwrap();
    opts.add_protocol("superchat").unwrap();
    opts.add_protocol("chat").unwrap();
    let ws = open(&srv.url("/echo"), &opts, 5000);
    assert_eq!(ws.protocol().as_deref(), Some("superchat"));
    ws.close(1000, b"", None).unwrap();
    let ws = open(&srv.url("/echo"), &WsOptions::default(), 5000);
    assert_eq!(ws.protocol(), None);
    ws.close(1000, b"", None).unwrap();
}

#[test]
fn ws_handshake_carries_session_and_option_headers() {
    let srv = server!();
    let s = session(5000);
    s.set_header("X-Session", "s1").unwrap();
    s.set_bearer_token("tok").unwrap();
    let mut opts = WsOptions::default();
    opts.add_header("X-Conn", "c1").unwrap();
    let ws = connect(&s, &srv.url("/headers"), &opts, None)
        .map_err(|e| e.error)
        .unwrap();
    let Message::Text(t) = ws.receive(None).unwrap() else {
        panic!()
    };
    let t = String::from_utf8(t).unwrap();
    for want in [
        "\"x-session\": \"s1\"",
        "\"x-conn\": \"c1\"",
        "\"authorization\": \"Bearer tok\"",
        "\"sec-websocket-version\": \"13\"",
    ] {
        assert!(t.contains(want), "{want} in {t}");
    }
    ws.close(1000, b"", None).unwrap();
    // The connection left the pool for good.
    let st = s.pool().stats();
    assert_eq!((st.in_use, st.idle), (0, 0));
}

#[test]
fn ws_non_101_answer_is_returned_with_the_error() {
    let srv = server!();
    let r = connect(
        &session(5000),
        &srv.url("/reject"),
        &WsOptions::default(),
        None,
    );
    let Err(WsConnectError { error, refused }) = r else {
        panic!("connected")
    };
    assert_eq!(ws_kind(&error), Some(WsErrorKind::Handshake));
    assert!(error.to_string().contains("403"), "{error}");
    let resp = refused.expect("the 403 response");
    assert_eq!(resp.head.status, 403);
    assert_eq!(resp.body, b"not here\n");
}

#[test]
fn ws_thousand_round_trips_on_one_connection() {
    let srv = server!();
    let ws = open(&srv.url("/echo"), &WsOptions::default(), 5000);
    for i in 0..1000 {
        let msg = format!("message {i}");
        ws.send(Kind::Text, msg.as_bytes(), None).unwrap();
        assert_eq!(ws.receive(None).unwrap(), Message::Text(msg.into_bytes()));
    }
    ws.close(1000, b"", None).unwrap();
}

#[test]
fn ws_one_thread_sends_while_another_receives() {
    let srv = server!();
    let ws = Arc::new(open(&srv.url("/echo"), &WsOptions::default(), 5000));
    let n = 300;
    let sender = {
        let ws = ws.clone();
        std::thread::spawn(move || {
            for i in 0..n {
                let data = vec![(i % 256) as u8; 1000 + i * 37];
                ws.send(Kind::Binary, &data, None).unwrap();
            }
        })
    };
    for i in 0..n {
        let want = vec![(i % 256) as u8; 1000 + i * 37];
        assert_eq!(
            ws.receive(None).unwrap(),
            Message::Binary(want),
            "message {i}"
        );
    }
    sender.join().unwrap();
    ws.close(1000, b"", None).unwrap();
}

// ------------------------------------------------------ permessage-deflate

fn deflate_opts(reset: bool) -> WsOptions {
    WsOptions {
        deflate: Some(reqivo::ws::DeflateOffer {
            server_no_context_takeover: reset,
            client_no_context_takeover: reset,
            server_max_window_bits: None,
        }),
        ..Default::default()
    }
}

#[test]
fn ws_deflate_echo_with_and_without_context_takeover() {
    let Some(srv) = ws_support::start_deflate() else {
        return;
    };
    for reset in [false, true] {
        let ws = open(&srv.url("/echo"), &deflate_opts(reset), 20000);
        let p = ws.deflate().expect("negotiated");
        assert_eq!(p.server_no_context_takeover, reset);
        for len in [0usize, 10, 64, 1000, 1 << 20, 16 << 20] {
            let text: String = (0..len).map(|i| (b'a' + (i % 7) as u8) as char).collect();
            ws.send(Kind::Text, text.as_bytes(), None).unwrap();
            assert_eq!(
                ws.receive(None).unwrap(),
                Message::Text(text.into_bytes()),
                "{len}"
            );
        }
        // Incompressible bytes, and fragments (sent uncompressed).
        let noise: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        ws.send(Kind::Binary, &noise, None).unwrap();
        assert_eq!(ws.receive(None).unwrap(), Message::Binary(noise));
        ws.send_fragment(Kind::Text, b"frag", false, None).unwrap();
        ws.send_fragment(Kind::Text, b"ments", true, None).unwrap();
        assert_eq!(
            ws.receive(None).unwrap(),
            Message::Text(b"fragments".to_vec())
        );
        ws.close(1000, b"", None).unwrap();
    }
    // Not offered: not used, even by a server that supports it.
    let ws = open(&srv.url("/echo"), &WsOptions::default(), 5000);
    assert_eq!(ws.deflate(), None);
    ws.close(1000, b"", None).unwrap();
}

#[test]
fn ws_deflate_inflated_size_counts_against_the_message_limit() {
    let Some(srv) = ws_support::start_deflate() else {
        return;
    };
    let mut opts = deflate_opts(false);
    opts.limits = reqivo::ws::Limits {
        max_frame: 1 << 20,
        max_message: 100_000,
    };
    let ws = open(&srv.url("/echo"), &opts, 5000);
    // Sent compressed (small on the wire), echoed compressed: the server's
    // frame passes the frame limit, its inflated size does not.
    ws.send(Kind::Binary, &vec![0u8; 200_000], None).unwrap();
    let e = ws.receive(None).unwrap_err();
    assert_eq!(ws_kind(&e), Some(WsErrorKind::MessageTooBig), "{e}");
    assert!(e.to_string().contains("inflates"), "{e}");
}

#[test]
fn ws_deflate_rsv1_without_negotiation_closes_1002() {
    // RFC 7692 §7.2.3.1 "Hello" compressed, from a server that never
    // agreed to the extension.
    assert_violation(
        b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00",
        WsErrorKind::Protocol,
        1002,
        "reserved bits",
    );
}

#[test]
fn ws_deflate_frames_on_the_wire() {
    let srv = raw_with(
        "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n",
        |s| {
            let big = read_frame_b0(s).unwrap();
            let small = read_frame_b0(s).unwrap();
            // RFC 7692 §7.2.3.1 "Hello", compressed.
            s.write_all(b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00")
                .unwrap();
            read_close_code(s);
            (big, small)
        },
    );
    let ws = open(&srv.url(), &deflate_opts(false), 5000);
    let p = ws.deflate().unwrap();
    assert!(p.client_no_context_takeover && !p.server_no_context_takeover);
    let text = "compress me ".repeat(100);
    ws.send(Kind::Text, text.as_bytes(), None).unwrap();
    ws.send(Kind::Text, b"short", None).unwrap();
    assert_eq!(ws.receive(None).unwrap(), Message::Text(b"Hello".to_vec()));
    ws.close(1000, b"", None).unwrap();
    let ((b0, z), (b0_small, plain)) = srv.join();
    assert_eq!(b0, 0xc1, "FIN, RSV1, text");
    assert!(z.len() < text.len() / 4, "{} bytes", z.len());
    let mut inflater = reqivo::ws::Inflater::new(&p);
    assert_eq!(inflater.inflate(&z, u64::MAX).unwrap(), text.as_bytes());
    assert_eq!((b0_small, plain.as_slice()), (0x81, &b"short"[..]));
}

#[test]
fn ws_deflate_unasked_extension_fails_the_handshake() {
    let srv = raw_with("Sec-WebSocket-Extensions: permessage-deflate\r\n", |_| ());
    let r = connect(&session(5000), &srv.url(), &WsOptions::default(), None);
    let e = r.err().expect("refused").error;
    assert_eq!(ws_kind(&e), Some(WsErrorKind::Handshake), "{e}");
    srv.join();
}

#[test]
fn ws_close_wait_is_bounded_without_a_read_timeout() {
    // The server takes the Close and never answers it.
    let srv = raw(|s| {
        let code = read_close_code(s);
        std::thread::sleep(Duration::from_secs(7));
        code
    });
    let ws = open(&srv.url(), &WsOptions::default(), 0);
    let t = Instant::now();
    let e = ws.close(1000, b"", None).unwrap_err();
    assert_eq!(net_kind(&e), Some(NetErrorKind::TimeoutRead), "{e}");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(7),
        "{took:?}"
    );
    // Sent, so sending again is refused.
    assert_eq!(
        ws_kind(&ws.send(Kind::Text, b"x", None).unwrap_err()),
        Some(WsErrorKind::Closed)
    );
    drop(ws);
    assert_eq!(srv.join(), Some(1000));
}

// ---------------------------------------------------------------- reconnect

type Script = Box<dyn FnOnce(&mut TcpStream) -> Vec<Vec<u8>> + Send>;

/// A server that answers one handshake per script, in order, on fresh
/// connections, then stops listening (later connects are refused). Each
/// script returns the client frames it read, for the test to check.
fn raw_multi(scripts: Vec<Script>) -> Raw<Vec<Vec<Vec<u8>>>> {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        l.set_nonblocking(true).unwrap();
        let mut seen = Vec::new();
        for script in scripts {
            let start = Instant::now();
            let mut s = loop {
                match l.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if start.elapsed() < BOUND => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(e) => panic!("no client: {e}"),
                }
            };
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(BOUND)).unwrap();
            let head = read_head(&mut s);
            let key = key_of(&head);
            let reply = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                accept_for(&key)
            );
            s.write_all(reply.as_bytes()).unwrap();
            seen.push(script(&mut s));
        }
        seen
    });
    Raw {
        port,
        thread: Some(thread),
    }
}

/// Reads text/binary payloads until the client's Close or EOF.
fn read_messages(s: &mut TcpStream) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    while let Some((_, op, p)) = read_frame(s) {
        match op {
            1 | 2 => got.push(p),
            8 => break,
            _ => {}
        }
    }
    got
}

type Attempts = Arc<std::sync::Mutex<Vec<(u32, bool)>>>;

fn reconnecting(max_attempts: u32) -> (WsOptions, Attempts) {
    let seen: Attempts = Arc::default();
    let log = seen.clone();
    let opts = WsOptions {
        reconnect: Some(reqivo::client::ws::Reconnect {
            max_attempts,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            on_attempt: Some(Arc::new(move |n, e| {
                log.lock().unwrap().push((n, e.is_none()));
            })),
        }),
        ..Default::default()
    };
    (opts, seen)
}

#[test]
fn ws_reconnect_after_a_drop_mid_frame() {
    let srv = raw_multi(vec![
        Box::new(|s| {
            s.write_all(b"\x82\x0ahalf").unwrap();
            Vec::new()
        }),
        Box::new(|s| {
            s.write_all(b"\x81\x05again").unwrap();
            read_messages(s)
        }),
    ]);
    let (opts, attempts) = reconnecting(3);
    let ws = open(&srv.url(), &opts, 5000);
    assert_eq!(ws.receive(None).unwrap(), Message::Text(b"again".to_vec()));
    assert_eq!(ws.reconnects(), 1);
    assert_eq!(*attempts.lock().unwrap(), vec![(1, true)]);
    ws.send(Kind::Text, b"on the new one", None).unwrap();
    ws.close(1000, b"", None).unwrap_err_or_ok();
    let seen = srv.join();
    assert_eq!(seen[1], vec![b"on the new one".to_vec()]);
}

#[test]
fn ws_failed_send_is_reported_and_never_replayed() {
    let srv = raw_multi(vec![
        Box::new(|s| {
            let _ = s.shutdown(std::net::Shutdown::Both);
            Vec::new()
        }),
        Box::new(read_messages),
    ]);
    let (opts, attempts) = reconnecting(3);
    let ws = open(&srv.url(), &opts, 5000);
    // Writes into a connection the server closed fail within a few tries.
    let mut failed = None;
    for i in 0..200 {
        match ws.send(Kind::Text, format!("lost {i}").as_bytes(), None) {
            Ok(()) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        if ws.reconnects() > 0 {
            break;
        }
    }
    // Either a send failed (and was reported), or the loss was found by
    // the next send, which reconnected first; nothing is sent twice.
    if let Some(e) = &failed {
        assert!(net_kind(e).is_some(), "{e}");
    }
    ws.send(Kind::Text, b"after", None).unwrap();
    assert_eq!(ws.reconnects(), 1);
    assert_eq!(attempts.lock().unwrap().len(), 1);
    ws.close(1000, b"", None).unwrap_err_or_ok();
    let seen = srv.join();
    assert_eq!(
        seen[1],
        vec![b"after".to_vec()],
        "only the message sent after"
    );
}

#[test]
fn ws_reconnect_gives_up_after_max_attempts() {
    let srv = raw_multi(vec![Box::new(|s| {
        s.write_all(b"\x82\x0ahalf").unwrap();
        Vec::new()
    })]);
    let (opts, attempts) = reconnecting(3);
    let ws = open(&srv.url(), &opts, 5000);
    srv.join(); // the listener is gone: every attempt is refused
    let e = ws.receive(None).unwrap_err();
    assert_eq!(net_kind(&e), Some(NetErrorKind::ConnectRefused), "{e}");
    assert_eq!(
        *attempts.lock().unwrap(),
        vec![(1, false), (2, false), (3, false)]
    );
    let again = ws.receive(None).unwrap_err();
    assert_eq!(ws_kind(&again), Some(WsErrorKind::Closed), "{again}");
    assert!(again.to_string().contains("gave up"), "{again}");
}

#[test]
fn ws_no_reconnect_after_a_violation() {
    let srv = raw_multi(vec![Box::new(|s| {
        s.write_all(b"\x81\x81\x01\x02\x03\x04a").unwrap();
        read_messages(s)
    })]);
    let (opts, attempts) = reconnecting(3);
    let ws = open(&srv.url(), &opts, 5000);
    assert_eq!(
        ws_kind(&ws.receive(None).unwrap_err()),
        Some(WsErrorKind::Protocol)
    );
    assert_eq!(
        ws_kind(&ws.receive(None).unwrap_err()),
        Some(WsErrorKind::Closed)
    );
    assert_eq!(ws.reconnects(), 0);
    assert!(attempts.lock().unwrap().is_empty());
    srv.join();
}

#[test]
fn ws_reconnect_against_the_real_server() {
    let srv = server!();
    let (opts, attempts) = reconnecting(3);
    let ws = open(&srv.url("/drop-once?id=rust"), &opts, 5000);
    assert_eq!(ws.receive(None).unwrap(), Message::Text(b"again".to_vec()));
    assert_eq!(*attempts.lock().unwrap(), vec![(1, true)]);
    ws.send(Kind::Text, b"echo", None).unwrap();
    assert_eq!(ws.receive(None).unwrap(), Message::Text(b"echo".to_vec()));
    ws.close(1000, b"", None).unwrap();
}

#[test]
fn ws_handshake_stores_and_sends_session_cookies() {
    let first = raw_with("Set-Cookie: sid=abc; Path=/\r\n", |_| ());
    let s = session(5000);
    let ws = connect(&s, &first.url(), &WsOptions::default(), None)
        .map_err(|e| e.error)
        .unwrap();
    drop(ws);
    first.join();
    // A second server on the same host records the next handshake's head.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(BOUND)).unwrap();
        read_head(&mut c)
    });
    let r = connect(
        &s,
        &format!("ws://127.0.0.1:{port}/"),
        &WsOptions::default(),
        None,
    );
    assert!(r.is_err(), "the second server never answers");
    let head = t.join().unwrap();
    assert!(head.contains("Cookie: sid=abc\r\n"), "{head}");
    assert!(head.contains("Upgrade: websocket\r\n"), "{head}");
    assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
}

#[test]
fn ws_two_senders_large_messages_never_interleave() {
    let Some(srv) = ws_support::start_deflate() else {
        return;
    };
    for opts in [WsOptions::default(), deflate_opts(false)] {
        let ws = Arc::new(open(&srv.url("/echo"), &opts, 20000));
        let per = 12usize;
        let body = |who: u8, i: usize| -> Vec<u8> {
            let len = 1 + i * 170_000;
            let mut v: Vec<u8> = (0..len).map(|j| (j % 241) as u8).collect();
            v[0] = who;
            v
        };
        let senders: Vec<_> = [1u8, 2]
            .into_iter()
            .map(|who| {
                let ws = ws.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        ws.send(Kind::Binary, &body(who, i), None).unwrap();
                    }
                })
            })
            .collect();
        let mut next = [0usize; 3];
        for _ in 0..2 * per {
            let Message::Binary(m) = ws.receive(None).unwrap() else {
                panic!("not binary")
            };
            let who = m[0];
            assert!(who == 1 || who == 2, "sender tag {who}");
            assert_eq!(m, body(who, next[who as usize]), "sender {who}");
            next[who as usize] += 1;
        }
        for s in senders {
            s.join().unwrap();
        }
        ws.close(1000, b"", None).unwrap();
    }
}

/// Dials through the multi keep what the blocking dial does with the
/// 101: its Set-Cookie goes to the session's jar (the next handshake
/// sends it), and a frame that came in the same segment as the head is
/// the connection's first message, not lost with the transfer's buffer.
#[test]
fn multi_dial_keeps_cookies_and_bytes_past_the_head() {
    use reqivo::client::multi::Multi;
    use reqivo::client::ws::Dial;
    use reqivo::client::ToResponse;

    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut heads = Vec::new();
        for _ in 0..2 {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(BOUND)).unwrap();
            let head = read_head(&mut s);
            let key = key_of(&head);
            let mut reply = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nSet-Cookie: seen=1; Path=/\r\n\r\n",
                accept_for(&key)
            )
            .into_bytes();
            reply.extend_from_slice(b"\x81\x05early");
            s.write_all(&reply).unwrap();
            heads.push(head);
            let mut sink = [0u8; 256];
            while s.read(&mut sink).unwrap_or(0) > 0 {}
        }
        heads
    });
    let s = session(5000);
    let mut m: Multi<ToResponse> = Multi::new().unwrap();
    let h = m.handle();
    let url = format!("ws://127.0.0.1:{port}/chat");
    let mut dial_once = |user: usize| -> WebSocket {
        let dial = Dial::new(&url, &WsOptions::default()).unwrap();
        h.add_ws(&s, dial, None, ToResponse, user).unwrap();
        let start = Instant::now();
        loop {
            m.poll(Some(Duration::from_millis(100))).unwrap();
            if let Some(d) = m.next_done() {
                assert_eq!(d.user, user);
                assert_eq!(d.result.unwrap().head.status, 101);
                return d.ws.expect("an outcome").unwrap();
            }
            assert!(start.elapsed() < BOUND, "dial {user} did not end");
        }
    };
    let first = dial_once(1);
    assert_eq!(
        first.receive(None).unwrap(),
        Message::Text(b"early".to_vec())
    );
    drop(first);
    let second = dial_once(2);
    assert_eq!(
        second.receive(None).unwrap(),
        Message::Text(b"early".to_vec())
    );
    drop(second);
    let heads = server.join().unwrap();
    assert!(
        !heads[0].to_ascii_lowercase().contains("cookie:"),
        "{}",
        heads[0]
    );
    assert!(heads[1].contains("Cookie: seen=1\r\n"), "{}", heads[1]);
}
