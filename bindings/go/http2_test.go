package reqivo

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// HTTP/2 (WithHTTPVersion) against Go's own net/http TLS server and the
// scripted h2c peer tests/h2_peer.py. HTTP2 sessions always take the
// blocking path (httpversion.go), so these tests hold in the suite's
// event-driven-only pass too: there the HTTP/1.1 requests go to the
// driver and the HTTP/2 ones still block.

// h2GoServer is an httptest TLS server with HTTP/2 enabled (ALPN "h2";
// a client offering only http/1.1 gets HTTP/1.1, crypto/tls's fallback),
// the PKI's leaf, and a count of the connections it accepted.
type h2GoServer struct {
	*httptest.Server
	conns   atomic.Int64
	active  atomic.Int64 // /hold requests in the handler now...
	maxSeen atomic.Int64 // ...and the most at once
}

// newH2GoServer starts the server with HTTP/2 (enableHTTP2) or without
// (then its TLS handshake negotiates no protocol at all: ALPN is off).
func newH2GoServer(t *testing.T, p *testPKI, enableHTTP2 bool) *h2GoServer {
	t.Helper()
	srv := &h2GoServer{}
	mux := http.NewServeMux()
	// The protocol the server saw, which the client checks.
	mux.HandleFunc("/proto", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server-Proto-Major", strconv.Itoa(r.ProtoMajor))
		io.WriteString(w, r.Proto)
	})
	// Held for a moment, so that concurrent requests overlap.
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		n := srv.active.Add(1)
		for {
			m := srv.maxSeen.Load()
			if n <= m || srv.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		srv.active.Add(-1)
		w.Header().Set("X-Server-Proto-Major", strconv.Itoa(r.ProtoMajor))
		io.WriteString(w, r.URL.RawQuery)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server-Proto-Major", strconv.Itoa(r.ProtoMajor))
		io.Copy(w, r.Body)
	})
	// /pattern?n=N: N bytes, byte i = i % 251, written in 64 KiB pieces.
	mux.HandleFunc("/pattern", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		buf := make([]byte, 64<<10)
		for off := 0; off < n; off += len(buf) {
			piece := buf[:min(len(buf), n-off)]
			for i := range piece {
				piece[i] = byte((off + i) % 251)
			}
			if _, err := w.Write(piece); err != nil {
				return
			}
		}
	})
	srv.Server = httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = enableHTTP2
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.serverTC}}
	if !enableHTTP2 {
		srv.TLS.NextProtos = []string{} // not nil: httptest would set http/1.1
	}
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			srv.conns.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// checkPattern reads r to its end and checks it is /pattern's n bytes.
func checkPattern(t *testing.T, r io.Reader, n int) {
	t.Helper()
	buf := make([]byte, 256<<10)
	got := 0
	for {
		k, err := r.Read(buf)
		for i, b := range buf[:k] {
			if want := byte((got + i) % 251); b != want {
				t.Fatalf("byte %d: got %d, want %d", got+i, b, want)
			}
		}
		got += k
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
	}
	if got != n {
		t.Fatalf("read %d bytes, want %d", got, n)
	}
}

func checkH2Head(t *testing.T, what string, h ResponseHead) {
	t.Helper()
	if h.Proto != "HTTP/2.0" || h.ProtoMajor != 2 || h.ProtoMinor != 0 {
		t.Errorf("%s: Proto %q %d.%d, want HTTP/2.0 2.0", what, h.Proto, h.ProtoMajor, h.ProtoMinor)
	}
	if got := h.Header.Get("X-Server-Proto-Major"); got != "" && got != "2" {
		t.Errorf("%s: the server saw HTTP major %s, want 2", what, got)
	}
}

