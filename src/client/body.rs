//! Request bodies: bytes held in memory, a source read while sending, or a
//! body that can be opened again from its start (a multipart form).
//! A source body is sent once; it cannot be replayed for a redirect or a
//! retry, so the session stops there instead (DESIGN §5). A reopenable one
//! is, like bytes, sent again as many times as a send needs.
use std::sync::{Arc, Mutex};

use super::error::{ClientError, ClientErrorKind};
use crate::proto::{encode_chunk, LAST_CHUNK};

/// Where a streamed request body comes from. `read` fills `buf` and returns
/// the count, 0 at the end; an error aborts the send.
pub trait BodySource: Send {
    /// Reads the next bytes into `buf`: the count, 0 at the end. May block
    /// (a blocking send waits for it).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ClientError>;

    /// Like `read`, for the multi, whose thread must not wait: `None` when
    /// nothing is ready yet, and the transfer waits for its resume.
    fn read_now(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ClientError> {
        self.read(buf).map(Some)
    }
}

/// A body produced again from its start for each send (DESIGN §8): its
/// size is known before anything is opened, and `open` gives a fresh
/// source every time, so a 307/308 redirect or a stale-connection retry
/// resends it, and two sends of one request never share a reader. A
/// separate variant rather than a `rewind` on `BodySource`: a shared
/// source is read by whichever clone of the request sends first, while a
/// reopened one belongs to one send.
pub trait Reopen: Send + Sync {
    /// The body's length, sent as its Content-Length.
    fn size(&self) -> u64;
    /// A source reading the body from its start. Called before the
    /// request's head is written, so a body that cannot be produced fails
    /// the send with nothing sent.
    fn open(self: Arc<Self>) -> Result<Box<dyn BodySource>, ClientError>;
}

/// Told about transfer progress; returning false aborts the send.
pub trait Progress: Send + Sync {
    fn progress(
        &self,
        sent: u64,
        send_total: Option<u64>,
        received: u64,
        receive_total: Option<u64>,
    ) -> bool;
}

#[derive(Clone)]
pub enum Body {
    Bytes(Vec<u8>),
    /// `size` gives a Content-Length; without it the body is sent chunked.
    /// Shared by the clones of its request.
    Source {
        source: Arc<Mutex<Box<dyn BodySource>>>,
        size: Option<u64>,
    },
    /// Opened afresh for each send.
    Reopen(Arc<dyn Reopen>),
}

impl Body {
    /// The Content-Length to send, or None for chunked.
    pub(crate) fn length(&self) -> Option<u64> {
        match self {
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Source { size, .. } => *size,
            Body::Reopen(r) => Some(r.size()),
        }
    }

    pub(crate) fn replayable(&self) -> bool {
        matches!(self, Body::Bytes(_) | Body::Reopen(_))
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Body::Source { size, .. } => write!(f, "Body::Source(size {:?})", size),
            Body::Reopen(r) => write!(f, "Body::Reopen(size {})", r.size()),
        }
    }
}

/// Reads a source body piece by piece and frames each piece for the wire:
/// as is when the size was declared (and checked against it), as a chunk
/// otherwise, with the last chunk at the end. The blocking send writes
/// each piece with waits, the multi when the socket takes it.
pub(crate) struct SourcePump {
    feed: Feed,
    size: Option<u64>,
    /// Body bytes read from the source so far.
    pub sent: u64,
    /// A shared source has been read from (it cannot be sent again); never
    /// set for a reopened one.
    pub pulled: bool,
    done: bool,
    buf: Vec<u8>,
    /// A body without a size goes out as chunks (HTTP/1.1); HTTP/2 frames
    /// it itself, so its pieces are left as read.
    chunked: bool,
}

impl SourcePump {
    /// The most read from the source at once.
    pub(crate) const PIECE: usize = 64 * 1024;

    /// The pump for one send of `body`, opening a reopenable body afresh;
    /// None for bytes held in memory.
    pub fn start(body: &Body) -> Result<Option<SourcePump>, ClientError> {
        Self::start_framed(body, true)
    }

