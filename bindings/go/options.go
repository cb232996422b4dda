package reqivo

// #include <reqivo.h>
import "C"

import (
	"fmt"
	"math"
	"time"
)

// Timeouts bound each wait of a send. A zero field takes the default (for
// a Session, the library's: DefaultTimeouts; for a Request, its session's),
// and NoTimeout lifts that limit, as in the C API: Timeouts{Total: 10 *
// time.Second} keeps every other default. Durations are rounded up to
// whole milliseconds.
type Timeouts struct {
	Connect time.Duration // name resolution and connecting, every address together
	Read    time.Duration // longest silence from the server during one read
	Write   time.Duration // longest stall while the server takes no bytes
	Total   time.Duration // the whole send, redirects, retries and stream reads included
	Pool    time.Duration // waiting for a free pooled connection
}

// NoTimeout in a Timeouts field means no limit (REQIVO_NO_LIMIT).
const NoTimeout time.Duration = math.MaxInt64

// DefaultTimeouts are the library's defaults: 5 s connect, read, write and
// pool; no total limit (NoTimeout).
func DefaultTimeouts() Timeouts {
	t := C.reqivo_timeout_default()
	ms := func(v C.uint32_t) time.Duration {
		if v == C.REQIVO_NO_LIMIT {
			return NoTimeout
		}
		return time.Duration(v) * time.Millisecond
	}
	return Timeouts{ms(t.connect_ms), ms(t.read_ms), ms(t.write_ms), ms(t.total_ms), ms(t.pool_ms)}
}

func (t Timeouts) toC() (C.reqivo_timeout, error) {
	var out C.reqivo_timeout
	fields := []struct {
		name string
		d    time.Duration
		dst  *C.uint32_t
	}{
		{"Connect", t.Connect, &out.connect_ms},
		{"Read", t.Read, &out.read_ms},
		{"Write", t.Write, &out.write_ms},
		{"Total", t.Total, &out.total_ms},
		{"Pool", t.Pool, &out.pool_ms},
	}
	for _, f := range fields {
		switch {
		case f.d < 0:
			return out, newError(CodeInvalidArgument, fmt.Sprintf("timeout %s is negative (%v)", f.name, f.d))
		case f.d == 0:
			*f.dst = 0 // the default
		case f.d == NoTimeout:
			*f.dst = C.REQIVO_NO_LIMIT
		default:
			ms := (f.d + time.Millisecond - 1) / time.Millisecond // a positive timeout never becomes the default
			if ms >= C.REQIVO_NO_LIMIT {
				return out, newError(CodeInvalidArgument, fmt.Sprintf("timeout %s is too long (%v; NoTimeout means no limit)", f.name, f.d))
			}
			*f.dst = C.uint32_t(ms)
		}
	}
	return out, nil
}

// Limits bound what a response may make the library hold. A zero field
// takes the library default (100 KiB lines, 300 KiB heads, 10,000 header
// fields, 1 GiB buffered bodies, unlimited streamed bodies: what curl
// accepts); math.MaxUint32 (math.MaxUint64 for MaxBodyBytes) means no
// limit. Memory grows with what the server sends, never with a limit.
type Limits struct {
	MaxLineBytes   uint32
	MaxHeaderBytes uint32
	MaxHeaderCount uint32
	MaxBodyBytes   uint64
}

func (l Limits) toC() C.reqivo_limits {
	return C.reqivo_limits{
		max_line_bytes:   C.uint32_t(l.MaxLineBytes),
		max_header_bytes: C.uint32_t(l.MaxHeaderBytes),
		max_header_count: C.uint32_t(l.MaxHeaderCount),
		max_body_bytes:   C.uint64_t(l.MaxBodyBytes),
	}
}

// Option configures a Session (NewSession) or a Transport (NewTransport).
type Option func(*sessionConfig)

type sessionConfig struct {
	baseURL      *string
	headers      [][2]string
	timeouts     *Timeouts
	limits       *Limits
	maxRedirects *int
	pool         *Pool
	tls          *TLSConfig
	basicAuth    *[2]string
	bearerToken  *string
	digestAuth   *[2]string
	decompress   *bool
	cookies      *bool
	cookieLimits *CookieLimits
	proxy        *string
	noProxy      *string
	envProxy     bool
	suffixList   *string
	maxInFlight  *int
	resolve      []string
	connectTo    []string
	unixSocket   *string
	retry        *RetryPolicy
	httpVersion  *HTTPVersion
}

// DefaultMaxInFlight is how many requests a Session (or Transport) has in
// flight at most unless WithMaxInFlight says otherwise.
const DefaultMaxInFlight = 50000

