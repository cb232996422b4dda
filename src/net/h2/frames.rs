//! What reqivo learns from the frame headers it hands h2, which h2 does
//! not tell (docs/DESIGN.md §10): the adapter walks them, skipping
//! payloads.
//!
//! - The setup of the connection: it counts as set up once the server's
//!   first SETTINGS has arrived and it has acknowledged ours, and until
//!   then the connect timeout bounds it. Requests go out at once
//!   meanwhile: waiting for the server's SETTINGS would cost a round trip.
//! - Header blocks larger than `max_header_bytes`: h2 fails such a stream
//!   with PROTOCOL_ERROR (or the connection with COMPRESSION_ERROR), the
//!   codes it uses for malformed heads too; a block seen here tells that
//!   the head was too large, as HTTP/1.1 reports it.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::net::error::{NetError, NetErrorKind};

const FRAME_HEADER: usize = 9;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const CONTINUATION: u8 = 0x9;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
/// The streams of over-large header blocks remembered: each failed one
/// stream (or the connection), so a few suffice.
const BIG_HEADS: usize = 8;

/// What the adapter saw; shared with the connection.
#[derive(Default)]
pub(crate) struct FramesSeen {
    /// The server's first SETTINGS (its preface) was handed to h2 whole.
    settings: AtomicBool,
    /// A SETTINGS with ACK (of ours) was.
    acked: AtomicBool,
    /// Streams whose header block passed the limit, and its size then.
    big_heads: Mutex<VecDeque<(u32, usize)>>,
}

impl FramesSeen {
    pub fn done(&self) -> bool {
        self.settings.load(Ordering::Acquire) && self.acked.load(Ordering::Acquire)
    }

    /// The size `stream`'s header block had passed the limit at, if it did.
    pub fn big_head(&self, stream: u32) -> Option<usize> {
        let heads = self.big_heads.lock().unwrap_or_else(|p| p.into_inner());
        heads.iter().find(|(s, _)| *s == stream).map(|&(_, n)| n)
    }

    fn note_big_head(&self, stream: u32, size: usize) {
        let mut heads = self.big_heads.lock().unwrap_or_else(|p| p.into_inner());
        if heads.len() == BIG_HEADS {
            heads.pop_front();
        }
        heads.push_back((stream, size));
    }
}

#[derive(Default, Clone, Copy)]
enum Mark {
    #[default]
    Nothing,
    Settings,
    Ack,
}

/// Walks the frame headers of the bytes h2 reads, skipping payloads.
pub(crate) struct FrameWatch {
    header: [u8; FRAME_HEADER],
    have: usize,
    /// Payload bytes of the current frame still to pass.
    skip: usize,
    /// What the current frame proves once its payload has passed.
    mark: Mark,
    /// The header block under way: its stream and size so far, until
    /// END_HEADERS.
    block: Option<(u32, usize)>,
    head_limit: usize,
}

impl FrameWatch {
    pub fn new(head_limit: usize) -> FrameWatch {
        FrameWatch {
            header: [0; FRAME_HEADER],
            have: 0,
            skip: 0,
            mark: Mark::Nothing,
            block: None,
            head_limit,
        }
    }

    /// Takes in `bytes` as they go to h2.
    pub fn feed(&mut self, mut bytes: &[u8], seen: &FramesSeen) {
        while !bytes.is_empty() {
            if self.have < FRAME_HEADER {
                let n = (FRAME_HEADER - self.have).min(bytes.len());
                self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                bytes = &bytes[n..];
                if self.have < FRAME_HEADER {
                    break;
                }
                let h = self.header;
                self.skip = (h[0] as usize) << 16 | (h[1] as usize) << 8 | h[2] as usize;
                self.mark = match (h[3], h[4] & ACK) {
                    (SETTINGS, 0) => Mark::Settings,
                    (SETTINGS, _) => Mark::Ack,
                    _ => Mark::Nothing,
                };
                if h[3] == HEADERS || h[3] == CONTINUATION {
                    let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                    self.header_block(stream, h[3] == HEADERS, h[4] & END_HEADERS != 0, seen);
                }
            }
            let n = self.skip.min(bytes.len());
            self.skip -= n;
            bytes = &bytes[n..];
            if self.skip == 0 {
                match std::mem::take(&mut self.mark) {
                    Mark::Settings => seen.settings.store(true, Ordering::Release),
                    Mark::Ack => seen.acked.store(true, Ordering::Release),
                    Mark::Nothing => {}
                }
                self.have = 0;
            }
        }
    }

