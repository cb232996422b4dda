// The ws_deflate phase (compressed WebSocket sends):
//
//	gobench wsserver 127.0.0.1:PORT
//	gobench reqivo|gorilla ws ws://127.0.0.1:PORT/ws?size=SIZE COUNT SIZE
//
// wsserver: a gorilla/websocket server (Upgrader with EnableCompression,
// which answers "permessage-deflate; server_no_context_takeover;
// client_no_context_takeover" to any permessage-deflate offer) that reads
// every message through NextReader, inflating it as a real server does,
// checks it byte for byte against wsMessage(size) and drops it. Each
// connection's figures (offer, messages, payload and wire bytes, the
// server's CPU time) are kept until GET /stats, which returns and clears
// them.
//
// Clients: one connection, BENCH_WS_WARMUP (default 2) messages, then
// COUNT binary messages of SIZE bytes and the close handshake, all timed
// (the server answers the Close after it has read every message). reqivo
// is the Go binding (Session.Dial with WithDeflate, no context takeover
// either way: what gorilla's client offers); gorilla is gorilla's Dialer
// with EnableCompression and its defaults otherwise (4 KiB write buffer,
// compress/flate level 1; BENCH_GORILLA_WRITE_BUFFER changes the buffer).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	reqivo "github.com/reqivo/reqivo/bindings/go"
)

