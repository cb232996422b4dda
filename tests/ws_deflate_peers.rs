//! permessage-deflate checked by implementations nobody here wrote: every
//! message reqivo compresses is inflated by Python's zlib, byte for byte
//! (a sweep of sizes and contents, with and without context takeover, for
//! every client window from 2^9 to 2^15), and echoed through the
//! `websockets` package with each window it can ask for.
//!
//! A sync flush is complete only when the compressor has nothing more to
//! write; a compressor that stops early sends a message cut short at some
//! sizes (once, every size from 58,826 to 60,820 bytes). The sweep covers
//! every size up to 4 KiB, every size within 64 bytes of each multiple of
//! 4 KiB up to 256 KiB, and random sizes up to 4 MiB.
mod support;
mod ws_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqivo::client::ws::{connect, Message, WsOptions};
use reqivo::client::Session;
use reqivo::net::{Pool, PoolConfig, Timeouts};
use reqivo::ws::{DeflateOffer, DeflateParams, Deflater, Kind};
use support::Rng;

const MAX: usize = 4 << 20;

/// Three sources messages are cut from: random bytes (stored blocks),
/// text-like bytes (long matches, short output), and the two mixed in
/// stretches of 1-16 KiB (the compressor switches between stored and
/// compressed blocks inside one message), each long enough for the
/// largest message.
struct Contents {
    random: Vec<u8>,
    text: Vec<u8>,
    mixed: Vec<u8>,
}

impl Contents {
    fn new() -> Self {
        let mut rng = Rng(0x5eed_0001);
        let random = (0..MAX + 4096).map(|_| rng.next() as u8).collect();
        const WORDS: [&str; 12] = [
            "reqivo", "header", "frame", "deflate", "window", "flush", "message", "socket",
            "client", "server", "{\"id\":", "\n",
        ];
        let mut text = Vec::with_capacity(MAX + 4096 + 16);
        while text.len() < MAX + 4096 {
            text.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
            text.push(b' ');
        }
        let mut mixed = Vec::with_capacity(MAX + 4096 + (16 << 10));
        while mixed.len() < MAX + 4096 {
            let len = 1024 + rng.below(15 << 10) as usize;
            let from: &Vec<u8> = if rng.below(2) == 0 { &random } else { &text };
            let at = rng.below((from.len() - len) as u64) as usize;
            mixed.extend_from_slice(&from[at..at + len]);
        }
        Contents {
            random,
            text,
            mixed,
        }
    }

    /// Message `i` of length `len`: a window into one source, at an offset
    /// that moves with `i` so consecutive messages differ.
    fn message(&self, i: usize, len: usize) -> &[u8] {
        let src = match i % 3 {
            0 => &self.random,
            1 => &self.text,
            _ => &self.mixed,
        };
        let at = (i * 7919) % 4096;
        &src[at..at + len]
    }
}

/// Every size up to 4 KiB, every size within 64 bytes of each multiple of
/// 4 KiB up to 256 KiB (every `stride`-th of those), and `random` random
/// sizes up to 4 MiB.
fn sweep_sizes(stride: usize, random: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = (0..=4096).collect();
    for k in 1..=64usize {
        for d in (0..=128usize).step_by(stride) {
            sizes.push(k * 4096 + d - 64);
        }
    }
    let mut rng = Rng(0x5eed_0002);
    sizes.extend((0..random).map(|_| rng.below(MAX as u64 + 1) as usize));
    sizes
}