// WithMaxInFlight caps the requests in flight on the session at once
// (default DefaultMaxInFlight). A request beyond the cap waits for one to
// end, under its context: a caller whose context ends while waiting gets
// a *ContextError, and nothing is sent. n < 1 is an error.
func WithMaxInFlight(n int) Option {
	return func(c *sessionConfig) { c.maxInFlight = &n }
}

// WithBaseURL sets the absolute http URL that relative request URLs are
// joined to (RFC 3986: "a/b" joins after the last "/" of the base).
func WithBaseURL(url string) Option {
	return func(c *sessionConfig) { c.baseURL = &url }
}

// WithHeader adds a default header sent with every request; a later
// WithHeader of the same name, or a request header, replaces it. An
// Authorization, Cookie or Proxy-Authorization default carries
// credentials: like WithBasicAuth's, it goes only to the origin of the
// request the caller made, never to another origin a redirect leads to.
func WithHeader(name, value string) Option {
	return func(c *sessionConfig) { c.headers = append(c.headers, [2]string{name, value}) }
}

// WithTimeouts sets the session's timeouts (zero fields take the library's
// defaults, NoTimeout lifts a limit).
func WithTimeouts(t Timeouts) Option {
	return func(c *sessionConfig) { c.timeouts = &t }
}

// WithLimits sets the response limits (zero fields take the defaults).
func WithLimits(l Limits) Option {
	return func(c *sessionConfig) { c.limits = &l }
}

// WithMaxRedirects sets how many redirects a send follows (default 30); 0
// returns 3xx responses as they are. A Transport always uses 0.
func WithMaxRedirects(n int) Option {
	return func(c *sessionConfig) { c.maxRedirects = &n }
}

// WithPool makes the session use a shared pool instead of its own. The
// session keeps the pool's connections alive even after pool.Close().
func WithPool(p *Pool) Option {
	return func(c *sessionConfig) { c.pool = p }
}

// WithTLS sets the TLS configuration of https requests (by default: the
// system's roots, TLS 1.2 minimum). The session builds its own library
// config from cfg (a copy is taken), so connections and TLS session
// resumption are shared only by requests of this Session or Transport. An
// invalid cfg fails NewSession with ErrInvalidConfig.
func WithTLS(cfg TLSConfig) Option {
	return func(c *sessionConfig) { c.tls = cfg.clone() }
}

// WithBasicAuth sends Authorization: Basic (RFC 7617) built from user and
// pass with every request the caller makes, to the origin (scheme, host,
// port) that request addresses, unless the request has its own
// Authorization; a redirect to another origin drops it, and a hop back to
// the caller's origin has it again. A Session follows redirects itself;
// through a Transport, http.Client follows them, and the Transport sends
// the credentials only to hops at the origin of the request the caller
// made (see Transport, "Credentials"), never to the same host on another
// port. user must not contain ':'.
func WithBasicAuth(user, pass string) Option {
	return func(c *sessionConfig) { c.basicAuth = &[2]string{user, pass}; c.bearerToken, c.digestAuth = nil, nil }
}

// WithBearerToken sends Authorization: Bearer token (RFC 6750) like
// WithBasicAuth sends its credentials: only to the origin of the request
// the caller made, in a Session and in a Transport alike. An empty token
// sends none. The token must be free of whitespace and control bytes
// (ErrInvalidHeader).
func WithBearerToken(token string) Option {
	return func(c *sessionConfig) { c.bearerToken = &token; c.basicAuth, c.digestAuth = nil, nil }
}

// WithDigestAuth answers HTTP Digest challenges (RFC 7616) with user and
// pass: a request goes out without credentials, and a 401 with
// WWW-Authenticate: Digest is answered by sending it again with
// Authorization: Digest (MD5, SHA-256, SHA-512-256 and their -sess forms;
// qop auth or auth-int; userhash). The session remembers each origin's
// last challenge, so later requests there answer at once. A wrong password
// gives the 401 back after one answer; so does a request whose body comes
// from an io.Reader (it cannot be sent twice: give the bytes instead).
// Like WithBasicAuth's, the credentials go only to the origin of the
// request the caller made; the last of WithBasicAuth, WithBearerToken and
// WithDigestAuth wins, and a request's own Authorization turns it off. In
// a Transport the answer is part of the one round trip (http.Client sees
// the final response), and a hop of a redirect http.Client follows to
// another origin gets no answer to its challenge.
func WithDigestAuth(user, pass string) Option {
	return func(c *sessionConfig) { c.digestAuth = &[2]string{user, pass}; c.basicAuth, c.bearerToken = nil, nil }
}

