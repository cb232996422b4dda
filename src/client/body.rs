//! Request bodies: bytes held in memory, or a source read while sending.
//! A source body is sent once; it cannot be replayed for a redirect or a
//! retry, so the session stops there instead (DESIGN §5).
use std::sync::{Arc, Mutex};

use super::error::{ClientError, ClientErrorKind};

/// Where a streamed request body comes from. `read` fills `buf` and returns
/// the count, 0 at the end; an error aborts the send.
pub trait BodySource: Send {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ClientError>;
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
}

impl Body {
    /// The Content-Length to send, or None for chunked.
    pub(crate) fn length(&self) -> Option<u64> {
        match self {
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Source { size, .. } => *size,
        }
    }

    pub(crate) fn replayable(&self) -> bool {
        matches!(self, Body::Bytes(_))
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Body::Source { size, .. } => write!(f, "Body::Source(size {:?})", size),
        }
    }
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
