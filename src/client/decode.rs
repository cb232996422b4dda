//! Content-Encoding decoding (RFC 9110 §8.4.1): gzip, deflate, br (RFC
//! 7932) and zstd (RFC 8878), one layer or a chain of up to `MAX_LAYERS`,
//! for buffered and streamed bodies. Every layer's output counts against
//! the body limit as it is produced, so neither a small compressed body nor
//! a chain of them can expand (or make the decoders work) without bound;
//! the br and zstd windows (what a decoder keeps of its output) are held
//! to their content codings' 16 MiB and 8 MiB.
use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use smallvec::SmallVec;

use super::error::ClientError;
use crate::proto::{ProtoError, ProtoErrorKind, ResponseHead};

/// The value sent in Accept-Encoding when decoding is on.
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// The most codings decoded in one chain, as curl and urllib3 allow: a
/// longer one is refused rather than delivered still encoded.
pub(crate) const MAX_LAYERS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
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
            } else if c.eq_ignore_ascii_case(b"br") {
                Coding::Brotli
            } else if c.eq_ignore_ascii_case(b"zstd") {
                Coding::Zstd
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

/// What a decoder driven with slices did with the input it was shown.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Took `.0` input bytes and wrote `.1` decoded ones (either may be 0).
    Went(usize, usize),
    /// Can go no further before it is shown at least `.0` input bytes
    /// (counted from the first it has not taken).
    Needs(usize),
    /// The coded data ended, `.0` more input bytes taken.
    Ended(usize),
}

/// A decoder that takes its input as slices (brotli's stream call, zstd one
/// block at a time), so that `Sliced` keeps every byte read from the source
/// until it is taken: a source that says WouldBlock (a pushed body) loses
/// nothing.
trait SliceDecoder: Send {
    /// Decodes from `input` into `out` (never empty); `eof` says no input
    /// follows `input`.
    fn step(&mut self, input: &[u8], eof: bool, out: &mut [u8]) -> io::Result<Step>;
}

/// How much a `Sliced` reads from its source at a time.
const SLICE_READ: usize = 32 * 1024;

fn invalid(message: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// A reader of what a `SliceDecoder` makes of the bytes of `src`. An empty
/// body decodes to nothing (as buffered bodies, which are not decoded when
/// empty); a body that ends inside the coded data is "unexpected end of
/// file", and bytes after its end are an error.
struct Sliced<R, D> {
    src: R,
    decoder: D,
    /// Bytes read from `src`; those before `taken` are decoded.
    input: Vec<u8>,
    taken: usize,
    eof: bool,
    /// Whether `src` gave any byte.
    any: bool,
    ended: bool,
}

impl<R: Read, D: SliceDecoder> Sliced<R, D> {
    fn new(src: R, decoder: D) -> Self {
        Sliced {
            src,
            decoder,
            input: Vec::new(),
            taken: 0,
            eof: false,
            any: false,
            ended: false,
        }
    }

    /// One read from the source, room made for at least `want` untaken
    /// bytes. WouldBlock and other errors of the source pass through.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        if self.taken > 0 {
            self.input.drain(..self.taken);
            self.taken = 0;
        }
        let have = self.input.len();
        self.input
            .resize(have + want.saturating_sub(have).max(SLICE_READ), 0);
        let read = loop {
            match self.src.read(&mut self.input[have..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r,
            }
        };
        self.input.truncate(have + *read.as_ref().unwrap_or(&0));
        let n = read?;
        self.eof = n == 0;
        self.any |= n > 0;
        Ok(())
    }
}

impl<R: Read, D: SliceDecoder> Read for Sliced<R, D> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        // A step that neither takes nor writes may change the decoder's
        // state (zstd's end of a frame), but two in a row would spin.
        let mut idle = false;
        loop {
            if self.ended {
                if self.taken < self.input.len() {
                    return Err(invalid("data after the end of the coded body"));
                }
                if self.eof {
                    return Ok(0);
                }
                self.fill(1)?;
                continue;
            }
            let step = self
                .decoder
                .step(&self.input[self.taken..], self.eof, out)?;
            match (step, std::mem::take(&mut idle)) {
                (Step::Went(0, 0), true) => {
                    return Err(invalid("the decoder stopped making progress"))
                }
                (Step::Went(took, wrote), _) => {
                    self.taken += took;
                    if wrote > 0 {
                        return Ok(wrote);
                    }
                    idle = took == 0;
                }
                (Step::Ended(took), _) => {
                    self.taken += took;
                    self.ended = true;
                }
                (Step::Needs(_), _) if self.eof && !self.any => self.ended = true,
                (Step::Needs(_), _) if self.eof => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "unexpected end of file",
                    ))
                }
                (Step::Needs(want), _) => self.fill(want)?,
            }
        }
    }
}

