//! Body decoding: turns framed bytes into body bytes without copying.
//!
//! `BodyDecoder::decode` looks at the caller's buffer and says how much of
//! it was consumed and which sub-range of it is body data; the caller copies
//! the data wherever it wants. The body-size limit trips when a length is
//! announced (Content-Length, chunk size), before any of it is buffered.
use std::ops::Range;

use super::error::{ProtoError, ProtoErrorKind};
use super::framing::BodyMode;
use super::limits::Limits;
use super::request::is_tchar;
use super::trailers::Trailers;

/// The outcome of one `decode` call: `consumed` bytes of input were used,
/// and `input[data]` (inside the consumed part) is body data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub consumed: usize,
    pub data: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading hex digits of a chunk size; `digits` saturates (leading
    /// zeros are legal, so it only says whether one was seen).
    Size {
        value: u64,
        digits: u8,
    },
    /// Whitespace after the size: only more of it, `;` or CR may follow.
    SizeBws,
    /// After `;`: extensions until CR.
    Ext,
    /// Saw the CR ending a size line.
    SizeLf,
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// In the trailer section, at `at` in a field line.
    Trailer {
        at: TrailerAt,
    },
    TrailerLf {
        line_empty: bool,
    },
}

/// Position in a trailer line, which must be a field line (RFC 9112 §7.1.2,
/// §5): a token name, a colon, then a value without control bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrailerAt {
    LineStart,
    Name,
    Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length { left: u64 },
    Chunked(Chunk),
    Close,
    Done,
}

/// Incremental decoder for one response body.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    limits: Limits,
    /// Body bytes produced so far.
    produced: u64,
    /// Bytes of the current chunk-size or trailer line.
    line_len: usize,
    /// Bytes of the trailer section so far.
    trailer_len: usize,
    /// The chunk size parsed from the current size line.
    pending_size: u64,
    /// The trailer fields received so far.
    trailers: Trailers,
}

fn chunk_error(message: String) -> ProtoError {
    ProtoError::new(ProtoErrorKind::InvalidChunk, message)
}

fn too_large(limit: u64, seen: u64) -> ProtoError {
    ProtoError::new(
        ProtoErrorKind::BodyTooLarge,
        format!(
            "response body exceeds max_body_bytes ({}): at least {} bytes",
            limit, seen
        ),
    )
}

impl BodyDecoder {
    /// A decoder for `mode`. A Content-Length over the body limit fails here,
    /// before anything is read.
    pub fn new(mode: BodyMode, limits: &Limits) -> Result<Self, ProtoError> {
        let state = match mode {
            BodyMode::None | BodyMode::Length(0) => State::Done,
            BodyMode::Length(n) if n > limits.max_body_bytes => {
                return Err(too_large(limits.max_body_bytes, n))
            }
            BodyMode::Length(n) => State::Length { left: n },
            BodyMode::Chunked => State::Chunked(Chunk::Size {
                value: 0,
                digits: 0,
            }),
            BodyMode::CloseDelimited => State::Close,
        };
        Ok(BodyDecoder {
            state,
            limits: *limits,
            produced: 0,
            line_len: 0,
            trailer_len: 0,
            pending_size: 0,
            trailers: Trailers::default(),
        })
    }

    /// True once the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes produced so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// The trailer fields of a chunked body, complete once `is_done`.
    pub fn trailers(&self) -> &Trailers {
        &self.trailers
    }

    /// Takes the trailer fields out (the decoder keeps none).
    pub fn take_trailers(&mut self) -> Trailers {
        std::mem::take(&mut self.trailers)
    }

