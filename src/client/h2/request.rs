//! reqivo's request as h2's: the method and target as pseudo-header
//! fields (`:authority` from the Host field, RFC 9113 §8.3.1), and the
//! header fields minus those HTTP/2 forbids (§8.2.2).
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri, Version};
use url::{Position, Url};

use crate::client::error::{ClientError, ClientErrorKind};
use crate::client::headers::HeaderList;

/// Fields that mean something only to an HTTP/1.1 connection; an HTTP/2
/// message carrying them is malformed.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

fn invalid(what: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::new(
        ClientErrorKind::InvalidArgument,
        format!("{} cannot be sent over HTTP/2: {}", what, e),
    )
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
    let uri = Uri::builder()
        .scheme(url.scheme())
        .authority(authority)
        .path_and_query(path)
        .build()
        .map_err(|e| invalid("the URL", e))?;
    let mut map = HeaderMap::with_capacity(headers.iter().count());
    for (name, value) in headers.iter() {
        let lower = name.to_ascii_lowercase();
        if lower == "host" || CONNECTION_SPECIFIC.contains(&lower.as_str()) {
            continue;
        }
        // TE may only say that trailers are welcome (§8.2.2).
        if lower == "te" && !value.trim().eq_ignore_ascii_case("trailers") {
            continue;
        }
        let name = HeaderName::from_bytes(lower.as_bytes())
            .map_err(|e| invalid(&format!("header field {:?}", name), e))?;
        let value = HeaderValue::from_str(value)
            .map_err(|e| invalid(&format!("the value of {:?}", name.as_str()), e))?;
        map.append(name, value);
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
        h.set("X-Custom", "yes");
        let r = to_h2("GET", &url, &h).unwrap();
        assert_eq!(r.uri().authority().unwrap().as_str(), "other.test");
        assert_eq!(r.uri().path_and_query().unwrap().as_str(), "/a/b?q=1");
        assert_eq!(r.uri().scheme_str(), Some("https"));
        let names: Vec<_> = r.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-custom"]);
        let mut h = HeaderList::default();
        h.set("te", "trailers");
        let r = to_h2("POST", &url, &h).unwrap();
        assert_eq!(r.uri().authority().unwrap().as_str(), "example.test:8443");
        assert_eq!(r.headers()["te"], "trailers");
    }
}
