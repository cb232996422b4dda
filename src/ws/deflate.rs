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
    /// then a sync flush, whose 00 00 FF FF tail is cut off.
    ///
    /// The flush is complete only when a compressor call, given room to
    /// spare, has nothing more to write: room left after one call does not
    /// prove it (what once cut messages short at some sizes). So after the
    /// input is consumed the compressor is called again with no input
    /// until it produces nothing.
    pub fn deflate(&mut self, mut input: &[u8]) -> Vec<u8> {
        // Incompressible input grows by a few bytes per 16 KiB block: with
        // this much room one call usually does it all, without a regrowth.
        let mut out = Vec::with_capacity(input.len() + input.len() / 1024 + FLUSH_ROOM);
        loop {
            if out.capacity() - out.len() < FLUSH_ROOM {
                out.reserve(out.capacity().max(4096));
            }
            let (in0, out0) = (self.c.total_in(), out.len());
            // Raw DEFLATE into a Vec cannot fail: a failure would be a bug,
            // and the loop still ends because that call made no progress.
            let _ = self.c.compress_vec(input, &mut out, FlushCompress::Sync);
            let used = (self.c.total_in() - in0) as usize;
            input = &input[used..];
            let made = out.len() - out0;
            if made == 0 && (input.is_empty() || used == 0) {
                break;
            }
        }
        debug_assert!(out.ends_with(&TAIL), "a sync flush ends with its tail");
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if self.reset_each {
            self.c.reset();
        }
        out
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
