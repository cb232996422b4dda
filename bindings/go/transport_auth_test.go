package reqivo

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// authRecorder is an httptest server that records the credential headers
// of every request it gets, by path, and redirects /to?u=URL to URL.
type authRecorder struct {
	*countingServer
	mu   sync.Mutex // the server's goroutines write, the test reads
	seen map[string][]string
}

func newAuthRecorder(t *testing.T) *authRecorder {
	a := &authRecorder{seen: map[string][]string{}}
	a.countingServer = newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen[r.URL.Path] = append(a.seen[r.URL.Path],
			"auth="+strings.Join(r.Header["Authorization"], ",")+" cookie="+strings.Join(r.Header["Cookie"], ",")+
				" proxy-auth="+strings.Join(r.Header["Proxy-Authorization"], ","))
		a.mu.Unlock()
		if r.URL.Path == "/to" {
			http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
		}
	}))
	return a
}

// get returns what the server saw at path, one entry per request.
func (a *authRecorder) get(path string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen[path]...)
}

// redirect is the URL of a's redirect to target.
func (a *authRecorder) redirect(target string) string {
	return a.URL + "/to?u=" + url.QueryEscape(target)
}

func doGet(t *testing.T, client *http.Client, u string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), "GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func expectSeen(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// Credentials given to a Transport (WithBasicAuth, WithBearerToken and
// WithHeader of Authorization, Cookie or Proxy-Authorization) reach the
// origin of each request the caller makes, and follow http.Client's
// redirects only within that origin: a redirect to the same host on
// another port, a different origin, gets none of them.
func TestTransportCredentialsStayAtOrigin(t *testing.T) {
	const none = "auth= cookie= proxy-auth="
	cases := []struct {
		name string
		opts []Option
		sent string // what the caller's origin sees
	}{
		{"basic", []Option{WithBasicAuth("ann", "s3cret")}, "auth=Basic YW5uOnMzY3JldA== cookie= proxy-auth="},
		{"bearer", []Option{WithBearerToken("t0ken")}, "auth=Bearer t0ken cookie= proxy-auth="},
		{"headers", []Option{WithHeader("authorization", "Custom c"), WithHeader("Cookie", "sid=1"),
			WithHeader("Proxy-Authorization", "Basic cHg6cHc=")}, "auth=Custom c cookie=sid=1 proxy-auth=Basic cHg6cHc="},
		// WithHeader's Authorization replaces WithBasicAuth's, as in a Session.
		{"header over basic", []Option{WithHeader("Authorization", "Custom d"), WithBasicAuth("ann", "x")},
			"auth=Custom d cookie= proxy-auth="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			origin, other := newAuthRecorder(t), newAuthRecorder(t) // 127.0.0.1, two ports
			client, _ := newTestClient(t, c.opts...)

			// Cross-origin: the first hop has them, the other port none.
			doGet(t, client, origin.redirect(other.URL+"/landing"))
			expectSeen(t, "origin before a cross-origin redirect", origin.get("/to"), c.sent)
			expectSeen(t, "other origin after the redirect", other.get("/landing"), none)

			// Same origin: every hop has them.
			doGet(t, client, origin.redirect(origin.URL+"/same"))
			expectSeen(t, "same-origin redirect", origin.get("/same"), c.sent)

			// Out and back: the hop that returns to the caller's origin has
			// them again (as in a Session), the one in between none.
			doGet(t, client, origin.redirect(other.redirect(origin.URL+"/back")))
			expectSeen(t, "hop through the other origin", other.get("/to"), none)
			expectSeen(t, "back at the caller's origin", origin.get("/back"), c.sent)

			// A request the caller makes to the other origin itself has them:
			// the credentials go to whatever origin the caller addresses.
			doGet(t, client, other.URL+"/direct")
			expectSeen(t, "caller's own request to the other origin", other.get("/direct"), c.sent)
			// ...and a redirect from there back to the first origin, now the
			// other one for this request, drops them.
			doGet(t, client, other.redirect(origin.URL+"/from-other"))
			expectSeen(t, "redirect away from the caller's origin", origin.get("/from-other"), none)
		})
	}
}