func TestHTTP2GoServerSession(t *testing.T) {
	p := newTestPKI(t)
	srv := newH2GoServer(t, p, true)
	s := newTestSession(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}}), WithHTTPVersion(HTTP2))
	ctx := testCtx(t)

	resp, err := s.Get(ctx, srv.URL+"/proto")
	if err != nil {
		t.Fatal(err)
	}
	checkH2Head(t, "GET /proto", resp.ResponseHead)
	if resp.Text() != "HTTP/2.0" || !resp.TLS {
		t.Errorf("GET /proto: body %q (the server's r.Proto), TLS %v", resp.Text(), resp.TLS)
	}

	t.Run("100 goroutines", func(t *testing.T) {
		const n = 100
		var wg sync.WaitGroup
		errs := make(chan error, n)
		start := time.Now()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := s.Get(ctx, fmt.Sprintf("%s/hold?%d", srv.URL, i))
				switch {
				case err != nil:
					errs <- err
				case resp.ProtoMajor != 2 || resp.Header.Get("X-Server-Proto-Major") != "2":
					errs <- fmt.Errorf("request %d: Proto %s, the server saw %s", i, resp.Proto, resp.Header.Get("X-Server-Proto-Major"))
				case resp.Text() != strconv.Itoa(i):
					errs <- fmt.Errorf("request %d: body %q", i, resp.Text())
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		t.Logf("%d concurrent GETs in %v, at most %d in the handler at once", n, time.Since(start), srv.maxSeen.Load())
		if srv.maxSeen.Load() < 2 {
			t.Errorf("the requests never overlapped at the server (at most %d at once)", srv.maxSeen.Load())
		}
	})

	// The server writes the echo while it reads: the body stays within
	// what the client's stream window takes before it reads the answer
	// (a larger echo stalls: see TestHTTP2EchoBeyondWindow).
	t.Run("POST echo 4 MiB", func(t *testing.T) {
		body := make([]byte, 4<<20)
		rand.Read(body)
		start := time.Now()
		resp, err := s.Post(ctx, srv.URL+"/echo", "application/octet-stream", body)
		if err != nil {
			t.Fatal(err)
		}
		checkH2Head(t, "POST /echo", resp.ResponseHead)
		if !bytes.Equal(resp.Body, body) {
			t.Fatalf("echo: %d bytes back, %d sent, equal %v", len(resp.Body), len(body), bytes.Equal(resp.Body, body))
		}
		t.Logf("4 MiB echoed in %v", time.Since(start))
	})

	t.Run("POST echo from a reader", func(t *testing.T) {
		body := bytes.Repeat([]byte("reqivo h2 "), 300_000) // 3 MB, chunk-free over HTTP/2
		req, err := NewRequest("POST", srv.URL+"/echo")
		if err != nil {
			t.Fatal(err)
		}
		defer req.Close()
		if err := req.SetBodyReader(io.MultiReader(bytes.NewReader(body[:1000]), bytes.NewReader(body[1000:])), -1); err != nil {
			t.Fatal(err)
		}
		resp, err := s.Do(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		checkH2Head(t, "POST /echo (reader)", resp.ResponseHead)
		if !bytes.Equal(resp.Body, body) {
			t.Fatalf("echo: %d bytes back, %d sent", len(resp.Body), len(body))
		}
	})

	t.Run("streamed 32 MiB", func(t *testing.T) {
		const n = 32 << 20
		req, err := NewRequest("GET", fmt.Sprintf("%s/pattern?n=%d", srv.URL, n))
		if err != nil {
			t.Fatal(err)
		}
		defer req.Close()
		start := time.Now()
		sr, err := s.Open(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		defer sr.Close()
		checkH2Head(t, "GET /pattern", sr.ResponseHead)
		checkPattern(t, sr.Body, n)
		t.Logf("32 MiB streamed in %v", time.Since(start))
	})

	if got := srv.conns.Load(); got != 1 {
		t.Errorf("the server accepted %d connections, want 1 (every request a stream on one)", got)
	}
}

func TestHTTP2GoServerTransport(t *testing.T) {
	p := newTestPKI(t)
	srv := newH2GoServer(t, p, true)
	tr := NewTransport(WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}}), WithHTTPVersion(HTTP2))
	t.Cleanup(tr.Close)
	client := &http.Client{Transport: tr, Timeout: testTimeout}

	resp, err := client.Get(srv.URL + "/proto")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Proto != "HTTP/2.0" || resp.ProtoMajor != 2 || resp.ProtoMinor != 0 || !resp.ProtoAtLeast(2, 0) {
		t.Errorf("Proto %q %d.%d, want HTTP/2.0 2.0", resp.Proto, resp.ProtoMajor, resp.ProtoMinor)
	}
	// net/http's own HTTP/2 transport fills the reason in (HTTP/2 sends none).
	if resp.Status != "200 OK" || string(body) != "HTTP/2.0" || resp.TLS == nil {
		t.Errorf("Status %q, body %q, TLS %v", resp.Status, body, resp.TLS)
	}

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp *http.Response
			var err error
			if i%2 == 0 {
				resp, err = client.Get(fmt.Sprintf("%s/hold?%d", srv.URL, i))
			} else {
				// A body without GetBody streams from its reader.
				resp, err = client.Post(srv.URL+"/echo", "text/plain", io.MultiReader(strings.NewReader(strconv.Itoa(i))))
			}
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(got) != strconv.Itoa(i) || resp.ProtoMajor != 2 {
				errs <- fmt.Errorf("request %d: %q, %v, %s", i, got, err, resp.Proto)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	const size = 32 << 20
	resp, err = client.Get(fmt.Sprintf("%s/pattern?n=%d", srv.URL, size))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != size {
		t.Errorf("ContentLength %d, want %d", resp.ContentLength, size)
	}
	checkPattern(t, resp.Body, size)
	resp.Body.Close()

	if got := srv.conns.Load(); got != 1 {
		t.Errorf("the server accepted %d connections, want 1", got)
	}
}

