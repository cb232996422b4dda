// Command reqivo-go-demo shows the reqivo Go binding: a GET, a JSON POST, a
// streamed download, and the same GET through an unmodified http.Client;
// its `ws` subcommand is an echo chat over a WebSocket (ws.go).
//
// It is its own module, using the binding in ../../bindings/go through a
// replace directive. Against this checkout's library (make lib; the tree
// build, keyed on the library by cgo_cflags.sh), as `make demo` builds it:
//
//	cd examples/go && export CGO_CFLAGS="$(../../bindings/go/cgo_cflags.sh)"
//	go run -tags reqivo_tree . http://127.0.0.1:8000
//	go run -tags reqivo_tree . ws ws://127.0.0.1:8765/chat
//
// (run cgo_cflags.sh again after rebuilding the library). Without the tag
// it links the installed library through pkg-config, as a program outside
// the tree does (README.md, "A Go program outside this checkout").
//
// The first argument is the server's base URL; only its scheme and host
// are used, so any URL of the server works (examples/demo_server.py passes
// http://127.0.0.1:PORT/hello first). The server must serve GET /hello,
// POST /echo (JSON echo) and GET /download, as examples/demo_server.py does.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	reqivo "github.com/reqivo/reqivo/bindings/go"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] == "ws" && len(os.Args) < 3) {
		fmt.Fprintln(os.Stderr, "usage: reqivo-go-demo BASE_URL | reqivo-go-demo ws WS_URL [MESSAGE...]")
		os.Exit(2)
	}
	var err error
	if os.Args[1] == "ws" {
		err = runWS(os.Args[2], os.Args[3:])
	} else {
		err = run(os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(arg string) error {
	u, err := url.Parse(arg)
	if err != nil || u.Host == "" {
		return fmt.Errorf("not a URL: %q", arg)
	}
	base := u.Scheme + "://" + u.Host + "/"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	timeouts := reqivo.DefaultTimeouts()
	timeouts.Total = 20 * time.Second
	s, err := reqivo.NewSession(
		reqivo.WithBaseURL(base),
		reqivo.WithHeader("User-Agent", "reqivo-go-demo"),
		reqivo.WithTimeouts(timeouts),
	)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Printf("reqivo %s, Go binding, server %s\n", reqivo.Version(), base)

	// 1. GET: the whole body in memory.
	resp, err := s.Get(ctx, "hello")
	if err != nil {
		return err
	}
	fmt.Printf("GET %s -> %s, %d bytes, %v: %s\n", resp.URL, resp.Status,
		len(resp.Body), resp.Timings.Total.Round(time.Microsecond), strings.TrimSpace(resp.Text()))

	// 2. JSON POST: encoding/json in, Content-Type application/json.
	payload, err := json.Marshal(map[string]any{"library": "reqivo", "binding": "go", "n": 42})
	if err != nil {
		return err
	}
	resp, err = s.Post(ctx, "echo", "application/json", payload)
	if err != nil {
		return err
	}
	var echo struct {
		Method      string `json:"method"`
		ContentType string `json:"content_type"`
		Length      int    `json:"length"`
		Body        string `json:"body"`
	}
	if err := resp.JSON(&echo); err != nil {
		return fmt.Errorf("POST /echo answered %s %q: %w", resp.Status, resp.Body, err)
	}
	fmt.Printf("POST %s -> %s, server saw %s %s, %d bytes: %s (connection reused: %v)\n",
		resp.URL, resp.Status, echo.Method, echo.ContentType, echo.Length, echo.Body, resp.Reused)

	// 3. Streamed download: the body arrives piece by piece through an io.Reader.
	req, err := reqivo.NewRequest("GET", "download")
	if err != nil {
		return err
	}
	defer req.Close()
	sr, err := s.Open(ctx, req)
	if err != nil {
		return err
	}
	defer sr.Close()
	h := sha256.New()
	start := time.Now()
	n, err := io.Copy(h, sr.Body)
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Printf("GET %s -> %s, streamed %d bytes in %v (%.0f MiB/s), sha256 %x\n",
		sr.URL, sr.Status, n, took.Round(time.Microsecond), float64(n)/took.Seconds()/(1<<20), h.Sum(nil)[:8])

	// 4. The same GET through an unmodified http.Client on reqivo's Transport.
	tr := reqivo.NewTransport()
	defer tr.Close()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	hr, err := client.Get(base + "hello")
	if err != nil {
		return err
	}
	body, err := io.ReadAll(hr.Body)
	hr.Body.Close()
	if err != nil {
		return err
	}
	fmt.Printf("http.Client GET %s -> %s: %s\n", hr.Request.URL, hr.Status, strings.TrimSpace(string(body)))

	// 5. HTTP/2, negotiated by default over TLS (make demo serves it).
	if h2URL := os.Getenv("REQIVO_DEMO_H2_URL"); h2URL != "" {
		return getHTTP2(ctx, h2URL)
	}
	return nil
}

// getHTTP2 GETs url twice through one session trusting the demo's CA:
// both are streams on one connection.
func getHTTP2(ctx context.Context, url string) error {
	ca, err := os.ReadFile(os.Getenv("REQIVO_DEMO_CA"))
	if err != nil {
		return err
	}
	s, err := reqivo.NewSession(reqivo.WithTLS(reqivo.TLSConfig{RootCAsPEM: [][]byte{ca}}))
	if err != nil {
		return err
	}
	defer s.Close()
	for i := 0; i < 2; i++ {
		resp, err := s.Get(ctx, url)
		if err != nil {
			return err
		}
		fmt.Printf("GET %s -> %s %s, connection reused: %v: %s\n", resp.URL, resp.Proto, resp.Status,
			resp.Reused, strings.TrimSpace(resp.Text()))
	}
	return nil
}
