package reqivo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// patternReader produces bigBody's bytes lazily: n bytes, never in memory.
type patternReader struct {
	off, n int64
	reads  int
	failAt int64 // when > 0, Read fails once off reaches it
	err    error
	delay  time.Duration // before each Read
}

func (p *patternReader) Read(b []byte) (int, error) {
	p.reads++
	if p.delay > 0 {
		time.Sleep(p.delay)
	}
	if p.failAt > 0 && p.off >= p.failAt {
		return 0, p.err
	}
	if p.off >= p.n {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.n-p.off)
	if p.failAt > 0 {
		k = min(k, p.failAt-p.off)
	}
	for i := range k {
		j := p.off + i
		b[i] = byte(j*7 + j/251)
	}
	p.off += k
	return int(k), nil
}

// uploadHandler answers with what it received: length, framing and hash.
func uploadHandler(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	w.Header().Set("X-Length", fmt.Sprint(n))
	w.Header().Set("X-Content-Length", fmt.Sprint(r.ContentLength))
	w.Header().Set("X-Transfer-Encoding", strings.Join(r.TransferEncoding, ","))
	w.Header().Set("X-Sum", hex.EncodeToString(h.Sum(nil)))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
	}
	fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
}

func patternSum(n int) string { return hex.EncodeToString(sha256Sum(bigBody(n))) }

func checkUpload(t *testing.T, what string, h http.Header, n int, chunked bool) {
	t.Helper()
	wantCL, wantTE := fmt.Sprint(n), ""
	if chunked {
		wantCL, wantTE = "-1", "chunked"
	}
	if h.Get("X-Length") != fmt.Sprint(n) || h.Get("X-Content-Length") != wantCL ||
		h.Get("X-Transfer-Encoding") != wantTE || h.Get("X-Sum") != patternSum(n) {
		t.Errorf("%s: server saw length %s, Content-Length %s, Transfer-Encoding %q; sum ok %v",
			what, h.Get("X-Length"), h.Get("X-Content-Length"), h.Get("X-Transfer-Encoding"),
			h.Get("X-Sum") == patternSum(n))
	}
}

func TestSessionBodyReader(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(uploadHandler))
	s := newTestSession(t)
	ctx := testCtx(t)
	const n = 8<<20 + 123
	for _, chunked := range []bool{false, true} {
		size := int64(n)
		if chunked {
			size = -1
		}
		req, err := NewRequest("PUT", srv.URL+"/up")
		if err != nil {
			t.Fatal(err)
		}
		body := &patternReader{n: n}
		if err := req.SetBodyReader(body, size); err != nil {
			t.Fatal(err)
		}
		resp, err := s.Do(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		checkUpload(t, fmt.Sprintf("Do chunked=%v", chunked), resp.Header, n, chunked)
		if body.reads < 2 {
			t.Errorf("body read in %d calls: not streamed", body.reads)
		}
		// The reader is spent: a second send needs a new one.
		if _, err := s.Do(ctx, req); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("second send of a spent reader: %v", err)
		}
		if err := req.SetBodyReader(&patternReader{n: n}, size); err != nil {
			t.Fatal(err)
		}
		// Open streams the body too, then the response.
		sr, err := s.Open(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, sr.Body)
		sr.Close()
		checkUpload(t, fmt.Sprintf("Open chunked=%v", chunked), sr.Header, n, chunked)
		// SetBody replaces the reader.
		if err := req.SetBody([]byte("abc")); err != nil {
			t.Fatal(err)
		}
		resp, err = s.Do(ctx, req)
		if err != nil || resp.Header.Get("X-Length") != "3" {
			t.Errorf("SetBody after a reader: %v %v", err, resp.Header)
		}
		req.Close()
	}
	// An empty body with size 0 is sent without reading.
	req, _ := NewRequest("POST", srv.URL+"/empty")
	defer req.Close()
	body := &patternReader{n: 10}
	req.SetBodyReader(body, 0)
	if resp, err := s.Do(ctx, req); err != nil || resp.Header.Get("X-Content-Length") != "0" || body.reads != 0 {
		t.Errorf("size 0: %v %v, %d reads", err, resp.Header, body.reads)
	}
	if err := req.SetBodyReader(body, -2); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("size -2: %v", err)
	}
	if err := req.SetBodyReader(nil, 1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil reader: %v", err)
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

var errDisk = errors.New("disk on fire")

func TestSessionBodyReaderErrors(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(uploadHandler))
	s := newTestSession(t)
	ctx := testCtx(t)
	for _, size := range []int64{1 << 20, -1} {
		req, _ := NewRequest("POST", srv.URL+"/fail")
		req.SetBodyReader(&patternReader{n: 1 << 20, failAt: 300 << 10, err: errDisk}, size)
		_, err := s.Do(ctx, req)
		var be *BodyError
		if !errors.Is(err, errDisk) || !errors.As(err, &be) || !errors.Is(err, ErrAbortedByCallback) ||
			!strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("size %d: error %v", size, err)
		}
		req.Close()
	}
	// Shorter than declared: the library refuses; longer: this package does.
	req, _ := NewRequest("POST", srv.URL+"/short")
	defer req.Close()
	req.SetBodyReader(&patternReader{n: 100}, 101)
	if _, err := s.Do(ctx, req); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "100 of the 101") {
		t.Errorf("short body: %v", err)
	}
	req.SetBodyReader(&patternReader{n: 102}, 101)
	var be *BodyError
	if _, err := s.Do(ctx, req); !errors.As(err, &be) || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("long body: %v", err)
	}
	// Readers returning (0, nil) forever are stopped.
	req.SetBodyReader(readerFunc(func([]byte) (int, error) { return 0, nil }), -1)
	if _, err := s.Do(ctx, req); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("no progress: %v", err)
	}
	// The session still works.
	if resp, err := s.Get(ctx, srv.URL+"/ok"); err != nil || resp.StatusCode != 200 {
		t.Errorf("after failures: %v", err)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// A panic in Read reaches the caller of Do (never the library's frames),
// and leaves the Session and Request usable.
func TestSessionBodyReaderPanic(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(uploadHandler))
	s := newTestSession(t)
	req, _ := NewRequest("POST", srv.URL+"/panic")
	defer req.Close()
	req.SetBodyReader(readerFunc(func([]byte) (int, error) { panic("reader exploded") }), -1)
	func() {
		defer func() {
			if v := recover(); v != "reader exploded" {
				t.Errorf("recovered %v", v)
			}
		}()
		s.Do(testCtx(t), req)
		t.Error("Do returned")
	}()
	req.SetBodyReader(strings.NewReader("fine"), 4)
	if resp, err := s.Do(testCtx(t), req); err != nil || resp.Header.Get("X-Length") != "4" {
		t.Errorf("after a panic: %v", err)
	}
}

