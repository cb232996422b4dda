package reqivo

import (
	"io"
	"net/http"
	"testing"
)

// Benchmarks compare reqivo with net/http against the same httptest server
// on 127.0.0.1: a keep-alive small GET and a 1 MiB GET, through
// the Transport (driving an unmodified http.Client), through Session.Do,
// and through net/http's default Transport.
//
//	go test -run '^$' -bench . -benchmem
func benchGet(b *testing.B, size int) {
	body := bigBody(size)
	srv := newCountingServer(b, bigHandler(body))
	url := srv.URL + "/bench"
	drain := func(b *testing.B, client *http.Client) {
		buf := make([]byte, 64<<10)
		b.SetBytes(int64(size))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			resp, err := client.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
			resp.Body.Close()
			if err != nil || n != int64(size) {
				b.Fatalf("%d bytes, %v", n, err)
			}
		}
	}
	b.Run("nethttp", func(b *testing.B) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		drain(b, &http.Client{Transport: tr})
	})
	b.Run("reqivo-transport", func(b *testing.B) {
		tr := NewTransport()
		defer tr.Close()
		drain(b, &http.Client{Transport: tr})
	})
	b.Run("reqivo-session", func(b *testing.B) {
		s := newTestSession(b)
		req, _ := NewRequest("GET", url)
		defer req.Close()
		ctx := testCtx(b)
		b.SetBytes(int64(size))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			resp, err := s.Do(ctx, req)
			if err != nil || len(resp.Body) != size {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGetSmall(b *testing.B) { benchGet(b, 13) }
func BenchmarkGet1MiB(b *testing.B)  { benchGet(b, 1<<20) }
