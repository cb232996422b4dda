//! permessage-deflate (RFC 7692): the offer, the check of the server's
//! answer, and the per-message compressor and decompressor (raw DEFLATE
//! with a sync flush whose 00 00 FF FF tail is left off on the wire).
//!
//! Both run on flate2's zlib-rs backend (zlib's algorithm and contract in
//! Rust), so the compressor keeps to any client window the server asks
//! for from 2^9 to 2^15; zlib has no raw 2^8 window, so for
//! `client_max_window_bits=8` messages go out uncompressed, which RFC 7692
//! §6 allows for any message. The decompressor's 32 KiB window reads any
//! server window.
//!
//! Incompressible stretches of a message (compressed or encrypted data,
//! random bytes) go out as stored blocks instead of through the
//! compressor: zlib's fastest level spends most of its time on such bytes
//! (about 4× the time per byte of text) and makes them some 5% larger
//! (fixed Huffman codes), and the peer then pays to decode them. Each
//! 1 KiB block is judged by the pairs of equal bytes in a 256-byte sample
//! (`incompressible_blocks`); the stored bytes are given to the compressor
//! as its dictionary, so that its window stays the peer's and later data
//! may still refer back to them.
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::error::{WsError, WsErrorKind};

const NAME: &str = "permessage-deflate";
/// RFC 7692 §7.2.2: appended to a message before inflating it.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What the client offers (RFC 7692 §7.1). It always says it can honour
/// a `client_max_window_bits` the server picks (by sending uncompressed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeflateOffer {
    /// Ask the server to reset its compression context per message.
    pub server_no_context_takeover: bool,
    /// Promise to reset ours per message (the server's memory is spared).
    pub client_no_context_takeover: bool,
    /// Ask the server for a window of at most 2^bits bytes (8-15).
    pub server_max_window_bits: Option<u8>,
}

/// What was agreed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: Option<u8>,
    pub client_max_window_bits: Option<u8>,
}

impl DeflateOffer {
    /// The Sec-WebSocket-Extensions value.
    pub fn header_value(&self) -> String {
        let mut v = format!("{}; client_max_window_bits", NAME);
        if self.server_no_context_takeover {
            v.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            v.push_str("; client_no_context_takeover");
        }
        if let Some(b) = self.server_max_window_bits {
            v.push_str(&format!("; server_max_window_bits={}", b));
        }
        v
    }
}

fn bad(message: String) -> WsError {
    WsError::new(WsErrorKind::Handshake, message)
}

fn window_bits(name: &str, value: Option<&str>) -> Result<u8, WsError> {
    let v = value.map(|v| v.trim_matches('"'));
    match v.and_then(|v| v.parse::<u8>().ok()) {
        Some(b @ 8..=15) => Ok(b),
        _ => Err(bad(format!(
            "permessage-deflate parameter {}={:?} is not 8-15 (RFC 7692 §7.1.2)",
            name,
            v.unwrap_or("")
        ))),
    }
}

/// Checks the server's Sec-WebSocket-Extensions answer (RFC 7692 §7.1):
/// exactly our extension, each known parameter at most once, window bits
/// 8-15 and no larger than asked.
pub fn accept_response(value: &str, offer: &DeflateOffer) -> Result<DeflateParams, WsError> {
    let mut exts = value.split(',');
    let (Some(ext), None) = (exts.next(), exts.next()) else {
        return Err(bad(format!(
            "the server selected several extensions: {:?}",
            value
        )));
    };
    let mut parts = ext.split(';').map(str::trim);
    if parts.next() != Some(NAME) {
        return Err(bad(format!(
            "the server selected extension {:?}, which was not offered",
            ext.trim()
        )));
    }
    let mut p = DeflateParams::default();
    let mut seen: Vec<String> = Vec::new();
    for part in parts {
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (part.to_ascii_lowercase(), None),
        };
        if seen.contains(&name) {
            return Err(bad(format!(
                "permessage-deflate parameter {} given twice",
                name
            )));
        }
        match (name.as_str(), value) {
            ("server_no_context_takeover", None) => p.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => p.client_no_context_takeover = true,
            ("server_max_window_bits", v) => {
                let b = window_bits(&name, v)?;
                if offer.server_max_window_bits.is_some_and(|asked| b > asked) {
                    return Err(bad(format!(
                        "server_max_window_bits={} is larger than the {} asked for",
                        b,
                        offer.server_max_window_bits.unwrap_or(15)
                    )));
                }
                p.server_max_window_bits = Some(b);
            }
            ("client_max_window_bits", v) => {
                p.client_max_window_bits = Some(window_bits(&name, v)?)
            }
            _ => {
                return Err(bad(format!(
                    "unknown or malformed permessage-deflate parameter {:?}",
                    part
                )))
            }
        }
        seen.push(name);
    }
    // §7.1.1.1: asked for, the server must agree to reset its context.
    if offer.server_no_context_takeover && !p.server_no_context_takeover {
        return Err(bad(
            "the server did not accept server_no_context_takeover".into()
        ));
    }
    p.client_no_context_takeover |= offer.client_no_context_takeover;
    Ok(p)
}

