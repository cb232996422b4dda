//! gzip and deflate response bodies, buffered and streamed, and the
//! decoded-size limit that stops a compression bomb.
mod support;

use std::io::Write;

use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::Compression;
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
        Some("gzip, deflate")
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
    let wire = coded("br", b"not really brotli");
    let srv = Server::serve(move |_| wire.clone());
    let resp = get(&session(), &srv.url("/br")).unwrap();
    assert_eq!(resp.body, b"not really brotli");
    assert!(!resp.decompressed);
}