    /// For a Content-Length body, the bytes still to come.
    pub fn remaining_length(&self) -> Option<u64> {
        match self.state {
            State::Length { left } => Some(left),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// Decodes from the front of `input`. Stops after at most one run of body
    /// data, at the end of the body, or at the end of `input`. Bytes after the
    /// end of the body are never consumed.
    pub fn decode(&mut self, input: &[u8]) -> Result<Step, ProtoError> {
        match self.state {
            State::Done => Ok(Step {
                consumed: 0,
                data: 0..0,
            }),
            State::Length { left } => {
                let n = (left.min(input.len() as u64)) as usize;
                self.produced += n as u64;
                self.state = if left == n as u64 {
                    State::Done
                } else {
                    State::Length {
                        left: left - n as u64,
                    }
                };
                Ok(Step {
                    consumed: n,
                    data: 0..n,
                })
            }
            State::Close => {
                // Up to the limit the bytes are body, and only the byte past
                // it fails, so what the caller gets before the error does
                // not depend on how the reads were split.
                let room = self.limits.max_body_bytes - self.produced;
                if room == 0 && !input.is_empty() {
                    let seen = self.produced.saturating_add(input.len() as u64);
                    return Err(too_large(self.limits.max_body_bytes, seen));
                }
                let n = room.min(input.len() as u64) as usize;
                self.produced += n as u64;
                Ok(Step {
                    consumed: n,
                    data: 0..n,
                })
            }
            State::Chunked(_) => self.decode_chunked(input),
        }
    }

    /// Tells the decoder the peer closed the connection. Only a
    /// close-delimited body may end this way; anywhere else it is
    /// `UnexpectedEof`, never a short success.
    pub fn feed_eof(&mut self) -> Result<(), ProtoError> {
        match self.state {
            State::Done => Ok(()),
            State::Close => {
                self.state = State::Done;
                Ok(())
            }
            State::Length { left } => Err(ProtoError::new(
                ProtoErrorKind::UnexpectedEof,
                format!(
                    "connection closed with {} of {} body bytes missing",
                    left,
                    left + self.produced
                ),
            )),
            State::Chunked(_) => Err(ProtoError::new(
                ProtoErrorKind::UnexpectedEof,
                format!(
                    "connection closed inside a chunked body after {} bytes",
                    self.produced
                ),
            )),
        }
    }

    fn bump_line(&mut self, what: &str) -> Result<(), ProtoError> {
        self.line_len += 1;
        if self.line_len > self.limits.max_line_bytes {
            return Err(chunk_error(format!(
                "{} exceeds max_line_bytes ({})",
                what, self.limits.max_line_bytes
            )));
        }
        Ok(())
    }

    fn decode_chunked(&mut self, input: &[u8]) -> Result<Step, ProtoError> {
        let mut i = 0;
        while i < input.len() {
            let State::Chunked(chunk) = self.state else {
                break;
            };
            let b = input[i];
            match chunk {
                Chunk::Data { left } => {
                    let n = left.min((input.len() - i) as u64) as usize;
                    self.produced += n as u64;
                    self.state = State::Chunked(if left == n as u64 {
                        Chunk::DataCr
                    } else {
                        Chunk::Data {
                            left: left - n as u64,
                        }
                    });
                    return Ok(Step {
                        consumed: i + n,
                        data: i..i + n,
                    });
                }
                Chunk::Size { value, digits } => {
                    self.bump_line("chunk size line")?;
                    if let Some(d) = (b as char).to_digit(16) {
                        // By value, not digit count: RFC 9112 §7.1 allows
                        // leading zeros; the line limit bounds their number.
                        if value > u64::MAX >> 4 {
                            return Err(chunk_error("chunk size overflows 64 bits".into()));
                        }
                        self.state = State::Chunked(Chunk::Size {
                            value: value << 4 | u64::from(d),
                            digits: digits.saturating_add(1),
                        });
                    } else if digits == 0 {
                        return Err(chunk_error(format!(
                            "chunk size line starts with byte 0x{:02x}, not a hex digit",
                            b
                        )));
                    } else if b == b'\r' {
                        self.start_chunk(value)?;
                    } else if b == b';' {
                        // chunk-ext (RFC 9112 §7.1.1), which we ignore.
                        self.state = State::Chunked(Chunk::Ext);
                        self.pending_size = value;
                    } else if b == b' ' || b == b'\t' {
                        // BWS, allowed only before a ';' (§7.1.1).
                        self.state = State::Chunked(Chunk::SizeBws);
                        self.pending_size = value;
                    } else {
                        return Err(chunk_error(format!(
                            "unexpected byte 0x{:02x} in chunk size",
                            b
                        )));
                    }
                }
                Chunk::SizeBws => {
                    self.bump_line("chunk size line")?;
                    match b {
                        b' ' | b'\t' => {}
                        b';' => self.state = State::Chunked(Chunk::Ext),
                        b'\r' => self.start_chunk(self.pending_size)?,
                        _ => {
                            // "5 junk" is no chunk size: a lenient reading of
                            // it is how chunked bodies get smuggled.
                            return Err(chunk_error(format!(
                                "unexpected byte 0x{:02x} after chunk size and whitespace",
                                b
                            )));
                        }
                    }
                }
                Chunk::Ext => {
                    self.bump_line("chunk extension")?;
                    if b == b'\r' {
                        self.start_chunk(self.pending_size)?;
                    } else if (b < 0x20 && b != b'\t') || b == 0x7f {
                        return Err(chunk_error(format!(
                            "control byte 0x{:02x} in chunk extension",
                            b
                        )));
                    }
                }
                Chunk::SizeLf => {
                    if b != b'\n' {
                        return Err(chunk_error("chunk size line ends in CR without LF".into()));
                    }
                    self.line_len = 0;
                    self.state = State::Chunked(if self.pending_size == 0 {
                        Chunk::Trailer {
                            at: TrailerAt::LineStart,
                        }
                    } else {
                        Chunk::Data {
                            left: self.pending_size,
                        }
                    });
                }
                Chunk::DataCr => {
                    if b != b'\r' {
                        return Err(chunk_error(format!(
                            "chunk data not followed by CRLF (byte 0x{:02x})",
                            b
                        )));
                    }
                    self.state = State::Chunked(Chunk::DataLf);
                }
                Chunk::DataLf => {
                    if b != b'\n' {
                        return Err(chunk_error("chunk data not followed by CRLF".into()));
                    }
                    self.line_len = 0;
                    self.state = State::Chunked(Chunk::Size {
                        value: 0,
                        digits: 0,
                    });
                }
                Chunk::Trailer { at } => {
                    self.trailer_len += 1;
                    if self.trailer_len > self.limits.max_header_bytes {
                        return Err(chunk_error(format!(
                            "trailer section exceeds max_header_bytes ({})",
                            self.limits.max_header_bytes
                        )));
                    }
                    if b != b'\r' {
                        self.bump_line("trailer line")?;
                    }
                    // Each line must be a field line, as in the head: a
                    // reader that skips anything up to CRLF CRLF would frame
                    // differently from one that does not (obs-fold, bare LF,
                    // NUL). Checked lines are kept for the caller.
                    let next = match (at, b) {
                        (TrailerAt::LineStart, b'\r') => None,
                        (TrailerAt::LineStart | TrailerAt::Name, b) if is_tchar(b) => {
                            Some(TrailerAt::Name)
                        }
                        (TrailerAt::Name, b':') => Some(TrailerAt::Value),
                        (TrailerAt::Value, b'\r') => None,
                        (TrailerAt::Value, b) if (b >= 0x20 && b != 0x7f) || b == b'\t' => {
                            Some(TrailerAt::Value)
                        }
                        _ => {
                            return Err(chunk_error(format!(
                                "malformed trailer line: byte 0x{:02x} in its {}",
                                b,
                                if at == TrailerAt::Value {
                                    "value"
                                } else {
                                    "name"
                                }
                            )))
                        }
                    };
                    if next.is_some() {
                        self.trailers.push_byte(b);
                    }
                    self.state = State::Chunked(match next {
                        Some(at) => Chunk::Trailer { at },
                        None => Chunk::TrailerLf {
                            line_empty: at == TrailerAt::LineStart,
                        },
                    });
                }
                Chunk::TrailerLf { line_empty } => {
                    if b != b'\n' {
                        return Err(chunk_error("trailer line ends in CR without LF".into()));
                    }
                    self.line_len = 0;
                    if !line_empty {
                        self.trailers.end_line();
                    }
                    if line_empty {
                        self.state = State::Done;
                        return Ok(Step {
                            consumed: i + 1,
                            data: i + 1..i + 1,
                        });
                    }
                    self.state = State::Chunked(Chunk::Trailer {
                        at: TrailerAt::LineStart,
                    });
                }
            }
            i += 1;
        }
        Ok(Step {
            consumed: i,
            data: i..i,
        })
    }

    /// The size line ended (CR seen): check the limit before any data.
    fn start_chunk(&mut self, size: u64) -> Result<(), ProtoError> {
        let total = self.produced.saturating_add(size);
        if total > self.limits.max_body_bytes {
            return Err(too_large(self.limits.max_body_bytes, total));
        }
        self.pending_size = size;
        self.state = State::Chunked(Chunk::SizeLf);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::test_util::{decode_all_ways, Outcome};

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn length_body_stops_at_its_end() {
        decode_all_ways(
            BodyMode::Length(5),
            &limits(),
            b"hello",
            Outcome::Body(b"hello"),
        );
    }

    #[test]
    fn length_body_eof_inside_is_unexpected_eof() {
        decode_all_ways(
            BodyMode::Length(10),
            &limits(),
            b"hello",
            Outcome::Error(ProtoErrorKind::UnexpectedEof),
        );
    }

    #[test]
    fn length_over_limit_fails_before_reading() {
        let l = Limits {
            max_body_bytes: 4,
            ..limits()
        };
        assert_eq!(
            BodyDecoder::new(BodyMode::Length(5), &l).unwrap_err().kind,
            ProtoErrorKind::BodyTooLarge
        );
    }

    #[test]
    fn close_delimited_body_ends_at_eof() {
        decode_all_ways(
            BodyMode::CloseDelimited,
            &limits(),
            b"all of it",
            Outcome::BodyAtEof(b"all of it"),
        );
    }

    #[test]
    fn close_delimited_body_obeys_limit() {
        let l = Limits {
            max_body_bytes: 4,
            ..limits()
        };
        decode_all_ways(
            BodyMode::CloseDelimited,
            &l,
            b"12345",
            Outcome::Error(ProtoErrorKind::BodyTooLarge),
        );
    }

    #[test]
    fn close_delimited_body_delivers_up_to_the_limit_then_fails() {
        let l = Limits {
            max_body_bytes: 4,
            ..limits()
        };
        for pieces in [
            vec![&b"12345"[..]],
            vec![b"12", b"345"],
            vec![b"1234", b"5"],
        ] {
            let mut d = BodyDecoder::new(BodyMode::CloseDelimited, &l).unwrap();
            let mut body = Vec::new();
            let mut error = None;
            'reads: for piece in pieces {
                let mut rest = piece;
                while !rest.is_empty() {
                    match d.decode(rest) {
                        Ok(step) => {
                            body.extend_from_slice(&rest[step.data]);
                            rest = &rest[step.consumed..];
                        }
                        Err(e) => {
                            error = Some(e.kind);
                            break 'reads;
                        }
                    }
                }
            }
            assert_eq!(body, b"1234");
            assert_eq!(error, Some(ProtoErrorKind::BodyTooLarge));
        }
    }

    #[test]
    fn chunked_decodes_chunks_and_ignores_extensions() {
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"5;name=value\r\nhello\r\n1 ; x\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n",
            Outcome::Body(b"hello 0123456789"),
        );
    }

    #[test]
    fn chunked_accepts_bounded_trailers() {
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"3\r\nabc\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n",
            Outcome::Body(b"abc"),
        );
    }

