//! One send's policy from hop to hop, apart from how the hops are driven:
//! where the next hop goes, with which method, headers and body, and what a
//! response head means for the chain (cookies stored, hooks told, a redirect
//! followed or not). The blocking send and the multi both run it, so a
//! redirect or a credential rule exists once.
//!
//! A `Chain` holds no reference to the request: every method takes it, so
//! a driver may keep both in one place (the multi owns its copy of the
//! request) without a self-reference.
use url::{Position, Url};

use super::body::Body;
use super::cookies::Jar;
use super::decode;
use super::digest::{self, DigestAuth, DigestHop};
use super::error::{ClientError, ClientErrorKind};
use super::headers::HeaderList;
use super::hooks::{self, HookRequest};
use super::log::{log_at, Level};
use super::redirect::{is_redirect, next_method, resolve_location, same_origin, LoopGuard};
use super::request::{Request, Target};
use super::session::SessionConfig;
use crate::net::Proxy;
use crate::proto::ResponseHead;

pub(crate) const USER_AGENT: &str = concat!("reqivo/", env!("CARGO_PKG_VERSION"));
/// Headers that carry credentials: never sent to another origin than the
/// one the caller addressed (DESIGN §5).
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];
/// Headers that describe the body: dropped when a redirect drops the body.
const CONTENT_HEADERS: [&str; 4] = [
    "content-type",
    "content-encoding",
    "content-language",
    "content-location",
];

/// Where a send is in its redirect chain.
pub(crate) struct Chain {
    /// The URL the caller addressed, when it is not the request's own
    /// absolute URL as is (joined to the base URL, or userinfo removed).
    origin: Option<Url>,
    /// Basic credentials from the URL's userinfo, for the origin only.
    url_auth: Option<String>,
    /// Where the current hop goes, once a redirect was followed.
    redirected: Option<Url>,
    /// The method after a redirect changed it (always GET).
    method: Option<&'static str>,
    /// A redirect dropped the body.
    body_dropped: bool,
    guard: LoopGuard,
    redirects: u32,
    /// The Digest answer of the current hop, and the challenges answered.
    digest: DigestHop,
}

/// What a final head means for the chain.
pub(crate) enum Next {
    /// Deliver this response.
    Deliver(Out),
    /// A redirect is followed: drain this response, then send the next hop.
    Follow,
}

/// How the delivered response came to be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Out {
    pub redirect_count: u32,
    /// A 307/308 that could not be followed (its body cannot be resent).
    pub not_followed: bool,
}

impl Chain {
    /// The chain of `req` under `cfg`: its URL resolved against the base
    /// URL, userinfo taken out as credentials. (Filled in place by
    /// `Chain::begin`: returning the chain inside a `Result` cost two
    /// copies of it per request.)
    pub(crate) fn new() -> Chain {
        Chain {
            origin: None,
            url_auth: None,
            redirected: None,
            method: None,
            body_dropped: false,
            guard: LoopGuard::default(),
            redirects: 0,
            digest: DigestHop::default(),
        }
    }

    /// Starts the chain of `req` under `cfg`: its URL resolved against the
    /// base URL, userinfo taken out as credentials.
    pub(crate) fn begin(&mut self, cfg: &SessionConfig, req: &Request) -> Result<(), ClientError> {
        if let Target::Relative(rel) = &req.target {
            self.origin = Some(join_base(cfg, rel)?);
        }
        if has_userinfo(self.origin(req)) {
            let mut owned = self.origin.take().unwrap_or_else(|| absolute(req).clone());
            self.url_auth = take_userinfo(&mut owned);
            self.origin = Some(owned);
        }
        match cfg.digest {
            Some(_) => self.start_digest(cfg, req),
            None => Ok(()),
        }
    }

