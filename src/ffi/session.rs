//! Sessions: configuration shared by many requests (base URL, headers,
//! credentials, proxies, cookies, hooks, log), and sending.
use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::boundary::{bytes_in, copy_out, header_in, str_in};
use super::callback::{
    level_of, reqivo_log_callback, reqivo_on_request_callback, reqivo_on_response_callback, CHooks,
    CLogger, Userdata,
};
use super::cancel::reqivo_cancel;
use super::code::reqivo_code;
use super::error::{reqivo_error, Fail};
use super::handle::{clone_arc, free_box, to_arc_ptr, to_boxed_ptr, Castable, OwnedBox};
use super::limits::{or_default, reqivo_limits};
use super::pool::reqivo_pool;
use super::request::reqivo_request;
use super::response::{reqivo_response, ToC};
use super::retry::{read_policy, reqivo_retry};
use super::stream::reqivo_stream;
use super::timeout::reqivo_timeout;
use super::tls::reqivo_tls_config;
use crate::client::{
    CookieLimits, Hooks, HttpVersion, Log, Pool, PoolConfig, RetryPolicy, Session,
};

/// A session: base URL, default headers, timeouts, limits and redirect
/// policy over a connection pool. Thread-safe: any number of threads may
/// send through one session at once; setters apply to sends that start
/// after them.
pub struct reqivo_session {
    _private: [u8; 0],
}

impl Castable for reqivo_session {
    type Ownership = OwnedBox;
    type RustType = Session;
}

const OK: u32 = reqivo_code::REQIVO_OK as u32;

/// Creates a session: base URL, default headers, timeouts, limits and
/// redirect policy over a connection pool.
///
/// Ownership: the caller owns the session and frees it with
/// `reqivo_session_free`. The session takes its own reference to `pool`.
/// NULL: `pool` NULL gives the session a pool of its own with default
/// settings; `err` may be NULL.
/// Thread safety: the session may be used by any number of threads at once;
/// setters apply to sends that start after them.
/// Returns: the session, or NULL with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_new(
    pool: *const reqivo_pool,
    err: *mut reqivo_error,
) -> *mut reqivo_session {
    ffi_boundary!(err, {
        // SAFETY: NULL or a live pool.
        let pool = unsafe { clone_arc(pool) }
            .map_or_else(|| Pool::new(PoolConfig::default()), |p| (*p).clone());
        to_boxed_ptr::<reqivo_session>(Session::new(pool))
    })
}

/// Frees a session. Streams opened from it stay valid.
///
/// Ownership: the session ends; do not use `s` afterwards.
/// NULL: ignored.
/// Thread safety: no call may be in flight on `s` in another thread.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_free(s: *mut reqivo_session) {
    // SAFETY: NULL or the caller's session.
    ffi_boundary!({ unsafe { free_box(s) } })
}

/// Returns a new reference to the session's pool: the one given to
/// `reqivo_session_new`, or the pool the session made for itself. Use it
/// for `reqivo_pool_get_stats`, `reqivo_pool_close_idle`, or to create more
/// sessions sharing the connections.
///
/// Ownership: the caller owns the new reference and releases it with
/// `reqivo_pool_free`; it keeps the pool alive after the session is freed.
/// NULL: returns NULL if `s` is NULL.
/// Thread safety: callable while other threads send through `s`.
/// Returns: the pool, or NULL.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_pool(s: *const reqivo_session) -> *mut reqivo_pool {
    ffi_boundary!({
        let s = borrow!(s);
        to_arc_ptr::<reqivo_pool>(Arc::new(s.pool().clone())).cast_mut()
    })
}

/// Sets the absolute http(s) URL that relative request URLs are joined to
/// (RFC 3986 resolution: "a/b" joins after the last "/" of the base).
///
/// Ownership: `url` is copied.
/// NULL: `s` or `url` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_URL` / `REQIVO_ERR_UNSUPPORTED_SCHEME`
/// with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_base_url(
    s: *mut reqivo_session,
    url: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        require!(url, err);
        // SAFETY: `url` holds `len` bytes.
        let url = try_or_fail!(unsafe { str_in(url, len, "url") }, err);
        try_or_fail!(s.set_base_url(url), err);
        OK
    })
}