    #[test]
    fn chunked_keeps_its_trailer_fields_whatever_the_split() {
        let wire = b"3\r\nabc\r\n0\r\nX-T: one \r\nY:2\r\n\r\n";
        for split in 1..wire.len() {
            let mut d = BodyDecoder::new(BodyMode::Chunked, &limits()).unwrap();
            for piece in [&wire[..split], &wire[split..]] {
                let mut rest = piece;
                while !rest.is_empty() && !d.is_done() {
                    let step = d.decode(rest).unwrap();
                    rest = &rest[step.consumed..];
                }
            }
            assert!(d.is_done(), "split at {split}");
            let fields: Vec<_> = d.trailers().iter().collect();
            assert_eq!(
                fields,
                [(&b"X-T"[..], &b"one"[..]), (b"Y", b"2")],
                "split at {split}"
            );
        }
        let mut none = BodyDecoder::new(BodyMode::Chunked, &limits()).unwrap();
        let mut rest = &b"1\r\nx\r\n0\r\n\r\n"[..];
        for _ in 0..10 {
            let step = none.decode(rest).unwrap();
            rest = &rest[step.consumed..];
        }
        assert!(none.is_done());
        assert!(none.take_trailers().is_empty());
    }

    #[test]
    fn chunked_rejects_oversized_trailers() {
        let l = Limits {
            max_header_bytes: 16,
            ..limits()
        };
        decode_all_ways(
            BodyMode::Chunked,
            &l,
            b"0\r\nX-Trailer: 0123456789\r\n\r\n",
            Outcome::Error(ProtoErrorKind::InvalidChunk),
        );
    }

