// Go clients of the benchmark, one program:
//
//	gobench reqivo|transport|nethttp MODE URL COUNT [WARM_URL]
//	gobench reqivo|gorilla ws ws://HOST:PORT/ws?size=SIZE COUNT SIZE
//	gobench wsserver 127.0.0.1:PORT
//	gobench inflight URL SECONDSs K
//
// (ws mode and the WebSocket server: ws.go; inflight, K goroutines of
// net/http over HTTP/2 for the h2_inflight phase: inflight.go.)
//
// reqivo: the binding's plain calls (Session.Get; newconn: a Request with
// Connection: close sent with Session.Do; stream: Session.Open).
// transport: http.Client over reqivo.NewTransport().
// nethttp: http.Client over a clone of http.DefaultTransport.
// MODE, COUNT and WARM_URL as for the C clients (bench/clients/common.h).
// Prints one JSON line; CPU is getrusage(RUSAGE_SELF) around the measured
// part (every thread), Go allocations from runtime.MemStats, C heap
// allocations from bench/malloc_count.so when it is preloaded.
package main

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
typedef void (*mc_fn)(uint64_t out[4]);
static int mc_get(uint64_t out[4]) {
	static mc_fn fn;
	static int looked;
	if (!looked) { fn = (mc_fn)dlsym(RTLD_DEFAULT, "malloc_count_get"); looked = 1; }
	if (!fn) return 0;
	fn(out);
	return 1;
}
*/
import "C"

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	reqivo "github.com/reqivo/reqivo/bindings/go"
)

type mark struct {
	t       time.Time
	ru      syscall.Rusage
	mc      [4]C.uint64_t
	counted bool
	mallocs uint64
	rss     int64
	hwm     int64
}

func statusKB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, field+":") {
			v, _ := strconv.ParseInt(strings.Fields(line[len(field)+1:])[0], 10, 64)
			return v
		}
	}
	return -1
}

func (m *mark) start() {
	m.rss, m.hwm = statusKB("VmRSS"), statusKB("VmHWM")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.mallocs = ms.Mallocs
	m.counted = C.mc_get(&m.mc[0]) != 0
	syscall.Getrusage(syscall.RUSAGE_SELF, &m.ru)
	m.t = time.Now()
}

func (m *mark) end() {
	m.t = time.Now()
	syscall.Getrusage(syscall.RUSAGE_SELF, &m.ru)
	m.counted = C.mc_get(&m.mc[0]) != 0
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.mallocs = ms.Mallocs
	m.rss, m.hwm = statusKB("VmRSS"), statusKB("VmHWM")
}

func tvUS(tv syscall.Timeval) float64 { return float64(tv.Sec)*1e6 + float64(tv.Usec) }

func fail(client string, err error) {
	fmt.Fprintf(os.Stderr, "gobench %s: %v\n", client, err)
	b, _ := json.Marshal(map[string]any{"client": client, "error": err.Error()})
	fmt.Println(string(b))
	os.Exit(1)
}

type getter func(url string, closeConn bool) (int, error)

type holder func(url string) (any, int, error)

