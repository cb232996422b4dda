//! Redirect policy (RFC 9110 §15.4): which responses redirect, what the next
//! method is, where it goes, and when the chain is a loop.
use url::Url;

use super::error::{ClientError, ClientErrorKind};
use super::request::check_scheme;

pub(crate) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The method of the next hop (`None`: the same one) and whether the body
/// goes with it. 301/302 turn POST into GET (what every user agent does,
/// §15.4.2-3); 303 turns everything but HEAD into GET (§15.4.4); 307/308
/// keep both.
pub(crate) fn next_method(status: u16, method: &str) -> (Option<&'static str>, bool) {
    match status {
        301 | 302 if method == "POST" => (Some("GET"), false),
        303 if method != "HEAD" => (Some("GET"), false),
        303 => (None, false),
        _ => (None, true),
    }
}

/// Resolves a Location value against the URL that answered with it.
pub(crate) fn resolve_location(current: &Url, location: &[u8]) -> Result<Url, ClientError> {
    let text = std::str::from_utf8(location).map_err(|_| {
        ClientError::new(
            ClientErrorKind::InvalidLocation,
            format!(
                "Location {:?} is not UTF-8",
                redact_userinfo(&String::from_utf8_lossy(location))
            ),
        )
    })?;
    let mut next = current.join(text.trim()).map_err(|e| {
        ClientError::new(
            ClientErrorKind::InvalidLocation,
            format!(
                "Location {:?} is not a valid URL: {}",
                redact_userinfo(text),
                e
            ),
        )
    })?;
    check_scheme(&next).map_err(|e| {
        ClientError::new(
            ClientErrorKind::InvalidLocation,
            format!(
                "Location {:?} cannot be followed: {}",
                redact_userinfo(text),
                e.message()
            ),
        )
    })?;
    // RFC 9110 §10.2.2: a Location without a fragment inherits the current one;
    // the fragment is never sent, so just drop it.
    next.set_fragment(None);
    // Credentials a server puts in a Location are never used (only the
    // caller's URL gives any), and must not reach the response's URL, the
    // logs or an error message either.
    let _ = next.set_username("");
    let _ = next.set_password(None);
    Ok(next)
}

/// `text` with the userinfo of its authority (`user:pass@`), if any,
/// replaced by `***@`, for messages about a URL that did not parse.
fn redact_userinfo(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = text.find("://").map(|i| i + 3) else {
        return text.into();
    };
    let authority_end = text[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| scheme_end + i);
    match text[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &text[..scheme_end], &text[scheme_end + at..]).into(),
        None => text.into(),
    }
}

/// A redirect chain loops when it comes back to a state it was in: the same
/// method, URL and body. Revisiting a URL with another method (POST, then
/// GET after a 303) is progress, not a loop.
#[derive(Default)]
pub(crate) struct LoopGuard {
    seen: Vec<(String, String, bool)>,
}

impl LoopGuard {
    /// True before the first visit: a send that is not redirected never
    /// records (nor allocates) anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    pub(crate) fn visit(
        &mut self,
        method: &str,
        url: &Url,
        has_body: bool,
    ) -> Result<(), ClientError> {
        let state = (method.to_string(), url.as_str().to_string(), has_body);
        if self.seen.contains(&state) {
            return Err(ClientError::new(
                ClientErrorKind::RedirectLoop,
                format!(
                    "redirect loop: {} {} was already requested in this chain",
                    method, url
                ),
            ));
        }
        self.seen.push(state);
        Ok(())
    }
}

/// Two URLs share an origin when scheme, host and port agree (RFC 6454).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_methods_follow_rfc_9110() {
        assert_eq!(next_method(301, "POST"), (Some("GET"), false));
        assert_eq!(next_method(302, "POST"), (Some("GET"), false));
        assert_eq!(next_method(302, "PUT"), (None, true));
        assert_eq!(next_method(303, "PUT"), (Some("GET"), false));
        assert_eq!(next_method(303, "HEAD"), (None, false));
        assert_eq!(next_method(307, "POST"), (None, true));
        assert_eq!(next_method(308, "DELETE"), (None, true));
    }

    #[test]
    fn redirect_location_resolves_relative_and_rejects_other_schemes() {
        let base = Url::parse("http://h:8080/a/b?q#f").unwrap();
        assert_eq!(
            resolve_location(&base, b"c").unwrap().as_str(),
            "http://h:8080/a/c"
        );
        assert_eq!(
            resolve_location(&base, b"//other/x").unwrap().as_str(),
            "http://other/x"
        );
        assert_eq!(
            resolve_location(&base, b"/z#frag").unwrap().as_str(),
            "http://h:8080/z"
        );
        let e = resolve_location(&base, b"ftp://x/").unwrap_err();
        assert!(matches!(
            e,
            ClientError::Client {
                kind: ClientErrorKind::InvalidLocation,
                ..
            }
        ));
        assert!(resolve_location(&base, b"http://[::1").is_err());
    }

    #[test]
    fn redirect_loop_is_a_repeated_state_not_a_repeated_url() {
        let u = Url::parse("http://h/x").unwrap();
        let mut g = LoopGuard::default();
        g.visit("POST", &u, true).unwrap();
        g.visit("GET", &u, false).unwrap();
        assert!(g.visit("GET", &u, false).is_err());
    }
}