// A stale handle (deleted after its send) makes the trampoline abort.
func TestBodyHandleUnknown(t *testing.T) {
	if n := readBodyHandle(0, make([]byte, 4)); n != -1 {
		t.Errorf("handle 0: %d", n)
	}
}

// The context stops a send between two Reads of a slow body.
func TestSessionBodyReaderCancel(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(uploadHandler))
	s := newTestSession(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	req, _ := NewRequest("POST", srv.URL+"/slow")
	defer req.Close()
	body := &patternReader{n: 1 << 30, delay: 5 * time.Millisecond}
	req.SetBodyReader(body, -1)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := s.Do(ctx, req)
	if took := time.Since(start); took > 100*time.Millisecond+cancelBound {
		t.Errorf("stopped after %v", took)
	}
	checkCanceled(t, err, context.Canceled)
}

func TestSessionBodyReaderRedirect307(t *testing.T) {
	var hits atomic.Int64
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/307" {
			io.Copy(io.Discard, r.Body)
			http.Redirect(w, r, "/up", http.StatusTemporaryRedirect)
			return
		}
		uploadHandler(w, r)
	}))
	s := newTestSession(t)
	req, _ := NewRequest("POST", srv.URL+"/307")
	defer req.Close()
	req.SetBodyReader(&patternReader{n: 1000}, 1000)
	resp, err := s.Do(testCtx(t), req)
	if err != nil || resp.StatusCode != 307 || !resp.RedirectNotFollowed || hits.Load() != 1 {
		t.Fatalf("307 with a reader body: %v %+v, %d hits", err, resp, hits.Load())
	}
	// With a []byte body the session follows it, body and all.
	req.SetBody(bigBody(1000))
	resp, err = s.Do(testCtx(t), req)
	if err != nil || resp.StatusCode != 200 || resp.RedirectNotFollowed || resp.RedirectCount != 1 {
		t.Fatalf("307 with a []byte body: %v %+v", err, resp)
	}
	checkUpload(t, "307 followed", resp.Header, 1000, false)
}