// WithDecompression turns content decoding on (the default) or off. On,
// the library sends Accept-Encoding: gzip, deflate, br, zstd unless the
// request has its own Accept-Encoding, and decodes bodies in those codings,
// buffered or streamed (ResponseHead.Decompressed is then set; the headers
// stay as received, and the decoded size counts against
// Limits.MaxBodyBytes).
// A Transport decodes only when the caller did not ask for an encoding
// itself, as net/http does (see Transport).
func WithDecompression(on bool) Option {
	return func(c *sessionConfig) { c.decompress = &on }
}

// WithCookies turns the session's cookie jar on (the default) or off. On,
// Set-Cookie fields of every response (redirect hops included) are stored
// under RFC 6265 rules and matching cookies sent; each Session has its own
// jar. A Transport always has it off: cookies are the business of
// http.Client.Jar, as with net/http's Transport.
func WithCookies(on bool) Option {
	return func(c *sessionConfig) { c.cookies = &on }
}

// CookieLimits bound the session's cookie jar, for received and loaded
// cookies alike. A zero field takes the default, math.MaxUint32 lifts the
// limit. Past a count the oldest cookies are evicted, as browsers do.
type CookieLimits struct {
	CookieBytes uint32 // one cookie's name plus value; default 4096
	PerSite     uint32 // cookies of one site (registrable domain, so sibling hosts share it); default 180
	Total       uint32 // cookies in the jar; default 3000
}

// WithCookieLimits sets how much the session's cookie jar holds.
func WithCookieLimits(l CookieLimits) Option {
	return func(c *sessionConfig) { c.cookieLimits = &l }
}

// WithProxy sends requests through the HTTP proxy at url,
// "http://[user:password@]host[:port]" (the scheme may be left out; the
// port defaults to 80): http requests are forwarded with absolute-form
// targets, https requests go through a CONNECT tunnel with TLS end to end
// to the origin. Credentials in the URL (percent-encoded) are sent to the
// proxy only, as Proxy-Authorization: Basic. A tunnel the proxy refuses
// fails the request with ErrProxy (the message has the proxy's status,
// e.g. 407). A SOCKS5 proxy is "socks5://[user:password@]host[:port]"
// (the origin's name is resolved here and its address sent) or
// "socks5h://..." (the proxy resolves the name); the port defaults to 1080,
// the credentials are its username and password (RFC 1929), and http and
// https requests both go through its tunnel (TLS end to end, connections
// kept); a SOCKS5 refusal is ErrProxy with the reply's meaning in the
// message. An empty url means no proxy. An https://, socks4:// or other
// proxy URL fails NewSession (or every RoundTrip of a Transport) with
// CodeUnsupportedScheme. Given with WithEnvironmentProxy, WithProxy wins.
//
// Unlike http.DefaultTransport, which calls http.ProxyFromEnvironment,
// neither a Session nor a Transport reads HTTP_PROXY and friends unless
// WithEnvironmentProxy is given.
func WithProxy(url string) Option {
	return func(c *sessionConfig) { c.proxy = &url }
}

// WithNoProxy sets the hosts that bypass the proxy, in the NO_PROXY form:
// names (matching themselves and their subdomains; a leading "." or "*."
// is allowed), IP addresses and CIDR ranges, each optionally with
// ":port", separated by commas or spaces; "*" alone bypasses the proxy for
// every host. Names are not resolved: "localhost" does not match
// 127.0.0.1. Given with WithEnvironmentProxy, WithNoProxy wins over
// NO_PROXY.
func WithNoProxy(list string) Option {
	return func(c *sessionConfig) { c.noProxy = &list }
}

// WithEnvironmentProxy takes the proxy settings from the environment,
// read when the Session or Transport is created: HTTP_PROXY for http URLs,
// HTTPS_PROXY for https URLs, NO_PROXY for the bypass list (each also in
// lower case; upper case wins). HTTP_PROXY is ignored when REQUEST_METHOD
// is set (CGI), as http.ProxyFromEnvironment does. Unlike it, and as curl
// does, all_proxy (then ALL_PROXY) serves a scheme whose own variable is
// unset, and any URL WithProxy takes fits (socks5h://...). An unusable proxy URL
// fails with ErrInvalidConfig naming the variable. WithProxy and
// WithNoProxy, when given too, replace the environment's values.
func WithEnvironmentProxy() Option {
	return func(c *sessionConfig) { c.envProxy = true }
}

// WithPublicSuffixList sets the public suffix list (its text, in the
// publicsuffix.org format) the session's cookie jar refuses Domain
// cookies for a public suffix with (RFC 6265 §5.3: Domain=co.uk is
// dropped). By default the system's list is used
// (/usr/share/publicsuffix/public_suffix_list.dat). Text that is no list
// fails NewSession with ErrInvalidConfig.
func WithPublicSuffixList(text string) Option {
	return func(c *sessionConfig) { c.suffixList = &text }
}
