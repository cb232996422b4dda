//! Reassembly of received frames into events (RFC 6455 §5.4-5.5): data
//! frames are joined into messages, control frames may arrive between the
//! fragments of one, text is validated as it comes in, and both limits are
//! checked on each frame header before its payload is stored.
use super::close::{parse_close_payload, CloseFrame};
use super::deflate::Inflater;
use super::error::{WsError, WsErrorKind};
use super::frame::{FrameHeader, OpCode};
use super::utf8::Utf8Validator;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload of one frame.
    pub max_frame: u64,
    /// Largest message, all its fragments together.
    pub max_message: u64,
}

impl Limits {
    pub(crate) const DEFAULT_MAX: u64 = 16 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: Self::DEFAULT_MAX,
            max_message: Self::DEFAULT_MAX,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole data message; text has been validated as UTF-8.
    Message {
        kind: Kind,
        data: Vec<u8>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(CloseFrame),
}

/// Storage grows as bytes arrive beyond this, so a header that announces a
/// large frame (within the limits) does not reserve it all up front.
const RESERVE_CAP: u64 = 1 << 20;

#[derive(Debug, Default)]
pub struct Reassembler {
    limits: Limits,
    /// The frame whose payload is arriving, and how many bytes it still owes.
    frame: Option<(FrameHeader, u64)>,
    /// The data message being assembled, and whether it is compressed.
    message: Option<(Kind, Vec<u8>, bool)>,
    /// permessage-deflate, when negotiated: RSV1 then marks compressed messages.
    inflater: Option<Inflater>,
    utf8: Utf8Validator,
    /// The payload of the control frame being received (at most 125 bytes).
    control: Vec<u8>,
}

impl Reassembler {
    pub fn new(limits: Limits) -> Self {
        Reassembler {
            limits,
            ..Default::default()
        }
    }

    /// Decompresses messages flagged RSV1 (RFC 7692 §6.1) from now on.
    pub fn set_inflater(&mut self, inflater: Inflater) {
        self.inflater = Some(inflater);
    }

