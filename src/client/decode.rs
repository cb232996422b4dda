//! Content-Encoding decoding (RFC 9110 §8.4.1): gzip and deflate, one
//! layer or a chain of up to `MAX_LAYERS`, for buffered and streamed
//! bodies. Every layer's output counts against the body limit as it is
//! produced, so neither a small compressed body nor a chain of them can
//! expand (or make the decoders work) without bound.
use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use smallvec::SmallVec;

use super::error::ClientError;
use crate::proto::{ProtoError, ProtoErrorKind, ResponseHead};

/// The value sent in Accept-Encoding when decoding is on.
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate";

/// The most codings decoded in one chain, as curl and urllib3 allow: a
/// longer one is refused rather than delivered still encoded.
pub(crate) const MAX_LAYERS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Gzip,
    Deflate,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

/// The codings of a body in the order the sender applied them (the order
/// Content-Encoding lists them); decoding undoes the last first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Codings(SmallVec<[Coding; 2]>);

impl std::fmt::Display for Codings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { "" } else { ", " })?;
            f.write_str(c.name())?;
        }
        Ok(())
    }
}

fn decompression(message: String) -> ClientError {
    ClientError::Proto(ProtoError::new(ProtoErrorKind::Decompression, message))
}

/// The codings to undo. `Ok(None)` when there is nothing to undo, or a
/// coding this client does not know (the caller gets the bytes as sent,
/// and Content-Encoding says what they are); an error for a chain of
/// known codings longer than `MAX_LAYERS`.
pub(crate) fn codings_of(head: &ResponseHead) -> Result<Option<Codings>, ClientError> {
    let mut codings = SmallVec::new();
    let listed = head
        .values("content-encoding")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|c| c.trim_ascii())
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case(b"identity"));
    for c in listed {
        codings.push(
            if c.eq_ignore_ascii_case(b"gzip") || c.eq_ignore_ascii_case(b"x-gzip") {
                Coding::Gzip
            } else if c.eq_ignore_ascii_case(b"deflate") {
                Coding::Deflate
            } else {
                return Ok(None);
            },
        );
    }
    if codings.len() > MAX_LAYERS {
        return Err(decompression(format!(
            "response has {} content codings, more than the {} this client decodes",
            codings.len(),
            MAX_LAYERS
        )));
    }
    Ok((!codings.is_empty()).then_some(Codings(codings)))
}

/// An `io::Error` that carries a `ClientError` through a decoder, so the
/// original error (timeout, cancel, a limit) comes out the other side.
#[derive(Debug)]
pub(crate) struct Carried(pub ClientError);

impl std::fmt::Display for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Carried {}

pub(crate) fn carry(e: ClientError) -> io::Error {
    io::Error::other(Carried(e))
}

/// The `ClientError` behind an error from a decoder: the carried one, or a
/// decompression error.
pub(crate) fn uncarry(e: io::Error, codings: &Codings) -> ClientError {
    if e.get_ref().is_some_and(|inner| inner.is::<Carried>()) {
        if let Ok(c) = e.into_inner().expect("checked").downcast::<Carried>() {
            return c.0;
        }
        unreachable!("checked the type above");
    }
    decompression(format!("invalid {} body: {}", codings, e).to_lowercase())
}

pub(crate) fn too_large(limit: u64) -> ClientError {
    ClientError::Proto(ProtoError::new(
        ProtoErrorKind::BodyTooLarge,
        format!("decoded response body exceeds max_body_bytes ({})", limit),
    ))
}

/// Counts what one layer produces and fails past `limit`, so an inner
/// layer that expands (or churns out empty gzip members) stops as soon as
/// the last one would.
struct Counted<R> {
    inner: R,
    produced: u64,
    limit: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        if self.produced > self.limit {
            return Err(carry(too_large(self.limit)));
        }
        Ok(n)
    }
}