    /// `start` for HTTP/2: pieces as read, never chunk-framed.
    pub fn start_unframed(body: &Body) -> Result<Option<SourcePump>, ClientError> {
        Self::start_framed(body, false)
    }

    fn start_framed(body: &Body, chunked: bool) -> Result<Option<SourcePump>, ClientError> {
        let (feed, size) = match body {
            Body::Bytes(_) => return Ok(None),
            Body::Source { source, size } => (Feed::Shared(source.clone()), *size),
            Body::Reopen(r) => (Feed::Own(r.clone().open()?), Some(r.size())),
        };
        Ok(Some(SourcePump {
            feed,
            size,
            sent: 0,
            pulled: false,
            done: false,
            buf: Vec::new(),
            chunked,
        }))
    }

    /// Whether the whole body (and its last chunk) has been framed.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Reads the next piece from the source and appends it, framed, to
    /// `out`; after the last piece `is_done` is true.
    pub fn next_piece(&mut self, out: &mut Vec<u8>) -> Result<(), ClientError> {
        self.next_piece_with(out, false).map(|_| ())
    }

    /// `next_piece` for the multi: false, with nothing appended, when the
    /// source has nothing ready yet.
    pub fn next_piece_now(&mut self, out: &mut Vec<u8>) -> Result<bool, ClientError> {
        self.next_piece_with(out, true)
    }

    fn next_piece_with(&mut self, out: &mut Vec<u8>, now: bool) -> Result<bool, ClientError> {
        let want = self.size.map_or(Self::PIECE, |total| {
            (total - self.sent).min(Self::PIECE as u64) as usize
        });
        if want == 0 {
            self.done = true;
            return Ok(true);
        }
        self.buf.resize(Self::PIECE, 0);
        let buf = &mut self.buf[..want];
        let read = match &mut self.feed {
            Feed::Shared(source) => {
                self.pulled = true;
                let mut source = source.lock().unwrap_or_else(|p| p.into_inner());
                if now {
                    source.read_now(buf)
                } else {
                    source.read(buf).map(Some)
                }
            }
            Feed::Own(source) if now => source.read_now(buf),
            Feed::Own(source) => source.read(buf).map(Some),
        };
        let Some(n) = read? else {
            return Ok(false);
        };
        if n > want {
            return Err(ClientError::new(
                ClientErrorKind::InvalidArgument,
                format!(
                    "body source returned {} bytes for a {}-byte buffer",
                    n, want
                ),
            ));
        }
        match (n, self.size) {
            (0, Some(total)) => {
                return Err(ClientError::new(
                    ClientErrorKind::InvalidArgument,
                    format!(
                        "body source ended after {} of the {} bytes it declared",
                        self.sent, total
                    ),
                ))
            }
            (0, None) => {
                if self.chunked {
                    out.extend_from_slice(LAST_CHUNK);
                }
                self.done = true;
            }
            (n, Some(total)) => {
                out.extend_from_slice(&self.buf[..n]);
                self.done = self.sent + n as u64 == total;
            }
            (n, None) if self.chunked => encode_chunk(out, &self.buf[..n]),
            (n, None) => out.extend_from_slice(&self.buf[..n]),
        }
        self.sent += n as u64;
        Ok(true)
    }
}

/// Where a pump reads from: the request's shared source, or one opened
/// for this send.
enum Feed {
    Shared(Arc<Mutex<Box<dyn BodySource>>>),
    Own(Box<dyn BodySource>),
}

/// Progress reporting for one send, with its running counts.
#[derive(Clone, Default)]
pub(crate) struct Tracker {
    pub progress: Option<Arc<dyn Progress>>,
    pub send_total: Option<u64>,
}

impl Tracker {
    pub(crate) fn report(
        &self,
        sent: u64,
        received: u64,
        receive_total: Option<u64>,
    ) -> Result<(), ClientError> {
        match &self.progress {
            Some(p) if !p.progress(sent, self.send_total, received, receive_total) => {
                Err(ClientError::new(
                    ClientErrorKind::AbortedByCallback,
                    format!(
                        "progress callback aborted the transfer after {} bytes sent, {} received",
                        sent, received
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}
