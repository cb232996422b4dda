//! Close frames (RFC 6455 §5.5.1, §7.4): which codes may appear on the
//! wire, and the payload's code and UTF-8 reason.
use super::error::{WsError, WsErrorKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// `None` for an empty Close (reported to callers as 1005, §7.1.5).
    pub code: Option<u16>,
    pub reason: String,
}

/// §7.4.1 and the IANA registry: 1000-1003 and 1007-1014 are defined for
/// the wire; 1004 is reserved; 1005, 1006 and 1015 must never be sent;
/// 3000-4999 belong to libraries and applications.
fn wire_code_ok(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Parses a received Close payload: empty, or a valid code followed by a
/// UTF-8 reason.
pub fn parse_close_payload(p: &[u8]) -> Result<CloseFrame, WsError> {
    match p {
        [] => Ok(CloseFrame {
            code: None,
            reason: String::new(),
        }),
        [_] => Err(WsError::protocol(
            "close frame with a 1-byte payload (RFC 6455 §5.5.1)",
        )),
        [a, b, rest @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !wire_code_ok(code) {
                return Err(WsError::protocol(format!(
                    "close frame with invalid code {} (RFC 6455 §7.4)",
                    code
                )));
            }
            let reason = std::str::from_utf8(rest).map_err(|_| {
                WsError::new(
                    WsErrorKind::InvalidUtf8,
                    "close reason is not valid UTF-8 (RFC 6455 §5.5.1)",
                )
            })?;
            Ok(CloseFrame {
                code: Some(code),
                reason: reason.to_string(),
            })
        }
    }
}

/// Checks a code and reason the caller wants to send; the error message
/// says what is wrong.
pub fn validate_close_code_to_send(code: u16, reason: &[u8]) -> Result<(), String> {
    if !wire_code_ok(code) {
        return Err(format!(
            "close code {} may not be sent (use 1000-1003, 1007-1014 or 3000-4999)",
            code
        ));
    }
    if reason.len() > 123 {
        return Err(format!(
            "close reason of {} bytes is over 123 (a control frame holds 125)",
            reason.len()
        ));
    }
    if std::str::from_utf8(reason).is_err() {
        return Err("close reason is not valid UTF-8".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_parses_empty_and_code_with_reason() {
        assert_eq!(parse_close_payload(b"").unwrap().code, None);
        let c = parse_close_payload(b"\x03\xe8bye").unwrap();
        assert_eq!((c.code, c.reason.as_str()), (Some(1000), "bye"));
        assert_eq!(parse_close_payload(b"\x0f\xa0").unwrap().code, Some(4000));
    }

    #[test]
    fn close_refuses_invalid_codes() {
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let e = parse_close_payload(&code.to_be_bytes()).unwrap_err();
            assert_eq!(e.kind, WsErrorKind::Protocol, "code {}", code);
        }
        assert_eq!(
            parse_close_payload(b"\x03").unwrap_err().kind,
            WsErrorKind::Protocol
        );
    }

    #[test]
    fn close_refuses_invalid_utf8_reason() {
        let e = parse_close_payload(b"\x03\xe8\xff").unwrap_err();
        assert_eq!(e.kind, WsErrorKind::InvalidUtf8);
    }

    #[test]
    fn close_send_validation() {
        assert!(validate_close_code_to_send(1000, b"ok").is_ok());
        assert!(validate_close_code_to_send(4999, b"").is_ok());
        assert!(validate_close_code_to_send(1005, b"").is_err());
        assert!(validate_close_code_to_send(1000, &[b'a'; 124]).is_err());
        assert!(validate_close_code_to_send(1000, b"\xc3").is_err());
    }
}