/// Decompresses received messages.
pub struct Inflater {
    d: Decompress,
    /// `server_no_context_takeover`: every message starts afresh.
    reset_each: bool,
    chunk: Vec<u8>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("reset_each", &self.reset_each)
            .finish()
    }
}

impl Inflater {
    pub fn new(p: &DeflateParams) -> Self {
        Inflater {
            d: Decompress::new(false),
            reset_each: p.server_no_context_takeover,
            chunk: vec![0; 64 * 1024],
        }
    }

    /// Inflates one whole message; more than `limit` bytes of output is
    /// refused as it is produced, so a small bomb never grows past it.
    pub fn inflate(&mut self, data: &[u8], limit: u64) -> Result<Vec<u8>, WsError> {
        let mut out = Vec::new();
        self.run(data, &mut out, limit)?;
        self.run(&TAIL, &mut out, limit)?;
        if self.reset_each {
            self.d.reset(false);
        }
        Ok(out)
    }

    fn run(&mut self, mut input: &[u8], out: &mut Vec<u8>, limit: u64) -> Result<(), WsError> {
        loop {
            let (in0, out0) = (self.d.total_in(), self.d.total_out());
            let status = self
                .d
                .decompress(input, &mut self.chunk, FlushDecompress::Sync)
                .map_err(|e| {
                    WsError::protocol(format!("compressed message does not inflate: {}", e))
                })?;
            let used = (self.d.total_in() - in0) as usize;
            let made = (self.d.total_out() - out0) as usize;
            input = &input[used..];
            if out.len() as u64 + made as u64 > limit {
                return Err(WsError::new(
                    WsErrorKind::MessageTooBig,
                    format!(
                        "message inflates to more than the maximum message size of {} bytes",
                        limit
                    ),
                ));
            }
            out.extend_from_slice(&self.chunk[..made]);
            if status == Status::StreamEnd {
                // A final block ends the stream; the next message starts a
                // new one (as if the context were not taken over).
                self.d.reset(false);
                if !input.is_empty() && input != TAIL {
                    return Err(WsError::protocol(
                        "compressed message has data after its final block",
                    ));
                }
                return Ok(());
            }
            if (input.is_empty() && made < self.chunk.len()) || (used == 0 && made == 0) {
                return Ok(());
            }
        }
    }
}

/// Compresses sent messages.
pub struct Deflater {
    c: Compress,
    /// `client_no_context_takeover`: every message starts afresh.
    reset_each: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("reset_each", &self.reset_each)
            .finish()
    }
}

/// Spare output room kept for each compressor call: zlib asks for more
/// than six bytes during a sync flush, or it may repeat the flush marker.
const FLUSH_ROOM: usize = 64;

/// Messages are judged for compressibility in blocks of this size (a
/// shorter last block is compressed), four at a time.
const BLOCK: usize = 1024;

