package reqivo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// echoHandler answers with the method, path, a request header and the body.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Method", r.Method)
	w.Header().Set("X-Path", r.URL.Path)
	w.Header().Set("X-Got-Token", r.Header.Get("X-Token"))
	w.Header().Set("X-Content-Type", r.Header.Get("Content-Type"))
	w.Header().Set("X-Content-Length", fmt.Sprint(r.ContentLength))
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
}

func TestSessionGet(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	s := newTestSession(t)
	resp, err := s.Get(testCtx(t), srv.URL+"/hello")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Status != "200 OK" || resp.Proto != "HTTP/1.1" || resp.ProtoMajor != 1 || resp.ProtoMinor != 1 {
		t.Errorf("status line: %d %q %q", resp.StatusCode, resp.Status, resp.Proto)
	}
	if got := resp.Text(); got != "GET /hello " {
		t.Errorf("body %q", got)
	}
	if resp.Header.Get("X-Method") != "GET" || resp.Header.Get("Content-Length") != fmt.Sprint(len(resp.Body)) {
		t.Errorf("headers %v", resp.Header)
	}
	if resp.URL != srv.URL+"/hello" || resp.RedirectCount != 0 || resp.Reused || resp.TLS {
		t.Errorf("URL %q redirects %d reused %v tls %v", resp.URL, resp.RedirectCount, resp.Reused, resp.TLS)
	}
	tm := resp.Timings
	t.Logf("timings of a fresh connection to an IP literal: %+v", tm)
	if tm.Total <= 0 || tm.FirstByte <= 0 || tm.FirstByte > tm.Total || tm.Connect <= 0 || tm.DNS > tm.Connect {
		t.Errorf("timings %+v", tm)
	}
}

func TestSessionMethodsAndBodies(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	s := newTestSession(t)
	ctx := testCtx(t)
	type call func() (*Response, error)
	tests := []struct {
		method, body, ctype string
		do                  call
	}{
		{"POST", "a=1", "application/x-www-form-urlencoded", func() (*Response, error) {
			return s.Post(ctx, srv.URL+"/p", "application/x-www-form-urlencoded", []byte("a=1"))
		}},
		{"PUT", `{"x":1}`, "application/json", func() (*Response, error) {
			return s.Put(ctx, srv.URL+"/p", "application/json", []byte(`{"x":1}`))
		}},
		{"PATCH", "patch", "text/plain", func() (*Response, error) {
			return s.Patch(ctx, srv.URL+"/p", "text/plain", []byte("patch"))
		}},
		{"DELETE", "", "", func() (*Response, error) { return s.Delete(ctx, srv.URL+"/p") }},
		{"POST", "", "", func() (*Response, error) { return s.Post(ctx, srv.URL+"/p", "", nil) }},
	}
	for _, tt := range tests {
		resp, err := tt.do()
		if err != nil {
			t.Fatalf("%s: %v", tt.method, err)
		}
		if want := tt.method + " /p " + tt.body; resp.Text() != want {
			t.Errorf("%s: body %q, want %q", tt.method, resp.Text(), want)
		}
		if resp.Header.Get("X-Content-Type") != tt.ctype {
			t.Errorf("%s: Content-Type %q", tt.method, resp.Header.Get("X-Content-Type"))
		}
		if tt.body != "" && resp.Header.Get("X-Content-Length") != fmt.Sprint(len(tt.body)) {
			t.Errorf("%s: Content-Length %q", tt.method, resp.Header.Get("X-Content-Length"))
		}
	}
	// HEAD: headers, no body.
	resp, err := s.Head(ctx, srv.URL+"/h")
	if err != nil || resp.StatusCode != 200 || len(resp.Body) != 0 || resp.Header.Get("X-Method") != "HEAD" {
		t.Fatalf("HEAD: %v %+v", err, resp)
	}
	// Any token method through NewRequest.
	req, err := NewRequest("OPTIONS", srv.URL+"/o")
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	resp, err = s.Do(ctx, req)
	if err != nil || resp.Text() != "OPTIONS /o " {
		t.Fatalf("OPTIONS: %v %q", err, resp.Text())
	}
	// All of it on one connection.
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (keep-alive)", n)
	}
}

