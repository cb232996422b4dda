//! Incremental UTF-8 validation across fragments (RFC 6455 §8.1): text is
//! checked as it arrives, so invalid bytes fail the connection at once
//! (close 1007) even inside an unfinished message. A code point split
//! between fragments is carried (at most 3 bytes) to the next piece.
use super::error::{WsError, WsErrorKind};

#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// The start of a code point whose remaining bytes have not arrived.
    pending: [u8; 4],
    pending_len: usize,
}

fn invalid() -> WsError {
    WsError::new(
        WsErrorKind::InvalidUtf8,
        "text message is not valid UTF-8 (RFC 6455 §8.1)",
    )
}

/// The length of the code point a valid leading byte starts.
fn width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

impl Utf8Validator {
    /// Validates the next piece of a text message; `fin` says it is the last.
    pub fn feed(&mut self, mut bytes: &[u8], fin: bool) -> Result<(), WsError> {
        if self.pending_len > 0 {
            let need = width(self.pending[0]) - self.pending_len;
            let take = need.min(bytes.len());
            let mut tmp = self.pending;
            tmp[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            let have = self.pending_len + take;
            match std::str::from_utf8(&tmp[..have]) {
                Ok(_) => {}
                // Still a valid prefix: keep waiting for the rest.
                Err(e) if e.error_len().is_none() => {
                    self.pending = tmp;
                    self.pending_len = have;
                    return if fin { Err(invalid()) } else { Ok(()) };
                }
                Err(_) => return Err(invalid()),
            }
            self.pending_len = 0;
            bytes = &bytes[take..];
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            // error_len None: the piece ends inside a code point that may
            // yet be completed by the next fragment.
            Err(e) if e.error_len().is_none() && !fin => {
                let tail = &bytes[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len();
                Ok(())
            }
            Err(_) => Err(invalid()),
        }
    }

    /// True when no code point is left unfinished.
    pub fn is_complete(&self) -> bool {
        self.pending_len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` split at every position (and byte by byte), expecting `ok`.
    fn check(text: &[u8], ok: bool) {
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(text, true).is_ok(), ok, "whole {:?}", text);
        for cut in 0..=text.len() {
            let mut v = Utf8Validator::default();
            let r = v
                .feed(&text[..cut], false)
                .and_then(|_| v.feed(&text[cut..], true));
            assert_eq!(r.is_ok(), ok, "cut at {} of {:?}", cut, text);
        }
        let mut v = Utf8Validator::default();
        let mut r = Ok(());
        for (i, b) in text.iter().enumerate() {
            r = r.and_then(|_| v.feed(std::slice::from_ref(b), i + 1 == text.len()));
        }
        if text.is_empty() {
            r = v.feed(b"", true);
        }
        assert_eq!(r.is_ok(), ok, "bytewise {:?}", text);
    }

    #[test]
    fn utf8_accepts_valid_text_split_anywhere() {
        check("κόσμε €𝄞 ascii".as_bytes(), true);
        check(b"", true);
        check("\u{10FFFF}".as_bytes(), true);
    }

    #[test]
    fn utf8_refuses_invalid_text_split_anywhere() {
        check(b"\xff", false);
        check(b"ab\xc3", false); // truncated at the end of the message
        check(b"\xed\xa0\x80", false); // surrogate
        check(b"\xf4\x90\x80\x80", false); // over U+10FFFF
        check(b"\xc0\xaf", false); // overlong
        check(
            "κόσμε\u{0}"
                .as_bytes()
                .iter()
                .chain(b"\xce\xba\xe1")
                .copied()
                .collect::<Vec<_>>()
                .as_slice(),
            false,
        );
    }

    #[test]
    fn utf8_fails_fast_inside_an_unfinished_message() {
        let mut v = Utf8Validator::default();
        assert!(v.feed(b"\xf4", false).is_ok());
        // 0x90 cannot follow 0xF4: invalid before the message ends.
        assert!(v.feed(b"\x90", false).is_err());
    }
}