/// Sets the TLS configuration of later https sends. The session takes its
/// own reference, so the caller may free `tls` at once. Connections made
/// under another config are never reused for these sends.
///
/// Ownership: the session keeps a reference to `tls` until replaced or freed.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `tls` NULL returns to the
/// default config (system roots, TLS 1.2 minimum), shared by the process.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_tls(
    s: *mut reqivo_session,
    tls: *const reqivo_tls_config,
) -> u32 {
    ffi_boundary!({
        let s = borrow!(s);
        // SAFETY: `tls` is NULL or a live config.
        s.set_tls(unsafe { clone_arc(tls) });
        OK
    })
}

/// Sets the timeouts of later sends: fields left 0 take the library's
/// defaults, `REQIVO_NO_LIMIT` lifts that limit; a request's own timeouts
/// override them.
///
/// Ownership: `t` is passed by value.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_timeout(s: *mut reqivo_session, t: reqivo_timeout) -> u32 {
    ffi_boundary!({
        borrow!(s).set_timeouts(t.to_session());
        OK
    })
}

/// Sets the response limits of later sends; fields left 0 take the
/// defaults, `REQIVO_NO_LIMIT` (`REQIVO_NO_LIMIT_64`) lifts that limit.
///
/// Ownership: `l` is passed by value.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_limits(s: *mut reqivo_session, l: reqivo_limits) -> u32 {
    ffi_boundary!({
        let s = borrow!(s);
        let (limits, body) = l.to_rust();
        s.set_limits(limits, body);
        OK
    })
}

/// Sets how many redirects a send follows; 0 returns 3xx responses as they
/// are. The default is 30.
///
/// Ownership: nothing is allocated.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_max_redirects(s: *mut reqivo_session, n: u32) -> u32 {
    ffi_boundary!({
        borrow!(s).set_max_redirects(n);
        OK
    })
}

/// Sets a default header sent with every request, replacing an earlier
/// default of the same name (a request's own header of that name replaces it
/// in turn). Validated like `reqivo_request_add_header`.
///
/// Ownership: `name` and `value` are copied.
/// NULL: `s` or `name` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `value` may be
/// NULL when `vlen` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_HEADER` with `err` naming the header.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_header(
    s: *mut reqivo_session,
    name: *const c_char,
    nlen: usize,
    value: *const c_char,
    vlen: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        // SAFETY: strings per contract.
        let (name, value) = try_or_fail!(unsafe { header_in(name, nlen, value, vlen) }, err);
        try_or_fail!(s.set_header(name, value), err);
        OK
    })
}

/// Sends `Authorization: Basic` (RFC 7617) built from `user` and `pass`
/// with every later request, to the origin each request addresses: it is
/// dropped on a redirect to another origin. A request's own Authorization
/// header replaces it. Credentials in a URL (`http://user:pass@host/`) are
/// used the same way and removed from the URL.
///
/// Ownership: `user` and `pass` are copied.
/// NULL: `s` or `user` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `pass` may be
/// NULL when `plen` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (a ':' in `user`, non-UTF-8)
/// with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_basic_auth(
    s: *mut reqivo_session,
    user: *const c_char,
    ulen: usize,
    pass: *const c_char,
    plen: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        require!(user, err);
        // SAFETY: strings hold the given lengths.
        let (user, pass) = unsafe {
            (
                try_or_fail!(str_in(user, ulen, "user"), err),
                try_or_fail!(str_in(pass, plen, "pass"), err),
            )
        };
        try_or_fail!(s.set_basic_auth(user, pass), err);
        OK
    })
}

