// The h2_inflight phase's Go client:
//
//	gobench inflight URL SECONDSs K    Go net/http, K goroutines
//
// K goroutines, each doing GETs of URL one after another through one
// http.Client (a clone of http.DefaultTransport trusting BENCH_CA, which
// keeps its ForceAttemptHTTP2: over TLS it offers h2 by ALPN and puts every
// request on one connection as a stream, up to the server's stream limit),
// bodies read into io.Discard; completions counted for SECONDS after a
// warm-up of BENCH_MULTI_WARMUP seconds (default 1), as multi_curl and
// threads_reqivo count theirs. One request is made before the goroutines
// start, so that they find the connection open. BENCH_HTTP_VERSION=2 (or
// 1.1): every response's ProtoMajor must be that version, or the run fails.
// GOMAXPROCS is Go's default (1 under taskset -c 1); CPU is
// getrusage(RUSAGE_SELF) over the measured part. Bounded:
// BENCH_MULTI_DEADLINE seconds (default 60), then an error line.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const inflightClient = "go-nethttp-inflight"

func inflightMain(args []string) bool {
	if len(args) < 2 || args[1] != "inflight" {
		return false
	}
	if len(args) < 5 || !strings.HasSuffix(args[3], "s") {
		fmt.Fprintln(os.Stderr, "usage: gobench inflight URL SECONDSs K")
		os.Exit(2)
	}
	secs, err1 := strconv.ParseFloat(strings.TrimSuffix(args[3], "s"), 64)
	k, err2 := strconv.Atoi(args[4])
	if err1 != nil || err2 != nil || secs <= 0 || k <= 0 {
		fmt.Fprintln(os.Stderr, "gobench inflight: bad SECONDS or K")
		os.Exit(2)
	}
	runInflight(args[2], secs, k)
	return true
}

func inflightFail(msg string) {
	b, _ := json.Marshal(map[string]any{"client": inflightClient, "error": msg})
	fmt.Fprintln(os.Stderr, "gobench inflight:", msg)
	fmt.Println(string(b))
	os.Exit(1)
}

func envSeconds(name string, def float64) float64 {
	if v := os.Getenv(name); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	}
	return def
}

func runInflight(url string, secs float64, k int) {
	warmup := envSeconds("BENCH_MULTI_WARMUP", 1)
	limit := envSeconds("BENCH_MULTI_DEADLINE", 60)
	wantMajor := 0
	switch os.Getenv("BENCH_HTTP_VERSION") {
	case "2":
		wantMajor = 2
	case "1.1":
		wantMajor = 1
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = k // HTTP/1.1: a kept-alive connection per goroutine
	if wantMajor == 1 {
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	if ca := os.Getenv("BENCH_CA"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			inflightFail(err.Error())
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	client := &http.Client{Transport: tr, Timeout: time.Duration(limit * float64(time.Second))}

	var done, failed, bytes, seenMajor atomic.Int64
	var firstErr atomic.Value
	var stop atomic.Bool
	get := func() bool {
		resp, err := client.Get(url)
		if err == nil {
			var m int64
			m, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			bytes.Add(m)
			seenMajor.Store(int64(resp.ProtoMajor))
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			} else if err == nil && wantMajor != 0 && resp.ProtoMajor != wantMajor {
				err = fmt.Errorf("HTTP/%s asked for, the response is %s", map[int]string{1: "1.1", 2: "2"}[wantMajor],
					resp.Proto)
			}
		}
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return false
		}
		return true
	}
	if !get() {
		inflightFail("the first request failed: " + firstErr.Load().(string))
	}

	t0 := time.Now()
	var wg sync.WaitGroup
	wg.Add(k)
	for i := 0; i < k; i++ {
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if !get() {
					return
				}
				done.Add(1)
			}
		}()
	}
	// Sleeps until t, waking every 100 ms to see whether a goroutine failed.
	sleepUntil := func(t time.Time) {
		for failed.Load() == 0 {
			left := time.Until(t)
			if left <= 0 {
				return
			}
			time.Sleep(min(left, 100*time.Millisecond))
		}
	}
	var st, en mark
	sleepUntil(t0.Add(time.Duration(warmup * float64(time.Second))))
	d0 := done.Load()
	st.start()
	sleepUntil(st.t.Add(time.Duration(secs * float64(time.Second))))
	en.end()
	d1 := done.Load()
	stop.Store(true)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-time.After(time.Until(t0.Add(time.Duration(limit * float64(time.Second))))):
		inflightFail(fmt.Sprintf("deadline: requests still in flight %.0f s after the start", limit))
	}
	if failed.Load() > 0 {
		inflightFail(fmt.Sprintf("%d requests failed, first: %s", failed.Load(), firstErr.Load().(string)))
	}
	if got := en.t.Sub(st.t).Seconds(); got < secs*0.99 {
		inflightFail(fmt.Sprintf("the measured part ended early (%.2f s of %.2f s)", got, secs))
	}
	version := map[int64]string{1: "1.1", 2: "2"}[seenMajor.Load()]
	out := map[string]any{
		"client": inflightClient, "mode": "small", "n": d1 - d0, "ok": done.Load(), "failed": 0,
		"secs":     en.t.Sub(st.t).Seconds(),
		"utime_us": tvUS(en.ru.Utime) - tvUS(st.ru.Utime), "stime_us": tvUS(en.ru.Stime) - tvUS(st.ru.Stime),
		"hwm_kb": statusKB("VmHWM"), "rss_kb": statusKB("VmRSS"), "threads_end": statusKB("Threads"),
		"concurrency": k, "bytes": bytes.Load(), "http_version": version,
		"gomaxprocs": runtime.GOMAXPROCS(0), "lib_version": runtime.Version() + " net/http",
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