    /// Takes bytes from `input` until one event is complete or the input is
    /// used up. Returns how many bytes were used and the event, if any.
    /// After an error the connection must be failed; nothing is retried.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), WsError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            let Some((h, left)) = self.frame else {
                let rsv = if self.inflater.is_some() { 0x40 } else { 0 };
                match FrameHeader::decode(rest, rsv, self.limits.max_frame)? {
                    None => return Ok((used, None)),
                    Some((h, n)) => {
                        self.start(&h)?;
                        used += n;
                        self.frame = Some((h, h.len));
                        continue;
                    }
                }
            };
            let take = left.min(rest.len() as u64) as usize;
            let piece = &rest[..take];
            let last = take as u64 == left;
            if h.opcode.is_control() {
                self.control.extend_from_slice(piece);
            } else if let Some((kind, buf, compressed)) = &mut self.message {
                // Compressed text is validated once inflated.
                if *kind == Kind::Text && !*compressed {
                    self.utf8.feed(piece, h.fin && last)?;
                }
                buf.extend_from_slice(piece);
            }
            used += take;
            if !last {
                self.frame = Some((h, left - take as u64));
                return Ok((used, None));
            }
            self.frame = None;
            if let Some(ev) = self.finish(&h)? {
                return Ok((used, Some(ev)));
            }
        }
    }

    /// True while a fragmented message or a frame is only partly received.
    pub fn in_progress(&self) -> bool {
        self.frame.is_some() || self.message.is_some()
    }

    /// Checks a new frame against the message state (§5.4) and the
    /// message limit, before any of its payload is stored.
    fn start(&mut self, h: &FrameHeader) -> Result<(), WsError> {
        // RFC 7692 §6.1: RSV1 marks the first frame of a compressed
        // message, and nothing else.
        if h.rsv != 0 && !matches!(h.opcode, OpCode::Text | OpCode::Binary) {
            return Err(WsError::protocol(format!(
                "RSV1 set on a {:?} frame (RFC 7692 §6.1)",
                h.opcode
            )));
        }
        let kind = match h.opcode {
            OpCode::Close | OpCode::Ping | OpCode::Pong => {
                self.control.clear();
                return Ok(());
            }
            OpCode::Continuation => {
                if self.message.is_none() {
                    return Err(WsError::protocol(
                        "continuation frame without a message to continue (RFC 6455 §5.4)",
                    ));
                }
                None
            }
            OpCode::Text => Some(Kind::Text),
            OpCode::Binary => Some(Kind::Binary),
        };
        if let Some(kind) = kind {
            if self.message.is_some() {
                return Err(WsError::protocol(
                    "new data frame while a fragmented message is unfinished (RFC 6455 §5.4)",
                ));
            }
            self.message = Some((kind, Vec::new(), h.rsv & 0x40 != 0));
            self.utf8 = Utf8Validator::default();
        }
        let Some((_, buf, _)) = &mut self.message else {
            return Ok(());
        };
        let total = buf.len() as u64 + h.len;
        if total > self.limits.max_message {
            return Err(WsError::new(
                WsErrorKind::MessageTooBig,
                format!(
                    "message of at least {} bytes is over the maximum message size of {} bytes",
                    total, self.limits.max_message
                ),
            ));
        }
        buf.reserve(h.len.min(RESERVE_CAP) as usize);
        Ok(())
    }

    fn finish(&mut self, h: &FrameHeader) -> Result<Option<Event>, WsError> {
        Ok(match h.opcode {
            OpCode::Ping => Some(Event::Ping(std::mem::take(&mut self.control))),
            OpCode::Pong => Some(Event::Pong(std::mem::take(&mut self.control))),
            OpCode::Close => Some(Event::Close(parse_close_payload(&self.control)?)),
            _ if h.fin => match self.message.take() {
                Some((kind, data, true)) => {
                    let inflater = self.inflater.as_mut().ok_or_else(|| {
                        WsError::protocol("compressed message without permessage-deflate")
                    })?;
                    let data = inflater.inflate(&data, self.limits.max_message)?;
                    if kind == Kind::Text {
                        Utf8Validator::default().feed(&data, true)?;
                    }
                    Some(Event::Message { kind, data })
                }
                Some((kind, data, false)) => Some(Event::Message { kind, data }),
                None => None,
            },
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` whole, byte by byte, and with trailing junk after the
    /// events, collecting the events (or the first error's kind).
    fn run_ways(input: &[u8], limits: Limits) -> Result<Vec<Event>, WsErrorKind> {
        let whole = run(input, input.len().max(1), limits);
        let bytewise = run(input, 1, limits);
        assert_eq!(whole, bytewise, "whole vs byte by byte");
        whole
    }

    fn run(input: &[u8], step: usize, limits: Limits) -> Result<Vec<Event>, WsErrorKind> {
        let mut r = Reassembler::new(limits);
        let mut events = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                let (n, ev) = r.feed(&buf).map_err(|e| e.kind)?;
                buf.drain(..n);
                match ev {
                    Some(ev) => events.push(ev),
                    None => break,
                }
            }
        }
        Ok(events)
    }

    fn msg(kind: Kind, data: &[u8]) -> Event {
        Event::Message {
            kind,
            data: data.to_vec(),
        }
    }

    #[test]
    fn message_single_frames() {
        let ev = run_ways(b"\x81\x05Hello\x82\x00\x81\x00", Limits::default()).unwrap();
        assert_eq!(
            ev,
            vec![
                msg(Kind::Text, b"Hello"),
                msg(Kind::Binary, b""),
                msg(Kind::Text, b"")
            ]
        );
    }

    #[test]
    fn message_fragments_with_interleaved_control_frames() {
        // RFC 6455 §5.6 example plus a ping and pong between the fragments.
        let input = b"\x01\x03Hel\x89\x02hi\x80\x02lo\x8a\x00";
        let ev = run_ways(input, Limits::default()).unwrap();
        assert_eq!(
            ev,
            vec![
                Event::Ping(b"hi".to_vec()),
                msg(Kind::Text, b"Hello"),
                Event::Pong(vec![])
            ]
        );
    }

    #[test]
    fn message_text_code_point_split_across_fragments() {
        let input = b"\x01\x01\xe2\x00\x01\x82\x80\x01\xac";
        let ev = run_ways(input, Limits::default()).unwrap();
        assert_eq!(ev, vec![msg(Kind::Text, "€".as_bytes())]);
    }

    #[test]
    fn message_refuses_continuation_without_start() {
        assert_eq!(
            run_ways(b"\x80\x01a", Limits::default()),
            Err(WsErrorKind::Protocol)
        );
    }

    #[test]
    fn message_refuses_new_message_inside_fragmented_one() {
        assert_eq!(
            run_ways(b"\x01\x01a\x81\x01b", Limits::default()),
            Err(WsErrorKind::Protocol)
        );
    }

    #[test]
    fn message_invalid_utf8_fails_before_the_message_ends() {
        // The bad byte is in the first fragment; the rest never arrives.
        assert_eq!(
            run_ways(b"\x01\x02a\xff", Limits::default()),
            Err(WsErrorKind::InvalidUtf8)
        );
        // Binary is not checked.
        assert!(run_ways(b"\x82\x01\xff", Limits::default()).is_ok());
    }

    #[test]
    fn message_over_limit_refused_on_the_header() {
        let small = Limits {
            max_frame: 10,
            max_message: 12,
        };
        assert_eq!(
            run_ways(b"\x82\x0b", small),
            Err(WsErrorKind::MessageTooBig)
        );
        // Two fragments of 8: each frame fits, the message does not; the
        // second header alone trips the limit.
        let two = b"\x02\x08aaaaaaaa\x80\x08";
        assert_eq!(run_ways(two, small), Err(WsErrorKind::MessageTooBig));
    }

    #[test]
    fn message_close_frames_parsed() {
        let ev = run_ways(b"\x88\x05\x03\xe8bye", Limits::default()).unwrap();
        assert_eq!(
            ev,
            vec![Event::Close(CloseFrame {
                code: Some(1000),
                reason: "bye".into()
            })]
        );
        assert_eq!(
            run_ways(b"\x88\x02\x03\xed", Limits::default()),
            Err(WsErrorKind::Protocol)
        );
    }

    #[test]
    fn message_compressed_inflated_and_checked() {
        use crate::ws::deflate::{DeflateParams, Inflater};
        let mut r = Reassembler::new(Limits::default());
        r.set_inflater(Inflater::new(&DeflateParams::default()));
        // RFC 7692 §7.2.3.1 "Hello", then the same split in two fragments.
        let input =
            b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00\x41\x03\xf2\x48\xcd\x80\x04\xc9\xc9\x07\x00";
        let mut at = 0;
        for _ in 0..2 {
            let (n, ev) = r.feed(&input[at..]).unwrap();
            at += n;
            assert_eq!(ev, Some(msg(Kind::Text, b"Hello")));
        }
        // RSV1 on a continuation or a control frame is a violation.
        let mut r = Reassembler::new(Limits::default());
        r.set_inflater(Inflater::new(&DeflateParams::default()));
        assert_eq!(
            r.feed(b"\x01\x01a\xc0\x01b").unwrap_err().kind,
            WsErrorKind::Protocol
        );
        let mut r = Reassembler::new(Limits::default());
        r.set_inflater(Inflater::new(&DeflateParams::default()));
        assert_eq!(r.feed(b"\xc9\x00").unwrap_err().kind, WsErrorKind::Protocol);
        // Without the extension, RSV1 stays a reserved bit.
        assert_eq!(
            run_ways(b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00", Limits::default()),
            Err(WsErrorKind::Protocol)
        );
    }

    /// Until the fuzz target exists: random bytes, and random frames with
    /// valid-looking headers, fed whole and in random pieces, with and
    /// without the deflate extension, never panic, and never store more
    /// than the limits allow.
    #[test]
    fn message_random_input_never_panics() {
        use crate::ws::deflate::{DeflateParams, Inflater};
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let limits = Limits {
            max_frame: 300,
            max_message: 600,
        };
        for round in 0..3000 {
            let mut input = Vec::new();
            while input.len() < 400 {
                let r = next();
                if r % 3 == 0 {
                    input.push(r as u8);
                    continue;
                }
                // A frame: random FIN/RSV/opcode bits, a short length.
                let len = (r >> 8) as usize % 140;
                input.push((r >> 16) as u8 & 0xC0 | [0u8, 1, 2, 8, 9, 10][(r >> 24) as usize % 6]);
                input.push(len as u8 & 0x7f);
                input.extend((0..len.min(125)).map(|_| next() as u8));
            }
            let mut r = Reassembler::new(limits);
            if round % 2 == 0 {
                r.set_inflater(Inflater::new(&DeflateParams::default()));
            }
            let mut at = 0;
            while at < input.len() {
                let end = (at + 1 + next() as usize % 50).min(input.len());
                match r.feed(&input[at..end]) {
                    Ok((0, _)) if end == input.len() => break,
                    // Too few bytes for a header: offer more next time.
                    Ok((0, _)) => continue,
                    Ok((n, ev)) => {
                        if let Some(Event::Message { data, .. }) = ev {
                            assert!(data.len() as u64 <= limits.max_message);
                        }
                        at += n;
                    }
                    Err(_) => break,
                }
                if let Some((_, buf, _)) = &r.message {
                    assert!(buf.len() as u64 <= limits.max_message);
                }
            }
        }
    }

    #[test]
    fn message_stops_exactly_at_the_event() {
        let mut r = Reassembler::new(Limits::default());
        let (n, ev) = r.feed(b"\x81\x01a\x81\x01b").unwrap();
        assert_eq!((n, ev), (3, Some(msg(Kind::Text, b"a"))));
    }
}