    #[test]
    fn chunked_accepts_leading_zeros_in_size() {
        // Twenty digits, value 3: RFC 9112 §7.1 puts no bound on 1*HEXDIG.
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"00000000000000000003\r\nabc\r\n000\r\n\r\n",
            Outcome::Body(b"abc"),
        );
    }

    #[test]
    fn chunked_rejects_junk_after_size_whitespace() {
        for input in [
            &b"3 junk\r\nabc\r\n0\r\n\r\n"[..],
            b"3\t4\r\n",
            b"3 \t x;a\r\n",
        ] {
            decode_all_ways(
                BodyMode::Chunked,
                &limits(),
                input,
                Outcome::Error(ProtoErrorKind::InvalidChunk),
            );
        }
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"3 \t ;a\r\nabc\r\n0 \r\n\r\n",
            Outcome::Body(b"abc"),
        );
    }

    #[test]
    fn chunked_rejects_malformed_trailer_lines() {
        for input in [
            &b"0\r\nnot a field\r\n\r\n"[..],
            b"0\r\n folded: x\r\n\r\n",
            b"0\r\n: no name\r\n\r\n",
            b"0\r\nX: a\nY: b\r\n\r\n",
            b"0\r\nX: a\x00b\r\n\r\n",
            b"0\r\nX\r\n\r\n",
        ] {
            decode_all_ways(
                BodyMode::Chunked,
                &limits(),
                input,
                Outcome::Error(ProtoErrorKind::InvalidChunk),
            );
        }
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"0\r\nX-Empty:\r\nY:\tv \xe9\r\n\r\n",
            Outcome::Body(b""),
        );
    }

    #[test]
    fn chunked_rejects_size_overflow() {
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"10000000000000000\r\n",
            Outcome::Error(ProtoErrorKind::InvalidChunk),
        );
    }

    #[test]
    fn chunked_rejects_bad_size_and_missing_crlf() {
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"zz\r\n",
            Outcome::Error(ProtoErrorKind::InvalidChunk),
        );
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"\r\n",
            Outcome::Error(ProtoErrorKind::InvalidChunk),
        );
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"3\r\nabcX",
            Outcome::Error(ProtoErrorKind::InvalidChunk),
        );
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"3\nabc\r\n",
            Outcome::Error(ProtoErrorKind::InvalidChunk),
        );
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"-3\r\n",
            Outcome::Error(ProtoErrorKind::InvalidChunk),
        );
    }

    #[test]
    fn chunked_rejects_long_size_line() {
        let l = Limits {
            max_line_bytes: 8,
            ..limits()
        };
        decode_all_ways(
            BodyMode::Chunked,
            &l,
            b"3;aaaaaaaaaaaa\r\nabc\r\n0\r\n\r\n",
            Outcome::Error(ProtoErrorKind::InvalidChunk),
        );
    }

    #[test]
    fn chunked_limit_trips_on_announced_size() {
        let l = Limits {
            max_body_bytes: 5,
            ..limits()
        };
        decode_all_ways(
            BodyMode::Chunked,
            &l,
            b"3\r\nabc\r\n3\r\n",
            Outcome::Error(ProtoErrorKind::BodyTooLarge),
        );
    }

    #[test]
    fn chunked_eof_inside_is_unexpected_eof() {
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"5\r\nhel",
            Outcome::Error(ProtoErrorKind::UnexpectedEof),
        );
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"5\r\nhello\r\n",
            Outcome::Error(ProtoErrorKind::UnexpectedEof),
        );
        decode_all_ways(
            BodyMode::Chunked,
            &limits(),
            b"0\r\n",
            Outcome::Error(ProtoErrorKind::UnexpectedEof),
        );
    }

    #[test]
    fn no_body_is_done_at_once() {
        decode_all_ways(BodyMode::None, &limits(), b"", Outcome::Body(b""));
        decode_all_ways(BodyMode::Length(0), &limits(), b"", Outcome::Body(b""));
    }
}