// Exact bytes both ways: request head as sent, response fields as received.
func TestSessionHeadersExact(t *testing.T) {
	gotHead := make(chan string, 1)
	rs := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		line, h, err := readHead(r)
		if err != nil {
			return
		}
		body := make([]byte, 5)
		io.ReadFull(r, body)
		gotHead <- fmt.Sprintf("%s|%s|%s|%s|%q|%s", line, h.Get("Host"), h.Get("Content-Length"), h.Get("X-Custom"), h.Values("X-Rep"), body)
		io.WriteString(c, "HTTP/1.1 201 Created Here\r\n"+
			"X-Multi: one\r\n"+
			"x-multi: two\r\n"+
			"Content-Length: 2\r\n"+
			"X-MULTI: three\r\n"+
			"set-cookie: a=1\r\n"+
			"\r\nok")
	})
	s := newTestSession(t)
	req, err := NewRequest("POST", rs.URL+"/path?q=1")
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	for _, h := range [][2]string{{"X-Custom", "v"}, {"X-Rep", "1"}, {"X-Rep", "2"}} {
		if err := req.AddHeader(h[0], h[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := req.SetBody([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Do(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(rs.URL, "http://")
	if want := fmt.Sprintf(`POST /path?q=1 HTTP/1.1|%s|5|v|["1" "2"]|hello`, host); <-gotHead != want {
		t.Errorf("server saw something else than %s", want)
	}
	if resp.StatusCode != 201 || resp.Status != "201 Created Here" || resp.Reason != "Created Here" {
		t.Errorf("status %d %q", resp.StatusCode, resp.Status)
	}
	if got := resp.Header["X-Multi"]; strings.Join(got, ",") != "one,two,three" {
		t.Errorf("X-Multi values %q, want received order", got)
	}
	if resp.Header.Get("Set-Cookie") != "a=1" {
		t.Errorf("Set-Cookie %q", resp.Header.Get("Set-Cookie"))
	}
	names := make([]string, len(resp.Fields))
	for i, f := range resp.Fields {
		names[i] = f.Name
	}
	if strings.Join(names, ",") != "X-Multi,x-multi,Content-Length,X-MULTI,set-cookie" {
		t.Errorf("Fields names %q, want as received", names)
	}
}

func TestSessionBaseURLAndDefaultHeaders(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	s := newTestSession(t, WithBaseURL(srv.URL+"/api/"), WithHeader("X-Token", "session"))
	ctx := testCtx(t)
	resp, err := s.Get(ctx, "items")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Path") != "/api/items" || resp.Header.Get("X-Got-Token") != "session" {
		t.Errorf("path %q token %q", resp.Header.Get("X-Path"), resp.Header.Get("X-Got-Token"))
	}
	req, _ := NewRequest("GET", "/root")
	defer req.Close()
	req.AddHeader("X-Token", "request")
	resp, err = s.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Path") != "/root" || resp.Header.Get("X-Got-Token") != "request" {
		t.Errorf("path %q token %q", resp.Header.Get("X-Path"), resp.Header.Get("X-Got-Token"))
	}
	// The same Request, sent again.
	if resp2, err := s.Do(ctx, req); err != nil || resp2.Header.Get("X-Path") != "/root" {
		t.Errorf("resend: %v", err)
	}
}

func TestSessionKeepAliveReuse(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	s := newTestSession(t)
	ctx := testCtx(t)
	for i := 0; i < 10; i++ {
		resp, err := s.Get(ctx, srv.URL+"/r")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Reused != (i > 0) {
			t.Errorf("request %d: Reused = %v", i, resp.Reused)
		}
		if i > 0 && resp.Timings.Connect != 0 {
			t.Errorf("request %d: a reused connection has connect time %v", i, resp.Timings.Connect)
		}
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("%d connections for 10 requests, want 1", n)
	}
}

func TestSharedPool(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	pool, err := NewPool(PoolConfig{MaxPerHost: 4, MaxTotal: 8, MaxIdle: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a := newTestSession(t, WithPool(pool))
	b := newTestSession(t, WithPool(pool))
	ctx := testCtx(t)
	for _, s := range []*Session{a, b, a, b} {
		if _, err := s.Get(ctx, srv.URL+"/x"); err != nil {
			t.Fatal(err)
		}
	}
	st := pool.Stats()
	if st.Opened != 1 || st.Reused != 3 || st.Idle != 1 || st.InUse != 0 || st.Waiting != 0 {
		t.Errorf("stats %+v, want 1 opened, 3 reused, 1 idle", st)
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 shared", n)
	}
	// Sessions keep the pool alive after its Close.
	pool.Close()
	if _, err := a.Get(ctx, srv.URL+"/x"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPool(PoolConfig{MaxPerHost: -1}); !errors.Is(err, ErrUsage) {
		t.Errorf("negative MaxPerHost: %v", err)
	}
}

func redirectMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/b", http.StatusFound) })
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/final", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/final", echoHandler)
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/chain/", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Path, "/chain/%d", &n)
		http.Redirect(w, r, fmt.Sprintf("/chain/%d", n+1), http.StatusFound)
	})
	return mux
}

func TestSessionRedirects(t *testing.T) {
	srv := newCountingServer(t, redirectMux())
	ctx := testCtx(t)
	s := newTestSession(t)
	resp, err := s.Get(ctx, srv.URL+"/a")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.RedirectCount != 2 || resp.URL != srv.URL+"/final" || resp.Text() != "GET /final " {
		t.Errorf("status %d redirects %d URL %q body %q", resp.StatusCode, resp.RedirectCount, resp.URL, resp.Text())
	}
	// A POST answered by 302 becomes a GET.
	resp, err = s.Post(ctx, srv.URL+"/a", "text/plain", []byte("data"))
	if err != nil || resp.Text() != "GET /final " {
		t.Errorf("POST redirect: %v %q", err, resp.Text())
	}

	_, err = s.Get(ctx, srv.URL+"/loop")
	if !errors.Is(err, ErrRedirectLoop) || !errors.Is(err, ErrRedirect) {
		t.Errorf("loop: %v", err)
	}
	limited := newTestSession(t, WithMaxRedirects(3))
	_, err = limited.Get(ctx, srv.URL+"/chain/0")
	if !errors.Is(err, ErrTooManyRedirects) || !errors.Is(err, ErrRedirect) {
		t.Errorf("chain: %v", err)
	}
	none := newTestSession(t, WithMaxRedirects(0))
	resp, err = none.Get(ctx, srv.URL+"/a")
	if err != nil || resp.StatusCode != 302 || resp.Header.Get("Location") != "/b" {
		t.Errorf("max 0: %v %+v", err, resp)
	}
}

func TestSessionReadTimeout(t *testing.T) {
	rs, _ := stalledServer(t)
	tm := DefaultTimeouts()
	tm.Read = 200 * time.Millisecond
	s := newTestSession(t, WithTimeouts(tm))
	start := time.Now()
	_, err := s.Get(testCtx(t), rs.URL+"/slow")
	elapsed := time.Since(start)
	if !errors.Is(err, ErrReadTimeout) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("error %v, want a read timeout", err)
	}
	var e *Error
	if !errors.As(err, &e) || !e.Timeout() || e.Name != "REQIVO_ERR_TIMEOUT_READ" || e.Class != ClassTimeout || e.Message == "" {
		t.Errorf("error fields %+v", e)
	}
	if elapsed < 150*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("read timeout of 200ms took %v", elapsed)
	}
	// A request's timeouts override the session's.
	req, _ := NewRequest("GET", rs.URL+"/slow")
	defer req.Close()
	rt := DefaultTimeouts()
	rt.Read = 50 * time.Millisecond
	if err := req.SetTimeouts(rt); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	_, err = s.Do(testCtx(t), req)
	if !errors.Is(err, ErrReadTimeout) || time.Since(start) > 150*time.Millisecond+2*time.Second {
		t.Errorf("request timeout: %v after %v", err, time.Since(start))
	}
	if err := req.SetTimeouts(Timeouts{Read: -time.Second}); !errors.Is(err, ErrUsage) {
		t.Errorf("negative timeout: %v", err)
	}
}

func TestSessionNetworkErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/"
	ln.Close()
	s := newTestSession(t)
	_, err = s.Get(testCtx(t), url)
	if !errors.Is(err, ErrConnectRefused) || !errors.Is(err, ErrNetwork) || errors.Is(err, ErrTLS) {
		t.Errorf("refused: %v", err)
	}
	var e *Error
	if errors.As(err, &e) && e.OSError != 0 && !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errno %v", e.OSError)
	}
}

func TestSessionProtocolErrors(t *testing.T) {
	replies := map[string]string{
		"/status":  "HTTP/1.1 abc OK\r\n\r\n",
		"/eof":     "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
		"/framing": "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"/large":   "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100),
	}
	rs := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		line, _, err := readHead(r)
		if err != nil {
			return
		}
		path := strings.Fields(line)[1]
		io.WriteString(c, replies[path])
	})
	s := newTestSession(t)
	limited := newTestSession(t, WithLimits(Limits{MaxBodyBytes: 10}))
	ctx := testCtx(t)
	for path, want := range map[string]error{
		"/status":  CodeInvalidStatusLine,
		"/eof":     ErrUnexpectedEOF,
		"/framing": CodeInvalidFraming,
		"/large":   ErrBodyTooLarge,
	} {
		sess := s
		if path == "/large" {
			sess = limited
		}
		_, err := sess.Get(ctx, rs.URL+path)
		if !errors.Is(err, want) || !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want %v", path, err, want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		method, url string
		want        error
	}{
		{"GET", "http://[::1", ErrInvalidURL},
		{"GET", "ftp://127.0.0.1/", CodeUnsupportedScheme},
		{"GE T", "http://127.0.0.1/", CodeInvalidMethod},
		{"CONNECT", "http://127.0.0.1/", CodeInvalidMethod},
	} {
		_, err := NewRequest(tt.method, tt.url)
		if !errors.Is(err, tt.want) || !errors.Is(err, ErrUsage) {
			t.Errorf("NewRequest(%q, %q): %v, want %v", tt.method, tt.url, err, tt.want)
		}
	}
	req, err := NewRequest("GET", "http://127.0.0.1/")
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	for _, h := range [][2]string{{"Bad Name", "x"}, {"X-Ok", "a\r\nInjected: 1"}, {"Content-Length", "3"}, {"", "x"}} {
		if err := req.AddHeader(h[0], h[1]); !errors.Is(err, ErrInvalidHeader) {
			t.Errorf("AddHeader(%q, %q): %v", h[0], h[1], err)
		}
	}
	for _, opt := range []Option{
		WithBaseURL("not a url"),
		WithHeader("Bad Name", "x"),
		WithTimeouts(Timeouts{Connect: -1}),
		WithMaxRedirects(-1),
	} {
		if s, err := NewSession(opt); !errors.Is(err, ErrUsage) || s != nil {
			t.Errorf("NewSession with a bad option: %v", err)
		}
	}
	// A relative URL with no base URL fails at send time.
	s := newTestSession(t)
	if _, err := s.Get(testCtx(t), "/relative"); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("relative URL without base: %v", err)
	}
}

