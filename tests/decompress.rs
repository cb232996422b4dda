//! gzip, deflate, br and zstd response bodies, buffered and streamed (from
//! a blocking session and from the multi), and the decoded-size limit that
//! stops a compression bomb. br and zstd bodies are made by the brotli and
//! zstd command-line tools (Debian packages `brotli` and `zstd`, which
//! `make deps-system` installs).
mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::Compression;
use reqivo::client::ClientError;
use reqivo::proto::{Limits, ProtoErrorKind};
use support::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn coded(encoding: &str, body: &[u8]) -> Vec<u8> {
    response("200 OK", &[("Content-Encoding", encoding)], body)
}

fn text_body() -> Vec<u8> {
    b"reqivo decodes gzip and deflate bodies. ".repeat(500)
}

#[test]
fn gzip_body_is_decoded_and_accept_encoding_sent() {
    let body = text_body();
    let wire = coded("gzip", &gzip(&body));
    let srv = Server::serve(move |_| wire.clone());
    let resp = get(&session(), &srv.url("/g")).unwrap();
    assert_eq!(resp.body, body);
    assert!(resp.decompressed);
    assert_eq!(
        header(&resp, "content-encoding").as_deref(),
        Some("gzip"),
        "headers stay as received"
    );
    assert_eq!(
        srv.requests()[0].header("accept-encoding"),
        Some("gzip, deflate, br, zstd")
    );
}

#[test]
fn deflate_body_is_decoded_zlib_or_raw() {
    let body = text_body();
    for wire_body in [zlib(&body), raw_deflate(&body)] {
        let wire = coded("deflate", &wire_body);
        let srv = Server::serve(move |_| wire.clone());
        let resp = get(&session(), &srv.url("/d")).unwrap();
        assert_eq!(resp.body, body);
        assert!(resp.decompressed);
    }
}

#[test]
fn gzip_stream_is_decoded_in_small_reads() {
    let body = text_body();
    let wire = response(
        "200 OK",
        &[
            ("Content-Encoding", "gzip"),
            ("Transfer-Encoding", "chunked"),
        ],
        b"",
    );
    let gz = gzip(&body);
    let mut chunked = wire[..wire.len()].to_vec();
    // response() wrote a Content-Length; build the chunked message by hand.
    chunked.clear();
    chunked.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for piece in gz.chunks(100) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let srv = Server::serve(move |_| chunked.clone());
    let s = session();
    let mut st = s.open(&request("GET", &srv.url("/s")), None).unwrap();
    assert!(st.response().decompressed);
    let mut out = Vec::new();
    let mut buf = [0u8; 37];
    for _ in 0..100_000 {
        let n = st.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out, body);
    assert!(st.is_done());
    drop(st);
    // The connection went back to the pool once the body ended.
    assert!(get(&s, &srv.url("/again")).unwrap().reused);
}

/// 10 MiB of gzip members, each 1 MiB of zeros: about 10 GiB decoded.
fn bomb() -> Vec<u8> {
    let member = gzip(&vec![0u8; 1 << 20]);
    let count = (10 << 20) / member.len();
    member.repeat(count)
}

#[test]
fn gzip_bomb_stops_at_the_body_limit() {
    let wire = coded("gzip", &bomb());
    let srv = Server::serve(move |_| wire.clone());
    let s = session();
    s.set_limits(Limits::default(), Some(16 << 20));
    let e = expect_err(get(&s, &srv.url("/bomb")));
    assert_eq!(proto_kind(&e), Some(ProtoErrorKind::BodyTooLarge), "{e:?}");
    assert!(e.message().contains("decoded"), "{}", e.message());

    let mut st = s.open(&request("GET", &srv.url("/bomb")), None).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    let err = loop {
        match st.read(&mut buf) {
            Ok(0) => panic!("the bomb ended after {} bytes", total),
            Ok(n) => total += n as u64,
            Err(e) => break e,
        }
        assert!(total <= 17 << 20, "read past the limit");
    };
    assert_eq!(
        proto_kind(&err),
        Some(ProtoErrorKind::BodyTooLarge),
        "{err:?}"
    );
}

