package reqivo

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
	"unsafe"
)

// cancelBound is how fast a done context must stop a request (the Go
// binding's target: within 100 ms; the library itself promises 50 ms).
const cancelBound = 100 * time.Millisecond

// checkCanceled asserts err says both "the context was canceled" and
// "reqivo stopped the request".
func checkCanceled(t *testing.T, err error, ctxErr error) {
	t.Helper()
	if !errors.Is(err, ctxErr) || !errors.Is(err, ErrCanceled) || !errors.Is(err, ErrStopped) {
		t.Fatalf("error %v: want errors.Is %v and ErrCanceled", err, ctxErr)
	}
	var ce *ContextError
	var e *Error
	if !errors.As(err, &ce) || !errors.As(err, &e) || e.Code != CodeCancelled {
		t.Fatalf("error %v (%T): want a *ContextError holding a REQIVO_ERR_CANCELLED *Error", err, err)
	}
}

func TestDoContextCancelStalled(t *testing.T) {
	rs, got := stalledServer(t)
	s := newTestSession(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		_, err := s.Get(ctx, rs.URL+"/stall")
		done <- result{err, time.Now()}
	}()
	recvOrFail(t, got, "the request to reach the server")
	canceledAt := time.Now()
	cancel()
	select {
	case r := <-done:
		checkCanceled(t, r.err, context.Canceled)
		took := r.at.Sub(canceledAt)
		t.Logf("cancel took %v", took)
		if took > cancelBound {
			t.Errorf("cancel took %v, want under %v", took, cancelBound)
		}
	case <-time.After(testTimeout):
		t.Fatal("Do did not return after cancel")
	}
}

func TestDoContextDeadline(t *testing.T) {
	rs, _ := stalledServer(t)
	s := newTestSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Get(ctx, rs.URL+"/stall")
	checkCanceled(t, err, context.DeadlineExceeded)
	if took := time.Since(start); took > 100*time.Millisecond+cancelBound {
		t.Errorf("deadline of 100ms stopped the request after %v", took)
	}
	var ce *ContextError
	if errors.As(err, &ce); !ce.Timeout() {
		t.Error("a passed deadline must report Timeout()")
	}
}

func TestDoContextAlreadyDone(t *testing.T) {
	s := newTestSession(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Nothing listens there: the request must not even be attempted.
	_, err := s.Get(ctx, "http://127.0.0.1:1/")
	checkCanceled(t, err, context.Canceled)
}

// A stream's reads are cancelled by the context of Open.
func TestStreamContextCancelDuringRead(t *testing.T) {
	stop := make(chan struct{})
	rs := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		if _, _, err := readHead(r); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst")
		<-stop
	})
	t.Cleanup(func() { close(stop) })
	s := newTestSession(t)
	req, _ := NewRequest("GET", rs.URL+"/partial")
	defer req.Close()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	sr, err := s.Open(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	buf := make([]byte, 100)
	n, err := sr.Body.Read(buf)
	if err != nil || string(buf[:n]) != "first" {
		t.Fatalf("first read: %q %v", buf[:n], err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	_, err = sr.Body.Read(buf)
	checkCanceled(t, err, context.Canceled)
	if took := time.Since(start); took > 50*time.Millisecond+cancelBound {
		t.Errorf("read stopped after %v", took)
	}
	// The error sticks.
	if _, err2 := sr.Body.Read(buf); err2 != err {
		t.Errorf("second read: %v", err2)
	}
}

// transportGet sends a GET through client and reads the body to its end.
func transportGet(t *testing.T, client *http.Client, ctx context.Context, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// Transport requests (each one a stream, which always has a token) take
// untriggered tokens from the spares instead of making new ones, with
// contexts that can be done or not.
func TestTransportReusesTokens(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	client, _ := newTestClient(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	transportGet(t, client, ctx, srv.URL+"/warm")
	made, freed := tokensMade.Load(), tokensFreed.Load()
	for i := 0; i < 20; i++ {
		c := ctx
		if i%2 == 1 {
			c = context.Background()
		}
		if body := transportGet(t, client, c, srv.URL+"/get"); body != "GET /get " {
			t.Fatalf("body %q", body)
		}
	}
	if m, f := tokensMade.Load()-made, tokensFreed.Load()-freed; m != 0 || f != 0 {
		t.Errorf("20 requests made %d tokens and freed %d, want 0 and 0 (reused)", m, f)
	}
}

// A cancelled context still stops a Transport request whose token was
// reused, and the triggered token is freed, never reused: the requests
// after it succeed.
func TestTransportCancelWithReusedToken(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	rs, got := stalledServer(t)
	client, _ := newTestClient(t)
	transportGet(t, client, context.Background(), srv.URL+"/warm") // leaves a spare
	spareTokens.Lock()
	n := len(spareTokens.list)
	var next unsafe.Pointer // the token the next request takes
	if n > 0 {
		next = unsafe.Pointer(spareTokens.list[n-1])
	}
	spareTokens.Unlock()
	if next == nil {
		t.Fatal("no spare token after a finished request")
	}
	made, freed := tokensMade.Load(), tokensFreed.Load()

	if _, took := cancelStalledDo(t, client, rs.URL+"/stall", got); took > cancelBound {
		t.Errorf("cancel took %v", took)
	}
	if m := tokensMade.Load() - made; m != 0 {
		t.Errorf("the cancelled request made %d tokens, want 0 (a spare reused)", m)
	}
	if f := tokensFreed.Load() - freed; f != 1 {
		t.Errorf("%d tokens freed after the cancel, want 1 (the triggered one)", f)
	}
	spareTokens.Lock()
	for _, c := range spareTokens.list {
		if unsafe.Pointer(c) == next {
			t.Error("the triggered token went back to the spares")
		}
	}
	spareTokens.Unlock()
	for i := 0; i < 3; i++ {
		if body := transportGet(t, client, context.Background(), srv.URL+"/after"); body != "GET /after " {
			t.Fatalf("request %d after the cancel: body %q", i, body)
		}
	}
}

// Closing a stream before its end triggers its token (to wake a Read in
// another goroutine): that token is freed, and later streams work.
func TestStreamCloseEarlyDoesNotReuseToken(t *testing.T) {
	srv := newCountingServer(t, bigHandler(bigBody(1<<20)))
	s := newTestSession(t)
	req, _ := NewRequest("GET", srv.URL+"/big")
	defer req.Close()
	for i := 0; i < 3; i++ {
		freed := tokensFreed.Load()
		sr, err := s.Open(context.Background(), req)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		buf := make([]byte, 10)
		if _, err := sr.Body.Read(buf); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		sr.Close()
		// Through the driver the token is let go once the multi has ended
		// the transfer, just after Close returns.
		deadline := time.Now().Add(testTimeout)
		for tokensFreed.Load()-freed < 1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if f := tokensFreed.Load() - freed; f != 1 {
			t.Errorf("stream %d closed early: %d tokens freed, want 1", i, f)
		}
	}
}
