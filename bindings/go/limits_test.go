package reqivo

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"
)

// wideServer answers every request with fields header fields X-0..X-(n-1)
// of valueLen bytes each and the body "ok".
func wideServer(t *testing.T, fields, valueLen int) *httptest.Server {
	t.Helper()
	value := strings.Repeat("v", valueLen)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < fields; i++ {
			w.Header()[fmt.Sprintf("X-%d", i)] = []string{value}
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDefaultLimitsAcceptWhatCurlAccepts(t *testing.T) {
	s := newTestSession(t)
	for _, c := range []struct{ fields, valueLen int }{{120, 1}, {1, 10000}, {1, 99 * 1024}} {
		srv := wideServer(t, c.fields, c.valueLen)
		resp, err := s.Get(testCtx(t), srv.URL)
		if err != nil {
			t.Fatalf("%d fields of %d bytes: %v", c.fields, c.valueLen, err)
		}
		if len(resp.Header.Get("X-0")) != c.valueLen || string(resp.Body) != "ok" {
			t.Errorf("%d fields of %d bytes: X-0 has %d bytes", c.fields, c.valueLen, len(resp.Header.Get("X-0")))
		}
	}
	// One line past 100 KiB is refused, naming the limit.
	_, err := s.Get(testCtx(t), wideServer(t, 1, 100*1024).URL)
	if !errors.Is(err, CodeHeaderTooLarge) || !strings.Contains(err.Error(), "max_line_bytes (102400)") {
		t.Errorf("a 100 KiB line: %v", err)
	}
	few := newTestSession(t, WithLimits(Limits{MaxHeaderCount: 50}))
	_, err = few.Get(testCtx(t), wideServer(t, 120, 1).URL)
	if !errors.Is(err, CodeTooManyHeaders) || !strings.Contains(err.Error(), "max_header_count (50)") {
		t.Errorf("120 fields under a limit of 50: %v", err)
	}
	// The largest values lift the limits, and reserve nothing up front.
	huge := newTestSession(t, WithLimits(Limits{MaxLineBytes: math.MaxUint32, MaxHeaderBytes: math.MaxUint32,
		MaxHeaderCount: math.MaxUint32, MaxBodyBytes: math.MaxUint64}))
	resp, err := huge.Get(testCtx(t), wideServer(t, 2, 400*1024).URL)
	if err != nil || len(resp.Header.Get("X-1")) != 400*1024 {
		t.Errorf("no limits: %v", err)
	}
}

func TestTimeoutsGivenInPartKeepTheDefaults(t *testing.T) {
	if d := DefaultTimeouts(); d.Total != NoTimeout || d.Read != 5*time.Second {
		t.Errorf("DefaultTimeouts() = %+v", d)
	}
	rs, _ := stalledServer(t)
	s := newTestSession(t, WithTimeouts(Timeouts{Read: 300 * time.Millisecond}))
	// A request that sets only its total keeps the session's read timeout.
	req, _ := NewRequest("GET", rs.URL+"/slow")
	defer req.Close()
	if err := req.SetTimeouts(Timeouts{Total: 8 * time.Second}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.Do(testCtx(t), req)
	if !errors.Is(err, ErrReadTimeout) || time.Since(start) > 4*time.Second {
		t.Errorf("total only: %v after %v, want the session's 300ms read timeout", err, time.Since(start))
	}
	// NoTimeout lifts the session's read limit: the total one ends it.
	if err := req.SetTimeouts(Timeouts{Read: NoTimeout, Total: 500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Do(testCtx(t), req); !errors.Is(err, ErrTotalTimeout) {
		t.Errorf("no read limit, total 500ms: %v", err)
	}
	if err := req.SetTimeouts(Timeouts{Read: math.MaxUint32 * time.Millisecond}); !errors.Is(err, ErrUsage) {
		t.Errorf("a timeout too long for the C struct: %v", err)
	}
}

func TestCookieLimitsAndPrefixes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/echo" {
			_, _ = w.Write([]byte(r.Header.Get("Cookie")))
			return
		}
		for i := 0; i < 5; i++ {
			w.Header().Add("Set-Cookie", fmt.Sprintf("c%d=1; Path=/", i))
		}
		w.Header().Add("Set-Cookie", "big="+strings.Repeat("v", 5000)+"; Path=/")
		w.Header().Add("Set-Cookie", "__Secure-x=1; Path=/")
	}))
	t.Cleanup(srv.Close)
	s := newTestSession(t, WithCookieLimits(CookieLimits{PerSite: 3}))
	if _, err := s.Get(testCtx(t), srv.URL+"/set"); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Get(testCtx(t), srv.URL+"/echo")
	if err != nil {
		t.Fatal(err)
	}
	// The two oldest of five went; the big cookie and the __Secure- one
	// without Secure were refused.
	got := strings.Split(string(resp.Body), "; ")
	sort.Strings(got)
	if strings.Join(got, " ") != "c2=1 c3=1 c4=1" {
		t.Errorf("Cookie sent: %q", resp.Body)
	}
}

func TestTransportHeadLimitIsNetHTTPs(t *testing.T) {
	get := func(tr *Transport, srv *httptest.Server) error {
		defer tr.Close()
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	// A 2 MiB head of 400 KiB lines: past the library's defaults, within
	// net/http's 10 MiB, which the Transport follows.
	big := wideServer(t, 5, 400*1024)
	if err := get(NewTransport(), big); err != nil {
		t.Errorf("a 2 MiB head through the Transport: %v", err)
	}
	std := &http.Client{}
	if resp, err := std.Get(big.URL); err != nil {
		t.Errorf("net/http itself: %v", err)
	} else {
		resp.Body.Close()
	}
	// 11 MiB: refused by both.
	huge := wideServer(t, 11, 1<<20)
	if err := get(NewTransport(), huge); !errors.Is(err, CodeHeaderTooLarge) {
		t.Errorf("an 11 MiB head: %v", err)
	}
	if _, err := std.Get(huge.URL); err == nil {
		t.Errorf("net/http accepted an 11 MiB head")
	}
	// A limit given through the options is honoured.
	err := get(NewTransport(WithMaxResponseHeaderBytes(64<<10)), wideServer(t, 1, 100<<10))
	if !errors.Is(err, CodeHeaderTooLarge) || !strings.Contains(err.Error(), "max_header_bytes (65536)") {
		t.Errorf("a 64 KiB limit: %v", err)
	}
}