#[test]
fn corrupt_gzip_is_a_decompression_error() {
    let mut gz = gzip(&text_body());
    let mid = gz.len() / 2;
    gz[mid] ^= 0xff;
    gz[mid + 1] ^= 0xff;
    let wire = coded("gzip", &gz);
    let srv = Server::serve(move |_| wire.clone());
    let e = expect_err(get(&session(), &srv.url("/bad")));
    assert_eq!(proto_kind(&e), Some(ProtoErrorKind::Decompression), "{e:?}");
}

#[test]
fn decompression_off_sends_no_accept_encoding_and_keeps_bytes() {
    let gz = gzip(&text_body());
    let wire = coded("gzip", &gz);
    let srv = Server::serve(move |_| wire.clone());
    let s = session();
    s.set_decompress(false);
    let resp = get(&s, &srv.url("/raw")).unwrap();
    assert_eq!(resp.body, gz);
    assert!(!resp.decompressed);
    assert_eq!(srv.requests()[0].header("accept-encoding"), None);
}

/// `body` encoded by each coding in `chain`, in order (the order
/// Content-Encoding lists them).
fn encode_chain(chain: &[&str], body: &[u8]) -> Vec<u8> {
    chain.iter().fold(body.to_vec(), |b, c| match *c {
        "gzip" => gzip(&b),
        "deflate" => zlib(&b),
        "raw" => raw_deflate(&b),
        "br" => brotli(&b),
        "zstd" => zstd(&b),
        other => panic!("no coding {other}"),
    })
}

#[test]
fn coding_chains_up_to_five_layers_are_decoded() {
    let body = text_body();
    for chain in [
        &["gzip"][..],
        &["gzip", "gzip"],
        &["deflate", "gzip"],
        &["gzip", "raw", "deflate", "gzip", "gzip"],
        &["gzip", "br"],
        &["br", "zstd"],
        &["zstd", "deflate", "br", "gzip", "zstd"],
    ] {
        let listed = chain
            .iter()
            .map(|c| if *c == "raw" { "deflate" } else { c })
            .collect::<Vec<_>>()
            .join(", ");
        let wire = coded(&listed, &encode_chain(chain, &body));
        let srv = Server::serve(move |_| wire.clone());
        let s = session();
        let resp = get(&s, &srv.url("/chain")).unwrap_or_else(|e| panic!("{listed}: {e}"));
        assert_eq!(resp.body, body, "{listed}");
        assert!(resp.decompressed);
        // Streamed, in small reads.
        let mut st = s.open(&request("GET", &srv.url("/chain")), None).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 333];
        for _ in 0..100_000 {
            match st.read(&mut buf).unwrap() {
                0 => break,
                n => out.extend_from_slice(&buf[..n]),
            }
        }
        assert_eq!(out, body, "{listed}, streamed");
    }
}

#[test]
fn a_chain_of_six_codings_is_a_decompression_error() {
    let chain = ["gzip"; 6];
    let wire = coded(&chain.join(", "), &encode_chain(&chain, &text_body()));
    let srv = Server::serve(move |_| wire.clone());
    let s = session();
    let e = expect_err(get(&s, &srv.url("/six")));
    assert_eq!(proto_kind(&e), Some(ProtoErrorKind::Decompression), "{e:?}");
    assert!(e.message().contains("6 content codings"), "{}", e.message());
    let Err(e) = s.open(&request("GET", &srv.url("/six")), None) else {
        panic!("a stream of six codings opened");
    };
    assert_eq!(proto_kind(&e), Some(ProtoErrorKind::Decompression), "{e:?}");
}

#[test]
fn a_five_layer_bomb_stops_at_the_body_limit() {
    // 64 MiB of zeros through five gzip layers is a few kilobytes.
    let mut layer = gzip(&vec![0u8; 64 << 20]);
    for _ in 0..4 {
        layer = gzip(&layer);
    }
    let wire = coded("gzip, gzip, gzip, gzip, gzip", &layer);
    let srv = Server::serve(move |_| wire.clone());
    let s = session();
    s.set_limits(Limits::default(), Some(1 << 20));
    let e = expect_err(get(&s, &srv.url("/bomb5")));
    assert_eq!(proto_kind(&e), Some(ProtoErrorKind::BodyTooLarge), "{e:?}");
    assert!(
        e.message().contains("max_body_bytes (1048576)"),
        "{}",
        e.message()
    );
}