// The head's strings and value slices share memory (headFromCFields):
// appending to one name's values must not change another's, and an empty
// reason leaves Status the bare code.
func TestResponseHeadSharedMemory(t *testing.T) {
	rs := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		for {
			if _, _, err := readHead(r); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.0 299 \r\nA: 1\r\nB: 2\r\nc: 3\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	s := newTestSession(t)
	resp, err := s.Get(testCtx(t), rs.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != "299" || resp.Reason != "" || resp.Proto != "HTTP/1.0" || resp.ProtoMinor != 0 {
		t.Errorf("status %q reason %q proto %q", resp.Status, resp.Reason, resp.Proto)
	}
	resp.Header["A"] = append(resp.Header["A"], "appended")
	resp.Header.Add("B", "added")
	if a, b, c := resp.Header["A"], resp.Header["B"], resp.Header["C"]; strings.Join(a, ",") != "1,appended" ||
		strings.Join(b, ",") != "2,added" || strings.Join(c, ",") != "3" {
		t.Errorf("after appends: A %q B %q C %q", a, b, c)
	}
	if resp.Fields[1] != (HeaderField{"B", "2"}) || resp.Fields[2] != (HeaderField{"c", "3"}) {
		t.Errorf("Fields %q", resp.Fields)
	}
	if resp.URL != rs.URL+"/" || string(resp.Body) != "ok" {
		t.Errorf("URL %q body %q", resp.URL, resp.Body)
	}
}