/// Answers HTTP Digest challenges (RFC 7616) with `user` and `pass`: a
/// request goes out without credentials, and a 401 carrying
/// `WWW-Authenticate: Digest` (among other challenges or not) is answered
/// by sending the request again with `Authorization: Digest`, one more hop
/// that hooks and the log see as they see a redirect (it does not count in
/// `redirect_count` or against `max_redirects`). Algorithms MD5,
/// SHA-256 and SHA-512-256 and their `-sess` forms, qop `auth` (preferred)
/// or `auth-int`, RFC 2069 challenges without qop, `userhash`, `opaque`;
/// the strongest algorithm offered is chosen. The session remembers the
/// last challenge of each origin, so later requests there answer at once
/// with the nonce count raised (or with the `nextnonce` of an
/// `Authentication-Info` field). A second 401 after an answer (wrong
/// credentials) is delivered, unless it says `stale=true` (answered once
/// more with the new nonce). The 401 is delivered as well when the body
/// comes from a callback (it cannot be sent again) or no challenge can be
/// answered. Credentials go only to the origin each request addresses:
/// after a redirect to another origin, that origin's challenges are not
/// answered. Like Basic and Bearer credentials, this replaces the
/// session's earlier ones (the last set wins); Basic or Bearer set later
/// replace it. A request's own Authorization header, a session
/// Authorization header set later, or credentials in the URL turn it off.
///
/// Ownership: `user` and `pass` are copied.
/// NULL: `s` or `user` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `pass` may be
/// NULL when `plen` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (non-UTF-8) with `err`
/// filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_digest_auth(
    s: *mut reqivo_session,
    user: *const c_char,
    ulen: usize,
    pass: *const c_char,
    plen: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        require!(user, err);
        // SAFETY: strings hold the given lengths.
        let (user, pass) = unsafe {
            (
                try_or_fail!(str_in(user, ulen, "user"), err),
                try_or_fail!(str_in(pass, plen, "pass"), err),
            )
        };
        try_or_fail!(s.set_digest_auth(user, pass), err);
        OK
    })
}

/// Sends `Authorization: Bearer <token>` (RFC 6750) with every later
/// request to the origin it addresses; an empty token removes the
/// session's Authorization. A request's own Authorization header replaces it.
///
/// Ownership: `token` is copied.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `token` may be NULL when
/// `len` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_HEADER` for a token with whitespace or
/// control bytes.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_bearer_token(
    s: *mut reqivo_session,
    token: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        // SAFETY: `token` holds `len` bytes.
        let token = try_or_fail!(unsafe { str_in(token, len, "token") }, err);
        try_or_fail!(s.set_bearer_token(token), err);
        OK
    })
}

/// Turns content decoding on or off for later sends. On (the default), the
/// library sends `Accept-Encoding: gzip, deflate, br, zstd` unless the
/// request has its own, and decodes a body in those codings (a chain of up
/// to five), buffered or streamed, setting `REQIVO_RESPONSE_DECOMPRESSED`;
/// headers stay as received, and the decoded size counts against
/// `max_body_bytes` (`REQIVO_ERR_BODY_TOO_LARGE`). A corrupt body is
/// `REQIVO_ERR_DECOMPRESSION`. Off, bodies arrive as sent.
///
/// Ownership: nothing is allocated.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_decompress(s: *mut reqivo_session, on: bool) -> u32 {
    ffi_boundary!({
        borrow!(s).set_decompress(on);
        reqivo_code::REQIVO_OK as u32
    })
}

