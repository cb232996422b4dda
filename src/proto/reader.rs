//! Reading one response: the machine every driver runs (the blocking send,
//! the stream, the multi and the fuzzers), so the rules below exist once.
//!
//! Bytes go in, events come out: heads until a final one (interim 1xx heads
//! skipped under one byte budget), then the framing and keep-alive verdict
//! decided once, then body data through a `BodyDecoder` until it ends. The
//! driver owns the buffer and the socket; the reader never copies body
//! bytes: it says which range of the caller's input is data.
use super::body::{BodyDecoder, Step};
use super::error::{ProtoError, ProtoErrorKind};
use super::framing::{is_interim, keep_alive, response_body, BodyMode};
use super::limits::Limits;
use super::response::{parse_head, ResponseHead};
use super::trailers::Trailers;

/// What the request that this response answers said about it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts {
    /// The method was HEAD: the response has no body, whatever it says.
    pub head: bool,
    /// The request carried `Connection: close`: the connection ends after.
    pub close: bool,
    /// The request was CONNECT: a 2xx answer ends at its head and turns the
    /// connection into a tunnel (RFC 9112 §6.3 step 2), never HTTP again.
    pub connect: bool,
}

#[derive(Debug)]
enum State {
    Head {
        /// Bytes of interim heads skipped so far.
        interim: usize,
        /// Whether any response byte has arrived (interim heads count).
        started: bool,
    },
    Body {
        decoder: BodyDecoder,
        mode: BodyMode,
        keep_alive: bool,
    },
}

/// Reads one response; see the module comment.
#[derive(Debug)]
pub struct ResponseReader {
    limits: Limits,
    request: RequestFacts,
    state: State,
    /// A 2xx answered CONNECT: the connection is now a tunnel.
    tunnel: bool,
}

impl ResponseReader {
    pub fn new(request: RequestFacts, limits: &Limits) -> ResponseReader {
        ResponseReader {
            limits: *limits,
            request,
            state: State::Head {
                interim: 0,
                started: false,
            },
            tunnel: false,
        }
    }

    /// True when the final head answered CONNECT with 2xx: the bytes that
    /// follow belong to the tunnel, not to HTTP.
    pub fn is_tunnel(&self) -> bool {
        self.tunnel
    }

    /// The limits the response is read under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// True until the final head has been read.
    pub fn wants_head(&self) -> bool {
        matches!(self.state, State::Head { .. })
    }

    /// True once any response byte has arrived: an EOF is then inside a
    /// response, not before one, and the request cannot be retried.
    pub fn head_started(&self) -> bool {
        match self.state {
            State::Head { started, .. } => started,
            State::Body { .. } => true,
        }
    }

    /// Reads a head from the front of `input`. `Ok(None)`: more input is
    /// needed (nothing was consumed). `Ok(Some((n, head)))`: the first `n`
    /// bytes were `head`; if the reader still `wants_head`, it was an
    /// interim (1xx) head, skipped, and another follows; otherwise it is the
    /// final head and the body follows (its framing errors fail here).
    ///
    /// The head comes back as `parse_head` made it, not wrapped in an
    /// event: it is a few hundred bytes, and every move of it shows in the
    /// cost of a request. Always inlined for the same reason: with five
    /// callers the compiler stops inlining it, and the blocking send then
    /// pays a copy of the head (about 250 instructions per request).
    #[inline(always)]
    pub fn read_head(&mut self, input: &[u8]) -> Result<Option<(usize, ResponseHead)>, ProtoError> {
        let State::Head { interim, started } = &mut self.state else {
            return Ok(None);
        };
        if input.is_empty() {
            return Ok(None);
        }
        *started = true;
        let Some((n, head)) = parse_head(input, &self.limits)? else {
            return Ok(None);
        };
        if is_interim(head.status) {
            // RFC 9110 sets no bound on their number, so a server that never
            // stops sending them would hold the exchange forever (each
            // arrives inside the read timeout): together they count against
            // the head limit, like one long head.
            *interim += n;
            if *interim > self.limits.max_header_bytes {
                return Err(ProtoError::new(
                    ProtoErrorKind::HeaderTooLarge,
                    format!(
                        "1xx interim responses passed max_header_bytes ({}) \
                         without a final response",
                        self.limits.max_header_bytes
                    ),
                ));
            }
            return Ok(Some((n, head)));
        }
        let tunnel = self.request.connect && (200..300).contains(&head.status);
        self.tunnel = tunnel;
        let mode = match tunnel {
            true => BodyMode::None,
            false => response_body(self.request.head, &head)?,
        };
        let decoder = BodyDecoder::new(mode, &self.limits)?;
        let keep_alive = !tunnel && keep_alive(&head, mode) && !self.request.close;
        self.state = State::Body {
            decoder,
            mode,
            keep_alive,
        };
        Ok(Some((n, head)))
    }

    /// Decodes body bytes from the front of `input` (see `BodyDecoder::decode`).
    pub fn read_body(&mut self, input: &[u8]) -> Result<Step, ProtoError> {
        match &mut self.state {
            State::Body { decoder, .. } => decoder.decode(input),
            State::Head { .. } => Ok(Step {
                consumed: 0,
                data: 0..0,
            }),
        }
    }

