package reqivo

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

func mustPanic(t *testing.T, what, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s: no panic", what)
		} else if msg, _ := r.(string); !strings.Contains(msg, want) {
			t.Errorf("%s: panic %v, want one mentioning %q", what, r, want)
		}
	}()
	f()
}

func TestCloseIsIdempotent(t *testing.T) {
	pool, err := NewPool(PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(WithPool(pool))
	if err != nil {
		t.Fatal(err)
	}
	req, err := NewRequest("GET", "http://127.0.0.1/")
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTransport()
	for i := 0; i < 3; i++ {
		pool.Close()
		s.Close()
		req.Close()
		tr.Close()
	}
}

func TestUseAfterClosePanics(t *testing.T) {
	ctx := testCtx(t)
	pool, _ := NewPool(PoolConfig{})
	pool.Close()
	mustPanic(t, "Pool.Stats", "Pool used after Close", func() { pool.Stats() })
	mustPanic(t, "NewSession(WithPool(closed))", "Pool used after Close", func() { NewSession(WithPool(pool)) })

	req, _ := NewRequest("GET", "http://127.0.0.1:1/")
	req.Close()
	mustPanic(t, "Request.AddHeader", "Request used after Close", func() { req.AddHeader("A", "b") })
	mustPanic(t, "Request.SetBody", "Request used after Close", func() { req.SetBody([]byte("x")) })
	mustPanic(t, "Request.SetTimeouts", "Request used after Close", func() { req.SetTimeouts(Timeouts{}) })

	s, _ := NewSession()
	mustPanic(t, "Session.Do(closed request)", "Request used after Close", func() { s.Do(ctx, req) })
	s.Close()
	live, _ := NewRequest("GET", "http://127.0.0.1:1/")
	defer live.Close()
	mustPanic(t, "Session.Do", "Session used after Close", func() { s.Do(ctx, live) })
	mustPanic(t, "Session.Open", "Session used after Close", func() { s.Open(ctx, live) })
	mustPanic(t, "Session.Get", "Session used after Close", func() { s.Get(ctx, "http://127.0.0.1:1/") })

	tr := NewTransport()
	tr.Close()
	mustPanic(t, "Transport.RoundTrip", "Session used after Close", func() {
		(&http.Client{Transport: tr}).Get("http://127.0.0.1:1/")
	})
}

// Handles a program forgets to Close are freed by their cleanup.
func TestCleanupFreesForgottenHandles(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	before := cleanupsRun.Load()
	func() {
		pool, _ := NewPool(PoolConfig{})
		s, _ := NewSession(WithPool(pool))
		req, _ := NewRequest("GET", srv.URL+"/x")
		sr, err := s.Open(testCtx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		_ = sr // dropped unread: its stream is forgotten too
	}()
	const want = 4 // pool, session, request, stream
	deadline := time.Now().Add(testTimeout)
	for cleanupsRun.Load()-before < want && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := cleanupsRun.Load() - before; got < want {
		t.Errorf("%d cleanups ran, want %d", got, want)
	}
}