// Userinfo in a request URL becomes Basic credentials only at the origin
// of the caller's request: a redirect hop elsewhere gets none, whether
// http.Client made it or another client driving the Transport did.
func TestTransportUserinfoStaysAtOrigin(t *testing.T) {
	const none = "auth= cookie= proxy-auth="
	origin, other := newAuthRecorder(t), newAuthRecorder(t)
	client, tr := newTestClient(t)
	withUser := func(u string) string { return strings.Replace(u, "http://", "http://ann:s3cret@", 1) }

	doGet(t, client, withUser(origin.redirect(other.URL+"/landing")))
	expectSeen(t, "origin", origin.get("/to"), "auth=Basic YW5uOnMzY3JldA== cookie= proxy-auth=")
	expectSeen(t, "other origin", other.get("/landing"), none)
	doGet(t, client, withUser(origin.redirect("/same")))
	expectSeen(t, "same-origin redirect", origin.get("/same"), "auth=Basic YW5uOnMzY3JldA== cookie= proxy-auth=")

	// The Transport's own rule, without http.Client: a hop (Request.Response
	// set) to another origin whose URL has userinfo sends neither the
	// userinfo nor credentials from it.
	first, _ := http.NewRequestWithContext(testCtx(t), "GET", origin.URL+"/first", nil)
	hop, _ := http.NewRequestWithContext(testCtx(t), "GET", withUser(other.URL+"/hop"), nil)
	hop.Response = &http.Response{StatusCode: http.StatusFound, Request: first}
	resp, err := tr.RoundTrip(hop)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	expectSeen(t, "hand-made cross-origin hop", other.get("/hop"), none)
	// The same hop at the first request's origin keeps them.
	sameHop, _ := http.NewRequestWithContext(testCtx(t), "GET", withUser(origin.URL+"/samehop"), nil)
	sameHop.Response = &http.Response{StatusCode: http.StatusFound, Request: first}
	if resp, err = tr.RoundTrip(sameHop); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	expectSeen(t, "hand-made same-origin hop", origin.get("/samehop"), "auth=Basic YW5uOnMzY3JldA== cookie= proxy-auth=")
}

// Edge cases of the rule: a hop whose chain cannot be traced gets no
// credentials; a request's own credential headers are sent as they are
// (http.Client, or the caller's CheckRedirect, decided to send them).
func TestTransportCredentialsEdges(t *testing.T) {
	const none = "auth= cookie= proxy-auth="
	srv := newAuthRecorder(t)
	client, tr := newTestClient(t, WithBearerToken("t0ken"))

	orphan, _ := http.NewRequestWithContext(testCtx(t), "GET", srv.URL+"/orphan", nil)
	orphan.Response = &http.Response{StatusCode: http.StatusFound} // no Request: origin unknown
	resp, err := tr.RoundTrip(orphan)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	expectSeen(t, "hop of unknown origin", srv.get("/orphan"), none)

	other := newAuthRecorder(t)
	own := *client
	own.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		req.Header.Set("Authorization", "Bearer for-the-other-one")
		return nil
	}
	doGet(t, &own, srv.redirect(other.URL+"/chosen"))
	expectSeen(t, "the caller's own header on a hop", other.get("/chosen"), "auth=Bearer for-the-other-one cookie= proxy-auth=")

	// A request's own header replaces the transport's of the same name.
	req, _ := http.NewRequestWithContext(testCtx(t), "GET", srv.URL+"/own", nil)
	req.Header.Set("Authorization", "Custom mine")
	req.Header.Set("Cookie", "a=b")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	expectSeen(t, "request's own headers", srv.get("/own"), "auth=Custom mine cookie=a=b proxy-auth=")

	// Userinfo replaces the transport's Authorization, as a URL's replaces
	// a Session's.
	doGet(t, client, strings.Replace(srv.URL, "http://", "http://ann:s3cret@", 1)+"/userinfo")
	expectSeen(t, "userinfo and a bearer token", srv.get("/userinfo"), "auth=Basic YW5uOnMzY3JldA== cookie= proxy-auth=")

	// Invalid credentials fail the Transport as they fail a Session.
	for _, c := range []struct {
		opt  Option
		want error
	}{
		{WithBasicAuth("a:b", "c"), ErrInvalidArgument},
		{WithBearerToken("a b"), ErrInvalidHeader},
		{WithHeader("Cookie", "a\r\nb"), ErrInvalidHeader},
		{WithHeader("Authorization", "x\x00"), ErrInvalidHeader},
	} {
		tr := NewTransport(c.opt)
		if err := tr.Err(); !errors.Is(err, c.want) {
			t.Errorf("NewTransport: %v, want %v", err, c.want)
		}
		tr.Close()
	}
}

func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"http://h.test/a", "http://h.test:80/b", true},
		{"https://H.Test/", "https://h.test:443/", true},
		{"http://h.test:8080/", "http://h.test:8081/", false},
		{"http://h.test/", "https://h.test/", false},
		{"http://h.test:443/", "https://h.test/", false},
		{"http://[::1]:80/", "http://[::1]/", true},
		{"http://[::1]/", "http://127.0.0.1/", false},
		{"http://a.h.test/", "http://h.test/", false},
		{"http://h.test:080/", "http://h.test/", true},
	} {
		a, _ := url.Parse(c.a)
		b, _ := url.Parse(c.b)
		if got := sameOrigin(a, b); got != c.want {
			t.Errorf("sameOrigin(%s, %s) = %v", c.a, c.b, got)
		}
	}
}
