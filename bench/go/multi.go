// The multi_hold phase's Go clients:
//
//	gobench multi hold URL C             Go net/http
//	gobench multi hold-transport URL C   http.Client over reqivo.NewTransport
//	gobench multi hold-session URL C     reqivo Session.Get
//
// C goroutines started at once, each doing one GET, all measured the same
// way. hold: one http.Client (a clone of http.DefaultTransport with
// MaxConnsPerHost 0 and MaxIdleConnsPerHost C, so that every request has
// its own connection and all are in flight together), reading the body
// into io.Discard. hold-transport: one http.Client (the same Timeout) over
// reqivo.NewTransport(reqivo.WithPool(pool)), body into io.Discard;
// hold-session: Session.Get(context.Background(), URL) on a session made
// with reqivo.WithPool(pool) (the library's default timeouts). Both on a
// pool of reqivo.NewPool(PoolConfig{MaxPerHost: C, MaxTotal: C}), so that
// every request has its own connection; beyond the binding's few blocking
// slots they go through its process-wide reqivo_multi on Go's netpoller.
// GOMAXPROCS is Go's default (1 under taskset -c 1). Measured as the C
// clients (bench/clients/multi_common.c): wall time from the first
// goroutine to the last response, getrusage(RUSAGE_SELF) over it less the
// CPU time of the samples of /proc/self/fd and Threads (taken every 100 ms
// on a locked OS thread until the first response, and at the end), VmHWM.
// Bounded: BENCH_MULTI_DEADLINE seconds (default 60), then an error line.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	reqivo "github.com/reqivo/reqivo/bindings/go"
)

func multiMain(args []string) bool {
	if len(args) >= 5 && args[1] == "multi" {
		client, ok := multiClients[args[2]]
		if !ok {
			fmt.Fprintln(os.Stderr, "usage: gobench multi hold|hold-transport|hold-session URL COUNT")
			os.Exit(2)
		}
		n, err := strconv.Atoi(args[4])
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "gobench multi: COUNT must be a positive number")
			os.Exit(2)
		}
		multiClient = client
		runMultiHold(args[2], args[3], n)
		return true
	}
	return false
}

// The client id of each kind (bench/run.py), for the JSON line.
var multiClients = map[string]string{
	"hold":           "go-nethttp-multi",
	"hold-transport": "go-reqivo-transport-multi",
	"hold-session":   "go-reqivo-session-multi",
}

var multiClient = "go-nethttp-multi"

func countFDs() int64 {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return -1
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	return int64(len(names)) - 1 // the directory's own descriptor
}

type multiSampler struct {
	fds, threads, samples int64
	costU, costS          float64
}

func (s *multiSampler) sample() {
	var a, b syscall.Rusage
	syscall.Getrusage(1 /* RUSAGE_THREAD */, &a)
	f, t := countFDs(), statusKB("Threads")
	syscall.Getrusage(1, &b)
	if f > s.fds {
		s.fds = f
	}
	if t > s.threads {
		s.threads = t
	}
	s.samples++
	s.costU += tvUS(b.Utime) - tvUS(a.Utime)
	s.costS += tvUS(b.Stime) - tvUS(a.Stime)
}

func multiFail(msg string) {
	b, _ := json.Marshal(map[string]any{"client": multiClient, "error": msg})
	fmt.Fprintln(os.Stderr, "gobench multi:", msg)
	fmt.Println(string(b))
	os.Exit(1)
}

// multiGet does one GET: the status, the body's length, or an error.
type multiGet func(url string) (status int, n int64, err error)

// httpGet is a GET through an http.Client, its body read into io.Discard.
func httpGet(client *http.Client) multiGet {
	return func(url string) (int, int64, error) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, 0, err
		}
		m, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, m, err
	}
}