    /// The Digest credentials the current hop may carry: only to the
    /// origin the caller addressed, and only when no other Authorization
    /// (URL userinfo, a session or request header) was given.
    #[inline]
    fn digest_auth<'c>(&self, cfg: &'c SessionConfig, req: &Request) -> Option<&'c DigestAuth> {
        let own = |h: &HeaderList<'_>| h.get("authorization").is_some();
        cfg.digest.as_deref().filter(|_| {
            self.url_auth.is_none()
                && !own(&cfg.headers)
                && !own(&req.headers)
                && same_origin(self.origin(req), self.url(req))
        })
    }

    /// A new URL: answered at once if its origin challenged before.
    fn start_digest(&mut self, cfg: &SessionConfig, req: &Request) -> Result<(), ClientError> {
        // Without Digest credentials no hop ever has an answer to clear
        // (the usual case, kept off the per-request path).
        if cfg.digest.is_none() {
            return Ok(());
        }
        let auth = self.digest_auth(cfg, req);
        let target = digest::Target {
            method: self.method(req),
            url: self.url(req),
            body: self.body(req),
        };
        self.digest = DigestHop::start(auth, &target)?;
        Ok(())
    }

    /// The URL the caller addressed.
    pub(crate) fn origin<'a>(&'a self, req: &'a Request) -> &'a Url {
        self.origin.as_ref().unwrap_or_else(|| absolute(req))
    }

    /// Where the current hop goes.
    pub(crate) fn url<'a>(&'a self, req: &'a Request) -> &'a Url {
        self.redirected.as_ref().unwrap_or_else(|| self.origin(req))
    }

    pub(crate) fn method<'a>(&self, req: &'a Request) -> &'a str {
        self.method.unwrap_or(&req.method)
    }

    pub(crate) fn body<'a>(&self, req: &'a Request) -> Option<&'a Body> {
        req.body.as_ref().filter(|_| !self.body_dropped)
    }

    /// The proxy the current hop goes through, if any.
    #[inline]
    pub(crate) fn proxy<'c>(
        &self,
        cfg: &'c SessionConfig,
        req: &Request,
    ) -> Option<&'c std::sync::Arc<Proxy>> {
        let proxies = cfg.proxy.as_ref()?;
        // A Unix socket replaces every route, proxies included.
        if cfg.targets.as_ref().is_some_and(|t| t.is_unix()) {
            return None;
        }
        proxies.for_url(self.url(req))
    }

    /// The full header list of the current hop: Host, defaults, session
    /// headers, request headers (each overriding the one before), framing,
    /// proxy credentials, the jar's cookies; minus credentials when the hop
    /// leaves the origin the caller addressed, minus content headers when
    /// the body was dropped. Then the `on_request` hook sees it.
    pub(crate) fn headers<'h>(
        &'h self,
        cfg: &'h SessionConfig,
        req: &'h Request,
        jar: &Jar,
        number: &'h mut itoa::Buffer,
    ) -> Result<HeaderList<'h>, ClientError> {
        let url = self.url(req);
        let method = self.method(req);
        let body = self.body(req);
        let mut h = HeaderList::default();
        // `host[:port]` as the URL spells it: brackets around IPv6, no default port.
        let host = &url[Position::BeforeHost..Position::AfterPort];
        h.add("Host", host);
        h.add("User-Agent", USER_AGENT);
        h.add("Accept", "*/*");
        for (n, v) in cfg.headers.iter() {
            h.set(n, v);
        }
        if let Some(auth) = self.url_auth.as_deref() {
            h.set("Authorization", auth);
        }
        if let Some(auth) = self.digest.header() {
            h.set("Authorization", auth);
        }
        // Request headers replace session defaults of the same name; repeats
        // within the request itself are all kept.
        for (i, (n, v)) in req.headers.iter().enumerate() {
            let repeat = req
                .headers
                .iter()
                .take(i)
                .any(|(earlier, _)| earlier.eq_ignore_ascii_case(n));
            if repeat {
                h.add(n, v);
            } else {
                h.set(n, v);
            }
        }
        if !same_origin(self.origin(req), url) {
            for name in CREDENTIAL_HEADERS {
                h.remove(name);
            }
            // A Host the caller forced was meant for the origin they addressed.
            h.set("Host", host);
        }
        if body.is_none() && !method.eq_ignore_ascii_case(&req.method) {
            for name in CONTENT_HEADERS {
                h.remove(name);
            }
        }
        if cfg.decompress && h.get("accept-encoding").is_none() {
            h.add("Accept-Encoding", decode::ACCEPT_ENCODING);
        }
        if h.get("connection").is_none() {
            h.add("Connection", "keep-alive");
        }
        match body.map(Body::length) {
            Some(Some(len)) => h.add("Content-Length", number.format(len)),
            // RFC 9112 §6.1: a body of unknown length goes chunked.
            Some(None) => h.add("Transfer-Encoding", "chunked"),
            // RFC 9110 §8.6: send a zero length for methods that expect content.
            None if matches!(method, "POST" | "PUT" | "PATCH") => h.add("Content-Length", "0"),
            None => {}
        }
        if let Some(auth) = self
            .proxy(cfg, req)
            .filter(|_| url.scheme() == "http")
            .and_then(|p| p.authorization.as_deref())
        {
            if h.get("proxy-authorization").is_none() {
                h.add("Proxy-Authorization", auth);
            }
        }
        if cfg.cookies {
            add_jar_cookies(&mut h, jar, url);
        }
        if let Some(hooks) = &cfg.hooks {
            let mut view = HookRequest {
                method,
                url,
                headers: &mut h,
            };
            if !hooks.on_request(&mut view) {
                return Err(hooks::aborted("on_request"));
            }
        }
        Ok(h)
    }

    /// What the final head of the current hop means: its cookies are
    /// stored and the `on_response` hook told; then either it is delivered
    /// or the redirect it names becomes the next hop. `follow` is false
    /// for an upgrade, whose 3xx is an answer like any other.
    pub(crate) fn after_head(
        &mut self,
        cfg: &SessionConfig,
        req: &Request,
        jar: &Jar,
        head: &ResponseHead,
        follow: bool,
    ) -> Result<Next, ClientError> {
        // Field by field, not `self.url(req)`: the loop guard below is
        // updated while the URL is borrowed.
        let url = match &self.redirected {
            Some(u) => u,
            None => self.origin.as_ref().unwrap_or_else(|| absolute(req)),
        };
        if cfg.cookies {
            jar.store_from(head, url);
        }
        if let Some(hooks) = &cfg.hooks {
            if !hooks.on_response(head, url) {
                return Err(hooks::aborted("on_response"));
            }
        }
        if let Some(auth) = self.digest_auth(cfg, req) {
            let target = digest::Target {
                method: self.method.unwrap_or(&req.method),
                url,
                body: req.body.as_ref().filter(|_| !self.body_dropped),
            };
            if self
                .digest
                .after_head(auth, head, &target, cfg.log.as_ref())?
            {
                return Ok(Next::Follow);
            }
        }
        let location = (follow && cfg.max_redirects > 0 && is_redirect(head.status))
            .then(|| head.value("location"))
            .flatten();
        let deliver = |not_followed| {
            Next::Deliver(Out {
                redirect_count: self.redirects,
                not_followed,
            })
        };
        let Some(location) = location else {
            return Ok(deliver(false));
        };
        if self.redirects >= cfg.max_redirects {
            return Err(ClientError::new(
                ClientErrorKind::TooManyRedirects,
                format!(
                    "more than max_redirects ({}) redirects, last to {}",
                    cfg.max_redirects, url
                ),
            ));
        }
        let next = resolve_location(url, location)?;
        let method = self.method.unwrap_or(&req.method);
        log_at!(
            cfg.log.as_ref(),
            Level::Info,
            "{} {} -> {} {}",
            method,
            url,
            head.status,
            next
        );
        let (next_method, keep_body) = next_method(head.status, method);
        let body = req.body.as_ref().filter(|_| !self.body_dropped);
        if keep_body && body.is_some_and(|b| !b.replayable()) {
            return Ok(deliver(true));
        }
        let next_method = next_method.or(self.method);
        let next_has_body = keep_body && body.is_some();
        let method = self.method.unwrap_or(&req.method);
        if self.guard.is_empty() {
            self.guard.visit(method, url, body.is_some())?;
        }
        self.guard
            .visit(next_method.unwrap_or(&req.method), &next, next_has_body)?;
        self.redirects += 1;
        self.redirected = Some(next);
        self.method = next_method;
        self.body_dropped |= !keep_body;
        self.start_digest(cfg, req)?;
        Ok(Next::Follow)
    }
}