/// "deflate" is zlib-wrapped per RFC 9110 §8.4.1.2; raw deflate, which some
/// servers send instead, is told apart by its first byte (a zlib stream
/// starts with CMF 0x?8), read when the first output is asked for.
enum Deflate<R: Read> {
    Unread(Option<R>),
    Zlib(ZlibDecoder<io::Chain<io::Cursor<[u8; 1]>, R>>),
    Raw(DeflateDecoder<io::Chain<io::Cursor<[u8; 1]>, R>>),
    Empty,
}

impl<R: Read> Read for Deflate<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self {
                Deflate::Zlib(d) => return d.read(buf),
                Deflate::Raw(d) => return d.read(buf),
                Deflate::Empty => return Ok(0),
                Deflate::Unread(src) => {
                    let mut src = src.take().expect("taken once");
                    let mut first = [0u8; 1];
                    let n = loop {
                        match src.read(&mut first) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            // A pushed body with no byte yet: ask again later.
                            Err(e) => {
                                *self = Deflate::Unread(Some(src));
                                return Err(e);
                            }
                            Ok(n) => break n,
                        }
                    };
                    let chained = io::Cursor::new(first).chain(src);
                    *self = match (n, first[0] & 0x0f == 8) {
                        (0, _) => Deflate::Empty,
                        (_, true) => Deflate::Zlib(ZlibDecoder::new(chained)),
                        (_, false) => Deflate::Raw(DeflateDecoder::new(chained)),
                    };
                }
            }
        }
    }
}

/// A reader of the decoded body, reading encoded bytes from `src`; each
/// layer's output is held to `limit`.
pub(crate) fn decoder<'r, R: Read + Send + 'r>(
    codings: &Codings,
    src: R,
    limit: u64,
) -> Box<dyn Read + Send + 'r> {
    let mut r: Box<dyn Read + Send + 'r> = Box::new(src);
    for coding in codings.0.iter().rev() {
        let layer: Box<dyn Read + Send + 'r> = match coding {
            Coding::Gzip => Box::new(MultiGzDecoder::new(r)),
            Coding::Deflate => Box::new(Deflate::Unread(Some(r))),
        };
        r = Box::new(Counted {
            inner: layer,
            produced: 0,
            limit,
        });
    }
    r
}

/// The encoded bytes of a body that arrives in pieces (the event-driven
/// core pushes them): reads say WouldBlock when nothing is queued and the
/// body has not ended.
#[derive(Default)]
struct Fed {
    bytes: VecDeque<u8>,
    ended: bool,
}

struct FedReader(Arc<Mutex<Fed>>);

impl Read for FedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut fed = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if fed.bytes.is_empty() {
            return match fed.ended {
                true => Ok(0),
                false => Err(io::ErrorKind::WouldBlock.into()),
            };
        }
        fed.bytes.read(buf)
    }
}

/// A decoder the body is pushed into, piece by piece, and decoded bytes
/// pulled out of: the same layers (and limits) as `decoder`, over a feed
/// instead of a reader. The decoders take WouldBlock from their source as
/// "no input yet" and keep their state.
pub(crate) struct PushDecoder {
    fed: Arc<Mutex<Fed>>,
    out: Box<dyn Read + Send>,
    codings: Codings,
}

impl PushDecoder {
    pub(crate) fn new(codings: Codings, limit: u64) -> PushDecoder {
        let fed = Arc::new(Mutex::new(Fed::default()));
        let out = decoder(&codings, FedReader(fed.clone()), limit);
        PushDecoder { fed, out, codings }
    }

    fn fed(&self) -> std::sync::MutexGuard<'_, Fed> {
        self.fed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues encoded bytes.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.fed().bytes.extend(bytes);
    }

    /// Says the encoded body has ended.
    pub(crate) fn end(&mut self) {
        self.fed().ended = true;
    }

    /// Decoded bytes into `buf`: `Some(n)` (0 at the end of the body), or
    /// `None` when the decoders need more input first.
    pub(crate) fn pull(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ClientError> {
        loop {
            match self.out.read(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(uncarry(e, &self.codings)),
            }
        }
    }
}