#[test]
fn unknown_codings_are_left_alone() {
    let wire = coded("compress", b"not really LZW");
    let srv = Server::serve(move |_| wire.clone());
    let resp = get(&session(), &srv.url("/lzw")).unwrap();
    assert_eq!(resp.body, b"not really LZW");
    assert!(!resp.decompressed);
}

// ------------------------------------------------------------- br and zstd

/// `data` through a command-line compressor (stdin to stdout).
fn run_tool(tool: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{tool}: {e} (Debian package {tool}; `make deps-system` installs it)")
        });
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    writer.join().unwrap().unwrap();
    assert!(child.wait().unwrap().success(), "{tool} {args:?} failed");
    out
}

fn brotli(data: &[u8]) -> Vec<u8> {
    run_tool("brotli", &["-c", "-q", "6"], data)
}

/// zstd at its default level, with its default checksum; from stdin the
/// size is unknown, so the frame has a window (2 MiB) and many blocks.
fn zstd(data: &[u8]) -> Vec<u8> {
    run_tool("zstd", &["-q", "-c"], data)
}

fn compressed(coding: &str, data: &[u8]) -> Vec<u8> {
    match coding {
        "br" => brotli(data),
        "zstd" => zstd(data),
        other => panic!("no coding {other}"),
    }
}

/// 3 MiB of words in a pseudo-random order: compressible, but not so
/// much that it fits a window or a handful of blocks.
fn words_body() -> Vec<u8> {
    let words = [
        "reqivo", "decodes", "brotli", "and", "zstd", "bodies", "from", "the", "wire", "in",
        "pieces", "of", "any", "size", "window", "block", "frame", "limit",
    ];
    let mut rng = Rng(0x5eed_0b70);
    let mut out = Vec::with_capacity(3 << 20);
    while out.len() < 3 << 20 {
        out.extend_from_slice(words[rng.below(words.len() as u64) as usize].as_bytes());
        out.push(if rng.below(12) == 0 { b'\n' } else { b' ' });
    }
    out
}

