//! The session: shared configuration and the send loop (redirects, retries,
//! total deadline) over a pool.
use std::sync::{Arc, Mutex};

use url::Url;

use super::body::{Body, Tracker};
use super::cookies::Jar;
use super::decode;
use super::error::{ClientError, ClientErrorKind};
use super::exchange::{exchange, read_body, Exchanged, Hop};
use super::headers::HeaderList;
use super::hooks::{self, HookRequest, Hooks};
use super::log::{log_at, Level, Log};
use super::redirect::{is_redirect, next_method, resolve_location, same_origin, LoopGuard};
use super::request::{parse_absolute, validate_header, Request, Target};
use super::response::{Response, Timings};
use super::stream::Stream;
use crate::net::{Budget, Cancel, Pool, Timeouts, TlsConfig};
use crate::proto::Limits;

const USER_AGENT: &str = concat!("reqivo/", env!("CARGO_PKG_VERSION"));
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
/// A redirect body larger than this is not drained; its connection is closed.
const DRAIN_LIMIT: u64 = 64 * 1024;

/// Settings of a session; a send takes a snapshot, so setters apply to later sends.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub base_url: Option<Url>,
    pub headers: HeaderList,
    pub timeouts: Timeouts,
    /// `max_body_bytes` of `None` means the default of the mode (1 GiB
    /// buffered, unlimited streamed).
    pub limits: Limits,
    pub max_body_bytes: Option<u64>,
    pub max_redirects: u32,
    /// Ask for and undo gzip/deflate content coding.
    pub decompress: bool,
    /// Send and store cookies through the session's jar.
    pub cookies: bool,
    /// Caller hooks around each hop.
    pub hooks: Option<Arc<dyn Hooks>>,
    /// Where the session reports what it does.
    pub log: Option<Log>,
    /// TLS for https URLs; `None` uses the process-wide default config.
    pub tls: Option<Arc<TlsConfig>>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        let five = Some(std::time::Duration::from_secs(5));
        SessionConfig {
            base_url: None,
            headers: HeaderList::default(),
            timeouts: Timeouts {
                connect: five,
                read: five,
                write: five,
                total: None,
                pool: five,
            },
            limits: Limits::default(),
            max_body_bytes: None,
            max_redirects: 30,
            decompress: true,
            cookies: true,
            hooks: None,
            log: None,
            tls: None,
        }
    }
}

pub struct Session {
    pool: Pool,
    config: Mutex<Arc<SessionConfig>>,
    /// This session's cookies; never shared with another session (a
    /// `share` of it is the same session, for a WebSocket's reconnects).
    jar: Arc<Jar>,
}

/// How the final response's body is delivered.
enum Delivery {
    Buffered,
    Streamed,
    /// An HTTP/1.1 Upgrade: a 101 hands over the connection, anything else
    /// is read whole and returned.
    Upgrade,
}

enum Finished {
    Buffered(Response),
    Streamed(Stream),
    Upgraded(Box<Upgraded>),
}

/// A connection the server switched to another protocol (101), out of the
/// pool's hands for good.
pub struct Upgraded {
    /// The 101 head.
    pub head: crate::proto::ResponseHead,
    /// The connection; bytes the server sent after the head are in its buffer.
    pub conn: crate::net::Conn,
    pub url: String,
    pub timings: Timings,
    pub tls: Option<crate::net::TlsInfo>,
    /// The timeouts the exchange ran under; the upgraded protocol's reads
    /// and writes keep the per-operation ones.
    pub timeouts: Timeouts,
}

/// What an upgrade request got.
pub enum Upgrade {
    Switched(Upgraded),
    /// Any answer other than 101, body read under the session's limits.
    Refused(Response),
}

impl Session {
    pub fn new(pool: Pool) -> Session {
        Session {
            pool,
            config: Mutex::new(Arc::new(SessionConfig::default())),
            jar: Arc::new(Jar::default()),
        }
    }