func main() {
	if wsMain(os.Args) {
		return
	}
	if holdMain(os.Args) || multiMain(os.Args) || inflightMain(os.Args) { // hold.go, multi.go, inflight.go
		return
	}
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: gobench reqivo|transport|nethttp ka|newconn|stream|hold URL COUNT|Ns [WARM_URL]")
		os.Exit(2)
	}
	impl, mode, url, count := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	warmURL := ""
	if len(os.Args) > 5 {
		warmURL = os.Args[5]
	}
	client := "go-" + impl
	var n int64
	var dur time.Duration
	if strings.HasSuffix(count, "s") {
		f, _ := strconv.ParseFloat(strings.TrimSuffix(count, "s"), 64)
		dur = time.Duration(f * float64(time.Second))
	} else {
		n, _ = strconv.ParseInt(count, 10, 64)
	}
	warm := int64(100)
	if w := os.Getenv("BENCH_WARMUP"); w != "" {
		warm, _ = strconv.ParseInt(w, 10, 64)
	}
	ctx := context.Background()
	buf := make([]byte, 64<<10)

	var get getter
	var hold holder
	var stream func(url string) (int64, error)
	var version string

	switch impl {
	case "reqivo":
		s, err := reqivo.NewSession()
		if err != nil {
			fail(client, err)
		}
		defer s.Close()
		version = "reqivo " + reqivo.Version()
		closeReq := map[string]*reqivo.Request{}
		get = func(url string, closeConn bool) (int, error) {
			if closeConn {
				r := closeReq[url]
				if r == nil {
					var err error
					if r, err = reqivo.NewRequest("GET", url); err != nil {
						return 0, err
					}
					if err = r.AddHeader("Connection", "close"); err != nil {
						return 0, err
					}
					closeReq[url] = r
				}
				resp, err := s.Do(ctx, r)
				if err != nil {
					return 0, err
				}
				return len(resp.Body), nil
			}
			resp, err := s.Get(ctx, url)
			if err != nil {
				return 0, err
			}
			if resp.StatusCode != 200 {
				return 0, fmt.Errorf("status %d", resp.StatusCode)
			}
			return len(resp.Body), nil
		}
		hold = func(url string) (any, int, error) {
			resp, err := s.Get(ctx, url)
			if err != nil {
				return nil, 0, err
			}
			return resp, len(resp.Body), nil
		}
		stream = func(url string) (int64, error) {
			r, err := reqivo.NewRequest("GET", url)
			if err != nil {
				return 0, err
			}
			defer r.Close()
			sr, err := s.Open(ctx, r)
			if err != nil {
				return 0, err
			}
			defer sr.Close()
			var total int64
			for {
				k, err := sr.Body.Read(buf)
				total += int64(k)
				if err == io.EOF {
					return total, nil
				}
				if err != nil {
					return total, err
				}
			}
		}
	case "transport", "nethttp":
		var rt http.RoundTripper
		if impl == "transport" {
			t := reqivo.NewTransport()
			defer t.Close()
			rt = t
			version = "reqivo " + reqivo.Version() + " via net/http " + runtime.Version()
		} else {
			t := http.DefaultTransport.(*http.Transport).Clone()
			if ca := os.Getenv("BENCH_CA"); ca != "" {
				pem, err := os.ReadFile(ca)
				if err != nil {
					fail(client, err)
				}
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM(pem)
				t.TLSClientConfig = &tls.Config{RootCAs: pool}
			}
			rt = t
			version = "net/http " + runtime.Version()
		}
		hc := &http.Client{Transport: rt}
		do := func(url string, closeConn bool) (*http.Response, error) {
			req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
			if err != nil {
				return nil, err
			}
			req.Close = closeConn
			resp, err := hc.Do(req)
			if err != nil {
				return nil, err
			}
			if resp.StatusCode != 200 {
				resp.Body.Close()
				return nil, fmt.Errorf("status %d", resp.StatusCode)
			}
			return resp, nil
		}
		get = func(url string, closeConn bool) (int, error) {
			resp, err := do(url, closeConn)
			if err != nil {
				return 0, err
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			return len(b), err
		}
		hold = func(url string) (any, int, error) {
			resp, err := do(url, false)
			if err != nil {
				return nil, 0, err
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			// Keep what a caller keeps: the response (headers) and its body.
			resp.Body = nil
			return [2]any{resp, b}, len(b), err
		}
		stream = func(url string) (int64, error) {
			resp, err := do(url, false)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			var total int64
			for {
				k, err := resp.Body.Read(buf)
				total += int64(k)
				if err == io.EOF {
					return total, nil
				}
				if err != nil {
					return total, err
				}
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown client", impl)
		os.Exit(2)
	}

	var s, e mark
	var done, bytes int64
	out := map[string]any{"client": client, "mode": mode, "lib_version": version}
	more := func() bool {
		if dur > 0 {
			return done%16 != 0 || time.Since(s.t) < dur
		}
		return done < n
	}
	switch mode {
	case "ka", "newconn":
		closeConn := mode == "newconn"
		w := warm
		if closeConn && w > 10 {
			w = 10
		}
		for i := int64(0); i < w; i++ {
			if _, err := get(url, closeConn); err != nil {
				fail(client, err)
			}
		}
		s.start()
		for more() {
			k, err := get(url, closeConn)
			if err != nil {
				fail(client, err)
			}
			bytes += int64(k)
			done++
		}
		e.end()
	case "stream":
		if warmURL != "" {
			for i := 0; i < 3; i++ {
				if _, err := get(warmURL, false); err != nil {
					fail(client, err)
				}
			}
		}
		runtime.GC()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // VmHWM := VmRSS
		s.start()
		k, err := stream(url)
		if err != nil {
			fail(client, err)
		}
		bytes, done = k, 1
		e.end()
	case "hold":
		for i := int64(0); i < warm; i++ {
			if _, err := get(url, false); err != nil {
				fail(client, err)
			}
		}
		kept := make([]any, 0, n)
		runtime.GC()
		debug.FreeOSMemory()
		s.start()
		for done < n {
			v, k, err := hold(url)
			if err != nil {
				fail(client, err)
			}
			kept = append(kept, v)
			bytes += int64(k)
			done++
		}
		// Retained, not garbage: collect and return freed pages first.
		runtime.GC()
		debug.FreeOSMemory()
		e.end()
		runtime.KeepAlive(kept)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
	out["n"] = done
	out["secs"] = e.t.Sub(s.t).Seconds()
	out["utime_us"] = tvUS(e.ru.Utime) - tvUS(s.ru.Utime)
	out["stime_us"] = tvUS(e.ru.Stime) - tvUS(s.ru.Stime)
	out["minflt"] = e.ru.Minflt - s.ru.Minflt
	out["bytes"] = bytes
	out["rss_before_kb"], out["rss_after_kb"] = s.rss, e.rss
	out["hwm_before_kb"], out["hwm_after_kb"] = s.hwm, e.hwm
	out["go_mallocs"] = e.mallocs - s.mallocs
	if e.counted {
		out["mallocs"] = uint64(e.mc[0] - s.mc[0])
		out["reallocs"] = uint64(e.mc[1] - s.mc[1])
		out["frees"] = uint64(e.mc[2] - s.mc[2])
		out["malloc_bytes"] = uint64(e.mc[3] - s.mc[3])
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