    /// The peer closed the connection. Only a close-delimited body ends
    /// this way; inside any other body, or before the final head, it is
    /// `UnexpectedEof`. (Drivers word an EOF before the final head
    /// themselves: only they know the peer and what it means for a retry.)
    pub fn eof(&mut self) -> Result<(), ProtoError> {
        match &mut self.state {
            State::Body { decoder, .. } => decoder.feed_eof(),
            State::Head { .. } => Err(ProtoError::new(
                ProtoErrorKind::UnexpectedEof,
                "connection closed before the final response head",
            )),
        }
    }

    /// True once the body has ended (never before the final head).
    pub fn is_done(&self) -> bool {
        match &self.state {
            State::Body { decoder, .. } => decoder.is_done(),
            State::Head { .. } => false,
        }
    }

    /// The framing of the final head; `None` before it.
    pub fn mode(&self) -> Option<BodyMode> {
        match &self.state {
            State::Body { mode, .. } => Some(*mode),
            State::Head { .. } => None,
        }
    }

    /// Whether the connection may carry another request once the body has
    /// ended, as far as the messages say (the driver also checks that
    /// nothing arrived past the body).
    pub fn keep_alive(&self) -> bool {
        match &self.state {
            State::Body { keep_alive, .. } => *keep_alive,
            State::Head { .. } => false,
        }
    }

    /// Body bytes decoded so far.
    pub fn produced(&self) -> u64 {
        match &self.state {
            State::Body { decoder, .. } => decoder.produced(),
            State::Head { .. } => 0,
        }
    }

    /// For a Content-Length body, the bytes still to come.
    pub fn remaining_length(&self) -> Option<u64> {
        match &self.state {
            State::Body { decoder, .. } => decoder.remaining_length(),
            State::Head { .. } => None,
        }
    }

    /// Takes the trailer fields of a chunked body (complete once done).
    pub fn take_trailers(&mut self) -> Trailers {
        match &mut self.state {
            State::Body { decoder, .. } => decoder.take_trailers(),
            State::Head { .. } => Trailers::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(head: bool, close: bool) -> ResponseReader {
        let facts = RequestFacts {
            head,
            close,
            connect: false,
        };
        ResponseReader::new(facts, &Limits::default())
    }

    #[test]
    fn reader_skips_interim_heads_then_reads_the_body() {
        let mut r = reader(false, false);
        let input =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcX";
        let (n, interim) = r.read_head(input).unwrap().unwrap();
        assert_eq!(interim.status, 100);
        assert!(r.wants_head() && r.head_started());
        let (m, head) = r.read_head(&input[n..]).unwrap().unwrap();
        assert_eq!(head.status, 200);
        assert!(!r.wants_head());
        assert_eq!(r.mode(), Some(BodyMode::Length(3)));
        let body = &input[n + m..];
        let step = r.read_body(body).unwrap();
        assert_eq!(&body[step.data], b"abc");
        assert_eq!(step.consumed, 3, "the byte past the body stays unread");
        assert!(r.is_done() && r.keep_alive());
    }

    #[test]
    fn reader_interim_heads_share_one_byte_budget() {
        let limits = Limits {
            max_header_bytes: 100,
            ..Limits::default()
        };
        let mut r = ResponseReader::new(RequestFacts::default(), &limits);
        let interim = b"HTTP/1.1 102 Processing\r\n\r\n";
        let mut skipped = 0;
        let e = loop {
            match r.read_head(interim) {
                Ok(Some((n, head))) if head.status == 102 && r.wants_head() => skipped += n,
                Ok(other) => panic!("unexpected {:?}", other),
                Err(e) => break e,
            }
            assert!(skipped <= 100, "the budget let {} bytes through", skipped);
        };
        assert_eq!(e.kind, ProtoErrorKind::HeaderTooLarge);
    }

    #[test]
    fn reader_request_close_and_head_shape_the_verdict() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        let mut r = reader(true, false);
        r.read_head(ok).unwrap().unwrap();
        assert_eq!(r.mode(), Some(BodyMode::None));
        assert!(r.is_done() && r.keep_alive());
        let mut r = reader(false, true);
        r.read_head(ok).unwrap().unwrap();
        assert!(!r.keep_alive(), "the request asked to close");
    }

    #[test]
    fn reader_a_2xx_to_connect_ends_at_its_head_and_is_a_tunnel() {
        let connect = RequestFacts {
            connect: true,
            ..RequestFacts::default()
        };
        let mut r = ResponseReader::new(connect, &Limits::default());
        let (n, head) = r
            .read_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n\x16\x03")
            .unwrap()
            .unwrap();
        assert_eq!((n, head.status), (38, 200));
        assert!(r.is_tunnel() && r.is_done() && !r.keep_alive());
        let mut r = ResponseReader::new(connect, &Limits::default());
        r.read_head(b"HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\nno")
            .unwrap()
            .unwrap();
        assert_eq!(
            r.mode(),
            Some(BodyMode::Length(2)),
            "a refusal is framed as usual"
        );
        assert!(!r.is_tunnel());
    }

    #[test]
    fn reader_eof_ends_only_a_close_delimited_body() {
        let mut r = reader(false, false);
        assert_eq!(r.eof().unwrap_err().kind, ProtoErrorKind::UnexpectedEof);
        assert_eq!(r.read_head(b"HTTP/1.1 2").unwrap().map(|_| ()), None);
        assert!(r.head_started());
        let mut r = reader(false, false);
        r.read_head(b"HTTP/1.1 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!(r.mode(), Some(BodyMode::CloseDelimited));
        assert!(r.eof().is_ok() && r.is_done() && !r.keep_alive());
    }
}