/// Sends later requests through the HTTP proxy at `url`
/// (`http://[user:password@]host[:port]`; the scheme may be left out, the
/// port defaults to 80). `http://` requests are forwarded with
/// absolute-form targets; `https://` requests go through a CONNECT tunnel,
/// with TLS end to end to the origin. Credentials in the URL
/// (percent-encoded) are sent as `Proxy-Authorization: Basic` to the proxy
/// only. A SOCKS5 proxy (RFC 1928) is `socks5://` (the library resolves
/// the origin's name and sends the address) or `socks5h://` (the proxy
/// resolves it), port 1080 by default: every request goes through a tunnel
/// to its origin (origin-form targets; TLS end to end for https), and
/// credentials in the URL are its username and password (RFC 1929).
/// An empty `url` connects directly again. The bypass list of
/// `reqivo_session_set_no_proxy` is kept. The environment is not read
/// unless `reqivo_session_use_env_proxy` is called.
///
/// Ownership: `url` is copied.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `url` may be NULL when
/// `len` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_URL`, `REQIVO_ERR_UNSUPPORTED_SCHEME`
/// (an https, SOCKS4 or other proxy) or `REQIVO_ERR_INVALID_ARGUMENT` with
/// `err` filled; a tunnel the proxy refuses later (a CONNECT status, a
/// SOCKS5 reply code or rejected credentials) fails the send with
/// `REQIVO_ERR_PROXY`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_proxy(
    s: *mut reqivo_session,
    url: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        // SAFETY: `url` holds `len` bytes.
        let url = try_or_fail!(unsafe { str_in(url, len, "url") }, err);
        try_or_fail!(s.set_proxy((!url.is_empty()).then_some(url)), err);
        OK
    })
}

/// Sets the hosts that bypass the proxy, in the `NO_PROXY` form: a list
/// separated by commas or spaces of host names (each matching itself and
/// its subdomains; a leading `.` or `*.` is allowed), IP addresses and CIDR
/// ranges, each optionally with `:port`; `*` alone bypasses the proxy for
/// every host. Names are not resolved: `localhost` does not match
/// `127.0.0.1`. Entries that fit none of these forms match nothing. An empty
/// list bypasses nothing.
///
/// Ownership: `list` is copied.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `list` may be NULL when
/// `len` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (non-UTF-8) with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_no_proxy(
    s: *mut reqivo_session,
    list: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        // SAFETY: `list` holds `len` bytes.
        let list = try_or_fail!(unsafe { str_in(list, len, "list") }, err);
        s.set_no_proxy(list);
        OK
    })
}

/// Sends later connections for one host and port to the given addresses
/// instead of what DNS says, in curl's `--resolve` syntax:
/// `host:port:addr[,addr]...` (IPv6 addresses with or without brackets; a
/// leading `+` is accepted and means nothing more here), or `-host:port` to
/// remove the entry. The URL, `Host`, SNI and certificate checks keep the
/// name; only the socket goes to the addresses, which race as for a
/// resolved name (Happy Eyeballs). A later entry for the same host and
/// port replaces the earlier one. For a proxied request the entries apply
/// to the proxy's host, which is what is dialled. An empty `entry` forgets
/// every address and connect-to override. Connections are pooled apart
/// from those made without the override.
///
/// Ownership: `entry` is copied.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `entry` may be NULL when
/// `len` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` with `err` saying what is
/// malformed.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_add_resolve(
    s: *mut reqivo_session,
    entry: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        // SAFETY: `entry` holds `len` bytes.
        let entry = try_or_fail!(unsafe { str_in(entry, len, "entry") }, err);
        try_or_fail!(s.add_resolve(entry), err);
        OK
    })
}

