package reqivo

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// gzipHandler sends a gzip body when the request accepts gzip, and
// reports the Accept-Encoding it got.
func gzipHandler(w http.ResponseWriter, r *http.Request) {
	const text = "hello, compressed world; hello, compressed world"
	w.Header().Set("X-Accept-Encoding", r.Header.Get("Accept-Encoding"))
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		io.WriteString(w, text)
		return
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	io.WriteString(zw, text)
	zw.Close()
	w.Header().Set("Content-Encoding", "gzip")
	w.Write(buf.Bytes())
}

const gzipText = "hello, compressed world; hello, compressed world"

func isGzip(b []byte) bool { return len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b }

func TestSessionDecompression(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(gzipHandler))
	ctx := testCtx(t)
	s := newTestSession(t)
	resp, err := s.Get(ctx, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != gzipText || !resp.Decompressed || resp.Header.Get("Content-Encoding") != "gzip" ||
		!strings.Contains(resp.Header.Get("X-Accept-Encoding"), "gzip") {
		t.Errorf("decoded: %q decompressed=%v %v", resp.Body, resp.Decompressed, resp.Header)
	}
	// Streamed bodies are decoded too.
	req, _ := NewRequest("GET", srv.URL+"/")
	defer req.Close()
	sr, err := s.Open(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(sr.Body)
	sr.Close()
	if err != nil || string(body) != gzipText || !sr.Decompressed {
		t.Errorf("streamed: %q %v", body, err)
	}

	off := newTestSession(t, WithDecompression(false))
	resp, err = off.Get(ctx, srv.URL+"/")
	if err != nil || resp.Text() != gzipText || resp.Decompressed || resp.Header.Get("X-Accept-Encoding") != "" {
		t.Errorf("off: %v %q %v", err, resp.Body, resp.Header)
	}
	req.AddHeader("Accept-Encoding", "gzip")
	resp, err = off.Do(ctx, req)
	if err != nil || !isGzip(resp.Body) || resp.Decompressed {
		t.Errorf("off, asking for gzip: %v %q", err, resp.Body)
	}
}

func TestTransportDecompression(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(gzipHandler))
	client, _ := newTestClient(t)
	get := func(c *http.Client, acceptEncoding string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(testCtx(t), "GET", srv.URL+"/", nil)
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	// As net/http: decoded, Uncompressed, Content-Encoding and -Length gone.
	resp, body := get(client, "")
	if string(body) != gzipText || !resp.Uncompressed || resp.Header.Get("Content-Encoding") != "" ||
		resp.ContentLength != -1 {
		t.Errorf("default: %q %+v", body, resp)
	}
	// The caller's own Accept-Encoding: the body as sent (net/http too).
	resp, body = get(client, "gzip")
	if !isGzip(body) || resp.Uncompressed || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("own Accept-Encoding: %q %+v", body, resp)
	}
	// Both sessions share one pool: one connection for everything.
	resp, body = get(client, "")
	if string(body) != gzipText || srv.newConns.Load() != 1 {
		t.Errorf("again: %q, %d connections", body, srv.newConns.Load())
	}
	off, _ := newTestClient(t, WithDecompression(false))
	resp, body = get(off, "")
	if string(body) != gzipText || resp.Uncompressed || resp.Header.Get("X-Accept-Encoding") != "" {
		t.Errorf("off: %q %+v", body, resp)
	}
}

func TestAuthOptions(t *testing.T) {
	var (
		mu   sync.Mutex // the server's goroutines write, the test reads
		seen []string
	)
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	ctx := testCtx(t)
	s := newTestSession(t, WithBasicAuth("ann", "s3cret"))
	s.Get(ctx, srv.URL+"/")
	req, _ := NewRequest("GET", srv.URL+"/own")
	defer req.Close()
	req.AddHeader("Authorization", "Custom x")
	s.Do(ctx, req)
	b := newTestSession(t, WithBearerToken("t0ken"))
	b.Get(ctx, srv.URL+"/")
	// The last of the two options wins.
	last := newTestSession(t, WithBearerToken("t0ken"), WithBasicAuth("bob", ""))
	last.Get(ctx, srv.URL+"/")
	client, _ := newTestClient(t, WithBasicAuth("tom", "pw"))
	resp, err := client.Get(srv.URL + "/transport")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := []string{"Basic YW5uOnMzY3JldA==", "Custom x", "Bearer t0ken", "Basic Ym9iOg==", "Basic dG9tOnB3"}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("Authorization headers:\n got %q\nwant %q", seen, want)
	}
	if _, err := NewSession(WithBasicAuth("a:b", "c")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("':' in user: %v", err)
	}
	if _, err := NewSession(WithBearerToken("a b")); !errors.Is(err, ErrInvalidHeader) {
		t.Errorf("space in token: %v", err)
	}
}