/// The request's own URL; `Chain::start` made `origin` whenever the target
/// is not absolute.
fn absolute(req: &Request) -> &Url {
    match &req.target {
        Target::Absolute(u) => u,
        Target::Relative(_) => unreachable!("a relative target is joined in Chain::start"),
    }
}

fn join_base(cfg: &SessionConfig, rel: &str) -> Result<Url, ClientError> {
    let base = cfg.base_url.as_ref().ok_or_else(|| {
        ClientError::new(
            ClientErrorKind::InvalidUrl,
            format!("relative URL {:?} needs a session base URL", rel),
        )
    })?;
    let url = base.join(rel).map_err(|e| {
        ClientError::new(
            ClientErrorKind::InvalidUrl,
            format!("cannot join {:?} to {}: {}", rel, base, e),
        )
    })?;
    super::request::check_scheme(&url)?;
    Ok(url)
}

pub(crate) fn basic_credentials(user: &str, password: &str) -> String {
    use base64::Engine;
    let raw = format!("{}:{}", user, password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn has_userinfo(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// The Basic credentials of `url`'s userinfo, percent-decoded (RFC 3986
/// §3.2.1 encodes them); `None` without userinfo. For origins and proxies
/// alike.
pub(crate) fn userinfo_credentials(url: &Url) -> Option<String> {
    userinfo_login(url).map(|(user, pass)| basic_credentials(&user, &pass))
}

/// The user name and password of `url`, percent-decoded, if it has any.
pub(crate) fn userinfo_login(url: &Url) -> Option<(String, String)> {
    has_userinfo(url).then(|| {
        (
            decode_userinfo(url.username()),
            decode_userinfo(url.password().unwrap_or("")),
        )
    })
}

/// Removes user and password from `url`, returning them as credentials.
fn take_userinfo(url: &mut Url) -> Option<String> {
    let auth = userinfo_credentials(url)?;
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(auth)
}

/// A user name or password from a URL, percent-decoded (RFC 3986 §3.2.1).
fn decode_userinfo(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Adds the jar's cookies for `url` after any Cookie the caller set (which
/// was already dropped if this hop left the caller's origin).
fn add_jar_cookies(headers: &mut HeaderList<'_>, jar: &Jar, url: &Url) {
    let Some(from_jar) = jar.header_for(url) else {
        return;
    };
    match headers.get("cookie") {
        Some(own) => {
            let merged = format!("{}; {}", own, from_jar);
            headers.set("Cookie", merged);
        }
        None => headers.add("Cookie", from_jar),
    }
}
