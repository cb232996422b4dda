package reqivo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func newTestClient(t testing.TB, opts ...Option) (*http.Client, *Transport) {
	t.Helper()
	tr := NewTransport(opts...)
	if tr.Err() != nil {
		t.Fatal(tr.Err())
	}
	t.Cleanup(tr.Close)
	return &http.Client{Transport: tr}, tr
}

func TestTransportGet(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	client, _ := newTestClient(t)
	for i := 0; i < 5; i++ {
		resp, err := client.Get(srv.URL + "/get")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "GET /get " {
			t.Fatalf("body %q %v", body, err)
		}
		if resp.StatusCode != 200 || resp.Proto != "HTTP/1.1" || resp.ContentLength != int64(len(body)) ||
			resp.Header.Get("X-Method") != "GET" || resp.Request == nil {
			t.Errorf("response %+v", resp)
		}
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("%d connections for 5 requests, want 1", n)
	}
}

func TestTransportRequestHeadersAndBody(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	client, _ := newTestClient(t, WithHeader("X-Token", "default"))
	ctx := testCtx(t)

	// A known-length body (strings.Reader sets ContentLength).
	resp, err := client.Post(srv.URL+"/post", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "POST /post payload" || resp.Header.Get("X-Content-Type") != "text/plain" ||
		resp.Header.Get("X-Content-Length") != "7" || resp.Header.Get("X-Got-Token") != "default" {
		t.Errorf("POST: %q %v", body, resp.Header)
	}

	// An unknown-length body: streamed from the pipe, chunked.
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 3; i++ {
			fmt.Fprintf(pw, "part%d;", i)
		}
		pw.Close()
	}()
	req, _ := http.NewRequestWithContext(ctx, "PUT", srv.URL+"/put", pr)
	req.Header.Set("X-Token", "mine")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "PUT /put part0;part1;part2;" || resp.Header.Get("X-Content-Length") != "-1" ||
		resp.Header.Get("X-Got-Token") != "mine" {
		t.Errorf("PUT: %q %v", body, resp.Header)
	}

	// Userinfo becomes Basic credentials.
	var gotAuth atomic.Value
	authSrv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		gotAuth.Store(user + "/" + pass + " " + r.URL.String())
	}))
	resp, err = client.Get(strings.Replace(authSrv.URL, "http://", "http://ann:s3cret@", 1) + "/p")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotAuth.Load() != "ann/s3cret /p" {
		t.Errorf("basic auth from userinfo: %v", gotAuth.Load())
	}

	// Host override.
	var gotHost atomic.Value
	hostSrv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gotHost.Store(r.Host) }))
	req, _ = http.NewRequestWithContext(ctx, "GET", hostSrv.URL+"/", nil)
	req.Host = "example.test"
	if resp, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotHost.Load() != "example.test" {
		t.Errorf("Host %v", gotHost.Load())
	}
}

func TestTransportChunkedAndHead(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Kind", "chunky")
		if r.URL.Path == "/empty" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "chunk%d ", i)
			w.(http.Flusher).Flush() // forces Transfer-Encoding: chunked
		}
	}))
	client, _ := newTestClient(t)
	resp, err := client.Get(srv.URL + "/chunked")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "chunk0 chunk1 chunk2 " || resp.ContentLength != -1 ||
		len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || resp.Header.Get("Transfer-Encoding") != "" {
		t.Errorf("chunked: %q CL=%d TE=%v", body, resp.ContentLength, resp.TransferEncoding)
	}
	resp, err = client.Head(srv.URL + "/chunked")
	if err != nil || resp.Body != http.NoBody || resp.Header.Get("X-Kind") != "chunky" {
		t.Fatalf("HEAD: %v %+v", err, resp)
	}
	resp, err = client.Get(srv.URL + "/empty")
	if err != nil || resp.StatusCode != 204 || resp.Body != http.NoBody || resp.ContentLength != 0 {
		t.Fatalf("204: %v %+v", err, resp)
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// http.Client follows redirects; the Transport must not (it would hide
// the hops from CheckRedirect and from the Request chain).
func TestTransportRedirectsFollowedByClient(t *testing.T) {
	var hits atomic.Int64
	mux := redirectMux()
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	client, _ := newTestClient(t)
	var hops []string
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		hops = append(hops, via[len(via)-1].URL.Path+"->"+req.URL.Path)
		return nil
	}
	resp, err := client.Post(srv.URL+"/a", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "GET /final " || resp.Request.URL.Path != "/final" {
		t.Errorf("final %q at %s", body, resp.Request.URL)
	}
	if strings.Join(hops, ",") != "/a->/b,/b->/final" || hits.Load() != 3 {
		t.Errorf("hops %v, %d server hits", hops, hits.Load())
	}
	// With ErrUseLastResponse the caller gets the 302 itself.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = client.Get(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) // read to the end, so the connection is reused
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/b" {
		t.Errorf("got %d %v", resp.StatusCode, resp.Header)
	}
	// http.Client's own limit applies (10 hops), not the library's.
	client.CheckRedirect = nil
	_, err = client.Get(srv.URL + "/chain/0")
	if err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") {
		t.Errorf("chain: %v", err)
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (redirect bodies drained)", n)
	}
}