/// br (RFC 7932) through Dropbox's decoder, windows of at most 16 MiB (the
/// large-window variant, up to 1 GiB, is not the br content coding).
struct Brotli(BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>);

impl Brotli {
    fn new() -> Brotli {
        let mut state = BrotliState::new(
            StandardAlloc::default(),
            StandardAlloc::default(),
            StandardAlloc::default(),
        );
        state.large_window = false;
        Brotli(state)
    }
}

impl SliceDecoder for Brotli {
    fn step(&mut self, input: &[u8], _eof: bool, out: &mut [u8]) -> io::Result<Step> {
        let (mut avail_in, mut took) = (input.len(), 0);
        let (mut avail_out, mut wrote, mut total) = (out.len(), 0, 0);
        let result = BrotliDecompressStream(
            &mut avail_in,
            &mut took,
            input,
            &mut avail_out,
            &mut wrote,
            out,
            &mut total,
            &mut self.0,
        );
        Ok(match result {
            BrotliResult::ResultFailure => {
                let code = format!("{:?}", self.0.error_code);
                let code = code.trim_start_matches("BROTLI_DECODER_ERROR_");
                return Err(invalid(format!("corrupt brotli stream ({code})")));
            }
            BrotliResult::ResultSuccess if wrote == 0 => Step::Ended(took),
            BrotliResult::NeedsMoreInput if took == 0 && wrote == 0 => Step::Needs(input.len() + 1),
            _ => Step::Went(took, wrote),
        })
    }
}

/// The largest zstd window accepted: RFC 9659 §3 holds a zstd content
/// coding to 8 MiB (browsers refuse more too), and the window is what the
/// decoder keeps of its output.
const ZSTD_MAX_WINDOW: u64 = 8 << 20;
/// RFC 8878 §3.1.1.2.4: no block, coded or decoded, exceeds 128 KiB.
const ZSTD_MAX_BLOCK: usize = 128 << 10;
const ZSTD_MAGIC: u32 = 0xFD2F_B528;

/// zstd (RFC 8878) through ruzstd, one frame after another (skippable
/// frames passed over), each block handed to it once all of it is there;
/// a frame's checksum, when it has one, is checked.
struct Zstd {
    frame: FrameDecoder,
    /// Inside a frame (its header taken), and whether it ends in a checksum.
    in_frame: bool,
    checksum: bool,
    /// Bytes of a skippable frame yet to pass over.
    skip: u64,
}

impl Zstd {
    fn new() -> Zstd {
        let mut frame = FrameDecoder::new();
        frame.set_max_window_size(ZSTD_MAX_WINDOW);
        Zstd {
            frame,
            in_frame: false,
            checksum: false,
            skip: 0,
        }
    }

    /// A frame header (RFC 8878 §3.1.1.1), or a skippable frame's.
    fn header(&mut self, input: &[u8], eof: bool) -> io::Result<Step> {
        if input.is_empty() && eof {
            return Ok(Step::Ended(0));
        }
        let Some(magic) = input.get(..4) else {
            return Ok(Step::Needs(4));
        };
        let magic = u32::from_le_bytes(magic.try_into().expect("four bytes"));
        if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
            let Some(size) = input.get(4..8) else {
                return Ok(Step::Needs(8));
            };
            self.skip = u32::from_le_bytes(size.try_into().expect("four bytes")).into();
            return Ok(Step::Went(8, 0));
        }
        if magic != ZSTD_MAGIC {
            return Err(invalid("not a zstd frame (unknown magic number)"));
        }
        let Some(&descriptor) = input.get(4) else {
            return Ok(Step::Needs(5));
        };
        let single_segment = descriptor & 0x20 != 0;
        let dictionary_id = [0, 1, 2, 4][usize::from(descriptor & 3)];
        let content_size = match descriptor >> 6 {
            0 => usize::from(single_segment),
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let len = 5 + usize::from(!single_segment) + dictionary_id + content_size;
        if input.len() < len {
            return Ok(Step::Needs(len));
        }
        self.frame.reset(&input[..len]).map_err(invalid)?;
        self.in_frame = true;
        self.checksum = descriptor & 0x04 != 0;
        Ok(Step::Went(len, 0))
    }

