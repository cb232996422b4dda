//! The session: shared configuration and the send loop (redirects, retries,
//! total deadline) over a pool.
use crate::net::h2::HttpVersion;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use url::Url;

use super::body::{Body, Tracker};
use super::chain::{basic_credentials, Chain, Next, Out};
use super::cookies::Jar;
use super::decode;
use super::digest::DigestAuth;
use super::error::{ClientError, ClientErrorKind};
use super::exchange::{exchange, read_body, Exchanged, Hop, ReadBody, Wire};
use super::headers::HeaderList;
use super::hooks::Hooks;
use super::log::{log_at, Level, Log};
use super::proxy::{parse_proxy_url, NoProxy, ProxySettings};
use super::request::{parse_absolute, validate_header, Request};
use super::response::{Finish, Parts, Response, Timings, ToResponse};
use super::retry::{Retry, RetryPolicy};
use super::stream::Stream;
use crate::net::{Budget, Cancel, Pool, Targets, Timeouts, TlsConfig};
use crate::proto::Limits;

/// A redirect body larger than this is not drained; its connection is closed.
const DRAIN_LIMIT: u64 = 64 * 1024;

/// Settings of a session; a send takes a snapshot, so setters apply to later sends.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub base_url: Option<Url>,
    pub headers: HeaderList<'static>,
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
    /// Proxies; `None` connects directly.
    pub proxy: Option<Arc<ProxySettings>>,
    /// Dialling overrides (addresses, hosts, a Unix socket); `None`: none.
    pub targets: Option<Arc<Targets>>,
    /// Digest credentials and their nonce memory (`set_digest_auth`).
    pub(crate) digest: Option<Arc<DigestAuth>>,
    /// When a failed attempt is tried again; off by default.
    pub retry: RetryPolicy,
    /// The HTTP versions spoken (`set_http_version`).
    pub http_version: HttpVersion,
}

/// A session's timeouts when its caller sets none: 5 s to connect (name
/// resolution and every address), per read, per write and for a pool
/// slot; no total limit. The
/// one place they are written (`reqivo_timeout_default` returns them).
pub const DEFAULT_TIMEOUTS: Timeouts = {
    let five = Some(std::time::Duration::from_secs(5));
    Timeouts {
        connect: five,
        read: five,
        write: five,
        total: None,
        pool: five,
    }
};

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            base_url: None,
            headers: HeaderList::default(),
            timeouts: DEFAULT_TIMEOUTS,
            limits: Limits::default(),
            max_body_bytes: None,
            max_redirects: 30,
            decompress: true,
            cookies: true,
            hooks: None,
            log: None,
            tls: None,
            proxy: None,
            targets: None,
            digest: None,
            retry: RetryPolicy::OFF,
            http_version: HttpVersion::Default,
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
enum Delivery<F> {
    /// Read whole, then handed to the finisher.
    Buffered(F),
    Streamed,
    /// An HTTP/1.1 Upgrade: a 101 hands over the connection, anything else
    /// is read whole and handed to the finisher.
    Upgrade(F),
}