/// Bit i is set when block i of `chunk` (up to four blocks) looks
/// incompressible. 256 bytes of each block are sampled, at offsets 0, 5,
/// 10 and 15 of every 16: every lane of 2- and 4-byte words and half of
/// those of 8-byte words, so that arrays of integers or floats, whose low
/// bytes alone look random, stay compressed. A block whose sample has
/// fewer pairs of equal bytes than n(n-1)/2^7.5 (360 for n = 256) is taken
/// as incompressible: a Rényi entropy over 7.5 bits per byte, where
/// uniformly random bytes give 8 (255 pairs expected, σ ≈ 23; about one
/// random block in 20,000 is compressed all the same). Text, markup and
/// most binary formats stay far below (under 6 bits, over 1,000 pairs);
/// data near the limit would not shrink under zlib's fastest level, with
/// its fixed Huffman codes, anyway.
fn incompressible_blocks(chunk: &[u8]) -> u8 {
    static NONE: [u8; BLOCK] = [0; BLOCK];
    let mut blocks = [&NONE[..]; 4];
    let mut k = 0;
    for (slot, block) in blocks.iter_mut().zip(chunk.chunks_exact(BLOCK)) {
        *slot = block;
        k += 1;
    }
    // One histogram per block, filled in turn, so that consecutive
    // increments do not wait on each other.
    let mut h = [[0u16; 256]; 4];
    let [b0, b1, b2, b3] = blocks;
    let groups = b0.chunks_exact(16).zip(b1.chunks_exact(16));
    for ((q0, q1), (q2, q3)) in groups.zip(b2.chunks_exact(16).zip(b3.chunks_exact(16))) {
        for off in [0, 5, 10, 15] {
            h[0][q0[off] as usize] += 1;
            h[1][q1[off] as usize] += 1;
            h[2][q2[off] as usize] += 1;
            h[3][q3[off] as usize] += 1;
        }
    }
    const N: u32 = (BLOCK / 4) as u32;
    let mut mask = 0;
    for (b, h) in h.iter().enumerate().take(k) {
        let pairs: u32 = h
            .iter()
            .map(|&c| c as u32 * (c as u32).saturating_sub(1))
            .sum();
        if pairs < N * (N - 1) / 181 {
            // 2^7.5 ≈ 181.0
            mask |= 1 << b;
        }
    }
    mask
}

/// Appends `data` as stored blocks (RFC 1951 §3.2.4); the output must be
/// at a byte boundary (after a sync flush, another stored block, or at
/// the start).
fn store(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len() + 5 * (data.len() / 0xFFFF + 1));
    for block in data.chunks(0xFFFF) {
        let n = block.len() as u16;
        out.push(0); // BFINAL 0, BTYPE 00, padding to the byte boundary
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(block);
    }
}

impl Deflater {
    /// `None` when the server asked for a client window of 2^8, which
    /// zlib's raw deflate cannot keep to: messages then go uncompressed.
    pub fn new(p: &DeflateParams) -> Option<Self> {
        let bits = p.client_max_window_bits.unwrap_or(15);
        if bits < 9 {
            return None;
        }
        Some(Deflater {
            c: Compress::new_with_window_bits(Compression::fast(), false, bits),
            reset_each: p.client_no_context_takeover,
        })
    }