// The default offers h2 then http/1.1, as net/http does: HTTP/2 with a
// server that takes h2, HTTP/1.1 with one that does not; HTTP11 restricts
// a session to HTTP/1.1. A Session and a Transport alike.
func TestHTTP2DefaultNegotiates(t *testing.T) {
	p := newTestPKI(t)
	h2srv := newH2GoServer(t, p, true)
	h1srv := newH2GoServer(t, p, false)
	trust := WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}})
	cases := []struct {
		name  string
		opts  []Option
		url   string
		proto string
	}{
		{"default, h2 server", []Option{trust}, h2srv.URL, "HTTP/2.0"},
		{"HTTPDefault, h2 server", []Option{trust, WithHTTPVersion(HTTPDefault)}, h2srv.URL, "HTTP/2.0"},
		{"default, HTTP/1.1 server", []Option{trust}, h1srv.URL, "HTTP/1.1"},
		{"HTTP11, h2 server", []Option{trust, WithHTTPVersion(HTTP11)}, h2srv.URL, "HTTP/1.1"},
	}
	for _, c := range cases {
		s := newTestSession(t, c.opts...)
		resp, err := s.Get(testCtx(t), c.url+"/proto")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if resp.Proto != c.proto || resp.Text() != c.proto {
			t.Errorf("%s: Proto %q, the server saw %q, want %q", c.name, resp.Proto, resp.Text(), c.proto)
		}
		tr := NewTransport(c.opts...)
		t.Cleanup(tr.Close)
		hr, err := (&http.Client{Transport: tr, Timeout: testTimeout}).Get(c.url + "/proto")
		if err != nil {
			t.Fatalf("%s, Transport: %v", c.name, err)
		}
		got, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		if hr.Proto != c.proto || string(got) != c.proto {
			t.Errorf("%s, Transport: Proto %q, the server saw %q, want %q", c.name, hr.Proto, got, c.proto)
		}
		wantALPN := map[string]string{"HTTP/2.0": "h2", "HTTP/1.1": ""}[c.proto]
		if hr.TLS == nil || hr.TLS.NegotiatedProtocol != wantALPN {
			t.Errorf("%s, Transport: TLS %+v, want NegotiatedProtocol %q", c.name, hr.TLS, wantALPN)
		}
	}
}