// splitmix64, as bench/clients/common.h.
func splitmix64(s *uint64) uint64 {
	*s += 0x9E3779B97F4A7C15
	z := *s
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

var wsWords = [32]string{
	"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
	"reqivo", "websocket", "message", "deflate", "compress", "frame", "server", "client",
	`{"id":`, `"name":`, "true,", "false,", "null,", "12345,", "0.5,", `"value"`,
	"request", "response", "header", "body", "stream", "window", "block", "data"}

// wsMessage is bench_ws_message of bench/clients/common.h: size bytes in
// segments of 1 to 16 KiB, alternately text-like and random, from
// splitmix64 seeded with the size.
func wsMessage(size int) []byte {
	buf := make([]byte, size)
	s := uint64(0x7265717669766f) ^ uint64(size)
	pos := 0
	for seg := 0; pos < size; seg++ {
		end := min(pos+1024+int(splitmix64(&s)%(15*1024+1)), size)
		if seg%2 == 0 {
			for pos < end {
				w := wsWords[splitmix64(&s)%32]
				for i := 0; i < len(w) && pos < end; i++ {
					buf[pos] = w[i]
					pos++
				}
				if pos < end {
					buf[pos] = ' '
					pos++
				}
			}
		} else {
			for pos < end {
				r := splitmix64(&s)
				for i := 0; i < 8 && pos < end; i++ {
					buf[pos] = byte(r >> (8 * i))
					pos++
				}
			}
		}
	}
	return buf
}

func fnv1a(p []byte) uint64 {
	h := uint64(0xcbf29ce484222325)
	for _, b := range p {
		h ^= uint64(b)
		h *= 0x100000001b3
	}
	return h
}

// ---------------------------------------------------------------- server

type countConn struct {
	net.Conn
	read atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

type countListener struct{ net.Listener }

func (l countListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countConn{Conn: c}, nil
}

type wsRecord struct {
	Offered    string  `json:"offered"`
	UserAgent  string  `json:"user_agent"`
	Size       int     `json:"size"`
	Messages   int64   `json:"messages"`
	Payload    int64   `json:"payload_bytes"`
	Wire       int64   `json:"wire_bytes"`
	Mismatched int64   `json:"mismatched"`
	Secs       float64 `json:"secs"`
	UtimeUS    float64 `json:"utime_us"`
	StimeUS    float64 `json:"stime_us"`
	End        string  `json:"end"`
}

// checker compares what it is given with want, from the start of each
// message.
type checker struct {
	want []byte
	off  int
	bad  bool
}

func (c *checker) Write(p []byte) (int, error) {
	if c.off+len(p) > len(c.want) || string(p) != string(c.want[c.off:c.off+len(p)]) {
		c.bad = true
	}
	c.off += len(p)
	return len(p), nil
}

func wsServer(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsserver:", err)
		os.Exit(1)
	}
	var (
		mu      sync.Mutex
		records []wsRecord
		wants   = map[int][]byte{}
	)
	up := websocket.Upgrader{
		EnableCompression: true,
		CheckOrigin:       func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		mu.Lock()
		want := wants[size]
		if want == nil {
			want = wsMessage(size)
			wants[size] = want
		}
		mu.Unlock()
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		t0 := time.Now()
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		rec := wsRecord{Offered: r.Header.Get("Sec-WebSocket-Extensions"), UserAgent: r.Header.Get("User-Agent"), Size: size}
		buf := make([]byte, 64<<10)
		for {
			_, rd, err := c.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					rec.End = fmt.Sprintf("close %d", ce.Code)
				} else {
					rec.End = err.Error()
				}
				break
			}
			ck := checker{want: want}
			n, err := io.CopyBuffer(&ck, rd, buf)
			if err != nil {
				rec.End = "read: " + err.Error()
				break
			}
			rec.Messages++
			rec.Payload += n
			if ck.bad || ck.off != len(want) {
				rec.Mismatched++
			}
		}
		c.Close()
		rec.Secs = time.Since(t0).Seconds()
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		rec.UtimeUS = tvUS(ru1.Utime) - tvUS(ru0.Utime)
		rec.StimeUS = tvUS(ru1.Stime) - tvUS(ru0.Stime)
		if cc, ok := c.NetConn().(*countConn); ok {
			rec.Wire = cc.read.Load()
		}
		mu.Lock()
		records = append(records, rec)
		mu.Unlock()
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		out := records
		records = nil
		mu.Unlock()
		if out == nil {
			out = []wsRecord{}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
	fmt.Printf("wsserver listening on %s (%s, GOMAXPROCS %d)\n", ln.Addr(), runtime.Version(), runtime.GOMAXPROCS(0))
	srv := &http.Server{Handler: mux}
	if err := srv.Serve(countListener{ln}); err != nil {
		fmt.Fprintln(os.Stderr, "wsserver:", err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- clients

type wsClient interface {
	send(msg []byte) error
	close() error
}

type reqivoWS struct{ w *reqivo.WebSocket }

func (c reqivoWS) send(msg []byte) error {
	return c.w.WriteMessage(context.Background(), reqivo.BinaryMessage, msg)
}
func (c reqivoWS) close() error { return c.w.Close(1000, "") }

type gorillaWS struct{ c *websocket.Conn }

func (c gorillaWS) send(msg []byte) error { return c.c.WriteMessage(websocket.BinaryMessage, msg) }
func (c gorillaWS) close() error {
	if err := c.c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "")); err != nil {
		return err
	}
	// Wait for the server's Close, as reqivo_ws_close does.
	for {
		if _, _, err := c.c.ReadMessage(); err != nil {
			c.c.Close()
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == 1000 {
				return nil
			}
			return err
		}
	}
}

func runWS(impl, url, count string, size int) {
	client := "go-" + impl
	n, _ := strconv.ParseInt(count, 10, 64)
	warm := int64(2)
	if w := os.Getenv("BENCH_WS_WARMUP"); w != "" {
		warm, _ = strconv.ParseInt(w, 10, 64)
	}
	takeover := os.Getenv("BENCH_WS_CONTEXT_TAKEOVER") == "1"
	msg := wsMessage(size)
	out := map[string]any{"client": client, "mode": "ws", "size": size, "warmup": warm,
		"msg_fnv": fmt.Sprintf("%016x", fnv1a(msg))}
	var c wsClient
	switch impl {
	case "reqivo":
		s, err := reqivo.NewSession()
		if err != nil {
			fail(client, err)
		}
		defer s.Close()
		w, err := s.Dial(context.Background(), url, reqivo.WithDeflate(reqivo.Deflate{
			ServerNoContextTakeover: !takeover, ClientNoContextTakeover: !takeover}))
		if err != nil {
			fail(client, err)
		}
		out["ws_extensions"] = w.Response().Header.Get("Sec-WebSocket-Extensions")
		out["lib_version"] = "reqivo " + reqivo.Version()
		c = reqivoWS{w}
	case "gorilla":
		d := websocket.Dialer{EnableCompression: true}
		if b := os.Getenv("BENCH_GORILLA_WRITE_BUFFER"); b != "" {
			d.WriteBufferSize, _ = strconv.Atoi(b)
		}
		conn, resp, err := d.Dial(url, nil)
		if err != nil {
			fail(client, err)
		}
		out["ws_extensions"] = resp.Header.Get("Sec-WebSocket-Extensions")
		out["lib_version"] = "gorilla/websocket v1.5.3, " + runtime.Version()
		out["write_buffer"] = d.WriteBufferSize
		c = gorillaWS{conn}
	default:
		fmt.Fprintln(os.Stderr, "ws: unknown client", impl)
		os.Exit(2)
	}
	for i := int64(0); i < warm; i++ {
		if err := c.send(msg); err != nil {
			fail(client, err)
		}
	}
	runtime.GC()
	var s, e mark
	s.start()
	var done, bytes int64
	for done < n {
		if err := c.send(msg); err != nil {
			fail(client, err)
		}
		bytes += int64(size)
		done++
	}
	sent := time.Since(s.t).Seconds()
	if err := c.close(); err != nil {
		fail(client, fmt.Errorf("close: %w", err))
	}
	e.end()
	out["n"] = done
	out["secs"] = e.t.Sub(s.t).Seconds()
	out["sent_secs"] = sent
	out["utime_us"] = tvUS(e.ru.Utime) - tvUS(s.ru.Utime)
	out["stime_us"] = tvUS(e.ru.Stime) - tvUS(s.ru.Stime)
	out["minflt"] = e.ru.Minflt - s.ru.Minflt
	out["bytes"] = bytes
	out["rss_before_kb"], out["rss_after_kb"] = s.rss, e.rss
	out["hwm_before_kb"], out["hwm_after_kb"] = s.hwm, e.hwm
	out["go_mallocs"] = e.mallocs - s.mallocs
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

// wsMain handles the ws mode and the server; false when the arguments
// are for the HTTP modes.
func wsMain(args []string) bool {
	if len(args) >= 3 && args[1] == "wsserver" {
		wsServer(args[2])
		return true
	}
	if len(args) >= 5 && args[2] == "ws" {
		size := 1 << 20
		if len(args) > 5 {
			size, _ = strconv.Atoi(args[5])
		}
		if strings.TrimSpace(args[4]) == "" {
			fmt.Fprintln(os.Stderr, "ws: COUNT missing")
			os.Exit(2)
		}
		runWS(args[1], args[3], args[4], size)
		return true
	}
	return false
}
