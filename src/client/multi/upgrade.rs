//! A WebSocket dial as a transfer of the multi (`Handle::add_ws`): the
//! opening handshake's GET runs the phases of any transfer (pool,
//! connect, proxy tunnel, TLS, request, `ResponseReader` for the answer),
//! with no redirect followed, as in the blocking dial. At the final head
//! a 101's connection leaves the pool's hands for a `WebSocket`; any other
//! answer is delivered as a response, with the refusal beside it.
use crate::client::error::ClientError;
use crate::client::response::Timings;
use crate::client::session::{Session, Upgraded};
use crate::client::ws::{refused, Dial, WebSocket};
use crate::net::{Lease, Timeouts};
use crate::proto::ResponseHead;
use url::Url;

/// What a dial came to, when the server answered: the open WebSocket, or
/// why the handshake failed (the answer, not 101, is the transfer's
/// response).
pub type WsOutcome = Result<WebSocket, ClientError>;

/// The dial a transfer carries, and its outcome once known.
pub(super) struct WsDial {
    dial: Dial,
    outcome: Option<WsOutcome>,
}

impl WsDial {
    pub(super) fn new(dial: Dial) -> Box<WsDial> {
        Box::new(WsDial {
            dial,
            outcome: None,
        })
    }

    pub(super) fn take_outcome(&mut self) -> Option<WsOutcome> {
        self.outcome.take()
    }

    /// The handshake's final answer came on `lease`. A 101 is checked and
    /// its connection (with any bytes read past the head) becomes the
    /// WebSocket's; the lease comes back otherwise, for the pool.
    pub(super) fn answered(
        &mut self,
        lease: Lease,
        head: &ResponseHead,
        session: &Session,
        url: &Url,
        timings: Timings,
        timeouts: Timeouts,
    ) -> Result<Option<Lease>, ClientError> {
        if head.status != 101 {
            self.outcome = Some(Err(refused(url.as_str(), head.status)));
            return Ok(Some(lease));
        }
        let tls = lease.tls_info();
        let up = Upgraded {
            head: head.clone(),
            conn: lease.detach(),
            url: url.as_str().to_string(),
            timings,
            tls,
            timeouts,
        };
        self.outcome = Some(Ok(self.dial.switched(session, up)?));
        Ok(None)
    }
}
