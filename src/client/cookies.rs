//! The session's cookie jar (RFC 6265), kept by the cookie_store crate:
//! domain and host-only matching, paths, Secure, HttpOnly, Expires and
//! Max-Age. Each session has its own jar; nothing is shared between
//! sessions. Cookies for a public suffix (`Domain=co.uk`) are refused with
//! the public suffix list (RFC 6265 §5.3 step 5).
use std::io::BufReader;
use std::sync::{Arc, Mutex, OnceLock};

use cookie_store::{CookieStore, RawCookie};
use publicsuffix::{List, Psl};
use url::Url;

use super::error::{ClientError, ClientErrorKind};
use crate::proto::ResponseHead;

/// Where Debian's `publicsuffix` package keeps the list (libpsl and curl
/// read the same file).
pub const SYSTEM_SUFFIX_LIST: &str = "/usr/share/publicsuffix/public_suffix_list.dat";

/// The system's public suffix list, parsed on first use; `None` when the
/// file is missing or unreadable.
fn system_suffixes() -> Option<Arc<List>> {
    static LIST: OnceLock<Option<Arc<List>>> = OnceLock::new();
    LIST.get_or_init(|| {
        let bytes = std::fs::read(SYSTEM_SUFFIX_LIST).ok()?;
        List::from_bytes(&bytes).ok().map(Arc::new)
    })
    .clone()
}

#[derive(Default)]
pub struct Jar {
    store: Mutex<CookieStore>,
    /// A list the caller gave; `None` uses the system's.
    suffixes: Mutex<Option<Arc<List>>>,
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
        let suffixes = self.suffix_list();
        let mut store = self.lock();
        for raw in values {
            let Some(mut cookie) = std::str::from_utf8(raw)
                .ok()
                .and_then(|t| RawCookie::parse(t).ok())
            else {
                continue;
            };
            if let Some(domain) = cookie.domain() {
                let host = url.host_str().unwrap_or_default();
                let domain = domain.trim_end_matches('.');
                if is_public_suffix(suffixes.as_deref(), domain) {
                    // Step 5: a public suffix is only good as the host itself.
                    if !domain.eq_ignore_ascii_case(host) {
                        continue;
                    }
                    cookie.unset_domain();
                }
            }
            let _ = store.insert_raw(&cookie, url);
        }
    }

    /// Uses `text` (the public suffix list format) instead of the system's
    /// list; empty text goes back to the system's.
    pub fn set_suffix_list(&self, text: &str) -> Result<(), ClientError> {
        let list = if text.trim().is_empty() {
            None
        } else {
            // The format only counts rules inside its sections; a list
            // without them parses to nothing (or fails), and either way
            // the caller needs to hear why.
            let no_rules = |detail: &str| {
                ClientError::new(
                    ClientErrorKind::InvalidConfig,
                    format!(
                        "public suffix list has no usable rules ({}): rules must be inside a \
                         \"// ===BEGIN ICANN DOMAINS===\" or \"// ===BEGIN PRIVATE DOMAINS===\" \
                         section, as in https://publicsuffix.org/list/public_suffix_list.dat",
                        detail
                    ),
                )
            };
            let list = List::from_bytes(text.as_bytes()).map_err(|e| no_rules(&e.to_string()))?;
            if list.is_empty() {
                return Err(no_rules("none found"));
            }
            Some(Arc::new(list))
        };
        *self.suffixes.lock().unwrap_or_else(|p| p.into_inner()) = list;
        Ok(())
    }

    fn suffix_list(&self) -> Option<Arc<List>> {
        let own = self.suffixes.lock().unwrap_or_else(|p| p.into_inner());
        own.clone().or_else(system_suffixes)
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

/// Whether `domain` (a cookie's Domain attribute) is a public suffix: a
/// rule of the list, not a name the list merely does not know. Without a
/// list, every single-label name (`com`, `local`) counts as one, which is
/// what curl does without libpsl.
fn is_public_suffix(list: Option<&List>, domain: &str) -> bool {
    let lower = domain.to_ascii_lowercase();
    match list {
        Some(list) => list
            .suffix(lower.as_bytes())
            .is_some_and(|s| s.is_known() && s.as_bytes() == lower.as_bytes()),
        None => !lower.contains('.'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "// ===BEGIN ICANN DOMAINS===\ncom\nuk\nco.uk\n*.kawasaki.jp\n\
                        // ===END ICANN DOMAINS===\n\
                        // ===BEGIN PRIVATE DOMAINS===\ngithub.io\n// ===END PRIVATE DOMAINS===\n";

    #[test]
    fn public_suffixes_come_from_the_rules() {
        let list = List::from_bytes(LIST.as_bytes()).unwrap();
        for suffix in ["com", "co.uk", "CO.UK", "github.io", "city.kawasaki.jp"] {
            assert!(is_public_suffix(Some(&list), suffix), "{suffix}");
        }
        for name in [
            "example.com",
            "example.co.uk",
            "me.github.io",
            "localhost",
            "test",
        ] {
            assert!(!is_public_suffix(Some(&list), name), "{name}");
        }
        assert!(is_public_suffix(None, "com"));
        assert!(!is_public_suffix(None, "example.com"));
    }
}