// Credentials of a session are not sent after a redirect to another
// origin the session follows.
func TestAuthDroppedAcrossOrigins(t *testing.T) {
	var otherSaw atomic.Value
	other := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherSaw.Store("[" + r.Header.Get("Authorization") + "]")
	}))
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no auth", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, other.URL+"/there", http.StatusFound)
	}))
	s := newTestSession(t, WithBearerToken("tok"))
	resp, err := s.Get(testCtx(t), srv.URL+"/here")
	if err != nil || resp.StatusCode != 200 || resp.RedirectCount != 1 || otherSaw.Load() != "[]" {
		t.Errorf("%v %+v, other origin saw %v", err, resp, otherSaw.Load())
	}
}

func TestRequestSetJSON(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	s := newTestSession(t)
	req, _ := NewRequest("POST", srv.URL+"/json")
	defer req.Close()
	req.AddHeader("Content-Type", "text/plain")
	if err := req.SetJSON([]byte(`{"a": [1, 2]}`)); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Do(testCtx(t), req)
	if err != nil || resp.Text() != `POST /json {"a": [1, 2]}` || resp.Header.Get("X-Content-Type") != "application/json" {
		t.Errorf("%v %q %v", err, resp.Body, resp.Header)
	}
	for _, bad := range []string{`{"a": }`, ``, `1 2`} {
		if err := req.SetJSON([]byte(bad)); !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// A failed SetJSON leaves the body as it was.
	resp, err = s.Do(testCtx(t), req)
	if err != nil || resp.Text() != `POST /json {"a": [1, 2]}` {
		t.Errorf("after invalid JSON: %v %q", err, resp.Body)
	}
}

func TestSessionPoolStatsAndCloseIdle(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	ctx := testCtx(t)
	pool, err := NewPool(PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a := newTestSession(t, WithPool(pool))
	b := newTestSession(t, WithPool(pool))
	pool.Close() // the sessions keep it alive, and reach it themselves
	a.Get(ctx, srv.URL+"/1")
	b.Get(ctx, srv.URL+"/2")
	if st := a.PoolStats(); st != b.PoolStats() || st.Opened != 1 || st.Reused != 1 || st.Idle != 1 {
		t.Errorf("shared pool stats %+v / %+v", st, b.PoolStats())
	}
	b.CloseIdleConnections()
	if st := a.PoolStats(); st.Idle != 0 || st.Closed != 1 {
		t.Errorf("after CloseIdleConnections: %+v", st)
	}
	if resp, err := a.Get(ctx, srv.URL+"/3"); err != nil || resp.Reused || srv.newConns.Load() != 2 {
		t.Errorf("after CloseIdleConnections: %v reused=%v, %d connections", err, resp.Reused, srv.newConns.Load())
	}
	own := newTestSession(t)
	if st := own.PoolStats(); st != (PoolStats{}) {
		t.Errorf("a session's own pool starts empty: %+v", st)
	}
	a.Close()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("PoolStats after Close did not panic")
			}
		}()
		a.PoolStats()
	}()
}

// Sessions keep cookies (WithCookies(false) stops it); a Transport never
// does, leaving them to http.Client.Jar.
func TestCookies(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "id", Value: "42", Path: "/"})
		w.Header().Set("X-Cookie", r.Header.Get("Cookie"))
	}))
	ctx := testCtx(t)
	for _, on := range []bool{true, false} {
		s := newTestSession(t, WithCookies(on))
		s.Get(ctx, srv.URL+"/")
		resp, err := s.Get(ctx, srv.URL+"/")
		if err != nil || (resp.Header.Get("X-Cookie") == "id=42") != on {
			t.Errorf("session, cookies %v: %v %q", on, err, resp.Header.Get("X-Cookie"))
		}
	}
	client, _ := newTestClient(t)
	var got []string
	for i := 0; i < 2; i++ {
		resp, err := client.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.Header.Get("X-Cookie"))
	}
	jar, _ := cookiejar.New(nil)
	client.Jar = jar
	for i := 0; i < 2; i++ {
		resp, err := client.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.Header.Get("X-Cookie"))
	}
	if strings.Join(got, "|") != "|||id=42" { // the jar learns it on the third
		t.Errorf("transport Cookie headers %q", got)
	}
}
