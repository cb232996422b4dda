//! Content-Encoding decoding (RFC 9110 §8.4.1): gzip and deflate, for
//! buffered and streamed bodies, with the decoded size held to the body
//! limit so a small compressed body cannot expand without bound.
use std::io::{self, Read};

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

use super::error::ClientError;
use crate::proto::{ProtoError, ProtoErrorKind, ResponseHead};

/// The value sent in Accept-Encoding when decoding is on.
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Gzip,
    Deflate,
}

/// The coding to undo, when the response carries exactly one we know.
/// Stacked or unknown codings are left alone: the caller gets the bytes as
/// sent, and Content-Encoding says what they are.
pub(crate) fn coding_of(head: &ResponseHead) -> Option<Coding> {
    let codings: Vec<&[u8]> = head
        .values("content-encoding")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|c| c.trim_ascii())
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case(b"identity"))
        .collect();
    match codings.as_slice() {
        [c] if c.eq_ignore_ascii_case(b"gzip") || c.eq_ignore_ascii_case(b"x-gzip") => {
            Some(Coding::Gzip)
        }
        [c] if c.eq_ignore_ascii_case(b"deflate") => Some(Coding::Deflate),
        _ => None,
    }
}

/// An `io::Error` that carries a `ClientError` through a decoder, so the
/// original error (timeout, cancel, ...) comes out the other side.
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
pub(crate) fn uncarry(e: io::Error, coding: Coding) -> ClientError {
    if e.get_ref().is_some_and(|inner| inner.is::<Carried>()) {
        if let Ok(c) = e.into_inner().expect("checked").downcast::<Carried>() {
            return c.0;
        }
        unreachable!("checked the type above");
    }
    ClientError::Proto(ProtoError::new(
        ProtoErrorKind::Decompression,
        format!("invalid {:?} body: {}", coding, e).to_lowercase(),
    ))
}

/// A decoder for `coding` reading encoded bytes from `src`. "deflate" is
/// zlib-wrapped per RFC 9110 §8.4.1.2; raw deflate, which some servers send
/// instead, is recognised by its missing zlib header.
pub(crate) fn decoder<'r, R: Read + Send + 'r>(
    coding: Coding,
    src: R,
    first: Option<u8>,
) -> Box<dyn Read + Send + 'r> {
    match coding {
        Coding::Gzip => Box::new(MultiGzDecoder::new(src)),
        // A zlib stream starts with CMF 0x78 (deflate, 32 KiB window) in practice.
        Coding::Deflate if first.is_none_or(|b| b & 0x0f == 8) => Box::new(ZlibDecoder::new(src)),
        Coding::Deflate => Box::new(DeflateDecoder::new(src)),
    }
}

pub(crate) fn too_large(limit: u64) -> ClientError {
    ClientError::Proto(ProtoError::new(
        ProtoErrorKind::BodyTooLarge,
        format!("decoded response body exceeds max_body_bytes ({})", limit),
    ))
}

/// Decodes a whole buffered body, stopping as soon as the output passes `limit`.
/// The decoded bytes come after `front` zero bytes the caller keeps free.
pub(crate) fn decode_all(
    coding: Coding,
    body: &[u8],
    limit: u64,
    front: usize,
) -> Result<Vec<u8>, ClientError> {
    let first = body.first().copied();
    let mut out = Vec::with_capacity(front + body.len().saturating_mul(4).min(64 << 20));
    out.resize(front, 0);
    let mut dec = decoder(coding, io::Cursor::new(body), first).take(limit.saturating_add(1));
    dec.read_to_end(&mut out).map_err(|e| uncarry(e, coding))?;
    if (out.len() - front) as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(out)
}