/// Reads a stream to its end in reads of `step` bytes.
fn read_stream(st: &mut reqivo::client::Stream, step: usize) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; step];
    loop {
        match st.read(&mut buf)? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn br_and_zstd_bodies_are_decoded_buffered_and_streamed() {
    let body = words_body();
    for coding in ["br", "zstd"] {
        let encoded = compressed(coding, &body);
        assert!(encoded.len() < body.len() / 3, "{coding} compressed");
        let wire = coded(coding, &encoded);
        let srv = Server::serve(move |_| wire.clone());
        let s = session();
        let resp = get(&s, &srv.url("/b")).unwrap_or_else(|e| panic!("{coding}: {e}"));
        assert!(resp.body == body, "{coding}: decoded body differs");
        assert!(resp.decompressed);
        assert_eq!(header(&resp, "content-encoding").as_deref(), Some(coding));
        assert_eq!(
            srv.requests()[0].header("accept-encoding"),
            Some("gzip, deflate, br, zstd")
        );
        // Streamed, in reads of 37 bytes and of 64 KiB.
        for step in [37, 64 << 10] {
            let mut st = s.open(&request("GET", &srv.url("/s")), None).unwrap();
            assert!(st.response().decompressed);
            let out = read_stream(&mut st, step).unwrap_or_else(|e| panic!("{coding}: {e}"));
            assert!(
                out == body,
                "{coding}, reads of {step}: streamed body differs"
            );
            assert!(st.is_done());
        }
        // The connection went back to the pool once the body ended.
        assert!(get(&s, &srv.url("/again")).unwrap().reused, "{coding}");
    }
}

#[test]
fn br_and_zstd_chunked_in_small_pieces_are_decoded() {
    let body = words_body();
    for coding in ["br", "zstd"] {
        let encoded = compressed(coding, &body);
        let mut wire = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for piece in encoded.chunks(997) {
            wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            wire.extend_from_slice(piece);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        let srv = Server::serve(move |_| wire.clone());
        let s = session();
        assert!(get(&s, &srv.url("/c")).unwrap().body == body, "{coding}");
        let mut st = s.open(&request("GET", &srv.url("/c")), None).unwrap();
        assert!(read_stream(&mut st, 4096).unwrap() == body, "{coding}");
    }
}

/// 64 MiB of zeros: 52 bytes of br, 2 KiB of zstd.
fn zeros_bomb(coding: &str) -> Vec<u8> {
    compressed(coding, &vec![0u8; 64 << 20])
}

#[test]
fn br_and_zstd_bombs_stop_at_the_body_limit() {
    for coding in ["br", "zstd"] {
        let bomb = zeros_bomb(coding);
        assert!(bomb.len() < 4096, "{coding}: {} bytes", bomb.len());
        let wire = coded(coding, &bomb);
        let srv = Server::serve(move |_| wire.clone());
        let s = session();
        s.set_limits(Limits::default(), Some(1 << 20));
        let e = expect_err(get(&s, &srv.url("/bomb")));
        assert_eq!(proto_kind(&e), Some(ProtoErrorKind::BodyTooLarge), "{e:?}");
        assert!(
            e.message()
                .contains("decoded response body exceeds max_body_bytes (1048576)"),
            "{}",
            e.message()
        );
        let mut st = s.open(&request("GET", &srv.url("/bomb")), None).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        let err = loop {
            match st.read(&mut buf) {
                Ok(0) => panic!("{coding}: the bomb ended after {total} bytes"),
                Ok(n) => total += n as u64,
                Err(e) => break e,
            }
            assert!(total <= 1 << 20, "{coding}: read past the limit");
        };
        assert_eq!(
            proto_kind(&err),
            Some(ProtoErrorKind::BodyTooLarge),
            "{err:?}"
        );
        // Through the multi, buffered.
        let got = multi_get(&s, &[srv.url("/bomb")]);
        let e = got[0].as_ref().unwrap_err();
        assert!(
            e.contains("exceeds max_body_bytes (1048576)"),
            "{coding}: {e}"
        );
    }
}

#[test]
fn corrupt_br_and_zstd_are_decompression_errors() {
    let body = text_body();
    let br = brotli(&body);
    let zs = zstd(&body);
    let mut bad_checksum = zs.clone();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] ^= 0x01;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("br", br[..br.len() / 2].to_vec(), "unexpected end of file"),
        ("br", b"not brotli at all".to_vec(), "corrupt brotli stream"),
        ("br", [&br[..], b"trailing"].concat(), "data after the end"),
        (
            "zstd",
            zs[..zs.len() - 2].to_vec(),
            "unexpected end of file",
        ),
        ("zstd", bad_checksum, "checksum does not match"),
        ("zstd", b"not zstd at all".to_vec(), "not a zstd frame"),
        // A 16 MiB window, more than RFC 9659's 8 MiB.
        (
            "zstd",
            run_tool("zstd", &["-q", "-c", "--long=24"], &body),
            "window_size is too big",
        ),
    ];
    for (coding, encoded, says) in cases {
        let wire = coded(coding, &encoded);
        let srv = Server::serve(move |_| wire.clone());
        let s = session();
        let e = expect_err(get(&s, &srv.url("/bad")));
        assert_eq!(proto_kind(&e), Some(ProtoErrorKind::Decompression), "{e:?}");
        let want = format!("invalid {coding} body: ");
        assert!(
            e.message().starts_with(&want) && e.message().contains(says),
            "{coding}, {says}: {}",
            e.message()
        );
        let mut st = s.open(&request("GET", &srv.url("/bad")), None).unwrap();
        let e = read_stream(&mut st, 333).unwrap_err();
        assert_eq!(proto_kind(&e), Some(ProtoErrorKind::Decompression), "{e:?}");
        assert!(
            e.message().contains(says),
            "{coding} streamed: {}",
            e.message()
        );
        let got = multi_get(&s, &[srv.url("/bad")]);
        let e = got[0].as_ref().unwrap_err();
        assert!(e.contains(says), "{coding} multi: {e}");
    }
}