    /// The same session for work that outlives the caller's handle (a
    /// WebSocket that reconnects): the same pool and cookie jar, and the
    /// configuration as it is now; later setters do not reach it.
    pub(crate) fn share(&self) -> Session {
        Session {
            pool: self.pool.clone(),
            config: Mutex::new(self.config()),
            jar: self.jar.clone(),
        }
    }

    pub fn cookies(&self) -> &Jar {
        &self.jar
    }

    /// Turns the cookie jar on (the default) or off for later sends; off,
    /// no cookie is sent or stored, and the jar keeps what it has.
    pub fn set_cookies(&self, on: bool) {
        let _ = self.update(|c| {
            c.cookies = on;
            Ok(())
        });
    }

    fn log_failure(&self, req: &Request, e: &ClientError) {
        log_at!(
            self.config().log.as_ref(),
            Level::Error,
            "{} failed: {}",
            req.method,
            e
        );
    }

    /// Installs (or, with None, removes) the logger of later sends.
    pub fn set_logger(&self, log: Option<Log>) {
        let _ = self.update(|c| {
            c.log = log;
            Ok(())
        });
    }

    /// Installs (or, with None, removes) the hooks of later sends.
    pub fn set_hooks(&self, hooks: Option<Arc<dyn Hooks>>) {
        let _ = self.update(|c| {
            c.hooks = hooks;
            Ok(())
        });
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn config(&self) -> Arc<SessionConfig> {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies `f` to a copy of the configuration and installs the copy.
    fn update<T>(
        &self,
        f: impl FnOnce(&mut SessionConfig) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut guard = self.config.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = (**guard).clone();
        let out = f(&mut next)?;
        *guard = Arc::new(next);
        Ok(out)
    }

    pub fn set_base_url(&self, url: &str) -> Result<(), ClientError> {
        let url = parse_absolute(url)?;
        self.update(|c| {
            c.base_url = Some(url);
            Ok(())
        })
    }

    /// Sets a default header, replacing any earlier value of the same name.
    pub fn set_header(&self, name: &str, value: &str) -> Result<(), ClientError> {
        validate_header(name, value)?;
        self.update(|c| {
            c.headers.set(name, value);
            Ok(())
        })
    }

    /// Sends `Authorization: Basic` (RFC 7617) with every request to the
    /// origin addressed; a request's own Authorization replaces it.
    pub fn set_basic_auth(&self, user: &str, password: &str) -> Result<(), ClientError> {
        if user.contains(':') {
            return Err(ClientError::new(
                ClientErrorKind::InvalidArgument,
                "basic auth user may not contain ':' (RFC 7617 §2)",
            ));
        }
        self.set_header("Authorization", &basic_credentials(user, password))
    }

    /// Sends `Authorization: Bearer <token>` (RFC 6750); an empty token
    /// removes the session's Authorization.
    pub fn set_bearer_token(&self, token: &str) -> Result<(), ClientError> {
        if token.is_empty() {
            return self.update(|c| {
                c.headers.remove("authorization");
                Ok(())
            });
        }
        // RFC 6750 §2.1 b64token: no spaces, no controls.
        if token.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(ClientError::Proto(crate::proto::ProtoError::new(
                crate::proto::ProtoErrorKind::InvalidHeader,
                "bearer token contains whitespace or control bytes",
            )));
        }
        self.set_header("Authorization", &format!("Bearer {}", token))
    }

    pub fn set_timeouts(&self, t: Timeouts) {
        let _ = self.update(|c| {
            c.timeouts = t;
            Ok(())
        });
    }

    pub fn set_limits(&self, limits: Limits, max_body_bytes: Option<u64>) {
        let _ = self.update(|c| {
            c.limits = limits;
            c.max_body_bytes = max_body_bytes;
            Ok(())
        });
    }

    /// Turns gzip/deflate decoding (and the Accept-Encoding that asks for
    /// it) on or off for later sends. On by default.
    pub fn set_decompress(&self, on: bool) {
        let _ = self.update(|c| {
            c.decompress = on;
            Ok(())
        });
    }

    /// Sets the TLS configuration of later https sends; `None` returns to
    /// the shared default. Connections made under another config are not reused.
    pub fn set_tls(&self, tls: Option<Arc<TlsConfig>>) {
        let _ = self.update(|c| {
            c.tls = tls;
            Ok(())
        });
    }

    pub fn set_max_redirects(&self, n: u32) {
        let _ = self.update(|c| {
            c.max_redirects = n;
            Ok(())
        });
    }

    /// Sends `req` and reads the whole body into memory.
    pub fn send(
        &self,
        req: &Request,
        cancel: Option<Arc<Cancel>>,
    ) -> Result<Response, ClientError> {
        match self
            .run(req, cancel, Delivery::Buffered)
            .inspect_err(|e| self.log_failure(req, e))?
        {
            Finished::Buffered(r) => Ok(r),
            _ => unreachable!("buffered delivery returns a buffered response"),
        }
    }

    /// Sends `req` (which carries the Upgrade headers) and, on 101, hands
    /// the connection over: it never returns to the pool. Redirects are
    /// not followed; a 3xx is a refusal like any other non-101 answer.
    pub fn upgrade(
        &self,
        req: &Request,
        cancel: Option<Arc<Cancel>>,
    ) -> Result<Upgrade, ClientError> {
        match self
            .run(req, cancel, Delivery::Upgrade)
            .inspect_err(|e| self.log_failure(req, e))?
        {
            Finished::Upgraded(u) => Ok(Upgrade::Switched(*u)),
            Finished::Buffered(r) => Ok(Upgrade::Refused(r)),
            Finished::Streamed(_) => unreachable!("upgrade delivery never streams"),
        }
    }

    /// Sends `req` and returns once the final response head is read; the body
    /// is read from the returned stream.
    pub fn open(&self, req: &Request, cancel: Option<Arc<Cancel>>) -> Result<Stream, ClientError> {
        match self
            .run(req, cancel, Delivery::Streamed)
            .inspect_err(|e| self.log_failure(req, e))?
        {
            Finished::Streamed(s) => Ok(s),
            _ => unreachable!("streamed delivery returns a stream"),
        }
    }

    fn resolve(&self, cfg: &SessionConfig, req: &Request) -> Result<Url, ClientError> {
        match &req.target {
            Target::Absolute(u) => Ok(u.clone()),
            Target::Relative(rel) => {
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
        }
    }

    /// The redirect loop. Each hop gets its method, URL, headers and body from
    /// the previous hop's answer; the total deadline spans all of them.
    fn run(
        &self,
        req: &Request,
        cancel: Option<Arc<Cancel>>,
        delivery: Delivery,
    ) -> Result<Finished, ClientError> {
        let cfg = self.config();
        let timeouts = req.timeouts.unwrap_or(cfg.timeouts);
        let budget = Budget::new(timeouts, cancel.as_deref());
        let mut limits = cfg.limits;
        limits.max_body_bytes = cfg.max_body_bytes.unwrap_or(match delivery {
            Delivery::Buffered => Limits::DEFAULT_BUFFERED_BODY_BYTES,
            Delivery::Streamed => u64::MAX,
            Delivery::Upgrade => Limits::DEFAULT_BUFFERED_BODY_BYTES,
        });
        let mut origin = self.resolve(&cfg, req)?;
        // Credentials in the URL become Basic auth for that origin, and
        // leave the URL so they never show in responses or logs.
        let url_auth = take_userinfo(&mut origin);
        let mut url = origin.clone();
        let mut method = req.method.clone();
        let mut body = req.body.as_ref();
        let tracker = Tracker {
            progress: req.progress.clone(),
            send_total: body.and_then(Body::length),
        };
        let mut guard = LoopGuard::default();
        let mut redirects = 0u32;
        loop {
            guard.visit(&method, &url, body.is_some())?;
            let mut headers =
                hop_headers(&cfg, req, &origin, &url, &method, body, url_auth.as_deref());
            if cfg.cookies {
                add_jar_cookies(&mut headers, &self.jar, &url);
            }
            if let Some(hooks) = &cfg.hooks {
                let mut view = HookRequest {
                    method: &method,
                    url: &url,
                    headers: &mut headers,
                };
                if !hooks.on_request(&mut view) {
                    return Err(hooks::aborted("on_request"));
                }
            }
            let hop = Hop {
                method: &method,
                url: &url,
                headers: &headers,
                body,
                tracker: &tracker,
                tls: cfg.tls.as_ref(),
                log: cfg.log.as_ref(),
            };
            let ex = exchange(&self.pool, &hop, &limits, &budget)?;
            // Every hop's cookies count, redirects included (RFC 6265 §5.3).
            if cfg.cookies {
                self.jar.store_from(&ex.head, &url);
            }
            if let Some(hooks) = &cfg.hooks {
                if !hooks.on_response(&ex.head, &url) {
                    return Err(hooks::aborted("on_response"));
                }
            }
            let location = ex.head.value("location").map(<[u8]>::to_vec);
            let follow = cfg.max_redirects > 0
                && is_redirect(ex.head.status)
                && location.is_some()
                && !matches!(delivery, Delivery::Upgrade);
            if !follow {
                return self.deliver(
                    ex,
                    url,
                    redirects,
                    &budget,
                    cancel.clone(),
                    timeouts,
                    delivery,
                    &limits,
                    cfg.decompress,
                );
            }
            if redirects >= cfg.max_redirects {
                return Err(ClientError::new(
                    ClientErrorKind::TooManyRedirects,
                    format!(
                        "more than max_redirects ({}) redirects, last to {}",
                        cfg.max_redirects, url
                    ),
                ));
            }
            let next = resolve_location(&url, location.as_deref().unwrap_or_default())?;
            log_at!(
                cfg.log.as_ref(),
                Level::Info,
                "{} {} -> {} {}",
                method,
                url,
                ex.head.status,
                next
            );
            let (next_method, keep_body) = next_method(ex.head.status, &method);
            if keep_body && body.is_some_and(|b| !b.replayable()) {
                // 307/308 would resend a body that was read from a source and
                // is gone: hand the redirect itself to the caller, flagged.
                let mut done = self.deliver(
                    ex,
                    url,
                    redirects,
                    &budget,
                    cancel.clone(),
                    timeouts,
                    delivery,
                    &limits,
                    cfg.decompress,
                )?;
                match &mut done {
                    Finished::Buffered(r) => r.redirect_not_followed = true,
                    Finished::Streamed(s) => s.mark_redirect_not_followed(),
                    Finished::Upgraded(_) => {}
                }
                return Ok(done);
            }
            drain(ex, &budget);
            redirects += 1;
            url = next;
            method = next_method;
            if !keep_body {
                body = None;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &self,
        ex: Exchanged,
        url: Url,
        redirect_count: u32,
        budget: &Budget<'_>,
        cancel: Option<Arc<Cancel>>,
        timeouts: Timeouts,
        delivery: Delivery,
        limits: &Limits,
        decode: bool,
    ) -> Result<Finished, ClientError> {
        let reused = ex.lease.reused;
        let tls = ex.lease.tls_info();
        match delivery {
            Delivery::Upgrade if ex.head.status == 101 => {
                let mut timings: Timings = ex.timings;
                timings.total = budget.started.elapsed();
                Ok(Finished::Upgraded(Box::new(Upgraded {
                    head: ex.head,
                    conn: ex.lease.detach(),
                    url: url.into(),
                    timings,
                    tls,
                    timeouts,
                })))
            }
            Delivery::Buffered | Delivery::Upgrade => {
                let (head, mut body, mut timings) = read_body(ex, budget, u64::MAX)?;
                let coding = decode.then(|| decode::coding_of(&head)).flatten();
                let decompressed = coding.is_some() && !body.is_empty();
                if let (Some(coding), true) = (coding, decompressed) {
                    body = decode::decode_all(coding, body, limits.max_body_bytes)?;
                }
                timings.total = budget.started.elapsed();
                Ok(Finished::Buffered(Response {
                    head,
                    body,
                    url: url.into(),
                    reused,
                    redirect_count,
                    timings,
                    redirect_not_followed: false,
                    decompressed,
                    tls,
                }))
            }
            Delivery::Streamed => {
                let mut timings: Timings = ex.timings;
                timings.total = budget.started.elapsed();
                let coding = decode.then(|| decode::coding_of(&ex.head)).flatten();
                let coding = coding
                    .filter(|_| !ex.decoder.is_done())
                    .map(|c| (c, limits.max_body_bytes));
                Ok(Finished::Streamed(Stream::new(
                    ex,
                    url.into(),
                    reused,
                    redirect_count,
                    timings,
                    budget,
                    cancel,
                    timeouts,
                    coding,
                )?))
            }
        }
    }
}

/// Reads and discards a redirect's body so its connection can be reused;
/// a large or broken one just closes the connection.
fn drain(ex: Exchanged, budget: &Budget<'_>) {
    // Draining only pays when the connection can be reused. One that cannot
    // (Connection: close, HTTP/1.0, a body delimited by close per RFC 9112
    // §6.3 step 8) is closed at once: reading its body could wait for the
    // server's close, i.e. a whole read timeout, for bytes nobody wants.
    if !ex.keep_alive {
        return; // dropping the lease closes the connection
    }
    // Errors only mean the connection is closed instead of reused.
    let _ = read_body(ex, budget, DRAIN_LIMIT);
}

/// The full header list of one hop: Host, defaults, session headers, request
/// headers (each overriding the one before), framing; minus credentials when
/// the hop leaves the origin the caller addressed, minus content headers when
/// the body was dropped.
fn hop_headers(
    cfg: &SessionConfig,
    req: &Request,
    origin: &Url,
    url: &Url,
    method: &str,
    body: Option<&Body>,
    url_auth: Option<&str>,
) -> HeaderList {
    let mut h = HeaderList::default();
    let host = match url.port() {
        Some(p) => format!("{}:{}", url.host_str().unwrap_or_default(), p),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    h.add("Host", &host);
    h.add("User-Agent", USER_AGENT);
    h.add("Accept", "*/*");
    for (n, v) in cfg.headers.iter() {
        h.set(n, v);
    }
    if let Some(auth) = url_auth {
        h.set("Authorization", auth);
    }
    // Request headers replace session defaults of the same name; repeats
    // within the request itself are all kept.
    let mut seen: Vec<&str> = Vec::new();
    for (n, v) in req.headers.iter() {
        if seen.iter().any(|s| s.eq_ignore_ascii_case(n)) {
            h.add(n, v);
        } else {
            seen.push(n);
            h.set(n, v);
        }
    }
    if !same_origin(origin, url) {
        for name in CREDENTIAL_HEADERS {
            h.remove(name);
        }
        // A Host the caller forced was meant for the origin they addressed.
        h.set("Host", &host);
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
        Some(Some(len)) => h.add("Content-Length", &len.to_string()),
        // RFC 9112 §6.1: a body of unknown length goes chunked.
        Some(None) => h.add("Transfer-Encoding", "chunked"),
        // RFC 9110 §8.6: send a zero length for methods that expect content.
        None if matches!(method, "POST" | "PUT" | "PATCH") => h.add("Content-Length", "0"),
        None => {}
    }
    h
}

fn basic_credentials(user: &str, password: &str) -> String {
    use base64::Engine;
    let raw = format!("{}:{}", user, password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Removes user and password from `url`, returning them as Basic
/// credentials (percent-decoded, as RFC 3986 §3.2.1 encodes them).
fn take_userinfo(url: &mut Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let auth = basic_credentials(
        &decode(url.username()),
        &decode(url.password().unwrap_or("")),
    );
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(auth)
}

/// Adds the jar's cookies for `url` after any Cookie the caller set (which
/// was already dropped if this hop left the caller's origin).
fn add_jar_cookies(headers: &mut HeaderList, jar: &Jar, url: &Url) {
    let Some(from_jar) = jar.header_for(url) else {
        return;
    };
    match headers.get("cookie") {
        Some(own) => {
            let merged = format!("{}; {}", own, from_jar);
            headers.set("Cookie", &merged);
        }
        None => headers.add("Cookie", &from_jar),
    }
}