fn have_python() -> bool {
    Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Compresses every size with reqivo and has Python's zlib inflate each
/// one with a window of 2^bits, checking length and SHA-256.
fn check_with_python_zlib(bits: u8, takeover: bool, sizes: &[usize], contents: &Contents) {
    let params = DeflateParams {
        client_no_context_takeover: !takeover,
        client_max_window_bits: Some(bits),
        ..Default::default()
    };
    let mut deflater = Deflater::new(&params).expect("zlib keeps to windows of 2^9-2^15");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/ws_support/inflate_check.py"
    );
    let mut child = Command::new("python3")
        .args([script, &bits.to_string(), if takeover { "1" } else { "0" }])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdin = std::io::BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
    let mut record = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let msg = contents.message(i, len);
        let z = deflater.deflate(msg);
        record.clear();
        record.extend_from_slice(&(z.len() as u32).to_le_bytes());
        record.extend_from_slice(&(len as u32).to_le_bytes());
        record.extend_from_slice(ring::digest::digest(&ring::digest::SHA256, msg).as_ref());
        // The checker stops at the first bad record: a broken pipe after
        // that is expected, and its report below says why.
        if stdin.write_all(&record).is_err() || stdin.write_all(&z).is_err() {
            break;
        }
    }
    let _ = stdin.flush();
    drop(stdin);
    let mut report = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut report)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success() && report.trim() == format!("ok {}", sizes.len()),
        "window 2^{bits}, context takeover {takeover}: {report}"
    );
}

#[test]
fn ws_deflate_every_size_inflates_in_python_zlib() {
    if !have_python() {
        eprintln!("skipping: no python3");
        return;
    }
    let contents = Contents::new();
    // The whole sweep (2.2 GB) where servers leave the window and where
    // the cut-short messages were seen: no context takeover.
    check_with_python_zlib(15, false, &sweep_sizes(1, 24), &contents);
    // Context takeover and every smaller window on a thinner sweep (every
    // 16th size near the 4 KiB multiples, 90 MB): the window bounds how far
    // back a match may reach, which the sizes do not change.
    let thin = sweep_sizes(16, 4);
    check_with_python_zlib(15, true, &thin, &contents);
    for bits in 9..=14 {
        for takeover in [true, false] {
            check_with_python_zlib(bits, takeover, &thin, &contents);
        }
    }
}

fn ws_session() -> Session {
    let s = Session::new(Pool::new(PoolConfig::default()));
    let t = |ms: u64| Some(Duration::from_millis(ms));
    s.set_timeouts(Timeouts {
        connect: t(5000),
        read: t(30_000),
        write: t(30_000),
        total: None,
        pool: t(5000),
    });
    s
}

#[test]
fn ws_deflate_echo_through_websockets_with_every_client_window() {
    let contents = Contents::new();
    // Sizes where a cut-short flush once showed, a few of each kind.
    let mut sizes: Vec<usize> = vec![0, 1, 63, 64, 65, 4095, 4096, 4097, 65_536];
    sizes.extend((58_826..=60_820).step_by(499));
    sizes.extend((116_652..=118_646).step_by(499));
    sizes.extend([1 << 20, MAX]);
    for bits in 9..=15u8 {
        for no_context in [false, true] {
            let bits_arg = bits.to_string();
            let mut args = vec!["--deflate", "--deflate-client-bits", &bits_arg];
            if no_context {
                args.push("--deflate-no-context");
            }
            let Some(srv) = ws_support::start_with(&args) else {
                return;
            };
            let opts = WsOptions {
                deflate: Some(DeflateOffer::default()),
                ..Default::default()
            };
            let ws = connect(&ws_session(), &srv.url("/echo"), &opts, None)
                .map_err(|e| e.error)
                .expect("connects");
            let agreed = ws.deflate().expect("negotiated");
            assert_eq!(agreed.client_max_window_bits, Some(bits));
            assert_eq!(agreed.client_no_context_takeover, no_context);
            for (i, &len) in sizes.iter().enumerate() {
                let msg = contents.message(i, len);
                ws.send(Kind::Binary, msg, None)
                    .unwrap_or_else(|e| panic!("2^{bits}, {len} bytes: {e}"));
                match ws.receive(None) {
                    Ok(Message::Binary(back)) => assert!(
                        back == msg,
                        "2^{bits}, no context {no_context}, {len} bytes: echo differs"
                    ),
                    other => panic!("2^{bits}, no context {no_context}, {len} bytes: {other:?}"),
                }
            }
            ws.close(1000, b"", None).unwrap();
        }
    }
}