/// Sends later connections for a host and port to another host and port,
/// in curl's `--connect-to` syntax: `HOST1:PORT1:HOST2:PORT2`, where an
/// empty HOST1 or PORT1 matches any host or port and an empty HOST2 or
/// PORT2 keeps the request's own. The first matching entry applies; HOST2
/// is resolved as usual, through `reqivo_session_add_resolve` entries
/// first. The URL, `Host`, SNI and certificate checks keep the request's
/// name. `reqivo_session_add_resolve` with an empty entry forgets these
/// too.
///
/// Ownership: `entry` is copied.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `entry` may be NULL when
/// `len` is 0 (which is malformed).
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` with `err` saying what is
/// malformed.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_add_connect_to(
    s: *mut reqivo_session,
    entry: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        // SAFETY: `entry` holds `len` bytes.
        let entry = try_or_fail!(unsafe { str_in(entry, len, "entry") }, err);
        try_or_fail!(s.add_connect_to(entry), err);
        OK
    })
}

/// Sends every later request of the session over the Unix domain socket at
/// `path` instead of TCP, with the URL's host in `Host` (for example
/// `http://localhost/v1.43/containers/json` over `/var/run/docker.sock`).
/// A `path` starting with a NUL byte names a socket in Linux's abstract
/// namespace (the rest of the bytes are the name). Proxies, address
/// overrides and Happy Eyeballs do not apply; `https://` URLs run TLS over
/// the socket. Connections are pooled per socket path. An empty `path`
/// returns to TCP.
///
/// Ownership: `path` is copied.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `path` may be NULL when
/// `len` is 0.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (a NUL byte after the first,
/// a path longer than the platform's `sun_path`, an abstract name off
/// Linux) with `err` filled. A socket that is missing or refuses fails the
/// send with `REQIVO_ERR_CONNECT_REFUSED`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_unix_socket(
    s: *mut reqivo_session,
    path: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        // SAFETY: `path` holds `len` bytes.
        let path = try_or_fail!(unsafe { bytes_in(path.cast(), len, "path") }, err);
        try_or_fail!(s.set_unix_socket((!path.is_empty()).then_some(path)), err);
        OK
    })
}

/// Replaces the session's proxy settings with the environment's, read now:
/// `HTTP_PROXY` for `http://` URLs, `HTTPS_PROXY` for `https://` URLs,
/// `NO_PROXY` for the bypass list (each also in lower case; upper case
/// wins). `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set, since in a
/// CGI program it comes from a client's `Proxy:` header. As in curl,
/// `all_proxy` (then `ALL_PROXY`) serves a scheme whose own variable is
/// unset. Each may hold any URL `reqivo_session_set_proxy` takes
/// (`socks5h://...` too). Unset variables mean no proxy. A session reads the environment only through this call.
///
/// Ownership: nothing changes hands.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later
/// sends. It reads the environment (getenv): do not call it while another
/// thread changes the environment.
/// Returns: 0, or `REQIVO_ERR_INVALID_CONFIG` naming the variable whose
/// proxy URL is unusable (the settings are then unchanged).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_use_env_proxy(
    s: *mut reqivo_session,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        try_or_fail!(s.use_env_proxy(|name| std::env::var(name).ok()), err);
        OK
    })
}

/// Turns the session's cookie jar on (the default) or off for later sends.
/// On, Set-Cookie fields of every response (redirect hops included) are
/// stored under RFC 6265 rules (domain and host-only, path, Secure,
/// HttpOnly, Expires, Max-Age) and matching cookies are sent. Each session
/// has its own jar. Off, nothing is stored or sent; the jar keeps its contents.
///
/// Ownership: nothing is allocated.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_cookies(s: *mut reqivo_session, on: bool) -> u32 {
    ffi_boundary!({
        borrow!(s).set_cookies(on);
        OK
    })
}

/// Empties the session's cookie jar.
///
/// Ownership: nothing is allocated.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_clear_cookies(s: *mut reqivo_session) -> u32 {
    ffi_boundary!({
        borrow!(s).cookies().clear();
        OK
    })
}

/// Writes the jar's persistent, unexpired cookies as text (JSON) into
/// `buf`, NUL-terminated, for `reqivo_session_load_cookies` in a later run.
/// Session cookies (without Expires or Max-Age) are not saved. Call with
/// `cap` 0 to learn the size: `*out_len` always receives the text length.
///
/// Ownership: `buf` and `out_len` are caller-owned.
/// NULL: `s` or `out_len` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `buf` may be
/// NULL when `cap` is 0.
/// Thread safety: callable while other threads send.
/// Returns: 0 when the text and its NUL fit, `REQIVO_ERR_BUFFER_TOO_SMALL`
/// (with `*out_len` set) when they do not.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_save_cookies(
    s: *mut reqivo_session,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        require!(out_len, err);
        let text = try_or_fail!(s.cookies().save(), err);
        // SAFETY: `out_len` checked non-NULL; `buf` holds `cap` bytes (API contract).
        try_or_fail!(
            unsafe { copy_out(&text, buf, cap, out_len, "the jar") },
            err
        );
        OK
    })
}

