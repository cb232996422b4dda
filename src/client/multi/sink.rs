//! Streamed delivery in the event-driven core: a transfer's body goes to a
//! `Sink` piece by piece as it arrives (decoded, when the session decodes),
//! instead of into one buffer, so a download of any size keeps memory
//! flat. A sink that cannot take more pauses its transfer: the piece it
//! refused is kept and offered again on resume, and the socket is not read
//! meanwhile (the server's window fills; nothing else in the multi waits).
use crate::client::decode::{Codings, PushDecoder};
use crate::client::error::{ClientError, ClientErrorKind};
use crate::client::response::Parts;

/// What a sink says after a piece of body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Taken; send more.
    Continue,
    /// Not taken: offer this piece again after `Handle::resume`.
    Pause,
    /// End the transfer (`AbortedByCallback`).
    Abort,
}

/// Where a streamed transfer's response goes. Called on the thread that
/// drives the multi.
pub trait Sink: Send {
    /// The final head, before any body byte (and even when no body
    /// follows): `parts` carries no body and no trailers (those come with
    /// the finished transfer). `Pause` holds the body back until resume.
    fn head(&mut self, parts: Parts<'_>) -> Flow;

    /// The next piece of the body, in order.
    fn data(&mut self, bytes: &[u8]) -> Flow;
}

/// Size of the buffer decoded bytes are pulled into.
const DECODED_PIECE: usize = 64 * 1024;

/// The body side of a streamed exchange: the sink, the decoder if the body
/// is encoded, and the piece the sink paused on.
pub(super) struct Streamed {
    sink: Box<dyn Sink>,
    decoder: Option<PushDecoder>,
    pending: Vec<u8>,
    paused: bool,
    /// Body bytes the sink has taken.
    taken: u64,
    buf: Vec<u8>,
}

impl Streamed {
    pub fn new(sink: Box<dyn Sink>, codings: Option<Codings>, limit: u64) -> Streamed {
        Streamed {
            sink,
            decoder: codings.map(|c| PushDecoder::new(c, limit)),
            pending: Vec::new(),
            paused: false,
            taken: 0,
            buf: Vec::new(),
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The sink paused at the head: body bytes read from now on are kept
    /// until resume.
    pub fn hold(&mut self) {
        self.paused = true;
    }

    /// Whether the sink got decoded bytes.
    pub fn decoded(&self) -> bool {
        self.decoder.is_some()
    }

    /// Takes body bytes as read off the wire: decoded if need be, then
    /// handed to the sink until it pauses.
    pub fn take(&mut self, raw: &[u8]) -> Result<(), ClientError> {
        if raw.is_empty() {
            return Ok(());
        }
        match &mut self.decoder {
            None => self.offer_raw(raw),
            Some(d) => {
                d.push(raw);
                self.drain_decoder()
            }
        }
    }

    /// After a resume: the piece the sink paused on, then what the
    /// decoder still holds.
    pub fn resume(&mut self) -> Result<(), ClientError> {
        self.paused = false;
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            self.offer_raw(&pending)?;
        }
        self.drain_decoder()
    }

    /// The body has ended on the wire: the decoder's last bytes go out.
    /// False while the sink has paused (call again after resume).
    pub fn finish(&mut self) -> Result<bool, ClientError> {
        if let Some(d) = &mut self.decoder {
            d.end();
        }
        self.drain_decoder()?;
        Ok(!self.paused)
    }

    fn drain_decoder(&mut self) -> Result<(), ClientError> {
        let Some(d) = &mut self.decoder else {
            return Ok(());
        };
        self.buf.resize(DECODED_PIECE, 0);
        while !self.paused {
            match d.pull(&mut self.buf)? {
                Some(0) | None => break,
                Some(n) => offer(
                    &mut *self.sink,
                    &mut self.pending,
                    &mut self.paused,
                    &mut self.taken,
                    &self.buf[..n],
                )?,
            }
        }
        Ok(())
    }

    fn offer_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        offer(
            &mut *self.sink,
            &mut self.pending,
            &mut self.paused,
            &mut self.taken,
            bytes,
        )
    }
}

/// Hands `bytes` to the sink, or keeps them when it pauses (or has).
fn offer(
    sink: &mut dyn Sink,
    pending: &mut Vec<u8>,
    paused: &mut bool,
    taken: &mut u64,
    bytes: &[u8],
) -> Result<(), ClientError> {
    if *paused {
        pending.extend_from_slice(bytes);
        return Ok(());
    }
    match sink.data(bytes) {
        Flow::Continue => {
            *taken += bytes.len() as u64;
            Ok(())
        }
        Flow::Pause => {
            pending.extend_from_slice(bytes);
            *paused = true;
            Ok(())
        }
        Flow::Abort => Err(ClientError::new(
            ClientErrorKind::AbortedByCallback,
            format!(
                "the data callback aborted the transfer after {} body bytes",
                *taken
            ),
        )),
    }
}
