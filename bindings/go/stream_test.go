package reqivo

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// bigBody is a deterministic body of n bytes.
func bigBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func bigHandler(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		for off := 0; off < len(body); off += 64 << 10 {
			w.Write(body[off:min(off+64<<10, len(body))])
		}
	}
}

func TestStreamLargeBody(t *testing.T) {
	size := 24 << 20
	if debugBuild {
		size = 4 << 20 // a whole collection at every Read
	}
	body := bigBody(size)
	srv := newCountingServer(t, bigHandler(body))
	s := newTestSession(t)
	ctx := testCtx(t)
	for _, q := range []string{"", "?chunked=1"} {
		req, err := NewRequest("GET", srv.URL+"/big"+q)
		if err != nil {
			t.Fatal(err)
		}
		sr, err := s.Open(ctx, req)
		req.Close() // a stream outlives its request
		if err != nil {
			t.Fatal(err)
		}
		if sr.StatusCode != 200 || (q == "" && sr.Header.Get("Content-Length") != strconv.Itoa(len(body))) {
			t.Errorf("%s: head %d %v", q, sr.StatusCode, sr.Header)
		}
		h := sha256.New()
		n, err := io.CopyBuffer(h, sr.Body, make([]byte, 100_000))
		if err != nil || n != int64(len(body)) {
			t.Fatalf("%s: copied %d bytes, %v", q, n, err)
		}
		if !bytes.Equal(h.Sum(nil), sha256Sum(body)) {
			t.Errorf("%s: body differs", q)
		}
		if _, err := sr.Body.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%s: read after the end: %v", q, err)
		}
		if err := sr.Close(); err != nil {
			t.Error(err)
		}
	}
	// The whole body was read, so the connection went back to the pool.
	if resp, err := s.Get(ctx, srv.URL+"/big?chunked=1"); err != nil || !resp.Reused || !bytes.Equal(resp.Body, body) {
		t.Errorf("buffered GET after streams: %v reused=%v", err, resp != nil && resp.Reused)
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// Closing a stream before its end closes its connection (never reused with
// unread bytes on it), and later reads fail with ErrStreamClosed.
func TestStreamCloseEarly(t *testing.T) {
	srv := newCountingServer(t, bigHandler(bigBody(8<<20)))
	s := newTestSession(t)
	ctx := testCtx(t)
	req, _ := NewRequest("GET", srv.URL+"/big")
	defer req.Close()
	sr, err := s.Open(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(sr.Body, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	sr.Close()
	sr.Close() // idempotent
	if _, err := sr.Body.Read(make([]byte, 10)); !errors.Is(err, ErrStreamClosed) {
		t.Errorf("read after Close: %v", err)
	}
	resp, err := s.Get(ctx, srv.URL+"/big")
	if err != nil || resp.Reused {
		t.Errorf("after an early close: %v, reused=%v", err, resp != nil && resp.Reused)
	}
	if n := srv.newConns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// Close from another goroutine interrupts a blocked Read.
func TestStreamCloseInterruptsRead(t *testing.T) {
	stop := make(chan struct{})
	rs := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		if _, _, err := readHead(r); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		<-stop
	})
	t.Cleanup(func() { close(stop) })
	s := newTestSession(t)
	req, _ := NewRequest("GET", rs.URL+"/")
	defer req.Close()
	sr, err := s.Open(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := sr.Body.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the Read block
	start := time.Now()
	sr.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrStreamClosed) {
			t.Errorf("blocked read returned %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Close did not interrupt Read")
	}
	if took := time.Since(start); took > cancelBound {
		t.Errorf("Close took %v to interrupt Read", took)
	}
}

func TestStreamOpenErrors(t *testing.T) {
	rs, _ := stalledServer(t)
	tm := DefaultTimeouts()
	tm.Read = 100 * time.Millisecond
	s := newTestSession(t, WithTimeouts(tm))
	req, _ := NewRequest("GET", rs.URL+"/")
	defer req.Close()
	_, err := s.Open(testCtx(t), req)
	if !errors.Is(err, ErrReadTimeout) {
		t.Errorf("Open on a stalled server: %v", err)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("Open error %T is not an *Error", err)
	}
}