// HTTP2 against a TLS server that speaks only HTTP/1.1 fails clearly.
func TestHTTP2RequiredAndBadVersion(t *testing.T) {
	p := newTestPKI(t)
	srv := newH2GoServer(t, p, false) // no ALPN: HTTP/1.1
	trust := WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}})
	s := newTestSession(t, trust, WithHTTPVersion(HTTP2))
	_, err := s.Get(testCtx(t), srv.URL+"/proto")
	var e *Error
	if !errors.Is(err, ErrHTTP2Required) || !errors.Is(err, ErrProtocol) || !errors.As(err, &e) || e.Code != CodeHttp2Required {
		t.Errorf("HTTP2 against an HTTP/1.1-only server: %v, want ErrHTTP2Required", err)
	}
	tr := NewTransport(trust, WithHTTPVersion(HTTP2))
	t.Cleanup(tr.Close)
	if _, err := (&http.Client{Transport: tr, Timeout: testTimeout}).Get(srv.URL + "/proto"); !errors.Is(err, ErrHTTP2Required) {
		t.Errorf("Transport: %v, want ErrHTTP2Required", err)
	}

	// A server whose ALPN list lacks h2 refuses the handshake itself
	// (RFC 7301 §3.2: alert no_application_protocol): it does not speak
	// HTTP/2, which the session requires, and the error says so.
	srv11 := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv11.TLS = &tls.Config{Certificates: []tls.Certificate{p.serverTC}} // httptest offers http/1.1
	srv11.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv11.StartTLS()
	t.Cleanup(srv11.Close)
	_, err = s.Get(testCtx(t), srv11.URL+"/")
	if !errors.Is(err, ErrHTTP2Required) || errors.Is(err, ErrTLSHandshake) || !strings.Contains(err.Error(), "refused HTTP/2") {
		t.Errorf("HTTP2 against an http/1.1-only ALPN server: %v, want ErrHTTP2Required", err)
	}

	if _, err := NewSession(WithHTTPVersion(HTTPVersion(3))); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("HTTPVersion(3): %v, want ErrInvalidArgument", err)
	}
	if tr := NewTransport(WithHTTPVersion(HTTPVersion(3))); !errors.Is(tr.Err(), ErrInvalidArgument) {
		t.Errorf("Transport, HTTPVersion(3): %v, want ErrInvalidArgument", tr.Err())
	}
	if HTTP2.String() != "HTTP2" || HTTPVersion(3).String() != "HTTPVersion(3)" {
		t.Errorf("String: %s, %s", HTTP2, HTTPVersion(3))
	}
}

// h2Peer starts tests/h2_peer.py for one test and returns its h2c base
// URL; the test is skipped when python3 or its h2 package is missing
// (tools/install_deps.sh installs it). The peer is killed at the end: it
// does not watch its stdin.
func h2Peer(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("http://127.0.0.1:%d", h2PeerPorts(t)["h2c"])
}

// h2PeerPorts is h2Peer's, every port the peer printed (without --tls:
// "h2c", "silent", "no-ack", "alpn-refuse").
func h2PeerPorts(t *testing.T) map[string]int {
	t.Helper()
	if err := exec.Command("python3", "-c", "import h2.connection").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 with the h2 package is required in CI (tools/install_deps.sh installs it)")
		}
		t.Skip("python3 with the h2 package is not available (tools/install_deps.sh installs it)")
	}
	cmd := exec.Command("python3", "../../tests/h2_peer.py")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ports := make(chan map[string]int, 1)
	go func() {
		var m map[string]int
		json.NewDecoder(stdout).Decode(&m)
		ports <- m
		io.Copy(io.Discard, stdout)
	}()
	select {
	case m := <-ports:
		if m["h2c"] == 0 {
			t.Fatalf("h2_peer.py printed no h2c port: %v", m)
		}
		return m
	case <-time.After(testTimeout):
		t.Fatal("h2_peer.py printed nothing in time")
	}
	return nil
}

