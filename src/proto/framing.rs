//! The one place where a response's body framing is decided.
//!
//! `response_body` follows RFC 9112 §6.3 step by step, stricter than the RFC
//! allows where leniency has enabled request smuggling: Transfer-Encoding with
//! Content-Length, differing Content-Length values and unknown
//! transfer-codings are errors, never guesses.
use super::error::{ProtoError, ProtoErrorKind};
use super::response::ResponseHead;

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// No body at all (HEAD, 1xx, 204, 304).
    None,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// Chunked transfer-coding.
    Chunked,
    /// Everything until the server closes the connection.
    CloseDelimited,
}

fn framing_error(message: String) -> ProtoError {
    ProtoError::new(ProtoErrorKind::InvalidFraming, message)
}

/// Whether a response with `status` is interim: the client reads past it
/// to the final response on the same exchange. RFC 9110 §15.2: every 1xx
/// except 101, which ends HTTP/1.1 on the connection and so is final.
pub fn is_interim(status: u16) -> bool {
    (100..200).contains(&status) && status != 101
}

/// Decides the framing of `head`, the response to a request whose method
/// was HEAD when `request_was_head` is true.
pub fn response_body(request_was_head: bool, head: &ResponseHead) -> Result<BodyMode, ProtoError> {
    let status = head.status;
    // §6.3 step 1: a response to HEAD, and any 1xx, 204 or 304 response,
    // ends at the end of its head whatever its header fields say.
    if request_was_head || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(BodyMode::None);
    }
    // Step 2 (2xx to CONNECT) cannot happen: CONNECT is refused at request time.

    let has_te = head.values("transfer-encoding").next().is_some();
    let has_cl = head.values("content-length").next().is_some();
    // Step 3: TE and CL together "ought to be handled as an error"; a client
    // that guesses here is the other half of a smuggling attack.
    if has_te && has_cl {
        return Err(framing_error(
            "response has both Transfer-Encoding and Content-Length".into(),
        ));
    }
    if has_te {
        return transfer_coding(head);
    }
    // Step 5: Content-Length, where every value (across repeated fields and
    // comma lists) must be the same valid number.
    if has_cl {
        return content_length(head).map(BodyMode::Length);
    }
    // Step 8: no framing given, the body runs to connection close.
    Ok(BodyMode::CloseDelimited)
}