/// Replaces the jar's contents with cookies saved by
/// `reqivo_session_save_cookies`; expired ones, and ones the jar's limits
/// or the `__Secure-`/`__Host-` prefix rules refuse, are dropped.
///
/// Ownership: `text` is read, not kept.
/// NULL: `s` or `text` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` when the text is not a saved
/// jar (the jar is then unchanged).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_load_cookies(
    s: *mut reqivo_session,
    text: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        require!(text, err);
        // SAFETY: `text` holds `len` bytes.
        let text = try_or_fail!(unsafe { str_in(text, len, "text") }, err);
        try_or_fail!(s.cookies().load(text), err);
        OK
    })
}

/// Sets the public suffix list the jar refuses cookies with (RFC 6265 §5.3
/// step 5): a cookie whose Domain attribute is a public suffix (`co.uk`,
/// `github.io`) is dropped, unless the attribute is the request's host
/// itself, when it becomes a host-only cookie. `text` is in the list's own
/// format (https://publicsuffix.org/list/), where rules count only inside a
/// `// ===BEGIN ICANN DOMAINS===` or `// ===BEGIN PRIVATE DOMAINS===`
/// section (ended by the matching `===END ...===` line); an empty `text` goes back to
/// the default, the system's list at
/// `/usr/share/publicsuffix/public_suffix_list.dat` (read once per
/// process). Without a system list, only single-label domains (`com`) are
/// refused.
///
/// Ownership: `text` is parsed and not kept.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `text` may be NULL when
/// `len` is 0.
/// Thread safety: callable while other threads send; applies to cookies
/// received afterwards.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (non-UTF-8) or
/// `REQIVO_ERR_INVALID_CONFIG` (no rule inside a section; the message says
/// so) with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_public_suffix_list(
    s: *mut reqivo_session,
    text: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        // SAFETY: `text` holds `len` bytes.
        let text = try_or_fail!(unsafe { str_in(text, len, "text") }, err);
        try_or_fail!(s.cookies().set_suffix_list(text), err);
        OK
    })
}

/// Sets how much the session's jar holds, for received and loaded cookies
/// alike: `max_cookie_bytes` bounds one cookie's name plus value (default
/// 4096), `max_per_site` the cookies of one site, its registrable domain by
/// the public suffix list, so sibling hosts share one count (default 180),
/// and `max_cookies` the whole jar (default 3000). Past a count the oldest
/// cookies are evicted first, as browsers do; a larger cookie is refused.
/// Each value 0 takes the default, `REQIVO_NO_LIMIT` lifts that limit. A
/// jar already over the new limits is trimmed at once.
///
/// Ownership: nothing is allocated.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to cookies
/// received afterwards and to the jar as it is.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_cookie_limits(
    s: *mut reqivo_session,
    max_cookie_bytes: u32,
    max_per_site: u32,
    max_cookies: u32,
) -> u32 {
    ffi_boundary!({
        let s = borrow!(s);
        let d = CookieLimits::default();
        let limits = CookieLimits {
            max_cookie_bytes: or_default(max_cookie_bytes, d.max_cookie_bytes),
            max_per_site: or_default(max_per_site, d.max_per_site),
            max_cookies: or_default(max_cookies, d.max_cookies),
        };
        s.cookies()
            .set_limits(limits)
            .expect("every value is at least 1");
        OK
    })
}