/// Decodes a whole buffered body, stopping as soon as a layer's output
/// passes `limit`. The decoded bytes come after `front` zero bytes the
/// caller keeps free.
pub(crate) fn decode_all(
    codings: &Codings,
    body: &[u8],
    limit: u64,
    front: usize,
) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::with_capacity(front + body.len().saturating_mul(4).min(64 << 20));
    out.resize(front, 0);
    decoder(codings, body, limit)
        .read_to_end(&mut out)
        .map_err(|e| uncarry(e, codings))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{parse_head, Limits};

    fn head(encoding: &str) -> ResponseHead {
        let raw = format!("HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\n\r\n");
        parse_head(raw.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap()
            .1
    }

    #[test]
    fn codings_are_listed_in_applied_order() {
        let c = codings_of(&head("gzip, identity, deflate"))
            .unwrap()
            .unwrap();
        assert_eq!(c.to_string(), "gzip, deflate");
        assert_eq!(codings_of(&head("identity")).unwrap(), None);
        assert_eq!(
            codings_of(&head("gzip, br")).unwrap(),
            None,
            "unknown: as sent"
        );
        assert!(codings_of(&head("gzip,gzip,gzip,gzip,gzip"))
            .unwrap()
            .is_some());
        let e = codings_of(&head("gzip,gzip,gzip,gzip,gzip,gzip")).unwrap_err();
        assert!(e.to_string().contains("6 content codings"), "{e}");
    }

    /// Pushes `encoded` in pieces of `step` bytes, pulling after each.
    fn push_through(codings: &str, encoded: &[u8], step: usize) -> Result<Vec<u8>, ClientError> {
        let name = codings;
        let codings = codings_of(&head(codings)).unwrap().unwrap();
        let mut d = PushDecoder::new(codings, 1 << 30);
        let (mut out, mut buf) = (Vec::new(), [0u8; 333]);
        let mut drain = |d: &mut PushDecoder, out: &mut Vec<u8>| -> Result<bool, ClientError> {
            loop {
                match d.pull(&mut buf)? {
                    Some(0) => return Ok(true),
                    Some(n) => out.extend_from_slice(&buf[..n]),
                    None => return Ok(false),
                }
            }
        };
        let pieces = encoded.chunks(step).count();
        for (i, piece) in encoded.chunks(step).enumerate() {
            d.push(piece);
            // The last piece may end a zlib stream without the body's end.
            let ended = drain(&mut d, &mut out)?;
            assert!(!ended || i + 1 == pieces, "{name}: ended at {}", out.len());
        }
        d.end();
        assert!(drain(&mut d, &mut out)?);
        Ok(out)
    }

    #[test]
    fn a_pushed_body_decodes_whatever_its_pieces() {
        use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
        use flate2::Compression;
        use std::io::Write;
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 7 + i / 1000) as u8).collect();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
        zlib.write_all(&gz).unwrap();
        let gz_then_zlib = zlib.finish().unwrap();
        let mut raw = DeflateEncoder::new(Vec::new(), Compression::default());
        raw.write_all(&plain).unwrap();
        let raw = raw.finish().unwrap();
        for step in [1, 7, 4096, usize::MAX] {
            assert_eq!(push_through("gzip", &gz, step).unwrap(), plain, "{step}");
            assert_eq!(
                push_through("gzip, deflate", &gz_then_zlib, step).unwrap(),
                plain
            );
            assert_eq!(
                push_through("deflate", &raw, step).unwrap(),
                plain,
                "{step}"
            );
        }
        let e = push_through("gzip", &gz[..gz.len() - 9], 100).unwrap_err();
        assert!(e.to_string().contains("gzip"), "{e}");
    }
}
