package reqivo

// #include <reqivo.h>
import "C"

import (
	"fmt"
	"math"
	"time"
)

// Timeouts bound each wait of a send. A zero field means no limit, as in
// the C API: start from DefaultTimeouts and change what you need.
// Durations are rounded up to whole milliseconds.
type Timeouts struct {
	Connect time.Duration // per address tried, DNS included
	Read    time.Duration // longest silence from the server during one read
	Write   time.Duration // longest stall while the server takes no bytes
	Total   time.Duration // the whole send, redirects, retries and stream reads included
	Pool    time.Duration // waiting for a free pooled connection
}

// DefaultTimeouts are the library's defaults: 5 s connect, read, write and
// pool; no total limit.
func DefaultTimeouts() Timeouts {
	t := C.reqivo_timeout_default()
	ms := func(v C.uint32_t) time.Duration { return time.Duration(v) * time.Millisecond }
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
			*f.dst = 0
		default:
			ms := (f.d + time.Millisecond - 1) / time.Millisecond // a positive timeout never becomes "no limit"
			if ms > math.MaxUint32 {
				return out, newError(CodeInvalidArgument, fmt.Sprintf("timeout %s is too long (%v)", f.name, f.d))
			}
			*f.dst = C.uint32_t(ms)
		}
	}
	return out, nil
}

// Limits bound what a response may make the library hold. A zero field
// takes the library default (8192-byte lines, 65536-byte heads, 100 header
// fields, 1 GiB buffered bodies, unlimited streamed bodies).
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
}

// WithBaseURL sets the absolute http URL that relative request URLs are
// joined to (RFC 3986: "a/b" joins after the last "/" of the base).
func WithBaseURL(url string) Option {
	return func(c *sessionConfig) { c.baseURL = &url }
}

// WithHeader adds a default header sent with every request; a later
// WithHeader of the same name, or a request header, replaces it.
func WithHeader(name, value string) Option {
	return func(c *sessionConfig) { c.headers = append(c.headers, [2]string{name, value}) }
}

// WithTimeouts sets the session's timeouts (zero fields mean no limit).
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
