package reqivo

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
)

// One Session, many goroutines at once: buffered sends, streams and a
// shared Request. Run with -race.
func TestSessionConcurrentUse(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(echoHandler))
	for _, goroutines := range []int{16, 50} {
		t.Run(fmt.Sprint(goroutines), func(t *testing.T) {
			s := newTestSession(t, WithBaseURL(srv.URL))
			ctx := testCtx(t)
			shared, err := NewRequest("POST", "/shared")
			if err != nil {
				t.Fatal(err)
			}
			defer shared.Close()
			shared.SetBody([]byte("s"))
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := 0; g < goroutines; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 10; i++ {
						path := fmt.Sprintf("/g%d/%d", g, i)
						var body string
						switch i % 3 {
						case 0:
							resp, err := s.Post(ctx, path, "text/plain", []byte(path))
							if err != nil {
								errs <- err
								return
							}
							body = resp.Text()
						case 1:
							req, _ := NewRequest("POST", path)
							req.SetBody([]byte(path))
							sr, err := s.Open(ctx, req)
							req.Close()
							if err != nil {
								errs <- err
								return
							}
							b, err := io.ReadAll(sr.Body)
							sr.Close()
							if err != nil {
								errs <- err
								return
							}
							body = string(b)
						case 2:
							resp, err := s.Do(ctx, shared)
							if err != nil {
								errs <- err
								return
							}
							if resp.Text() != "POST /shared s" {
								errs <- fmt.Errorf("shared request got %q", resp.Text())
							}
							continue
						}
						if want := "POST " + path + " " + path; body != want {
							errs <- fmt.Errorf("got %q, want %q", body, want)
							return
						}
					}
				}()
			}
			waitOrFail(t, "the goroutines", wg.Wait)
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
