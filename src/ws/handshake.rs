//! The opening handshake's client side (RFC 6455 §4.1-4.2): a random
//! Sec-WebSocket-Key, and the checks on the server's 101 answer.
use base64::Engine;
use sha1::{Digest, Sha1};

use super::deflate::{accept_response, DeflateOffer, DeflateParams};
use super::error::{WsError, WsErrorKind};
use crate::proto::ResponseHead;

/// RFC 6455 §1.3.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A fresh key: 16 bytes from the OS's generator, base64-encoded (§4.1).
pub fn generate_key() -> Result<String, WsError> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| {
        WsError::new(
            WsErrorKind::Handshake,
            format!("no random bytes for Sec-WebSocket-Key: {}", e),
        )
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(raw))
}

/// The Sec-WebSocket-Accept a server must answer to `key` (§4.2.2).
pub fn accept_for(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Subprotocols offered must be distinct tokens (§4.1 item 10).
pub fn validate_protocols(protocols: &[String]) -> Result<(), String> {
    for (i, p) in protocols.iter().enumerate() {
        if p.is_empty() || !p.bytes().all(tchar) {
            return Err(format!("subprotocol {:?} is not an HTTP token", p));
        }
        if protocols[..i].contains(p) {
            return Err(format!("subprotocol {:?} is offered twice", p));
        }
    }
    Ok(())
}

fn fail(message: String) -> WsError {
    WsError::new(WsErrorKind::Handshake, message)
}

/// What the handshake settled on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agreed {
    pub protocol: Option<String>,
    /// permessage-deflate, when offered and accepted.
    pub deflate: Option<DeflateParams>,
}

/// Checks a 101 answer (§4.2.2 / §4.1 items 2-6): Upgrade, Connection,
/// the accept value, no extension we did not offer, and a subprotocol
/// among those offered.
pub fn check_response(
    head: &ResponseHead,
    key: &str,
    offered: &[String],
    deflate: Option<&DeflateOffer>,
) -> Result<Agreed, WsError> {
    let protocol = check_head(head, key, offered)?;
    let mut exts = head.values("sec-websocket-extensions");
    let deflate = match (exts.next(), exts.next(), deflate) {
        (None, _, _) => None,
        (Some(v), None, Some(offer)) => Some(accept_response(
            std::str::from_utf8(v).unwrap_or(""),
            offer,
        )?),
        _ => {
            return Err(fail(
                "the server selected an extension that was not offered".into(),
            ))
        }
    };
    Ok(Agreed { protocol, deflate })
}

fn check_head(
    head: &ResponseHead,
    key: &str,
    offered: &[String],
) -> Result<Option<String>, WsError> {
    if head.status != 101 {
        return Err(fail(format!(
            "the server answered {} instead of 101 Switching Protocols",
            head.status
        )));
    }
    if !head.has_token("upgrade", "websocket") {
        return Err(fail("101 answer without `Upgrade: websocket`".into()));
    }
    if !head.has_token("connection", "upgrade") {
        return Err(fail("101 answer without `Connection: Upgrade`".into()));
    }
    let want = accept_for(key);
    let mut accepts = head.values("sec-websocket-accept");
    match (accepts.next(), accepts.next()) {
        (Some(v), None) if v.trim_ascii() == want.as_bytes() => {}
        (None, _) => return Err(fail("101 answer without Sec-WebSocket-Accept".into())),
        _ => {
            return Err(fail(
                "Sec-WebSocket-Accept does not match the key sent (RFC 6455 §4.2.2)".into(),
            ))
        }
    }
    let mut protos = head.values("sec-websocket-protocol");
    match (protos.next(), protos.next()) {
        (None, _) => Ok(None),
        (Some(p), None) => {
            let p = std::str::from_utf8(p.trim_ascii()).unwrap_or("");
            if offered.iter().any(|o| o == p) {
                Ok(Some(p.to_string()))
            } else {
                Err(fail(format!(
                    "the server selected subprotocol {:?}, which was not offered",
                    p
                )))
            }
        }
        _ => Err(fail("the server selected more than one subprotocol".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{parse_head, Limits};

    fn head(text: &str) -> ResponseHead {
        parse_head(text.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap()
            .1
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const OK: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";

    #[test]
    fn handshake_accept_matches_rfc_example() {
        assert_eq!(accept_for(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn handshake_key_is_16_random_bytes() {
        let (a, b) = (generate_key().unwrap(), generate_key().unwrap());
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
    }

    #[test]
    fn handshake_checks_the_101_answer() {
        assert_eq!(
            check_response(&head(&format!("{OK}\r\n")), KEY, &[], None).unwrap(),
            Agreed::default()
        );
        let bad_accept = OK.replace("s3pP", "AAAA");
        assert!(check_response(&head(&format!("{bad_accept}\r\n")), KEY, &[], None).is_err());
        let no_upgrade = OK.replace("Upgrade: websocket\r\n", "");
        assert!(check_response(&head(&format!("{no_upgrade}\r\n")), KEY, &[], None).is_err());
        let ext = format!("{OK}Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n");
        assert!(check_response(&head(&ext), KEY, &[], None).is_err());
        let not200 = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(check_response(&head(not200), KEY, &[], None).is_err());
    }

    #[test]
    fn handshake_checks_the_selected_subprotocol() {
        let offered = vec!["chat".to_string(), "superchat".to_string()];
        let chosen = format!("{OK}Sec-WebSocket-Protocol: superchat\r\n\r\n");
        assert_eq!(
            check_response(&head(&chosen), KEY, &offered, None)
                .unwrap()
                .protocol,
            Some("superchat".into())
        );
        let other = format!("{OK}Sec-WebSocket-Protocol: mqtt\r\n\r\n");
        assert!(check_response(&head(&other), KEY, &offered, None).is_err());
        assert!(check_response(&head(&chosen), KEY, &[], None).is_err());
    }

    #[test]
    fn handshake_deflate_only_when_offered() {
        let ext = format!(
            "{OK}Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n"
        );
        let offer = DeflateOffer::default();
        let a = check_response(&head(&ext), KEY, &[], Some(&offer)).unwrap();
        assert!(a.deflate.unwrap().server_no_context_takeover);
        assert!(check_response(&head(&ext), KEY, &[], None).is_err());
        let plain = format!("{OK}\r\n");
        assert_eq!(
            check_response(&head(&plain), KEY, &[], Some(&offer))
                .unwrap()
                .deflate,
            None
        );
    }

    #[test]
    fn handshake_protocols_must_be_distinct_tokens() {
        assert!(validate_protocols(&["a".into(), "b".into()]).is_ok());
        assert!(validate_protocols(&["a b".into()]).is_err());
        assert!(validate_protocols(&["".into()]).is_err());
        assert!(validate_protocols(&["a".into(), "a".into()]).is_err());
    }
}