// The HTTP/2 connection's setup (the server's SETTINGS, and its ACK of
// ours) is bounded by the connect timeout: a server that never sends
// SETTINGS, and one that never acknowledges ours, fail with
// ErrConnectTimeout after about 300 ms, far from the 5 s read timeout, in
// a Session (the fast path or the driver) and through a Transport.
func TestHTTP2SettingsDeadline(t *testing.T) {
	withoutFastPath(t)
	ports := h2PeerPorts(t)
	timeouts := WithTimeouts(Timeouts{Connect: 300 * time.Millisecond, Read: 5 * time.Second})
	s := newTestSession(t, WithHTTPVersion(HTTP2), timeouts)
	tr := NewTransport(WithHTTPVersion(HTTP2), timeouts)
	t.Cleanup(tr.Close)
	client := &http.Client{Transport: tr, Timeout: testTimeout}
	for _, c := range []struct{ port, says string }{
		{"silent", "sent no HTTP/2 SETTINGS"},
		{"no-ack", "did not acknowledge"},
	} {
		url := fmt.Sprintf("http://127.0.0.1:%d/ok", ports[c.port])
		start := time.Now()
		_, err := s.Get(testCtx(t), url)
		took := time.Since(start)
		if !errors.Is(err, ErrConnectTimeout) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want ErrConnectTimeout saying %q", c.port, err, c.says)
		}
		if took < 250*time.Millisecond || took > 3*time.Second {
			t.Errorf("%s: took %v, want about the 300 ms connect timeout", c.port, took)
		}
		if _, err := client.Get(url); !errors.Is(err, ErrConnectTimeout) {
			t.Errorf("%s, Transport: %v, want ErrConnectTimeout", c.port, err)
		}
	}
}

func TestHTTP2PriorKnowledgePeer(t *testing.T) {
	// HTTP/2 sends never depend on the fast path's slots (in the suite's
	// event-driven-only pass there are none either).
	withoutFastPath(t)
	base := h2Peer(t)
	s := newTestSession(t, WithHTTPVersion(HTTP2), WithBaseURL(base+"/"))
	ctx := testCtx(t)

	resp, err := s.Get(ctx, "ok")
	if err != nil {
		t.Fatal(err)
	}
	checkH2Head(t, "GET /ok", resp.ResponseHead)
	if resp.StatusCode != 200 || resp.Text() != "hello h2\n" || resp.TLS {
		t.Errorf("GET /ok: %d %q TLS %v", resp.StatusCode, resp.Text(), resp.TLS)
	}

	// A stream reset with INTERNAL_ERROR (2) is the HTTP/2 protocol code.
	_, err = s.Get(ctx, "rst/2")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeHttp2Protocol || !errors.Is(err, ErrHTTP2Protocol) || !errors.Is(err, ErrProtocol) {
		t.Fatalf("GET /rst/2: %v, want ErrHTTP2Protocol", err)
	}
	if !strings.Contains(e.Message, "INTERNAL_ERROR") {
		t.Errorf("GET /rst/2: message %q does not name INTERNAL_ERROR", e.Message)
	}

	// The reset was the stream's: the connection goes on.
	req, err := NewRequest("GET", base+"/bytes/3000000")
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	sr, err := s.Open(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	checkH2Head(t, "GET /bytes", sr.ResponseHead)
	checkPattern(t, sr.Body, 3000000)
	sr.Close()

	// A context that ends stops its stream, not the connection.
	held, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.Get(held, "hold/10000"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GET /hold/10000 under a 200 ms context: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the cancel took %v", d)
	}

	// Trailers end an HTTP/2 body without any chunked coding.
	resp, err = s.Get(ctx, "trailers")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != "hello h2\n" || resp.Trailer.Get("X-Checksum") != "abc" || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("Do /trailers: %q, trailer %v", resp.Text(), resp.Trailer)
	}

	resp, err = s.Get(ctx, "stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats struct{ Connections, Streams int }
	if err := json.Unmarshal(resp.Body, &stats); err != nil {
		t.Fatalf("/stats: %v in %q", err, resp.Body)
	}
	if stats.Connections != 1 || stats.Streams != 6 {
		t.Errorf("/stats: %+v, want 1 connection carrying 6 streams", stats)
	}

	// Through a Transport: the trailers reach http.Response.Trailer, and
	// Connection: close (req.Close), a field HTTP/2 forbids, stays out.
	tr := NewTransport(WithHTTPVersion(HTTP2))
	t.Cleanup(tr.Close)
	hreq, err := http.NewRequestWithContext(ctx, "GET", base+"/trailers", nil)
	if err != nil {
		t.Fatal(err)
	}
	hreq.Close = true
	hr, err := (&http.Client{Transport: tr}).Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(hr.Body)
	hr.Body.Close()
	if err != nil || string(got) != "hello h2\n" || hr.Proto != "HTTP/2.0" || hr.Status != "200 OK" {
		t.Errorf("Transport /trailers: %q, %v, %s, %q", got, err, hr.Proto, hr.Status)
	}
	if hr.Trailer.Get("X-Checksum") != "abc" || hr.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("Transport /trailers: Trailer %v", hr.Trailer)
	}
}