// Lives on the stack for one return; boxing the stream would cost a heap
// allocation per stream for nothing.
#[allow(clippy::large_enum_variant)]
enum Finished<T> {
    Buffered(T),
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

/// What an upgrade request got. One per WebSocket handshake, moved once:
/// the size difference of its variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
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
        log_failure(self.config().log.as_ref(), &req.method, e);
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
            c.headers.set(name.to_string(), value.to_string());
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
        self.set_auth_header(&basic_credentials(user, password))
    }

    /// Answers `WWW-Authenticate: Digest` challenges (RFC 7616) of the
    /// origin each request addresses with `user` and `password`. Like
    /// Basic and Bearer it replaces the session's earlier credentials (the
    /// last one set wins); a request's own Authorization turns it off for
    /// that request.
    pub fn set_digest_auth(&self, user: &str, password: &str) -> Result<(), ClientError> {
        let auth = Arc::new(DigestAuth::new(user, password));
        self.update(|c| {
            c.headers.remove("authorization");
            c.digest = Some(auth);
            Ok(())
        })
    }

    /// The session's Authorization, replacing Digest credentials.
    fn set_auth_header(&self, value: &str) -> Result<(), ClientError> {
        validate_header("Authorization", value)?;
        self.update(|c| {
            c.headers
                .set("Authorization".to_string(), value.to_string());
            c.digest = None;
            Ok(())
        })
    }

    /// Sends `Authorization: Bearer <token>` (RFC 6750); an empty token
    /// removes the session's Authorization.
    pub fn set_bearer_token(&self, token: &str) -> Result<(), ClientError> {
        if token.is_empty() {
            return self.update(|c| {
                c.headers.remove("authorization");
                c.digest = None;
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
        self.set_auth_header(&format!("Bearer {}", token))
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

    /// Turns content decoding (gzip, deflate, br, zstd; and the
    /// Accept-Encoding that asks for them) on or off for later sends. On by
    /// default.
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

    /// Sends every request through the HTTP proxy at `url` (forwarding for
    /// http, CONNECT tunnels for https), or directly when `url` is `None`.
    /// The bypass list is kept.
    pub fn set_proxy(&self, url: Option<&str>) -> Result<(), ClientError> {
        let proxy = url.map(parse_proxy_url).transpose()?.map(Arc::new);
        self.update_proxy(|p| {
            p.http = proxy.clone();
            p.https = proxy;
        });
        Ok(())
    }

    /// Hosts that bypass the proxy, in `NO_PROXY` form.
    pub fn set_no_proxy(&self, list: &str) {
        let list = NoProxy::parse(list);
        self.update_proxy(|p| p.no_proxy = list);
    }

    /// Replaces the proxy settings with those of the environment
    /// (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`), read now through `var`.
    pub fn use_env_proxy(&self, var: impl Fn(&str) -> Option<String>) -> Result<(), ClientError> {
        let settings = ProxySettings::from_env(var)?;
        self.update_proxy(|p| *p = settings);
        Ok(())
    }

    /// Sends connections for a host and port to given addresses, in curl's
    /// `--resolve` syntax (`host:port:addr[,addr]...`, `-host:port`
    /// removes); the URL, `Host`, SNI and certificate checks keep the name.
    /// An empty entry forgets every address and connect-to override.
    pub fn add_resolve(&self, entry: &str) -> Result<(), ClientError> {
        self.update_targets(|t| match entry {
            "" => {
                t.clear_overrides();
                Ok(())
            }
            _ => t.add_resolve(entry),
        })
    }

    /// Sends connections for a host and port to another host and port, in
    /// curl's `--connect-to` syntax (`HOST1:PORT1:HOST2:PORT2`).
    pub fn add_connect_to(&self, entry: &str) -> Result<(), ClientError> {
        self.update_targets(|t| t.add_connect_to(entry))
    }

    /// Sends every request over the Unix domain socket at `path` (a
    /// leading NUL: Linux's abstract namespace), proxies and overrides
    /// aside; `None` returns to TCP.
    pub fn set_unix_socket(&self, path: Option<&[u8]>) -> Result<(), ClientError> {
        self.update_targets(|t| t.set_unix(path))
    }

    fn update_targets(
        &self,
        f: impl FnOnce(&mut Targets) -> Result<(), String>,
    ) -> Result<(), ClientError> {
        self.update(|c| {
            let mut targets = c.targets.as_deref().cloned().unwrap_or_default();
            f(&mut targets).map_err(|m| ClientError::new(ClientErrorKind::InvalidArgument, m))?;
            c.targets = Some(Arc::new(targets));
            Ok(())
        })
    }

    fn update_proxy(&self, f: impl FnOnce(&mut ProxySettings)) {
        let _ = self.update(|c| {
            let mut settings = c.proxy.as_deref().cloned().unwrap_or_default();
            f(&mut settings);
            c.proxy = Some(Arc::new(settings));
            Ok(())
        });
    }

    /// Sets the retry policy of later sends (`RetryPolicy::OFF`: none).
    pub fn set_retry(&self, policy: RetryPolicy) {
        let _ = self.update(|c| {
            c.retry = policy;
            Ok(())
        });
    }

    /// Which HTTP versions later requests speak.
    pub fn set_http_version(&self, version: HttpVersion) {
        let _ = self.update(|c| {
            c.http_version = version;
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
        self.send_with(req, cancel, ToResponse)
    }

    /// Sends `req`, reads the whole body and gives the parts of the final
    /// response to `finish`, which may ask for room in front of the body
    /// (to build its own response around it without copying the body).
    pub fn send_with<F: Finish>(
        &self,
        req: &Request,
        cancel: Option<Arc<Cancel>>,
        finish: F,
    ) -> Result<F::Output, ClientError> {
        match self
            .run(req, cancel, Delivery::Buffered(finish))
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
            .run(req, cancel, Delivery::Upgrade(ToResponse))
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
            .run(req, cancel, Delivery::<ToResponse>::Streamed)
            .inspect_err(|e| self.log_failure(req, e))?
        {
            Finished::Streamed(s) => Ok(s),
            _ => unreachable!("streamed delivery returns a stream"),
        }
    }

    fn run<F: Finish>(
        &self,
        req: &Request,
        cancel: Option<Arc<Cancel>>,
        delivery: Delivery<F>,
    ) -> Result<Finished<F::Output>, ClientError> {
        let cfg = self.config();
        let timeouts = req.timeouts.over(cfg.timeouts);
        let budget = Budget::new(timeouts, cancel.as_deref());
        let mut limits = cfg.limits;
        limits.max_body_bytes = cfg.max_body_bytes.unwrap_or(match delivery {
            Delivery::Buffered(_) => Limits::DEFAULT_BUFFERED_BODY_BYTES,
            Delivery::Streamed => u64::MAX,
            Delivery::Upgrade(_) => Limits::DEFAULT_BUFFERED_BODY_BYTES,
        });
        let mut chain = Chain::new();
        chain.begin(&cfg, req)?;
        let tracker = Tracker {
            progress: req.progress.clone(),
            send_total: req.body.as_ref().and_then(Body::length),
        };
        let follow = !matches!(delivery, Delivery::Upgrade(_));
        let mut retry = Retry::new(&cfg);
        loop {
            let mut content_length = itoa::Buffer::new();
            let headers = chain.headers(&cfg, req, &self.jar, &mut content_length)?;
            let hop = Hop {
                method: chain.method(req),
                url: chain.url(req),
                headers: &headers,
                body: chain.body(req),
                tracker: &tracker,
                tls: cfg.tls.as_ref(),
                proxy: chain.proxy(&cfg, req),
                targets: cfg.targets.as_deref(),
                // An upgrade (WebSocket) is an HTTP/1.1 mechanism.
                version: match delivery {
                    Delivery::Upgrade(_) => HttpVersion::Http11,
                    _ => cfg.http_version,
                },
                log: cfg.log.as_ref(),
            };
            let deadline = budget.total_deadline;
            let ex = match exchange(&self.pool, &hop, &limits, &budget) {
                Ok(ex) => ex,
                Err((e, stage, _)) => {
                    let at = retry.after_error(&cfg, req, &chain, deadline, e, stage)?;
                    budget.sleep(at.saturating_duration_since(Instant::now()))?;
                    continue;
                }
            };
            drop(headers);
            let next = chain.after_head(&cfg, req, &self.jar, &ex.head, follow)?;
            if let Next::Deliver(_) = next {
                if let Some(at) = retry.after_head(&cfg, req, &chain, deadline, &ex.head) {
                    drain(ex, &budget);
                    budget.sleep(at.saturating_duration_since(Instant::now()))?;
                    continue;
                }
            }
            match next {
                Next::Deliver(out) => {
                    return self.deliver(
                        ex,
                        chain.url(req),
                        out,
                        &budget,
                        cancel.clone(),
                        timeouts,
                        delivery,
                        &limits,
                        cfg.decompress,
                    )
                }
                Next::Follow => drain(ex, &budget),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver<F: Finish>(
        &self,
        ex: Exchanged,
        url: &Url,
        out: Out,
        budget: &Budget<'_>,
        cancel: Option<Arc<Cancel>>,
        timeouts: Timeouts,
        delivery: Delivery<F>,
        limits: &Limits,
        decode: bool,
    ) -> Result<Finished<F::Output>, ClientError> {
        let reused = ex.wire.reused();
        let tls = ex.wire.tls_info();
        match delivery {
            Delivery::Upgrade(_) if ex.head.status == 101 => {
                let mut timings: Timings = ex.timings;
                timings.total = budget.started.elapsed();
                let Wire::H1 { lease, .. } = ex.wire else {
                    unreachable!("an upgrade is sent over HTTP/1.1")
                };
                Ok(Finished::Upgraded(Box::new(Upgraded {
                    head: ex.head,
                    conn: lease.detach(),
                    url: url.as_str().to_string(),
                    timings,
                    tls,
                    timeouts,
                })))
            }
            Delivery::Buffered(finish) | Delivery::Upgrade(finish) => {
                let coding = match decode {
                    true => decode::codings_of(&ex.head)?,
                    false => None,
                };
                // Decoded bodies are made anew, so only a body delivered as
                // read gets the finisher's room in front of it.
                let front = match coding {
                    Some(_) => 0,
                    None => finish.front(&ex.head, url.as_str()),
                };
                let ReadBody {
                    head,
                    mut body,
                    mut timings,
                    trailers,
                } = read_body(ex, budget, u64::MAX, front)?;
                let mut body_start = front;
                let decompressed = coding.is_some() && body.len() > front;
                if let (Some(coding), true) = (&coding, decompressed) {
                    let front = finish.front(&head, url.as_str());
                    body = decode::decode_all(coding, &body, limits.max_body_bytes, front)?;
                    body_start = front;
                }
                timings.total = budget.started.elapsed();
                Ok(Finished::Buffered(finish.finish(Parts {
                    head,
                    body,
                    body_start,
                    url,
                    reused,
                    redirect_count: out.redirect_count,
                    timings,
                    redirect_not_followed: out.not_followed,
                    decompressed,
                    tls,
                    trailers,
                })))
            }
            Delivery::Streamed => {
                let mut timings: Timings = ex.timings;
                timings.total = budget.started.elapsed();
                let coding = match decode {
                    true => decode::codings_of(&ex.head)?,
                    false => None,
                };
                let coding = coding
                    .filter(|_| !ex.wire.is_done())
                    .map(|c| (c, limits.max_body_bytes));
                let mut stream = Stream::new(
                    ex,
                    url.as_str().to_string(),
                    reused,
                    out.redirect_count,
                    timings,
                    budget,
                    cancel,
                    timeouts,
                    coding,
                )?;
                if out.not_followed {
                    stream.mark_redirect_not_followed();
                }
                Ok(Finished::Streamed(stream))
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
    if !ex.wire.worth_draining() {
        return; // dropping the lease closes the connection
    }
    // Errors only mean the connection is closed instead of reused.
    let _ = read_body(ex, budget, DRAIN_LIMIT, 0);
}

/// Logs a send that failed (both drivers).
pub(crate) fn log_failure(log: Option<&Log>, method: &str, e: &ClientError) {
    log_at!(log, Level::Error, "{} failed: {}", method, e);
}