    /// The next block (RFC 8878 §3.1.1.2), with the frame's checksum if it
    /// is the last.
    fn block(&mut self, input: &[u8]) -> io::Result<Step> {
        let Some(h) = input.get(..3) else {
            return Ok(Step::Needs(3));
        };
        let h = u32::from(h[0]) | u32::from(h[1]) << 8 | u32::from(h[2]) << 16;
        let (last, kind, size) = (h & 1 == 1, (h >> 1) & 3, (h >> 3) as usize);
        if kind == 3 {
            return Err(invalid("reserved zstd block type"));
        }
        if size > ZSTD_MAX_BLOCK {
            return Err(invalid(format!(
                "zstd block of {size} bytes, more than 128 KiB"
            )));
        }
        // An RLE block is one byte, repeated `size` times.
        let coded = if kind == 1 { 1 } else { size };
        let len = 3 + coded + if last && self.checksum { 4 } else { 0 };
        if input.len() < len {
            return Ok(Step::Needs(len));
        }
        self.frame
            .decode_blocks(&input[..len], BlockDecodingStrategy::UptoBlocks(1))
            .map_err(invalid)?;
        Ok(Step::Went(len, 0))
    }
}

impl SliceDecoder for Zstd {
    fn step(&mut self, input: &[u8], eof: bool, out: &mut [u8]) -> io::Result<Step> {
        if self.skip > 0 {
            if input.is_empty() {
                return Ok(Step::Needs(1));
            }
            let n = usize::try_from(self.skip).map_or(input.len(), |s| s.min(input.len()));
            self.skip -= n as u64;
            return Ok(Step::Went(n, 0));
        }
        if !self.in_frame {
            return self.header(input, eof);
        }
        // What the window no longer needs (all of it once the frame ends).
        let wrote = self.frame.read(out)?;
        if wrote > 0 {
            return Ok(Step::Went(0, wrote));
        }
        if !self.frame.is_finished() {
            return self.block(input);
        }
        // Every byte of the frame is out: the checksum covers them all.
        if let (Some(sent), Some(made)) = (
            self.frame.get_checksum_from_data(),
            self.frame.get_calculated_checksum(),
        ) {
            if sent != made {
                return Err(invalid("checksum does not match"));
            }
        }
        self.in_frame = false;
        Ok(Step::Went(0, 0))
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
            Coding::Brotli => Box::new(Sliced::new(r, Brotli::new())),
            Coding::Zstd => Box::new(Sliced::new(r, Zstd::new())),
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
        let c = codings_of(&head("BR, x-gzip, zstd")).unwrap().unwrap();
        assert_eq!(c.to_string(), "br, gzip, zstd");
        assert_eq!(
            codings_of(&head("gzip, compress")).unwrap(),
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
    /// `'reqivo decodes br and zstd bodies. ' * 600`, made by the brotli
    /// command-line tool (1.0.9, `brotli -q 5`).
    const BR_TEXT: [u8; 43] = [
        0x1f, 0x07, 0x52, 0x00, 0xc4, 0x4d, 0x97, 0x2a, 0x21, 0x59, 0x83, 0x83, 0x60, 0x72, 0x8a,
        0x7b, 0x78, 0xea, 0x02, 0xce, 0x81, 0x49, 0x59, 0xab, 0xab, 0xa9, 0xd7, 0xa0, 0xa8, 0x46,
        0xee, 0x2a, 0xe1, 0x7f, 0x26, 0x01, 0x7c, 0x1f, 0x91, 0xcd, 0x92, 0x03, 0x19,
    ];

    fn br_text() -> Vec<u8> {
        b"reqivo decodes br and zstd bodies. ".repeat(600)
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    fn decode(codings: &str, body: &[u8], limit: u64) -> Result<Vec<u8>, ClientError> {
        decode_all(
            &codings_of(&head(codings)).unwrap().unwrap(),
            body,
            limit,
            0,
        )
    }

    #[test]
    fn br_and_zstd_decode_whatever_their_pieces() {
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 7 + i / 1000) as u8).collect();
        let z = zstd(&plain);
        // Two frames with a skippable frame between them are one body.
        let mut two = z.clone();
        two.extend_from_slice(&[0x5e, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        two.extend_from_slice(&zstd(b"and more"));
        let mut plain_two = plain.clone();
        plain_two.extend_from_slice(b"and more");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &z).unwrap();
        let zstd_then_gzip = gz.finish().unwrap();
        for step in [1, 2, 7, 4096, usize::MAX] {
            assert_eq!(push_through("br", &BR_TEXT, step).unwrap(), br_text());
            assert_eq!(push_through("zstd", &z, step).unwrap(), plain, "{step}");
            assert_eq!(push_through("zstd", &two, step).unwrap(), plain_two);
            assert_eq!(
                push_through("zstd, gzip", &zstd_then_gzip, step).unwrap(),
                plain
            );
        }
        assert_eq!(decode("br", &BR_TEXT, 1 << 20).unwrap(), br_text());
        assert_eq!(decode("zstd", &two, 1 << 20).unwrap(), plain_two);
        // An empty body is an empty body, as for the other codings.
        assert_eq!(push_through("br", b"", 1).unwrap(), b"");
        assert_eq!(push_through("zstd", b"", 1).unwrap(), b"");
    }

    #[test]
    fn br_and_zstd_faults_are_decompression_errors() {
        let z = zstd(&br_text());
        let kind = |r: Result<Vec<u8>, ClientError>| match r {
            Err(ClientError::Proto(e)) => (e.kind, e.to_string()),
            Err(e) => panic!("not a protocol error: {e:?}"),
            Ok(body) => panic!("decoded {} bytes", body.len()),
        };
        let truncated = |codings, body: &[u8]| {
            for step in [1, usize::MAX] {
                let (k, m) = kind(push_through(codings, body, step));
                assert_eq!(k, ProtoErrorKind::Decompression, "{m}");
                assert!(m.contains("unexpected end of file"), "{m}");
            }
        };
        truncated("br", &BR_TEXT[..30]);
        truncated("zstd", &z[..z.len() - 1]);
        truncated("zstd", &z[..3]);
        let mut trailing = BR_TEXT.to_vec();
        trailing.push(0);
        let (k, m) = kind(decode("br", &trailing, 1 << 20));
        assert_eq!(k, ProtoErrorKind::Decompression);
        assert!(m.contains("invalid br body: data after the end"), "{m}");
        // br has no checksum: only what breaks the format is found.
        let (k, m) = kind(decode("br", b"not brotli at all", 1 << 20));
        assert_eq!(k, ProtoErrorKind::Decompression);
        assert!(m.contains("invalid br body: corrupt brotli stream"), "{m}");
        let mut bad = zstd(&br_text());
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let (k, m) = kind(decode("zstd", &bad, 1 << 20));
        assert_eq!(k, ProtoErrorKind::Decompression);
        assert!(m.contains("checksum"), "{m}");
        let (k, m) = kind(decode("zstd", b"not zstd at all", 1 << 20));
        assert_eq!(k, ProtoErrorKind::Decompression);
        assert!(m.contains("invalid zstd body: not a zstd frame"), "{m}");
        // A frame asking for a 16 MiB window (single segment, content size
        // 2^24 bytes) is refused before any block.
        let big = [0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 0, 1];
        let (k, m) = kind(decode("zstd", &big, u64::MAX));
        assert_eq!(k, ProtoErrorKind::Decompression, "{m}");
        assert!(m.contains("window"), "{m}");
        // The limit holds each layer's output, as for gzip.
        let (k, m) = kind(decode("br", &BR_TEXT, 20_000));
        assert_eq!(k, ProtoErrorKind::BodyTooLarge, "{m}");
        let (k, m) = kind(decode("zstd", &z, 20_000));
        assert_eq!(k, ProtoErrorKind::BodyTooLarge, "{m}");
    }
}