/// What a `Keep` sink was given: the status, the body, how many pieces.
#[derive(Default)]
struct Kept {
    status: Option<u16>,
    body: Vec<u8>,
    pieces: usize,
}

/// A multi sink that keeps what it is given.
#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Kept>>);

impl reqivo::client::multi::Sink for Keep {
    fn head(&mut self, parts: reqivo::client::Parts<'_>) -> reqivo::client::multi::Flow {
        self.0.lock().unwrap().status = Some(parts.head.status);
        reqivo::client::multi::Flow::Continue
    }

    fn data(&mut self, bytes: &[u8]) -> reqivo::client::multi::Flow {
        let mut k = self.0.lock().unwrap();
        k.body.extend_from_slice(bytes);
        k.pieces += 1;
        reqivo::client::multi::Flow::Continue
    }
}

/// A response whose body goes out in pieces of `piece` bytes a
/// millisecond apart, so the multi reads (and pushes to the decoder) a
/// piece at a time, whatever the blocks and metablocks inside.
fn dripped(coding: &str, encoded: &[u8], piece: usize) -> Vec<Step> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\n\r\n",
        encoded.len()
    );
    let mut script = vec![Step::Read, Step::Send(head.into_bytes())];
    for p in encoded.chunks(piece) {
        script.push(Step::Send(p.to_vec()));
        script.push(Step::Sleep(1));
    }
    script
}

#[test]
fn multi_decodes_br_and_zstd_buffered_and_streamed() {
    use reqivo::client::multi::Multi;
    use reqivo::client::ToResponse;
    let body = words_body();
    let zeros = vec![0u8; 64 << 20];
    for coding in ["br", "zstd"] {
        let encoded = compressed(coding, &body);
        let wire = coded(coding, &encoded);
        let srv = Server::serve(move |_| wire.clone());
        let s = session();
        let got = multi_get(&s, &[srv.url("/1"), srv.url("/2")]);
        for r in &got {
            let r = r.as_ref().unwrap_or_else(|e| panic!("{coding}: {e}"));
            assert!(
                r.decompressed && r.body == body,
                "{coding}: multi, buffered"
            );
        }

        // Streamed: once as the server sends it, once dripped in pieces
        // that end inside blocks; then a bomb held to the limit.
        let drip = Server::each(dripped(coding, &encoded, 1499));
        let bomb = Server::serve({
            let wire = coded(coding, &compressed(coding, &zeros));
            move |_| wire.clone()
        });
        s.set_limits(Limits::default(), Some(8 << 20));
        let mut m: Multi<ToResponse> = Multi::new().unwrap();
        let h = m.handle();
        let sinks = [Keep::default(), Keep::default(), Keep::default()];
        let urls = [srv.url("/s"), drip.url("/drip"), bomb.url("/bomb")];
        for (i, (sink, url)) in sinks.iter().zip(&urls).enumerate() {
            h.add_streamed(
                &s,
                &request("GET", url),
                None,
                ToResponse,
                Box::new(sink.clone()),
                i,
            )
            .unwrap();
        }
        let mut done = collect(&mut m, 3, Duration::from_secs(60));
        done.sort_by_key(|(i, _)| *i);
        for i in 0..2 {
            let r = done[i]
                .1
                .as_ref()
                .unwrap_or_else(|e| panic!("{coding} {i}: {e}"));
            assert!(r.decompressed);
            let k = sinks[i].0.lock().unwrap();
            assert_eq!(k.status, Some(200));
            assert!(k.body == body, "{coding} {i}: streamed body differs");
        }
        assert!(
            sinks[1].0.lock().unwrap().pieces > 20,
            "{coding}: the dripped body came in pieces"
        );
        let e = done[2].1.as_ref().unwrap_err();
        assert!(
            e.contains("exceeds max_body_bytes (8388608)"),
            "{coding}: {e}"
        );
        assert!(sinks[2].0.lock().unwrap().body.len() <= 8 << 20);
    }
}
