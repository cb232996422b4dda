package reqivo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// trailerServer sends a chunked body with an announced trailer field and
// one announced only through http.TrailerPrefix (not in the Trailer field).
func trailerServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.WriteHeader(200)
		_, _ = w.Write([]byte("hello"))
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "sha256=abc")
		w.Header().Set(http.TrailerPrefix+"Server-Timing", "db;dur=53")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTrailersFromSessionAndStream(t *testing.T) {
	srv := trailerServer(t)
	s := newTestSession(t)
	want := http.Header{"X-Checksum": {"sha256=abc"}, "Server-Timing": {"db;dur=53"}}
	resp, err := s.Get(testCtx(t), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "hello" || !reflect.DeepEqual(resp.Trailer, want) {
		t.Errorf("Get: body %q, Trailer %v", resp.Body, resp.Trailer)
	}
	req, _ := NewRequest("GET", srv.URL)
	defer req.Close()
	st, err := s.Open(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	body := st.Body.(*Stream)
	if body.Trailer() != nil {
		t.Errorf("Trailer before the end: %v", body.Trailer())
	}
	if b, err := io.ReadAll(body); err != nil || string(b) != "hello" {
		t.Fatalf("stream: %q %v", b, err)
	}
	if !reflect.DeepEqual(body.Trailer(), want) {
		t.Errorf("stream Trailer %v", body.Trailer())
	}
}

func TestTransportTrailersAsNetHTTP(t *testing.T) {
	srv := trailerServer(t)
	for _, tr := range []http.RoundTripper{NewTransport(), &http.Transport{}} {
		name := reflect.TypeOf(tr).String()
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Declared before the body is read, with nil values.
		if v, ok := resp.Trailer["X-Checksum"]; !ok || v != nil {
			t.Errorf("%s: Trailer before the body: %v", name, resp.Trailer)
		}
		if resp.Header.Get("Trailer") != "" {
			t.Errorf("%s: the Trailer field stays in Header", name)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := http.Header{"X-Checksum": {"sha256=abc"}, "Server-Timing": {"db;dur=53"}}
		if string(b) != "hello" || !reflect.DeepEqual(resp.Trailer, want) {
			t.Errorf("%s: body %q, Trailer %v", name, b, resp.Trailer)
		}
		if c, ok := tr.(interface{ Close() }); ok {
			c.Close()
		}
	}
}
