package reqivo

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// corruptBody is a Content-Encoding and a body that does not decode, with
// the standard library's error for it.
type corruptBody struct {
	name, coding string
	body         []byte
	want         error // errors.Is target; nil: errors.As a flate.CorruptInputError
}

func corruptBodies(t *testing.T) []corruptBody {
	data := make([]byte, 64<<10)
	rand.New(rand.NewSource(7)).Read(data[:16<<10]) // the rest compresses
	var gz, zl bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(data)
	gw.Close()
	zw := zlib.NewWriter(&zl)
	zw.Write(data)
	zw.Close()
	g, z := gz.Bytes(), zl.Bytes()
	edit := func(b []byte, f func([]byte)) []byte {
		c := bytes.Clone(b)
		f(c)
		return c
	}
	var raw bytes.Buffer
	fw, _ := flate.NewWriter(&raw, flate.BestSpeed)
	fw.Write(data)
	fw.Close()
	var chain []byte = data[:100]
	for range 6 {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(chain)
		w.Close()
		chain = b.Bytes()
	}
	return []corruptBody{
		{"bad magic", "gzip", edit(g, func(c []byte) { c[0] = 0x1e }), gzip.ErrHeader},
		{"not gzip at all", "gzip", []byte("plain text, not gzip at all"), gzip.ErrHeader},
		{"bad CRC-32", "gzip", edit(g, func(c []byte) { c[len(c)-8] ^= 0x40 }), gzip.ErrChecksum},
		{"bad size", "gzip", edit(g, func(c []byte) { binary.LittleEndian.PutUint32(c[len(c)-4:], 3) }), gzip.ErrChecksum},
		{"truncated stream", "gzip", g[:len(g)/2], io.ErrUnexpectedEOF},
		{"truncated trailer", "gzip", g[:len(g)-3], io.ErrUnexpectedEOF},
		{"truncated header", "gzip", g[:6], io.ErrUnexpectedEOF},
		{"corrupt deflate in gzip", "gzip", edit(g, func(c []byte) { c[10], c[11] = 0xff, 0xff }), nil},
		{"corrupt zlib deflate", "deflate", edit(z, func(c []byte) { c[2], c[3] = 0xff, 0xff }), nil},
		// flate2 reports a bad Adler-32 as corrupt data; compress/zlib
		// would say zlib.ErrChecksum (see decompressionCause).
		{"zlib deflate with a bad Adler-32", "deflate", edit(z, func(c []byte) { c[len(c)-1] ^= 1 }), nil},
		{"corrupt raw deflate", "deflate", edit(raw.Bytes(), func(c []byte) { c[0] = 0xff }), nil},
		{"truncated zlib deflate", "deflate", z[:len(z)/2], io.ErrUnexpectedEOF},
		{"six gzip layers", strings.Repeat("gzip, ", 5) + "gzip", chain, ErrDecompression},
	}
}

// checkDecompressionError checks err against c: it is still a reqivo
// *Error (code, name, message) matching ErrDecompression, and wraps the
// standard library's error for the fault.
func checkDecompressionError(t *testing.T, via string, c corruptBody, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrDecompression) || e.Code != CodeDecompression ||
		e.Name != "REQIVO_ERR_DECOMPRESSION" || e.Class != CodeDecompression.Class() || e.Message == "" {
		t.Errorf("%s, %s: %v is not a decompression *Error", c.name, via, err)
		return
	}
	var corrupt flate.CorruptInputError
	switch {
	case c.want == ErrDecompression:
		if e.Unwrap() != nil {
			t.Errorf("%s, %s: %v wraps %v", c.name, via, err, e.Unwrap())
		}
	case c.want == nil:
		if !errors.As(err, &corrupt) {
			t.Errorf("%s, %s: %v is not a flate.CorruptInputError", c.name, via, err)
		}
	default:
		if !errors.Is(err, c.want) {
			t.Errorf("%s, %s: %v does not match %v", c.name, via, err, c.want)
		}
	}
	// Nothing else from compress/gzip or compress/flate matches.
	for _, other := range []error{gzip.ErrHeader, gzip.ErrChecksum, io.ErrUnexpectedEOF, zlib.ErrHeader, zlib.ErrChecksum} {
		if other != c.want && errors.Is(err, other) {
			t.Errorf("%s, %s: %v matches %v too", c.name, via, err, other)
		}
	}
	if c.want != nil && errors.As(err, &corrupt) {
		t.Errorf("%s, %s: %v is a flate.CorruptInputError too", c.name, via, err)
	}
}

