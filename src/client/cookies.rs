//! The session's cookie jar (RFC 6265), kept by the cookie_store crate:
//! domain and host-only matching, paths, Secure, HttpOnly, Expires and
//! Max-Age. Each session has its own jar; nothing is shared between
//! sessions.
use std::io::BufReader;
use std::sync::Mutex;

use cookie_store::CookieStore;
use url::Url;

use super::error::{ClientError, ClientErrorKind};
use crate::proto::ResponseHead;

#[derive(Default)]
pub struct Jar {
    store: Mutex<CookieStore>,
}

impl Jar {
    fn lock(&self) -> std::sync::MutexGuard<'_, CookieStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Cookie header value for a request to `url`, if any cookie matches.
    pub(crate) fn header_for(&self, url: &Url) -> Option<String> {
        let store = self.lock();
        let pairs: Vec<String> = store
            .get_request_values(url)
            .map(|(n, v)| format!("{}={}", n, v))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Takes the Set-Cookie fields of a response to `url`. Invalid ones, or
    /// ones the rules refuse (a Domain the host does not belong to, Secure
    /// over http), are ignored, as RFC 6265 §5.3 says.
    pub(crate) fn store_from(&self, head: &ResponseHead, url: &Url) {
        let mut values = head.values("set-cookie").peekable();
        if values.peek().is_none() {
            return;
        }
        let mut store = self.lock();
        for raw in values {
            if let Ok(text) = std::str::from_utf8(raw) {
                let _ = store.parse(text, url);
            }
        }
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The persistent, unexpired cookies as JSON text (session cookies, which
    /// end with the program, are not saved).
    pub fn save(&self) -> Result<String, ClientError> {
        let mut out = Vec::new();
        #[allow(deprecated)]
        self.lock().save_json(&mut out).map_err(|e| {
            ClientError::new(
                ClientErrorKind::InvalidArgument,
                format!("saving cookies failed: {}", e),
            )
        })?;
        Ok(String::from_utf8(out).unwrap_or_default())
    }

    /// Replaces the jar with cookies saved by `save`; expired ones are dropped.
    pub fn load(&self, text: &str) -> Result<(), ClientError> {
        #[allow(deprecated)]
        let loaded = CookieStore::load_json(BufReader::new(text.as_bytes())).map_err(|e| {
            ClientError::new(
                ClientErrorKind::InvalidArgument,
                format!("cookie jar text is not valid: {}", e),
            )
        })?;
        *self.lock() = loaded;
        Ok(())
    }

    /// Names of the cookies that would be sent to `url` (for tests and logs).
    pub fn names_for(&self, url: &Url) -> Vec<String> {
        self.lock()
            .get_request_values(url)
            .map(|(n, _)| n.to_string())
            .collect()
    }
}
