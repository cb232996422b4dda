//! reqivo's request as h2's: the method and target as pseudo-header
//! fields (`:authority` from the Host field, RFC 9113 §8.3.1), and the
//! header fields minus those HTTP/2 forbids (§8.2.2).
use http::header::{self, HeaderName, HeaderValue};
use http::{uri, HeaderMap, Method, Request, Uri, Version};
use url::{Position, Url};

use crate::client::chain::USER_AGENT;
use crate::client::decode::ACCEPT_ENCODING;
use crate::client::error::{ClientError, ClientErrorKind};
use crate::client::headers::HeaderList;

/// Fields that mean something only to an HTTP/1.1 connection; an HTTP/2
/// message carrying them is malformed. (Host becomes `:authority`.)
static CONNECTION_SPECIFIC: [HeaderName; 6] = [
    header::HOST,
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Values reqivo sends by default (chain.rs), made (and checked) at
/// compile time: taken as they are, where any other value is checked and
/// copied into the request.
static DEFAULT_VALUES: [(&str, HeaderValue); 3] = [
    (USER_AGENT, HeaderValue::from_static(USER_AGENT)),
    ("*/*", HeaderValue::from_static("*/*")),
    (ACCEPT_ENCODING, HeaderValue::from_static(ACCEPT_ENCODING)),
];

fn invalid(what: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::new(
        ClientErrorKind::InvalidArgument,
        format!("{} cannot be sent over HTTP/2: {}", what, e),
    )
}

/// `value` as a field value; one of `DEFAULT_VALUES` without a copy.
fn field_value(value: &str) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    match DEFAULT_VALUES.iter().find(|(text, _)| *text == value) {
        Some((_, made)) => Ok(made.clone()),
        None => HeaderValue::from_str(value),
    }
}

/// The h2 request for `method` to `url` with `headers` (Host included,
/// as the chain built them).
pub(crate) fn to_h2(
    method: &str,
    url: &Url,
    headers: &HeaderList<'_>,
) -> Result<Request<()>, ClientError> {
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| invalid("the method", e))?;
    let authority = match headers.get("host") {
        Some(host) => host,
        None => &url[Position::BeforeHost..Position::AfterPort],
    };
    let path = match &url[Position::BeforePath..Position::AfterQuery] {
        "" => "/",
        p => p,
    };
    // By parts rather than `Uri::builder`, whose large state is moved at
    // every step.
    let mut parts = uri::Parts::default();
    parts.scheme = Some(match url.scheme() {
        "https" => uri::Scheme::HTTPS,
        "http" => uri::Scheme::HTTP,
        other => other.parse().map_err(|e| invalid("the URL", e))?,
    });
    parts.authority = Some(authority.parse().map_err(|e| invalid("the URL", e))?);
    parts.path_and_query = Some(path.parse().map_err(|e| invalid("the URL", e))?);
    let uri = Uri::from_parts(parts).map_err(|e| invalid("the URL", e))?;
    let mut map = HeaderMap::with_capacity(headers.iter().count());
    for (name, value) in headers.iter() {
        // Any case: a standard name comes back as `http`'s own, no copy.
        let field = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| invalid(&format!("header field {:?}", name), e))?;
        if CONNECTION_SPECIFIC.contains(&field) {
            continue;
        }
        // TE may only say that trailers are welcome (§8.2.2).
        if field == header::TE && !value.trim().eq_ignore_ascii_case("trailers") {
            continue;
        }
        let value = field_value(value)
            .map_err(|e| invalid(&format!("the value of {:?}", field.as_str()), e))?;
        map.append(field, value);
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_2;
    *request.headers_mut() = map;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h2_request_drops_connection_fields_and_takes_authority_from_host() {
        let url = Url::parse("https://example.test:8443/a/b?q=1#frag").unwrap();
        let mut h = HeaderList::default();
        h.set("Host", "other.test");
        h.set("Connection", "keep-alive");
        h.set("Transfer-Encoding", "chunked");
        h.set("TE", "gzip");
        h.set("Keep-Alive", "timeout=5");
        h.set("PROXY-CONNECTION", "keep-alive");
        h.set("X-Custom", "yes");
        let r = to_h2("GET", &url, &h).unwrap();
        assert_eq!(r.uri().authority().unwrap().as_str(), "other.test");
        assert_eq!(r.uri().path_and_query().unwrap().as_str(), "/a/b?q=1");
        assert_eq!(r.uri().scheme_str(), Some("https"));
        let names: Vec<_> = r.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-custom"]);
        assert_eq!(r.headers()["x-custom"], "yes");
        let mut h = HeaderList::default();
        h.set("te", "trailers");
        h.set("user-agent", USER_AGENT);
        h.set("Accept-Encoding", "identity");
        let r = to_h2("POST", &url, &h).unwrap();
        assert_eq!(r.uri().authority().unwrap().as_str(), "example.test:8443");
        assert_eq!(r.headers()["te"], "trailers");
        assert_eq!(r.headers()["user-agent"], USER_AGENT);
        assert_eq!(r.headers()["accept-encoding"], "identity");
    }
}
