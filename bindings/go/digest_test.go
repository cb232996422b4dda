package reqivo

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// digestServer is an RFC 7616 server written here with Go's crypto
// packages (qop=auth, MD5 or SHA-256): it challenges, checks each answer's
// hash on its own, refuses a repeated nonce count, and records every
// request's Authorization ("" when none) by path.
type digestServer struct {
	*httptest.Server
	alg, user, pass string
	mu              sync.Mutex
	ncs             map[string]map[string]bool // nonce -> nc values seen
	seen            map[string][]string
}

const digestRealm = "go@reqivo.test"

func newDigestServer(t *testing.T, alg, user, pass string) *digestServer {
	d := &digestServer{alg: alg, user: user, pass: pass, ncs: map[string]map[string]bool{},
		seen: map[string][]string{}}
	d.Server = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.Close)
	return d
}

func (d *digestServer) h(parts ...string) string {
	var f hash.Hash = md5.New()
	if d.alg == "SHA-256" {
		f = sha256.New()
	}
	io.WriteString(f, strings.Join(parts, ":"))
	return hex.EncodeToString(f.Sum(nil))
}

// digestParams reads `Digest a="b", c=d` (no escapes: this server's
// values have none).
func digestParams(v string) map[string]string {
	p := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(v, "Digest "), ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
		p[strings.ToLower(k)] = strings.Trim(val, `"`)
	}
	return p
}

func (d *digestServer) serve(w http.ResponseWriter, r *http.Request) {
	if to := r.URL.Query().Get("to"); to != "" {
		http.Redirect(w, r, to, http.StatusFound)
		return
	}
	auth := r.Header.Get("Authorization")
	d.mu.Lock()
	d.seen[r.URL.Path] = append(d.seen[r.URL.Path], auth)
	d.mu.Unlock()
	if d.valid(r, auth) {
		io.WriteString(w, "welcome "+digestParams(auth)["nc"])
		return
	}
	raw := make([]byte, 12)
	rand.Read(raw)
	nonce := hex.EncodeToString(raw)
	d.mu.Lock()
	d.ncs[nonce] = map[string]bool{}
	d.mu.Unlock()
	w.Header().Add("WWW-Authenticate", `Basic realm="basic"`)
	w.Header().Add("WWW-Authenticate", `Digest realm="`+digestRealm+`", qop="auth", algorithm=`+d.alg+
		`, nonce="`+nonce+`", opaque="op"`)
	w.WriteHeader(http.StatusUnauthorized)
}

func (d *digestServer) valid(r *http.Request, auth string) bool {
	if !strings.HasPrefix(auth, "Digest ") {
		return false
	}
	p := digestParams(auth)
	d.mu.Lock()
	defer d.mu.Unlock()
	seen, ok := d.ncs[p["nonce"]]
	if !ok || seen[p["nc"]] || p["qop"] != "auth" || p["opaque"] != "op" || p["uri"] != r.URL.RequestURI() ||
		p["username"] != d.user || p["realm"] != digestRealm || p["algorithm"] != d.alg {
		return false
	}
	seen[p["nc"]] = true
	ha1 := d.h(d.user, digestRealm, d.pass)
	ha2 := d.h(r.Method, r.URL.RequestURI())
	return p["response"] == d.h(ha1, p["nonce"], p["nc"], p["cnonce"], "auth", ha2)
}

// authsAt is what the requests to path carried, "-" for none.
func (d *digestServer) authsAt(path string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, a := range d.seen[path] {
		switch {
		case a == "":
			out = append(out, "-")
		default:
			out = append(out, digestParams(a)["nc"])
		}
	}
	return out
}

func TestSessionDigestAuth(t *testing.T) {
	for _, alg := range []string{"MD5", "SHA-256"} {
		t.Run(alg, func(t *testing.T) {
			srv := newDigestServer(t, alg, "Mufasa", "Circle of Life")
			s := newTestSession(t, WithDigestAuth("Mufasa", "Circle of Life"))
			resp, err := s.Get(testCtx(t), srv.URL+"/first?x=1")
			if err != nil || resp.StatusCode != 200 || resp.Text() != "welcome 00000001" {
				t.Fatalf("first: %v %v", resp, err)
			}
			expectSeen(t, "first: a 401, then the answer", srv.authsAt("/first"), "-", "00000001")
			// The session remembers the nonce: answered at once, nc 2.
			resp, err = s.Get(testCtx(t), srv.URL+"/second")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("second: %v %v", resp, err)
			}
			expectSeen(t, "second: no 401", srv.authsAt("/second"), "00000002")

			// A wrong password: one answer, then the 401 is the caller's.
			wrong := newTestSession(t, WithDigestAuth("Mufasa", "nope"))
			resp, err = wrong.Get(testCtx(t), srv.URL+"/wrong")
			if err != nil || resp.StatusCode != 401 {
				t.Fatalf("wrong password: %v %v", resp, err)
			}
			expectSeen(t, "wrong password", srv.authsAt("/wrong"), "-", "00000001")

			// A body from a reader cannot be sent again: the 401 is delivered.
			req, err := NewRequest("POST", srv.URL+"/reader")
			if err != nil {
				t.Fatal(err)
			}
			defer req.Close()
			fresh := newTestSession(t, WithDigestAuth("Mufasa", "Circle of Life"))
			if err := req.SetBodyReader(strings.NewReader("data"), 4); err != nil {
				t.Fatal(err)
			}
			resp, err = fresh.Do(testCtx(t), req)
			if err != nil || resp.StatusCode != 401 {
				t.Fatalf("reader body: %v %v", resp, err)
			}
			expectSeen(t, "reader body", srv.authsAt("/reader"), "-")
		})
	}
}

// The last credentials option wins.
func TestDigestAuthOptionOrder(t *testing.T) {
	srv := newDigestServer(t, "MD5", "u", "p")
	s := newTestSession(t, WithDigestAuth("u", "p"), WithBasicAuth("u", "p"))
	resp, err := s.Get(testCtx(t), srv.URL+"/basic-last")
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("basic last: %v %v", resp, err)
	}
	s = newTestSession(t, WithBearerToken("t"), WithDigestAuth("u", "p"))
	resp, err = s.Get(testCtx(t), srv.URL+"/digest-last")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("digest last: %v %v", resp, err)
	}
	expectSeen(t, "digest last", srv.authsAt("/digest-last"), "-", "00000001")
}

// Through a Transport the answer is part of the round trip; a redirect
// http.Client follows to another origin gets no answer there.
func TestTransportDigestAuth(t *testing.T) {
	origin := newDigestServer(t, "SHA-256", "u", "p")
	other := newDigestServer(t, "SHA-256", "u", "p") // 127.0.0.1, another port
	client, _ := newTestClient(t, WithDigestAuth("u", "p"))
	resp, err := client.Get(origin.URL + "/t")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "welcome 00000001" {
		t.Fatalf("transport: %d %q", resp.StatusCode, body)
	}
	expectSeen(t, "transport", origin.authsAt("/t"), "-", "00000001")

	resp, err = client.Get(origin.URL + "/hop?to=" + other.URL + "/away")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("cross-origin redirect: %d, want the 401", resp.StatusCode)
	}
	expectSeen(t, "the other origin's challenge is not answered", other.authsAt("/away"), "-")

	// Within the origin a redirected hop is answered.
	resp, err = client.Get(origin.URL + "/hop?to=" + origin.URL + "/same")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("same-origin redirect: %d", resp.StatusCode)
	}
}