// WebSocket dials are HTTP/1.1 whatever the session's version (the C
// API's word for reqivo_session_set_http_version).
func TestHTTP2SessionDialsWebSocket(t *testing.T) {
	base := wsServer(t)
	s := newTestSession(t, WithHTTPVersion(HTTP2))
	ws, err := s.Dial(testCtx(t), base+"/echo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close(1000, "") })
	echo(t, ws, TextMessage, []byte("over HTTP/1.1"))
}

// An echo whose answer outgrows the client's stream window before the
// request body is sent: the server (Go's, writing while it reads) waits
// for the client to take the answer, and the client to send the rest.
func TestHTTP2EchoBeyondWindow(t *testing.T) {
	p := newTestPKI(t)
	srv := newH2GoServer(t, p, true)
	s := newTestSession(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}}), WithHTTPVersion(HTTP2),
		WithTimeouts(Timeouts{Write: 2 * time.Second, Read: 2 * time.Second}))
	body := make([]byte, 8<<20)
	rand.Read(body)
	resp, err := s.Post(testCtx(t), srv.URL+"/echo", "application/octet-stream", body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.Body, body) {
		t.Fatalf("echo: %d bytes back, %d sent", len(resp.Body), len(body))
	}
}

// Through the driver (no fast path): goroutines' requests over HTTP/2
// share one connection, and hold no OS thread each while they wait.
func TestHTTP2ThroughTheDriver(t *testing.T) {
	if !inFreshProcess(t) {
		return
	}
	withoutFastPath(t)
	base := h2Peer(t)
	s := newTestSession(t, WithHTTPVersion(HTTP2))
	ctx := testCtx(t)
	if _, err := s.Get(ctx, base+"/stats/reset"); err != nil {
		t.Fatal(err)
	}
	const n = 200
	before := procStatus(t, "Threads:")
	stop := make(chan struct{})
	peak := samplePeaks(t, stop)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.Get(ctx, fmt.Sprintf("%s/hold/300?%d", base, i))
			if err != nil || resp.Text() != "hello h2\n" || resp.Proto != "HTTP/2.0" {
				errs <- fmt.Errorf("request %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	most := <-peak
	resp, err := s.Get(ctx, base+"/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Connections   int `json:"connections"`
		MaxConcurrent int `json:"max_concurrent"`
	}
	if err := json.Unmarshal(resp.Body, &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d sends of 300 ms through the driver: %v; threads %d before, at most %d; peer: %+v",
		n, time.Since(start), before, most.threads, st)
	// The reset request opened the connection; every send shared it.
	if st.Connections != 0 {
		t.Errorf("the peer saw %d new connections, want 0", st.Connections)
	}
	if limit := before + 16; most.threads > limit {
		t.Errorf("%d threads at most, want at most %d (%d before)", most.threads, limit, before)
	}
}
