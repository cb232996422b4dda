//! The setup of an HTTP/2 connection: it counts as set up once the
//! server's first SETTINGS has arrived and it has acknowledged ours, and
//! until then the connect timeout bounds it (docs/DESIGN.md §10). h2 tells
//! neither event, so the adapter walks the frame headers of what it hands
//! h2 until both have passed, then stops looking. Requests go out at once
//! meanwhile: waiting for the server's SETTINGS would cost a round trip.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::net::error::{NetError, NetErrorKind};

const FRAME_HEADER: usize = 9;
const SETTINGS: u8 = 0x4;
const ACK: u8 = 0x1;

/// What the adapter saw of the setup; shared with the connection.
#[derive(Default)]
pub(crate) struct SetupSeen {
    /// The server's first SETTINGS (its preface) was handed to h2 whole.
    settings: AtomicBool,
    /// A SETTINGS with ACK (of ours) was.
    acked: AtomicBool,
}

impl SetupSeen {
    pub fn done(&self) -> bool {
        self.settings.load(Ordering::Acquire) && self.acked.load(Ordering::Acquire)
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
#[derive(Default)]
pub(crate) struct FrameWatch {
    header: [u8; FRAME_HEADER],
    have: usize,
    /// Payload bytes of the current frame still to pass.
    skip: usize,
    /// What the current frame proves once its payload has passed.
    mark: Mark,
}

impl FrameWatch {
    /// Takes in `bytes` as they go to h2; true once the setup is seen
    /// whole (the watch can be dropped).
    pub fn feed(&mut self, mut bytes: &[u8], seen: &SetupSeen) -> bool {
        while !bytes.is_empty() {
            if self.have < FRAME_HEADER {
                let n = (FRAME_HEADER - self.have).min(bytes.len());
                self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                bytes = &bytes[n..];
                if self.have < FRAME_HEADER {
                    break;
                }
                let h = &self.header;
                self.skip = (h[0] as usize) << 16 | (h[1] as usize) << 8 | h[2] as usize;
                self.mark = match (h[3], h[4] & ACK) {
                    (SETTINGS, 0) => Mark::Settings,
                    (SETTINGS, _) => Mark::Ack,
                    _ => Mark::Nothing,
                };
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
        seen.done()
    }
}

/// A connection's setup deadline: the connect timeout from the moment
/// HTTP/2 starts on it.
pub(crate) struct Setup {
    seen: Arc<SetupSeen>,
    deadline: Option<Instant>,
    timeout: Duration,
}

impl Setup {
    pub fn new(seen: Arc<SetupSeen>, connect_timeout: Option<Duration>) -> Setup {
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
            let seen = SetupSeen::default();
            let mut w = FrameWatch::default();
            let mut done = false;
            for chunk in bytes.chunks(piece) {
                assert!(!done);
                done = w.feed(chunk, &seen);
            }
            assert!(done, "pieces of {}", piece);
        }
    }

    #[test]
    fn a_partial_settings_or_no_ack_is_not_done() {
        let seen = SetupSeen::default();
        let mut w = FrameWatch::default();
        let f = frame(SETTINGS, 0, 12);
        assert!(!w.feed(&f[..f.len() - 1], &seen));
        assert!(!seen.settings.load(Ordering::Acquire));
        assert!(!w.feed(&f[f.len() - 1..], &seen));
        assert!(seen.settings.load(Ordering::Acquire));
        assert!(!w.feed(&frame(0x6, 0, 8), &seen)); // PING
        assert!(!seen.done());
    }
}