/// Installs hooks on the session for later sends: `on_request` before each
/// hop is sent (it may set, add or remove headers of that hop), and
/// `on_response` with each response head, redirect hops included. Both get
/// `userdata` and run on the sending thread; either may be NULL. Passing
/// both NULL removes the hooks.
///
/// Ownership: `userdata` stays the caller's and must stay valid while
/// sends may run.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callbacks may run on several threads at once when
/// several threads send through the session.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_hooks(
    s: *mut reqivo_session,
    on_request: reqivo_on_request_callback,
    on_response: reqivo_on_response_callback,
    userdata: *mut c_void,
) -> u32 {
    ffi_boundary!({
        let s = borrow!(s);
        let hooks = (on_request.is_some() || on_response.is_some()).then(|| {
            Arc::new(CHooks {
                on_request,
                on_response,
                userdata: Userdata(userdata),
            }) as Arc<dyn Hooks>
        });
        s.set_hooks(hooks);
        OK
    })
}

/// Sends the session's log lines at `min_level` and above to `cb`:
/// connections opened and reused (DEBUG), retries, redirects and Digest
/// answers (INFO), failed sends with their error (ERROR). `cb` NULL turns
/// logging off. Lines below `min_level` are never formatted.
///
/// Ownership: `userdata` stays the caller's and must stay valid while
/// sends may run.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: `cb` runs on the sending threads, possibly several at once.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (also for a `min_level`
/// above `REQIVO_LOG_ERROR`).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_logger(
    s: *mut reqivo_session,
    cb: reqivo_log_callback,
    userdata: *mut c_void,
    min_level: u32,
) -> u32 {
    ffi_boundary!({
        let s = borrow!(s);
        let Some(min) = level_of(min_level) else {
            return reqivo_code::REQIVO_ERR_INVALID_ARGUMENT as u32;
        };
        let log = cb.map(|cb| Log {
            logger: Arc::new(CLogger {
                cb,
                userdata: Userdata(userdata),
            }),
            min,
        });
        s.set_logger(log);
        OK
    })
}

/// Sets the retry policy of later sends (blocking and multi alike); see
/// `reqivo_retry` for what is retried and how long each wait is. Sessions
/// retry nothing until given one; start from `reqivo_retry_default`.
///
/// Ownership: `*policy` is copied.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `policy` NULL turns
/// retries off; `err` may be NULL.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` (a `struct_size` smaller
/// than this first version's) / `REQIVO_ERR_INVALID_CONFIG` (`max_attempts`
/// 0, unknown `flags` bits) with `err` filled, the policy unchanged.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_retry(
    s: *mut reqivo_session,
    policy: *const reqivo_retry,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        let policy = match policy.is_null() {
            true => RetryPolicy::OFF,
            // SAFETY: non-NULL, a caller's struct of the size it declares.
            false => try_or_fail!(unsafe { read_policy(policy) }, err),
        };
        s.set_retry(policy);
        OK
    })
}

/// Sends `r` and reads the whole response into memory. Follows redirects
/// (per the session's policy), retries once on a pooled connection the server
/// had closed (idempotent methods only) and as the session's retry policy
/// says (`reqivo_session_set_retry`; none by default), and honours the
/// timeouts, the limits (body default 1 GiB) and `cancel`. Blocks the
/// calling thread.
///
/// Ownership: the caller owns the response and frees it with
/// `reqivo_response_free`. `r` is only read and may be sent again.
/// NULL: `s` or `r` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `cancel` NULL means
/// no cancellation; `err` may be NULL.
/// Thread safety: any number of threads may send through one session at once;
/// one request may be sent by one thread at a time.
/// Returns: the response, or NULL with `err` filled (any class: usage,
/// network, timeout, protocol, redirect, cancelled).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_send(
    s: *mut reqivo_session,
    r: *const reqivo_request,
    cancel: *const reqivo_cancel,
    err: *mut reqivo_error,
) -> *const reqivo_response {
    ffi_boundary!(err, {
        let (s, r) = (borrow!(s, err), borrow!(r, err));
        // SAFETY: `cancel` is NULL or a live token.
        let cancel = unsafe { clone_arc(cancel) };
        // The body is read straight into the response's one allocation.
        try_or_fail!(s.send_with(r, cancel, ToC), err)
    })
}

