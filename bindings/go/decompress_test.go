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
	"strings"
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
