//! A request as the caller built it: validated once, sendable many times.
use url::Url;

use std::sync::Arc;

use super::body::{Body, BodySource, Progress};
use super::error::{ClientError, ClientErrorKind};
use super::headers::HeaderList;
use super::multipart::Multipart;
use crate::net::{TimeoutOverrides, Timeouts};
use crate::proto::{validate_header_name, validate_header_value, validate_method};

/// Headers the library writes itself from the body it sends; a caller value
/// could disagree with the body and desynchronise the connection.
const FRAMING_HEADERS: [&str; 2] = ["content-length", "transfer-encoding"];

#[derive(Debug, Clone)]
pub enum Target {
    Absolute(Url),
    /// Joined with the session's base URL at send time.
    Relative(String),
}

/// Clones share a source body (it is read once, by whichever sends first).
#[derive(Clone)]
pub struct Request {
    pub(crate) method: String,
    pub(crate) target: Target,
    pub(crate) headers: HeaderList<'static>,
    pub(crate) body: Option<Body>,
    pub(crate) progress: Option<Arc<dyn Progress>>,
    pub(crate) timeouts: TimeoutOverrides,
    /// The caller says sending it twice does no harm, whatever its method
    /// (a retry policy may then send it again).
    pub(crate) idempotent: bool,
}

/// Parses an absolute http(s) URL; anything else is an error naming the problem.
pub(crate) fn parse_absolute(text: &str) -> Result<Url, ClientError> {
    let url = Url::parse(text).map_err(|e| {
        ClientError::new(
            ClientErrorKind::InvalidUrl,
            format!("invalid URL {:?}: {}", text, e),
        )
    })?;
    check_scheme(&url)?;
    Ok(url)
}

pub(crate) fn check_scheme(url: &Url) -> Result<(), ClientError> {
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(ClientError::new(
                ClientErrorKind::UnsupportedScheme,
                format!("unsupported URL scheme {:?} (only http and https)", other),
            ))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ClientError::new(
            ClientErrorKind::InvalidUrl,
            format!("URL {:?} has no host", url.as_str()),
        ));
    }
    Ok(())
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Request {
    /// A request for `method` and `url`; `url` may be relative to the
    /// session's base URL.
    pub fn new(method: &str, url: &str) -> Result<Request, ClientError> {
        validate_method(method)?;
        let target = match Url::parse(url) {
            Ok(parsed) => {
                check_scheme(&parsed)?;
                Target::Absolute(parsed)
            }
            Err(url::ParseError::RelativeUrlWithoutBase) => Target::Relative(url.to_string()),
            Err(e) => {
                return Err(ClientError::new(
                    ClientErrorKind::InvalidUrl,
                    format!("invalid URL {:?}: {}", url, e),
                ))
            }
        };
        Ok(Request {
            method: method.to_string(),
            target,
            headers: HeaderList::default(),
            body: None,
            progress: None,
            timeouts: TimeoutOverrides::default(),
            idempotent: false,
        })
    }

    /// Adds a header field (repeats allowed). Framing headers are refused:
    /// the library sets them from the body.
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<(), ClientError> {
        validate_header(name, value)?;
        self.headers
            .add_from_caller(name.to_string(), value.to_string());
        Ok(())
    }

    pub fn set_body(&mut self, body: &[u8]) {
        self.body = Some(Body::Bytes(body.to_vec()));
    }

    /// A body read from `source` while sending: with a Content-Length of
    /// `size` when given, chunked otherwise. It is sent once: a redirect
    /// that would resend it is not followed.
    pub fn set_body_source(&mut self, source: Box<dyn BodySource>, size: Option<u64>) {
        self.body = Some(Body::Source {
            source: Arc::new(std::sync::Mutex::new(source)),
            size,
        });
    }

    /// Sets a multipart/form-data body from `form` (`client::multipart`):
    /// a fresh boundary, `Content-Type: multipart/form-data; boundary=...`
    /// (replacing one set before) and a Content-Length. The request keeps
    /// what `form` holds now; later changes to `form` do not reach it.
    pub fn set_multipart(&mut self, form: &Multipart) -> Result<(), ClientError> {
        let (body, content_type) = form.freeze()?;
        self.headers.set("Content-Type", content_type);
        self.body = Some(Body::Reopen(body));
        Ok(())
    }

    /// Sets a JSON body: `text` must be one valid JSON value (RFC 8259);
    /// it is sent as is, with `Content-Type: application/json` unless a
    /// JSON type was given before (`application/vnd.api+json` is kept,
    /// `text/plain` replaced).
    pub fn set_json(&mut self, text: &str) -> Result<(), ClientError> {
        serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
            ClientError::new(
                ClientErrorKind::InvalidJson,
                format!(
                    "invalid JSON body at line {} column {}: {}",
                    e.line(),
                    e.column(),
                    e
                ),
            )
        })?;
        // A JSON type the caller chose (application/vnd.api+json, or
        // application/json with a charset) is kept; any other is replaced,
        // since the body is JSON whatever was set before.
        if !self
            .headers
            .get("Content-Type")
            .is_some_and(is_json_media_type)
        {
            self.headers.set("Content-Type", "application/json");
        }
        self.body = Some(Body::Bytes(text.as_bytes().to_vec()));
        Ok(())
    }

    /// Reports transfer progress of each send of this request.
    pub fn set_progress(&mut self, progress: Option<Arc<dyn Progress>>) {
        self.progress = progress;
    }

    /// Replaces every timeout of the session for this request.
    pub fn set_timeouts(&mut self, t: Timeouts) {
        self.timeouts = TimeoutOverrides::all(t);
    }

    /// Replaces the session's timeouts that `o` sets, for this request.
    pub fn override_timeouts(&mut self, o: TimeoutOverrides) {
        self.timeouts = o;
    }

    /// Marks the request safe to send again whatever its method, for the
    /// session's retry policy (GET, HEAD, OPTIONS, TRACE, PUT and DELETE
    /// are without the mark).
    pub fn set_idempotent(&mut self, on: bool) {
        self.idempotent = on;
    }

    pub fn method(&self) -> &str {
        &self.method
    }
}

/// Whether `name` is one of the framing headers (any case).
pub fn is_framing_header(name: &str) -> bool {
    FRAMING_HEADERS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// A header the caller gives (per request or as a session default): a
/// token name, a value without CR/LF/NUL, and not one of the framing
/// headers the library derives from the body.
pub(crate) fn validate_header(name: &str, value: &str) -> Result<(), ClientError> {
    validate_header_name(name.as_bytes())?;
    validate_header_value(name.as_bytes(), value.as_bytes())?;
    if is_framing_header(name) {
        return Err(ClientError::Proto(crate::proto::ProtoError::new(
            crate::proto::ProtoErrorKind::InvalidHeader,
            format!(
                "header {:?} is set by the library from the body and cannot be given",
                name
            ),
        )));
    }
    Ok(())
}

/// RFC 9110 §9.2.2: methods whose repetition has the same effect; only these
/// are retried after a stale connection.
pub(crate) fn is_idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE"
    )
}

/// `application/json`, or a structured `+json` type (RFC 6839 §3.1),
/// whatever its parameters.
fn is_json_media_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || (essence.contains('/') && essence.ends_with("+json"))
}