    /// Compresses one whole message (RFC 7692 §7.2.1): every input byte,
    /// then a sync flush, whose 00 00 FF FF tail is cut off. Runs of
    /// incompressible 1 KiB blocks go out as stored blocks (see the module
    /// comment), each after a sync flush of what came before.
    pub fn deflate(&mut self, input: &[u8]) -> Vec<u8> {
        // Stored blocks add 5 bytes per 64 KiB, and each switch to them
        // a flush of a few bytes: with this much room one compressor call
        // usually does a run, without a regrowth.
        let mut out = Vec::with_capacity(input.len() + input.len() / 1024 + FLUSH_ROOM);
        // Input given to the compressor since its last sync flush.
        let mut unflushed = false;
        let (mut run, mut run_stored) = (0, false);
        for (i, chunk) in input.chunks(4 * BLOCK).enumerate() {
            let mask = incompressible_blocks(chunk);
            for b in 0..chunk.len().div_ceil(BLOCK) {
                let stored = mask & (1 << b) != 0;
                let at = i * 4 * BLOCK + b * BLOCK;
                if stored != run_stored && at > run {
                    self.emit(&input[run..at], run_stored, &mut out, &mut unflushed);
                    run = at;
                }
                run_stored = stored;
            }
        }
        if run < input.len() {
            self.emit(&input[run..], run_stored, &mut out, &mut unflushed);
        }
        if unflushed || out.is_empty() {
            self.run(&[], &mut out, FlushCompress::Sync);
            debug_assert!(out.ends_with(&TAIL), "a sync flush ends with its tail");
            if out.ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            }
        } else {
            // The message ended with stored blocks: the sync flush's empty
            // stored block, less the tail the peer puts back, is one byte.
            out.push(0);
        }
        if self.reset_each {
            self.c.reset();
        }
        out
    }

    /// Adds a run of the message: compressed (not flushed), or stored.
    fn emit(&mut self, data: &[u8], stored: bool, out: &mut Vec<u8>, unflushed: &mut bool) {
        if !stored {
            self.run(data, out, FlushCompress::None);
            *unflushed = true;
            return;
        }
        if *unflushed {
            self.run(&[], out, FlushCompress::Sync);
            *unflushed = false;
        }
        store(data, out);
        // The compressor's window must hold what the peer's does. The
        // call cannot fail after a sync flush (nothing is left in the
        // compressor); if it did, a reset forgets the history instead,
        // which is always correct.
        if self.c.set_dictionary(data).is_err() {
            debug_assert!(false, "set_dictionary after a sync flush");
            self.c.reset();
        }
    }

    /// Gives `input` to the compressor with `flush`, until all of it is
    /// taken and, for a sync flush, the flush is complete.
    ///
    /// The flush is complete only when a compressor call, given room to
    /// spare, has nothing more to write: room left after one call does not
    /// prove it (what once cut messages short at some sizes). So after the
    /// input is consumed the compressor is called again with no input
    /// until it produces nothing.
    fn run(&mut self, mut input: &[u8], out: &mut Vec<u8>, flush: FlushCompress) {
        loop {
            if out.capacity() - out.len() < FLUSH_ROOM {
                out.reserve(out.capacity().max(4096));
            }
            let (in0, out0) = (self.c.total_in(), out.len());
            // Raw DEFLATE into a Vec cannot fail: a failure would be a bug,
            // and the loop still ends because that call made no progress.
            let _ = self.c.compress_vec(input, out, flush);
            let used = (self.c.total_in() - in0) as usize;
            input = &input[used..];
            let made = out.len() - out0;
            if made == 0 && (input.is_empty() || used == 0) {
                break;
            }
            // Without a flush, the output room left over means the
            // compressor has taken all the input it could.
            if input.is_empty() && flush == FlushCompress::None {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deflate_offer_header() {
        let o = DeflateOffer {
            server_no_context_takeover: true,
            client_no_context_takeover: false,
            server_max_window_bits: Some(10),
        };
        assert_eq!(
            o.header_value(),
            "permessage-deflate; client_max_window_bits; server_no_context_takeover; server_max_window_bits=10"
        );
    }

    #[test]
    fn deflate_accepts_valid_answers() {
        let o = DeflateOffer::default();
        let p = accept_response("permessage-deflate", &o).unwrap();
        assert_eq!(p, DeflateParams::default());
        let p = accept_response(
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=\"12\"",
            &o,
        )
        .unwrap();
        assert!(p.server_no_context_takeover);
        assert_eq!(p.client_max_window_bits, Some(12));
        assert!(Deflater::new(&p).is_some(), "zlib keeps to a 2^12 window");
        let p = accept_response("permessage-deflate; client_max_window_bits=8", &o).unwrap();
        assert!(
            Deflater::new(&p).is_none(),
            "no raw 2^8 window: uncompressed"
        );
    }

    #[test]
    fn deflate_refuses_bad_answers() {
        let o = DeflateOffer {
            server_max_window_bits: Some(10),
            server_no_context_takeover: true,
            ..Default::default()
        };
        for v in [
            "x-webkit-deflate-frame",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=12",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=16",
            "permessage-deflate; server_no_context_takeover; unknown",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate",
        ] {
            assert!(accept_response(v, &o).is_err(), "{v}");
        }
    }

    #[test]
    fn deflate_round_trip_with_and_without_context() {
        for reset in [false, true] {
            let p = DeflateParams {
                server_no_context_takeover: reset,
                client_no_context_takeover: reset,
                ..Default::default()
            };
            let mut d = Deflater::new(&p).unwrap();
            let mut i = Inflater::new(&p);
            for msg in [&b""[..], b"hello hello hello", &vec![b'x'; 200_000]] {
                let z = d.deflate(msg);
                assert!(!z.ends_with(&TAIL));
                assert_eq!(i.inflate(&z, u64::MAX).unwrap(), msg);
            }
        }
    }

    /// Deterministic bytes: xorshift64*.
    fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    fn text_bytes(seed: u64, n: usize) -> Vec<u8> {
        let words: [&[u8]; 8] = [
            b"alpha ",
            b"beta ",
            b"gamma ",
            b"delta ",
            b"{\"id\":",
            b"42, ",
            b"\n",
            b"epsilon ",
        ];
        let r = random_bytes(seed, n);
        let mut v = Vec::with_capacity(n + 8);
        for b in r {
            if v.len() >= n {
                break;
            }
            v.extend_from_slice(words[(b % 8) as usize]);
        }
        v.truncate(n);
        v
    }

    #[test]
    fn deflate_judges_blocks() {
        assert_eq!(incompressible_blocks(&random_bytes(1, 4 * BLOCK)), 0b1111);
        assert_eq!(
            incompressible_blocks(&random_bytes(1, 4 * BLOCK - 1)),
            0b0111,
            "a short last block is compressed"
        );
        assert_eq!(incompressible_blocks(&random_bytes(1, BLOCK)), 0b0001);
        assert_eq!(incompressible_blocks(&random_bytes(1, BLOCK - 1)), 0);
        assert_eq!(incompressible_blocks(&text_bytes(2, 4 * BLOCK)), 0);
        assert_eq!(incompressible_blocks(&vec![0u8; 4 * BLOCK]), 0);
        let mut mixed = random_bytes(3, BLOCK);
        mixed.extend(text_bytes(4, 2 * BLOCK));
        mixed.extend(random_bytes(5, BLOCK));
        assert_eq!(incompressible_blocks(&mixed), 0b1001);
        // Half random, half text within a block: compressed.
        let mut half = random_bytes(3, BLOCK / 2);
        half.extend(text_bytes(4, BLOCK / 2));
        assert_eq!(incompressible_blocks(&half), 0);
        // Base64 (6 bits a byte) is compressible, and judged so.
        let b64: Vec<u8> = random_bytes(5, 4 * BLOCK)
            .iter()
            .map(|b| {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [(b % 64) as usize]
            })
            .collect();
        assert_eq!(incompressible_blocks(&b64), 0);
        // Words whose low bytes alone look random: 16-, 32- and 64-bit
        // counters and 32-bit floats.
        let r = random_bytes(6, 4 * BLOCK);
        let u16s: Vec<u8> = r
            .chunks(2)
            .flat_map(|c| (c[0] as u16 | 0x100).to_le_bytes())
            .collect();
        let u32s: Vec<u8> = r
            .chunks(4)
            .flat_map(|c| (c[0] as u32 * 7919).to_le_bytes())
            .collect();
        let u64s: Vec<u8> = r
            .chunks(8)
            .flat_map(|c| (u16::from_le_bytes([c[0], c[1]]) as u64).to_le_bytes())
            .collect();
        let f32s: Vec<u8> = (0..BLOCK as u32)
            .flat_map(|i| ((i as f32 * 0.01).sin()).to_le_bytes())
            .collect();
        for (name, v) in [
            ("u16", &u16s),
            ("u32", &u32s),
            ("u64", &u64s),
            ("f32", &f32s),
        ] {
            assert_eq!(incompressible_blocks(&v[..4 * BLOCK]), 0, "{name}");
        }
    }

    #[test]
    fn deflate_stores_incompressible_runs() {
        // Random input is stored: 5 bytes a 64 KiB block and one for the
        // end, not the ~5% fixed Huffman codes add (to a last block under
        // 1 KiB, which is compressed).
        let mut d = Deflater::new(&DeflateParams::default()).unwrap();
        let mut i = Inflater::new(&DeflateParams::default());
        for n in [
            BLOCK,
            4 * BLOCK,
            12 * BLOCK,
            0xFFFF,
            0x10000,
            200_000,
            (1 << 20) + 1024,
        ] {
            let msg = random_bytes(n as u64, n);
            let z = d.deflate(&msg);
            let short = n % BLOCK;
            assert!(
                z.len() <= n + 5 * (n / 0xFFFF + 1) + 1 + short / 10 + 16,
                "{n}: {} bytes",
                z.len()
            );
            assert_eq!(i.inflate(&z, u64::MAX).unwrap(), msg, "{n}");
        }
    }

    /// Messages of random and text runs of many lengths (whole blocks,
    /// odd lengths, runs over 64 KiB), starting and ending with either,
    /// through one compressor and one decompressor: with and without
    /// context takeover, every window the server may ask for.
    #[test]
    fn deflate_mixed_runs_round_trip() {
        let layouts: [&[(bool, usize)]; 7] = [
            &[(true, 3 * 4096), (false, 5000)],
            &[
                (false, 100),
                (true, 2 * 4096 + 17),
                (false, 4096),
                (true, 70_000),
            ],
            &[(true, 4096), (false, 4096), (true, 4096), (false, 4096)],
            &[(false, 4096 - 1), (true, 4096 + 1), (false, 3)],
            &[(true, 150_000)],
            &[(false, 40_000), (true, 9000), (false, 40_000)],
            &[(true, 5000), (false, 12_000), (true, 33_000), (false, 1)],
        ];
        for bits in 9..=15u8 {
            for takeover in [true, false] {
                let p = DeflateParams {
                    client_no_context_takeover: !takeover,
                    server_no_context_takeover: !takeover,
                    client_max_window_bits: Some(bits),
                    ..Default::default()
                };
                let mut d = Deflater::new(&p).unwrap();
                let mut i = Inflater::new(&DeflateParams {
                    server_no_context_takeover: !takeover,
                    ..Default::default()
                });
                for (k, layout) in layouts.iter().enumerate() {
                    let mut msg = Vec::new();
                    for (j, &(random, n)) in layout.iter().enumerate() {
                        let seed = (bits as u64) << 16 | (k as u64) << 8 | j as u64;
                        msg.extend(if random {
                            random_bytes(seed, n)
                        } else {
                            text_bytes(seed, n)
                        });
                    }
                    let z = d.deflate(&msg);
                    assert!(!z.ends_with(&TAIL));
                    assert_eq!(
                        i.inflate(&z, u64::MAX).unwrap(),
                        msg,
                        "bits {bits} takeover {takeover} layout {k}"
                    );
                }
            }
        }
    }

    /// Compressed data may refer back into stored bytes (they are the
    /// compressor's dictionary): blocks that repeat parts of an earlier
    /// stored run must decode to the same bytes, within a message and,
    /// with context takeover, in the next one.
    #[test]
    fn deflate_refers_back_into_stored_runs() {
        let r = random_bytes(77, 2 * 4096);
        // Each block: half a block of the random run, then filler.
        let mut piece = Vec::new();
        for k in 0..4 {
            piece.extend(&r[k * BLOCK / 2..(k + 1) * BLOCK / 2]);
            piece.extend(vec![b'x'; BLOCK / 2]);
        }
        assert_eq!(incompressible_blocks(&piece), 0);
        assert_eq!(incompressible_blocks(&r[..4096]), 0b1111);
        let mut msg = text_bytes(78, 1000);
        msg.extend(&r);
        msg.extend(&piece);
        for takeover in [false, true] {
            let p = DeflateParams {
                client_no_context_takeover: !takeover,
                server_no_context_takeover: !takeover,
                ..Default::default()
            };
            let mut d = Deflater::new(&p).unwrap();
            let mut i = Inflater::new(&p);
            let z = d.deflate(&msg);
            assert!(
                z.len() < msg.len() - 4096 / 2 + 200,
                "the repeat was matched: {}",
                z.len()
            );
            assert_eq!(i.inflate(&z, u64::MAX).unwrap(), msg);
            let z = d.deflate(&piece);
            assert_eq!(i.inflate(&z, u64::MAX).unwrap(), piece);
            if takeover {
                assert!(
                    z.len() < 200,
                    "the previous message's stored bytes were matched: {}",
                    z.len()
                );
            }
        }
    }

    #[test]
    fn deflate_rfc_example_and_bomb_limit() {
        // RFC 7692 §7.2.3.1: "Hello" compressed.
        let mut i = Inflater::new(&DeflateParams::default());
        let z = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(i.inflate(&z, 100).unwrap(), b"Hello");
        let mut d = Deflater::new(&DeflateParams::default()).unwrap();
        let bomb = d.deflate(&vec![0u8; 1 << 20]);
        let mut i = Inflater::new(&DeflateParams::default());
        let e = i.inflate(&bomb, 1000).unwrap_err();
        assert_eq!(e.kind, WsErrorKind::MessageTooBig);
        let mut i = Inflater::new(&DeflateParams::default());
        assert!(i.inflate(b"\xff\xff\xff", 100).is_err());
    }
}