// TestDecompressionErrorsWrapStandardErrors sends corrupt gzip and deflate
// bodies through a Session (buffered and streamed) and a Transport, and
// checks that each error is what compress/gzip, compress/flate and
// net/http's own Transport give for the same bytes.
func TestDecompressionErrorsWrapStandardErrors(t *testing.T) {
	cases := corruptBodies(t)
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		fmt.Sscanf(r.URL.Path, "/%d", &i)
		w.Header().Set("Content-Encoding", cases[i].coding)
		w.Write(cases[i].body)
	}))
	s := newTestSession(t)
	client, _ := newTestClient(t)
	std := &http.Client{Transport: &http.Transport{}} // decodes gzip only
	defer std.CloseIdleConnections()
	for i, c := range cases {
		u := fmt.Sprintf("%s/%d", srv.URL, i)
		_, err := s.Get(testCtx(t), u)
		checkDecompressionError(t, "Session.Get", c, err)

		req, _ := NewRequest("GET", u)
		sr, err := s.Open(testCtx(t), req)
		if err == nil {
			_, err = io.ReadAll(sr.Body)
			sr.Close()
		}
		req.Close()
		checkDecompressionError(t, "Session.Open", c, err)

		resp, err := client.Get(u)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		checkDecompressionError(t, "Transport", c, err)
		if i == 0 {
			t.Logf("%s: %v", c.name, err)
		}

		// The standard library's decoders classify the same bytes alike.
		if c.want == ErrDecompression || strings.Contains(c.name, "Adler") {
			continue
		}
		var stdErr error
		if c.coding == "gzip" {
			resp, err := std.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			_, stdErr = io.ReadAll(resp.Body)
			resp.Body.Close()
		} else if strings.Contains(c.name, "raw") {
			_, stdErr = io.ReadAll(flate.NewReader(bytes.NewReader(c.body)))
		} else if zr, err := zlib.NewReader(bytes.NewReader(c.body)); err != nil {
			stdErr = err
		} else {
			_, stdErr = io.ReadAll(zr)
		}
		var corrupt flate.CorruptInputError
		if (c.want == nil && !errors.As(stdErr, &corrupt)) || (c.want != nil && !errors.Is(stdErr, c.want)) {
			t.Errorf("%s: the standard library says %v", c.name, stdErr)
		}
	}
}

// compressWith compresses data with the brotli or zstd command-line tool
// (Debian packages brotli and zstd, which make deps-system installs): the
// standard library has neither coding.
func compressWith(t *testing.T, coding string, data []byte) []byte {
	t.Helper()
	args := map[string][]string{"br": {"brotli", "-c", "-q", "6"}, "zstd": {"zstd", "-q", "-c"}}[coding]
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v (Debian package %s; make deps-system installs it)", args[0], err, args[0])
	}
	return out
}

// readAll reads a Session.Open stream or a Transport body to its end.
func readAll(r io.ReadCloser) ([]byte, error) {
	b, err := io.ReadAll(r)
	r.Close()
	return b, err
}