func runMultiHold(kind, url string, n int) {
	nofile := raiseNofile()
	if nofile > 0 && uint64(n)+16 > nofile {
		multiFail(fmt.Sprintf("RLIMIT_NOFILE is %d (the hard limit): too low for %d connections", nofile, n))
	}
	limit := 60.0
	if d := os.Getenv("BENCH_MULTI_DEADLINE"); d != "" {
		limit, _ = strconv.ParseFloat(d, 64)
	}
	timeout := time.Duration(limit * float64(time.Second))
	var get multiGet
	var version string
	switch kind {
	case "hold":
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxConnsPerHost = 0
		tr.MaxIdleConns = 0 // no limit
		tr.MaxIdleConnsPerHost = n
		get = httpGet(&http.Client{Transport: tr, Timeout: timeout})
		version = runtime.Version() + " net/http"
	case "hold-transport", "hold-session":
		pool, err := reqivo.NewPool(reqivo.PoolConfig{MaxPerHost: n, MaxTotal: n})
		if err != nil {
			multiFail("reqivo.NewPool: " + err.Error())
		}
		defer pool.Close()
		version = "reqivo " + reqivo.Version() + " via the Go binding, " + runtime.Version()
		if kind == "hold-transport" {
			t := reqivo.NewTransport(reqivo.WithPool(pool))
			if t.Err() != nil {
				multiFail("reqivo.NewTransport: " + t.Err().Error())
			}
			defer t.Close()
			get = httpGet(&http.Client{Transport: t, Timeout: timeout})
		} else {
			s, err := reqivo.NewSession(reqivo.WithPool(pool))
			if err != nil {
				multiFail("reqivo.NewSession: " + err.Error())
			}
			defer s.Close()
			ctx := context.Background()
			get = func(url string) (int, int64, error) {
				resp, err := s.Get(ctx, url)
				if err != nil {
					return 0, 0, err
				}
				return resp.StatusCode, int64(len(resp.Body)), nil
			}
		}
	}

	var ok, failed, bytes atomic.Int64
	var firstErr atomic.Value
	firstDone := make(chan struct{})
	var firstOnce sync.Once
	var firstDoneAt time.Duration
	fdsBase := countFDs()

	// The sampler: its own locked OS thread, so RUSAGE_THREAD is its cost.
	smp := &multiSampler{}
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(sampled)
		smp.sample()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				smp.sample()
			case <-firstDone:
				return
			case <-stopSampling:
				return
			}
		}
	}()

	var st, en mark
	st.start()
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer wg.Done()
			defer firstOnce.Do(func() { firstDoneAt = time.Since(st.t); close(firstDone) })
			status, m, err := get(url)
			bytes.Add(m)
			if err != nil || status != 200 {
				failed.Add(1)
				if err == nil {
					err = fmt.Errorf("status %d", status)
				}
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			ok.Add(1)
		}()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-time.After(time.Duration(limit * float64(time.Second))):
		fe, _ := firstErr.Load().(string)
		multiFail(fmt.Sprintf("deadline: %d of %d requests finished after %.0f s (ok %d, failed %d, first error %q)",
			ok.Load()+failed.Load(), n, limit, ok.Load(), failed.Load(), fe))
	}
	en.end()
	close(stopSampling)
	<-sampled
	cu, cs := smp.costU, smp.costS
	smp.sample() // the end: threads and descriptors once more (not taken off the CPU time)
	smp.costU, smp.costS = cu, cs

	fe, _ := firstErr.Load().(string)
	out := map[string]any{
		"client": multiClient, "mode": kind, "n": n, "ok": ok.Load(), "failed": failed.Load(),
		"first_error": fe, "secs": en.t.Sub(st.t).Seconds(),
		"utime_us":  tvUS(en.ru.Utime) - tvUS(st.ru.Utime) - smp.costU,
		"stime_us":  tvUS(en.ru.Stime) - tvUS(st.ru.Stime) - smp.costS,
		"sample_us": smp.costU + smp.costS, "samples": smp.samples,
		"hwm_kb": statusKB("VmHWM"), "rss_kb": statusKB("VmRSS"),
		"threads_peak": smp.threads, "threads_end": statusKB("Threads"),
		"fds_peak": smp.fds, "fds_base": fdsBase, "nofile": nofile, "concurrency": n,
		"first_done_secs": firstDoneAt.Seconds(), "bytes": bytes.Load(),
		"gomaxprocs": runtime.GOMAXPROCS(0), "lib_version": version,
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