/// Sends `r` like `reqivo_session_send` but returns once the final response
/// head is read; read the body with `reqivo_stream_read`. The body limit
/// defaults to unlimited; memory stays flat whatever the body size.
///
/// Ownership: the caller owns the stream and frees it with
/// `reqivo_stream_free`. The stream keeps `cancel` alive while it exists.
/// NULL: `s` or `r` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `cancel` NULL means
/// no cancellation; `err` may be NULL.
/// Thread safety: as `reqivo_session_send`; the stream is then used by one
/// thread at a time.
/// Returns: the stream, or NULL with `err` filled.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_open(
    s: *mut reqivo_session,
    r: *const reqivo_request,
    cancel: *const reqivo_cancel,
    err: *mut reqivo_error,
) -> *mut reqivo_stream {
    ffi_boundary!(err, {
        let (s, r) = (borrow!(s, err), borrow!(r, err));
        // SAFETY: `cancel` is NULL or a live token.
        let cancel = unsafe { clone_arc(cancel) };
        let stream = try_or_fail!(s.open(r, cancel), err);
        super::stream::new_stream(stream)
    })
}

/// For `reqivo_session_set_http_version`: the library's choice, and what
/// a session speaks until set. Over TLS the handshake offers `h2`, then
/// `http/1.1`: HTTP/2 when the server chooses it, HTTP/1.1 otherwise.
/// Over cleartext, HTTP/1.1.
pub const REQIVO_HTTP_VERSION_DEFAULT: u32 = 0;
/// For `reqivo_session_set_http_version`: HTTP/1.1 only.
pub const REQIVO_HTTP_VERSION_1_1: u32 = 1;
/// For `reqivo_session_set_http_version`: HTTP/2 only. Over TLS the
/// handshake offers `h2` alone (a server that does not choose it, or
/// refuses the handshake for it with a `no_application_protocol` alert,
/// fails the send with `REQIVO_ERR_HTTP2_REQUIRED`); over cleartext HTTP/2 is
/// spoken with prior knowledge (no upgrade).
pub const REQIVO_HTTP_VERSION_2: u32 = 2;

/// Chooses the HTTP versions later sends of `s` speak:
/// `REQIVO_HTTP_VERSION_DEFAULT`, `REQIVO_HTTP_VERSION_1_1` or
/// `REQIVO_HTTP_VERSION_2` (the default offers HTTP/2 over TLS and lets
/// the server choose; the other two restrict). Over HTTP/2 every request
/// to an origin shares
/// one connection (per TLS configuration), each a stream on it, up to the
/// server's stream limit; later requests wait for a stream under the pool
/// timeout. `reqivo_response.http_major` tells which version answered.
/// Blocking sends (from any number of threads) and multi transfers share
/// the connection; whichever needs progress drives it, the multi from its
/// poller, never waiting (the library starts no thread for it). WebSocket
/// dials always use HTTP/1.1.
///
/// Ownership: nothing is allocated.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` for another value.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_http_version(
    s: *mut reqivo_session,
    version: u32,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let s = borrow!(s, err);
        let v = try_or_fail!(
            match version {
                REQIVO_HTTP_VERSION_DEFAULT => Ok(HttpVersion::Default),
                REQIVO_HTTP_VERSION_1_1 => Ok(HttpVersion::Http11),
                REQIVO_HTTP_VERSION_2 => Ok(HttpVersion::Http2),
                v => Err(Fail::new(
                    reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
                    format!(
                        "HTTP version {} is not one of REQIVO_HTTP_VERSION_DEFAULT, _1_1 or _2",
                        v
                    ),
                )),
            },
            err
        );
        s.set_http_version(v);
        OK
    })
}