/// Step 4: only `chunked` as the final and only coding is understood. We
/// never send TE, so any other coding is a server error; reading to close
/// (as §6.3 allows) would hand the caller encoded bytes as the body.
fn transfer_coding(head: &ResponseHead) -> Result<BodyMode, ProtoError> {
    let codings = || {
        head.values("transfer-encoding")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(|c| c.trim_ascii())
            .filter(|c| !c.is_empty())
    };
    let mut first_two = codings();
    match (first_two.next(), first_two.next()) {
        (Some(only), None) if only.eq_ignore_ascii_case(b"chunked") => Ok(BodyMode::Chunked),
        (None, _) => Err(framing_error("Transfer-Encoding header is empty".into())),
        _ => Err(framing_error(format!(
            "unsupported Transfer-Encoding {:?} (only a single \"chunked\" is accepted)",
            codings()
                .map(|c| String::from_utf8_lossy(c))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn content_length(head: &ResponseHead) -> Result<u64, ProtoError> {
    let mut found: Option<u64> = None;
    for raw in head
        .values("content-length")
        .flat_map(|v| v.split(|&b| b == b','))
    {
        let text = raw.trim_ascii();
        let n = parse_decimal(text).ok_or_else(|| {
            framing_error(format!(
                "invalid Content-Length {:?}",
                String::from_utf8_lossy(text)
            ))
        })?;
        match found {
            Some(prev) if prev != n => {
                return Err(framing_error(format!(
                    "conflicting Content-Length values {} and {}",
                    prev, n
                )));
            }
            _ => found = Some(n),
        }
    }
    found.ok_or_else(|| framing_error("Content-Length header is empty".into()))
}

/// 1*DIGIT without sign or whitespace, refusing overflow.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Whether the connection may carry another request after this response
/// (RFC 9112 §9.3): never after a close-delimited body or `Connection:
/// close`; HTTP/1.0 only when the server says `keep-alive`; 101 hands the
/// connection to another protocol. And never after framing a recipient
/// must distrust: an HTTP/1.0 response with Transfer-Encoding (RFC 9112
/// §6.1: "MUST treat the message as if the framing is faulty ... and close
/// the connection"). (The framing errors of `response_body`, an incomplete
/// body and bytes past the body close the connection where they are
/// found. A 204 or 304 with Content-Length ends at its head, RFC 9112 §6.3
/// step 1, so its connection stays usable, as in curl and net/http.)
pub fn keep_alive(head: &ResponseHead, mode: BodyMode) -> bool {
    if mode == BodyMode::CloseDelimited || head.status == 101 {
        return false;
    }
    if head.has_token("connection", "close") {
        return false;
    }
    if head.minor == 0 {
        let has_te = head.values("transfer-encoding").next().is_some();
        return !has_te && head.has_token("connection", "keep-alive");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{parse_head, Limits};

    fn head(s: &str) -> ResponseHead {
        parse_head(s.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap()
            .1
    }

    fn mode(s: &str) -> Result<BodyMode, ProtoErrorKind> {
        response_body(false, &head(s)).map_err(|e| e.kind)
    }

    #[test]
    fn framing_head_request_has_no_body() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
        assert_eq!(response_body(true, &h), Ok(BodyMode::None));
    }

    #[test]
    fn framing_1xx_204_304_have_no_body() {
        assert_eq!(mode("HTTP/1.1 100 Continue\r\n\r\n"), Ok(BodyMode::None));
        assert_eq!(
            mode("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
            Ok(BodyMode::None)
        );
        assert_eq!(
            mode("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(BodyMode::None)
        );
    }

    #[test]
    fn framing_te_with_cl_is_an_error() {
        assert_eq!(
            mode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            Err(ProtoErrorKind::InvalidFraming)
        );
    }

    #[test]
    fn framing_chunked_only_as_single_coding() {
        assert_eq!(
            mode("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"),
            Ok(BodyMode::Chunked)
        );
        assert_eq!(
            mode("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Err(ProtoErrorKind::InvalidFraming)
        );
        assert_eq!(
            mode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(ProtoErrorKind::InvalidFraming)
        );
        assert_eq!(
            mode("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n"),
            Err(ProtoErrorKind::InvalidFraming)
        );
    }

    #[test]
    fn framing_identical_duplicate_cl_is_accepted() {
        assert_eq!(
            mode("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
            Ok(BodyMode::Length(5))
        );
        assert_eq!(
            mode("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"),
            Ok(BodyMode::Length(5))
        );
    }

    #[test]
    fn framing_differing_cl_is_an_error() {
        assert_eq!(
            mode("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            Err(ProtoErrorKind::InvalidFraming)
        );
        assert_eq!(
            mode("HTTP/1.1 200 OK\r\nContent-Length: 5,6\r\n\r\n"),
            Err(ProtoErrorKind::InvalidFraming)
        );
    }

    #[test]
    fn framing_rejects_malformed_cl() {
        for v in ["-1", "+5", "0x10", "", "1 2", "99999999999999999999"] {
            let r = mode(&format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", v));
            assert_eq!(r, Err(ProtoErrorKind::InvalidFraming), "value {:?}", v);
        }
    }

    #[test]
    fn framing_without_length_reads_to_close() {
        assert_eq!(
            mode("HTTP/1.1 200 OK\r\n\r\n"),
            Ok(BodyMode::CloseDelimited)
        );
    }

    #[test]
    fn framing_interim_is_1xx_but_101() {
        assert!(is_interim(100) && is_interim(103) && is_interim(199));
        assert!(!is_interim(101) && !is_interim(200) && !is_interim(99));
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |s: &str| {
            let h = head(s);
            keep_alive(&h, response_body(false, &h).unwrap())
        };
        assert!(ka("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(!ka(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!ka(
            "HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!ka("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(ka(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(
            !ka("HTTP/1.1 200 OK\r\n\r\n"),
            "close-delimited bodies end the connection"
        );
    }
}
