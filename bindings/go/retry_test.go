package reqivo

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// busyServer answers 503 (with retryAfter, when set) to the first `busy`
// requests, then 200 "done"; it counts the requests it saw.
func busyServer(t *testing.T, busy int64, status int, retryAfter string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if seen.Add(1) <= busy {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, "busy")
			return
		}
		_, _ = io.WriteString(w, "done")
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func quickRetry(attempts int) RetryPolicy {
	p := DefaultRetry()
	p.MaxAttempts = attempts
	p.BaseBackoff = 10 * time.Millisecond
	p.MaxBackoff = 50 * time.Millisecond
	return p
}

func newRetrySession(t *testing.T, opts ...Option) *Session {
	t.Helper()
	s, err := NewSession(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestRetryDefaultPolicyAndOffByDefault(t *testing.T) {
	d := DefaultRetry()
	all := RetryOnConnectError | RetryOnReset | RetryOn429 | RetryOn503 | RetryAfter
	if d.MaxAttempts != 3 || d.On != all || d.BaseBackoff <= 0 || d.MaxBackoff < d.BaseBackoff {
		t.Fatalf("DefaultRetry() = %+v", d)
	}
	srv, seen := busyServer(t, 1000, http.StatusServiceUnavailable, "")
	s := newRetrySession(t)
	resp, err := s.Get(context.Background(), srv.URL)
	if err != nil || resp.StatusCode != 503 || seen.Load() != 1 {
		t.Fatalf("without WithRetry: %v %v, %d requests", resp, err, seen.Load())
	}
}

func TestRetryStopsAtMaxAttempts(t *testing.T) {
	srv, seen := busyServer(t, 1000, http.StatusServiceUnavailable, "")
	s := newRetrySession(t, WithRetry(quickRetry(4)))
	resp, err := s.Get(context.Background(), srv.URL)
	if err != nil || resp.StatusCode != 503 || resp.Text() != "busy" {
		t.Fatalf("%v %v", resp, err)
	}
	if n := seen.Load(); n != 4 {
		t.Fatalf("%d requests, want 4", n)
	}
	// Until it works.
	srv2, seen2 := busyServer(t, 2, http.StatusTooManyRequests, "")
	resp, err = s.Get(context.Background(), srv2.URL)
	if err != nil || resp.Text() != "done" || seen2.Load() != 3 {
		t.Fatalf("%v %v, %d requests", resp, err, seen2.Load())
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	srv, seen := busyServer(t, 1, http.StatusServiceUnavailable, "1")
	p := quickRetry(2)
	p.MaxBackoff = 5 * time.Second
	s := newRetrySession(t, WithRetry(p))
	start := time.Now()
	resp, err := s.Get(context.Background(), srv.URL)
	took := time.Since(start)
	if err != nil || resp.Text() != "done" || seen.Load() != 2 {
		t.Fatalf("%v %v, %d requests", resp, err, seen.Load())
	}
	if took < 900*time.Millisecond || took > 10*time.Second {
		t.Fatalf("Retry-After: 1 waited %v", took)
	}
}

func TestRetryPostOnlyWhenMarked(t *testing.T) {
	srv, seen := busyServer(t, 1, http.StatusServiceUnavailable, "")
	s := newRetrySession(t, WithRetry(quickRetry(3)))
	post := func(mark bool) *Response {
		req, err := NewRequest("POST", srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer req.Close()
		if err := req.SetBody([]byte("x=1")); err != nil {
			t.Fatal(err)
		}
		if err := req.SetIdempotent(mark); err != nil {
			t.Fatal(err)
		}
		resp, err := s.Do(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := post(false); r.StatusCode != 503 || seen.Load() != 1 {
		t.Fatalf("unmarked POST: %d, %d requests", r.StatusCode, seen.Load())
	}
	seen.Store(0)
	if r := post(true); r.StatusCode != 200 || seen.Load() != 2 {
		t.Fatalf("marked POST: %d, %d requests", r.StatusCode, seen.Load())
	}
}

func TestRetryReaderBodyNeverResent(t *testing.T) {
	srv, seen := busyServer(t, 1, http.StatusServiceUnavailable, "")
	s := newRetrySession(t, WithRetry(quickRetry(3)))
	req, err := NewRequest("PUT", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	if err := req.SetBodyReader(strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Do(context.Background(), req)
	if err != nil || resp.StatusCode != 503 || seen.Load() != 1 {
		t.Fatalf("%v %v, %d requests", resp, err, seen.Load())
	}
}

func TestRetryContextEndsTheWait(t *testing.T) {
	srv, seen := busyServer(t, 1000, http.StatusServiceUnavailable, "30")
	p := quickRetry(3)
	p.MaxBackoff = time.Minute
	s := newRetrySession(t, WithRetry(p))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Get(ctx, srv.URL)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("returned after %v", took)
	}
	if seen.Load() != 1 {
		t.Fatalf("%d requests", seen.Load())
	}
}

func TestRetryInvalidPolicy(t *testing.T) {
	for _, p := range []RetryPolicy{
		{MaxAttempts: 0},
		{MaxAttempts: 2, BaseBackoff: -time.Second},
		{MaxAttempts: 2, On: 1 << 20},
	} {
		var e *Error
		if _, err := NewSession(WithRetry(p)); !errors.As(err, &e) || e.Code != CodeInvalidConfig {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

func TestTransportRetryOnlyWhenAsked(t *testing.T) {
	srv, seen := busyServer(t, 1000, http.StatusServiceUnavailable, "")
	plain, _ := newTestClient(t)
	resp, err := plain.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || seen.Load() != 1 {
		t.Fatalf("%d, %d requests", resp.StatusCode, seen.Load())
	}
	client, _ := newTestClient(t, WithRetry(quickRetry(3)))
	send := func(method string, body io.Reader, key bool) int64 {
		seen.Store(0)
		req, err := http.NewRequest(method, srv.URL, body)
		if err != nil {
			t.Fatal(err)
		}
		if key {
			req.Header.Set("Idempotency-Key", "k1")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Fatalf("%s: %d", method, resp.StatusCode)
		}
		return seen.Load()
	}
	if n := send("GET", nil, false); n != 3 {
		t.Errorf("GET: %d requests, want 3", n)
	}
	if n := send("POST", strings.NewReader("a=1"), false); n != 1 {
		t.Errorf("POST: %d requests, want 1", n)
	}
	if n := send("POST", strings.NewReader("a=1"), true); n != 3 {
		t.Errorf("POST with Idempotency-Key: %d requests, want 3", n)
	}
	// A body only a reader holds (no GetBody) is never sent twice.
	if n := send("PUT", io.MultiReader(strings.NewReader("a=1")), false); n != 1 {
		t.Errorf("PUT from a reader: %d requests, want 1", n)
	}
}
