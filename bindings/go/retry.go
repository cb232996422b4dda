package reqivo

// #include <reqivo.h>
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"time"
)

// RetryOn says which outcomes of an attempt a RetryPolicy tries again.
type RetryOn uint32

const (
	// RetryOnConnectError retries a connect that failed (refused, timed
	// out, a socket error while connecting).
	RetryOnConnectError RetryOn = C.REQIVO_RETRY_ON_CONNECT_ERROR
	// RetryOnReset retries when the connection failed before any byte of
	// the response arrived.
	RetryOnReset RetryOn = C.REQIVO_RETRY_ON_RESET
	// RetryOn429 retries a 429 Too Many Requests.
	RetryOn429 RetryOn = C.REQIVO_RETRY_ON_429
	// RetryOn503 retries a 503 Service Unavailable.
	RetryOn503 RetryOn = C.REQIVO_RETRY_ON_503
	// RetryAfter waits as long as a retried response's Retry-After asks
	// (seconds or an HTTP-date), capped at MaxBackoff.
	RetryAfter RetryOn = C.REQIVO_RETRY_AFTER
)

// RetryPolicy is when a Session (or Transport) sends a request again
// (WithRetry). Only idempotent methods (GET, HEAD, OPTIONS, TRACE, PUT,
// DELETE) and requests marked with Request.SetIdempotent are retried; a
// body from an io.Reader is never sent twice. Each wait is random in
// [0, min(MaxBackoff, BaseBackoff * 2^(attempt-1))], or the Retry-After
// of a retried 429/503 when On has RetryAfter; a wait that would pass the
// total timeout is not made (the last response or error comes back at
// once), and a cancelled context ends it at once. Durations are rounded
// up to whole milliseconds.
type RetryPolicy struct {
	MaxAttempts int           // attempts in all, the first included; 1: no retry
	BaseBackoff time.Duration // the cap of the first wait; it doubles per attempt
	MaxBackoff  time.Duration // the cap of every wait, Retry-After's too
	On          RetryOn
}

// DefaultRetry is a sensible policy to start from: 3 attempts, waits
// from 100 ms doubling up to 10 s, every RetryOn flag set.
func DefaultRetry() RetryPolicy {
	d := C.reqivo_retry_default()
	return RetryPolicy{
		MaxAttempts: int(d.max_attempts),
		BaseBackoff: time.Duration(d.base_backoff_ms) * time.Millisecond,
		MaxBackoff:  time.Duration(d.max_backoff_ms) * time.Millisecond,
		On:          RetryOn(d.flags),
	}
}

// WithRetry sets the session's retry policy; without it nothing is
// retried. It applies to a Transport too, where it is off unless given:
// net/http's RoundTripper contract leaves retries to the caller, and
// net/http's own Transport only resends an idempotent request whose
// reused connection was dead (so does this one, always). A Transport
// given WithRetry goes beyond that on purpose, for the requests it may
// resend: idempotent methods, requests with an Idempotency-Key or
// X-Idempotency-Key header (net/http's convention), and only bodies it
// holds in memory (GetBody set and small).
func WithRetry(p RetryPolicy) Option {
	return func(c *sessionConfig) { c.retry = &p }
}

func (p RetryPolicy) toC() (C.reqivo_retry, error) {
	out := C.reqivo_retry_default()
	if p.MaxAttempts < 1 || int64(p.MaxAttempts) > math.MaxUint32 {
		return out, newError(CodeInvalidConfig, fmt.Sprintf("RetryPolicy.MaxAttempts out of range: %d (1: no retry)", p.MaxAttempts))
	}
	ms := func(name string, d time.Duration) (C.uint32_t, error) {
		if d < 0 {
			return 0, newError(CodeInvalidConfig, fmt.Sprintf("RetryPolicy.%s is negative (%v)", name, d))
		}
		n := (d + time.Millisecond - 1) / time.Millisecond
		if n > math.MaxUint32 {
			n = math.MaxUint32
		}
		return C.uint32_t(n), nil
	}
	var err error
	if out.base_backoff_ms, err = ms("BaseBackoff", p.BaseBackoff); err != nil {
		return out, err
	}
	if out.max_backoff_ms, err = ms("MaxBackoff", p.MaxBackoff); err != nil {
		return out, err
	}
	out.max_attempts = C.uint32_t(p.MaxAttempts)
	out.flags = C.uint32_t(p.On)
	return out, nil
}

// configureRetry applies WithRetry. s.mu is held.
func (s *Session) configureRetry(cfg *sessionConfig) error {
	if cfg.retry == nil {
		return nil
	}
	p, err := cfg.retry.toC()
	if err != nil {
		return err
	}
	var cerr C.reqivo_error
	code := C.reqivo_session_set_retry(s.ptr(), &p, &cerr)
	runtime.KeepAlive(s)
	return codeError(code, &cerr)
}

// SetIdempotent marks the request safe to send more than once whatever
// its method, so the session's retry policy may resend it (a POST that
// carries its own idempotency key, say). A body from an io.Reader is
// still never sent twice.
func (r *Request) SetIdempotent(on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	code := C.reqivo_request_set_idempotent(r.ptr(), C.bool(on))
	runtime.KeepAlive(r)
	return codeError(code, nil)
}