func TestTransportStreamsRequestBody(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(uploadHandler))
	client, _ := newTestClient(t)
	ctx := testCtx(t)
	const n = 16 << 20
	// Unknown length from a pipe: chunked, never held in memory.
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, &patternReader{n: n})
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequestWithContext(ctx, "PUT", srv.URL+"/pipe", pr)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	checkUpload(t, "pipe", resp.Header, n, true)

	// A declared length: Content-Length, and the body is closed.
	body := &closeTracker{Reader: &patternReader{n: n}}
	req, _ = http.NewRequestWithContext(ctx, "POST", srv.URL+"/sized", body)
	req.ContentLength = n
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	checkUpload(t, "sized", resp.Header, n, false)
	if !body.closed {
		t.Error("request body not closed")
	}

	// A Read error: RoundTrip fails with it, wrapped.
	body = &closeTracker{Reader: &patternReader{n: n, failAt: 1 << 20, err: errDisk}}
	req, _ = http.NewRequestWithContext(ctx, "POST", srv.URL+"/fail", body)
	_, err = client.Do(req)
	var be *BodyError
	if !errors.Is(err, errDisk) || !errors.As(err, &be) || !body.closed {
		t.Errorf("read error: %v (closed %v)", err, body.closed)
	}
	// A body longer than ContentLength is refused, as net/http does.
	req, _ = http.NewRequestWithContext(ctx, "POST", srv.URL+"/long", &patternReader{n: 11})
	req.ContentLength = 10
	if _, err = client.Do(req); !errors.As(err, &be) {
		t.Errorf("long body: %v", err)
	}
	req, _ = http.NewRequestWithContext(ctx, "POST", srv.URL+"/nil", nil)
	req.ContentLength = 10
	if _, err = client.Do(req); err == nil || !strings.Contains(err.Error(), "nil Body") {
		t.Errorf("ContentLength with nil Body: %v", err)
	}
	// The connection is still usable after all that.
	resp, err = client.Get(srv.URL + "/after")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after: %v", err)
	}
	resp.Body.Close()
}

// A body blocked in Read does not hold up cancellation: the Transport
// closes it when the context is done, as net/http does.
func TestTransportBodyCancel(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(uploadHandler))
	client, _ := newTestClient(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	wrote := make(chan struct{})
	go func() {
		pw.Write([]byte("first part, then nothing"))
		close(wrote)
	}()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/blocked", pr)
	errc := make(chan error, 1)
	go func() {
		_, err := client.Do(req)
		errc <- err
	}()
	recvOrFail(t, wrote, "the first part to be read")
	time.Sleep(20 * time.Millisecond) // now blocked in the second Read
	start := time.Now()
	cancel()
	select {
	case err := <-errc:
		if took := time.Since(start); took > cancelBound {
			t.Errorf("cancel took %v", took)
		}
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCanceled) {
			t.Errorf("error %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("RoundTrip did not return after cancel")
	}
}

// http.Client replays a 307/308 body through GetBody; without GetBody it
// returns the 307, as with net/http's Transport.
func TestTransportRedirect307Body(t *testing.T) {
	var hits atomic.Int64
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/307":
			// Not reading the body: net/http's server then closes the
			// connection after the response.
			http.Redirect(w, r, "/308", http.StatusTemporaryRedirect)
		case "/308":
			http.Redirect(w, r, "/up", http.StatusPermanentRedirect)
		default:
			uploadHandler(w, r)
		}
	}))
	client, _ := newTestClient(t)
	ctx := testCtx(t)
	var getBodies atomic.Int64
	payload := bigBody(300 << 10)
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/307", strings.NewReader(string(payload)))
	orig := req.GetBody
	req.GetBody = func() (io.ReadCloser, error) { getBodies.Add(1); return orig() }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/up" || getBodies.Load() != 2 || hits.Load() != 3 {
		t.Errorf("status %d at %s, GetBody called %d times, %d hits", resp.StatusCode, resp.Request.URL.Path,
			getBodies.Load(), hits.Load())
	}
	checkUpload(t, "replayed", resp.Header, len(payload), false)

	// No GetBody: the client hands back the 307.
	req, _ = http.NewRequestWithContext(ctx, "POST", srv.URL+"/307", &patternReader{n: 1000})
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("without GetBody: %d", resp.StatusCode)
	}
}

// Uploads from many goroutines at once, each with its own reader and
// handle.
func TestConcurrentUploads(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(uploadHandler))
	s := newTestSession(t)
	client, _ := newTestClient(t)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 50_000 + g*1000
			for i := range 3 {
				var h http.Header
				if g%2 == 0 {
					req, _ := NewRequest("POST", srv.URL+"/s")
					size := int64(n)
					if i%2 == 1 {
						size = -1
					}
					req.SetBodyReader(&patternReader{n: int64(n)}, size)
					resp, err := s.Do(ctx, req)
					req.Close()
					if err != nil {
						errs <- err
						return
					}
					h = resp.Header
				} else {
					req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/t", &patternReader{n: int64(n)})
					resp, err := client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					h = resp.Header
				}
				if h.Get("X-Sum") != patternSum(n) {
					errs <- fmt.Errorf("goroutine %d: body differs", g)
				}
			}
		}()
	}
	waitOrFail(t, "uploaders", wg.Wait)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