    /// A HEADERS or CONTINUATION frame of `self.skip` bytes on `stream`.
    fn header_block(&mut self, stream: u32, first: bool, last: bool, seen: &FramesSeen) {
        let before = match self.block {
            Some((s, n)) if s == stream && !first => n,
            _ => 0,
        };
        let size = before + self.skip;
        if size > self.head_limit && before <= self.head_limit {
            seen.note_big_head(stream, size);
        }
        self.block = (!last).then_some((stream, size));
    }
}

/// A connection's setup deadline: the connect timeout from the moment
/// HTTP/2 starts on it.
pub(crate) struct Setup {
    seen: Arc<FramesSeen>,
    deadline: Option<Instant>,
    timeout: Duration,
}

impl Setup {
    pub fn new(seen: Arc<FramesSeen>, connect_timeout: Option<Duration>) -> Setup {
        Setup {
            seen,
            deadline: connect_timeout.map(|t| Instant::now() + t),
            timeout: connect_timeout.unwrap_or_default(),
        }
    }

    /// The deadline while the setup is under way; `None` once it is done,
    /// or without a connect timeout.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.filter(|_| !self.seen.done())
    }

    /// The error once the deadline has passed with the setup unfinished.
    pub fn failed(&self, peer: &str) -> Option<NetError> {
        let at = self.deadline()?;
        if Instant::now() < at {
            return None;
        }
        let what = match self.seen.settings.load(Ordering::Acquire) {
            false => format!("{} sent no HTTP/2 SETTINGS", peer),
            true => format!("{} did not acknowledge reqivo's HTTP/2 SETTINGS", peer),
        };
        Some(NetError::new(
            NetErrorKind::TimeoutConnect,
            format!(
                "{} within the connect timeout ({} ms)",
                what,
                self.timeout.as_millis()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, len: usize) -> Vec<u8> {
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            0,
        ];
        f.resize(FRAME_HEADER + len, 0xAA);
        f
    }

    #[test]
    fn settings_then_ack_in_any_pieces() {
        let mut bytes = frame(SETTINGS, 0, 18);
        bytes.extend(frame(0x8, 0, 4)); // WINDOW_UPDATE
        bytes.extend(frame(SETTINGS, ACK, 0));
        for piece in 1..bytes.len() {
            let seen = FramesSeen::default();
            let mut w = FrameWatch::new(100);
            for chunk in bytes.chunks(piece) {
                assert!(!seen.done());
                w.feed(chunk, &seen);
            }
            assert!(seen.done(), "pieces of {}", piece);
        }
    }

    #[test]
    fn a_partial_settings_or_no_ack_is_not_done() {
        let seen = FramesSeen::default();
        let mut w = FrameWatch::new(100);
        let f = frame(SETTINGS, 0, 12);
        w.feed(&f[..f.len() - 1], &seen);
        assert!(!seen.settings.load(Ordering::Acquire));
        w.feed(&f[f.len() - 1..], &seen);
        assert!(seen.settings.load(Ordering::Acquire));
        w.feed(&frame(0x6, 0, 8), &seen); // PING
        assert!(!seen.done());
    }

    fn on_stream(mut f: Vec<u8>, stream: u8) -> Vec<u8> {
        f[8] = stream;
        f
    }

    #[test]
    fn header_blocks_over_the_limit_are_noted_by_stream() {
        let seen = FramesSeen::default();
        let mut w = FrameWatch::new(100);
        // Stream 1: 60 + 60 in a CONTINUATION, over; stream 3: 100, not over.
        w.feed(&on_stream(frame(HEADERS, 0, 60), 1), &seen);
        w.feed(&on_stream(frame(CONTINUATION, END_HEADERS, 60), 1), &seen);
        w.feed(&on_stream(frame(HEADERS, END_HEADERS, 100), 3), &seen);
        // Stream 5: 80, then trailers of 80: each block counts alone.
        w.feed(&on_stream(frame(HEADERS, END_HEADERS, 80), 5), &seen);
        w.feed(&on_stream(frame(0x0, 0, 500), 5), &seen);
        w.feed(&on_stream(frame(HEADERS, END_HEADERS, 80), 5), &seen);
        assert_eq!(seen.big_head(1), Some(120));
        assert_eq!(seen.big_head(3), None);
        assert_eq!(seen.big_head(5), None);
    }
}