func TestTransportStreamLargeBody(t *testing.T) {
	body := bigBody(32 << 20)
	srv := newCountingServer(t, bigHandler(body))
	client, _ := newTestClient(t)
	for _, q := range []string{"", "?chunked=1"} {
		resp, err := client.Get(srv.URL + "/big" + q)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil || n != int64(len(body)) || !bytes.Equal(h.Sum(nil), sha256Sum(body)) {
			t.Fatalf("%s: %d bytes, %v", q, n, err)
		}
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestTransportContextCancel(t *testing.T) {
	rs, got := stalledServer(t)
	client, _ := newTestClient(t)
	err, took := cancelStalledDo(t, client, rs.URL+"/stall", got)
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("http.Client error %T is not a *url.Error", err)
	}
	if took > cancelBound {
		t.Errorf("cancel took %v", took)
	}
}

// cancelStalledDo sends a GET for url (a stalled route) through client,
// cancels its context once the server has it (got), and returns the error
// client.Do gave, which must be a cancellation, and how long after the
// cancel it returned.
func cancelStalledDo(t *testing.T, client *http.Client, url string, got <-chan struct{}) (error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	errc := make(chan error, 1)
	var returned atomic.Int64
	go func() {
		_, err := client.Do(req)
		returned.Store(time.Now().UnixNano())
		errc <- err
	}()
	recvOrFail(t, got, "the request to reach the server")
	canceledAt := time.Now()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCanceled) {
			t.Fatalf("error %v", err)
		}
		return err, time.Duration(returned.Load() - canceledAt.UnixNano())
	case <-time.After(testTimeout):
		t.Fatal("client.Do did not return after cancel")
		return nil, 0
	}
}

// http.Client.Timeout works through the request context and reports a
// net.Error timeout.
func TestTransportClientTimeout(t *testing.T) {
	rs, _ := stalledServer(t)
	client, _ := newTestClient(t)
	client.Timeout = 150 * time.Millisecond
	start := time.Now()
	_, err := client.Get(rs.URL + "/stall")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v: want a net.Error with Timeout()", err)
	}
	if took := time.Since(start); took > 150*time.Millisecond+cancelBound {
		t.Errorf("timeout after %v", took)
	}
}

func TestTransportLibraryTimeout(t *testing.T) {
	rs, _ := stalledServer(t)
	tm := DefaultTimeouts()
	tm.Read = 100 * time.Millisecond
	client, _ := newTestClient(t, WithTimeouts(tm))
	_, err := client.Get(rs.URL + "/stall")
	var ne net.Error
	if !errors.Is(err, ErrReadTimeout) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v: want ErrReadTimeout and a net.Error timeout", err)
	}
}

func TestTransportErrors(t *testing.T) {
	// A bad option: NewTransport still returns, every RoundTrip fails.
	tr := NewTransport(WithHeader("Bad Name", "x"))
	if !errors.Is(tr.Err(), ErrInvalidHeader) {
		t.Fatalf("Err() = %v", tr.Err())
	}
	client := &http.Client{Transport: tr}
	body := &closeTracker{Reader: strings.NewReader("x")}
	req, _ := http.NewRequest("POST", "http://127.0.0.1:1/", body)
	if _, err := client.Do(req); !errors.Is(err, ErrInvalidHeader) || !body.closed {
		t.Errorf("RoundTrip: %v, body closed %v", err, body.closed)
	}
	tr.Close()

	good, _ := newTestClient(t)
	// A header value net/http accepts but the library refuses is a usage
	// error, and the body is still closed.
	body = &closeTracker{Reader: strings.NewReader("x")}
	req, _ = http.NewRequest("POST", "http://127.0.0.1:1/", body)
	req.Header.Set("X-Bad", "a\x01b")
	if _, err := good.Do(req); !errors.Is(err, ErrUsage) || !body.closed {
		t.Errorf("bad header: %v, body closed %v", err, body.closed)
	}
	// Nothing listens on port 1: the error comes back through http.Client.
	if _, err := good.Get("https://127.0.0.1:1/"); !errors.Is(err, ErrConnectRefused) {
		t.Errorf("https to a closed port: %v", err)
	}
}

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

// A Content-Length field in Request.Header is dropped, as net/http drops
// it: the library frames the body (and is the one that knows which
// fields that takes).
func TestTransportDropsFramingHeaderFields(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	client, _ := newTestClient(t)
	req, _ := http.NewRequestWithContext(testCtx(t), "POST", srv.URL+"/framed", strings.NewReader("abc"))
	req.Header.Set("Content-Length", "999")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "POST /framed abc" || resp.Header.Get("X-Content-Length") != "3" {
		t.Errorf("%q, Content-Length %s", body, resp.Header.Get("X-Content-Length"))
	}
	if isFramingHeader("Content-Type") || !isFramingHeader("transfer-encoding") {
		t.Error("isFramingHeader disagrees with the library")
	}
}