// TestDecompressBrotliAndZstd sends bodies made by the brotli and zstd
// tools (alone, and br over gzip) through Session.Get, Session.Open and
// the Transport (decoded, Uncompressed, Content-Encoding and
// Content-Length gone, as for gzip); every request asks for them in its
// Accept-Encoding. 64 MiB of zeros stops at Limits.MaxBodyBytes
// (ErrBodyTooLarge), and a body cut short is ErrDecompression wrapping
// io.ErrUnexpectedEOF, as compress/gzip says for a truncated stream.
// test.sh runs it again with every request through the multi.
func TestDecompressBrotliAndZstd(t *testing.T) {
	var text bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&text, "line %d of a body in br or zstd\n", i)
	}
	type fixture struct {
		coding string
		body   []byte
	}
	fixtures := map[string]fixture{}
	for _, c := range []string{"br", "zstd"} {
		enc := compressWith(t, c, text.Bytes())
		fixtures["/"+c] = fixture{c, enc}
		fixtures["/"+c+"/cut"] = fixture{c, enc[:len(enc)/2]}
		fixtures["/"+c+"/bomb"] = fixture{c, compressWith(t, c, make([]byte, 64<<20))}
	}
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(text.Bytes())
	gw.Close()
	fixtures["/gzip-br"] = fixture{"gzip, br", compressWith(t, "br", gz.Bytes())}

	var mu sync.Mutex // the server's goroutines write, the test reads
	var accepted []string
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		accepted = append(accepted, r.Header.Get("Accept-Encoding"))
		mu.Unlock()
		f, ok := fixtures[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Encoding", f.coding)
		w.Write(f.body)
	}))
	s := newTestSession(t)
	client, _ := newTestClient(t)
	for _, path := range []string{"/br", "/zstd", "/gzip-br"} {
		u := srv.URL + path
		if resp, err := s.Get(testCtx(t), u); err != nil {
			t.Errorf("%s, Session.Get: %v", path, err)
		} else if !bytes.Equal(resp.Body, text.Bytes()) || !resp.Decompressed ||
			resp.Header.Get("Content-Encoding") != fixtures[path].coding {
			t.Errorf("%s, Session.Get: %d bytes, decompressed %v, %v", path, len(resp.Body), resp.Decompressed, resp.Header)
		}

		req, _ := NewRequest("GET", u)
		sr, err := s.Open(testCtx(t), req)
		req.Close()
		if err != nil {
			t.Fatalf("%s, Session.Open: %v", path, err)
		}
		body, err := readAll(sr.Body)
		if err != nil || !bytes.Equal(body, text.Bytes()) || !sr.Decompressed {
			t.Errorf("%s, Session.Open: %v, %d bytes, decompressed %v", path, err, len(body), sr.Decompressed)
		}

		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("%s, Transport: %v", path, err)
		}
		body, err = readAll(resp.Body)
		if err != nil || !bytes.Equal(body, text.Bytes()) || !resp.Uncompressed ||
			resp.Header.Get("Content-Encoding") != "" || resp.ContentLength != -1 {
			t.Errorf("%s, Transport: %v, %d bytes, %+v", path, err, len(body), resp)
		}
	}
	mu.Lock()
	for _, a := range accepted {
		if a != "gzip, deflate, br, zstd" {
			t.Errorf("Accept-Encoding: %q", a)
		}
	}
	mu.Unlock()

	limits := WithLimits(Limits{MaxBodyBytes: 1 << 20})
	limited := newTestSession(t, limits)
	limitedClient, _ := newTestClient(t, limits)
	for _, c := range []string{"br", "zstd"} {
		for _, f := range []struct {
			path string
			want []error
		}{
			{"/" + c + "/bomb", []error{ErrBodyTooLarge}},
			{"/" + c + "/cut", []error{ErrDecompression, io.ErrUnexpectedEOF}},
		} {
			u := srv.URL + f.path
			check := func(via string, n int, err error) {
				t.Helper()
				for _, w := range f.want {
					if !errors.Is(err, w) {
						t.Errorf("%s, %s: %v is not %v", f.path, via, err, w)
					}
				}
				if n > 1<<20 {
					t.Errorf("%s, %s: %d bytes, past the limit", f.path, via, n)
				}
			}
			_, err := limited.Get(testCtx(t), u)
			check("Session.Get", 0, err)

			req, _ := NewRequest("GET", u)
			sr, err := limited.Open(testCtx(t), req)
			req.Close()
			var body []byte
			if err == nil {
				body, err = readAll(sr.Body)
			}
			check("Session.Open", len(body), err)

			resp, err := limitedClient.Get(u)
			body = nil
			if err == nil {
				body, err = readAll(resp.Body)
			}
			check("Transport", len(body), err)
		}
	}
}
