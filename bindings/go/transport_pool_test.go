package reqivo

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// burst sends n GETs at once through client to srv, each held there for
// the server's hold, and returns how many failed and the first error.
func burst(t *testing.T, client *http.Client, url string, n int) (int64, error) {
	t.Helper()
	ctx := testCtx(t)
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		firstErr atomic.Value
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			path := fmt.Sprintf("/b%d", i)
			err := func() error {
				req, _ := http.NewRequestWithContext(ctx, "GET", url+path, nil)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err == nil && (resp.StatusCode != 200 || string(b) != "held "+path) {
					err = fmt.Errorf("status %d, body %q", resp.StatusCode, b)
				}
				return err
			}()
			if err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		}(i)
	}
	wg.Wait()
	err, _ := firstErr.Load().(error)
	return failures.Load(), err
}

// NewTransport's own pool has no limit per host (as net/http's Transport):
// 100 requests held 300 ms at once all succeed under a 1 s pool timeout,
// on as many connections, where a limit of 10 would queue them for 3 s;
// afterwards at most TransportMaxIdlePerHost stay idle, the rest closed.
func TestTransportPoolHasNoLimitPerHostAndCapsIdle(t *testing.T) {
	const n = 100
	srv := holdServer(t, 300*time.Millisecond, nil)
	client, tr := newTestClient(t, WithTimeouts(Timeouts{Pool: time.Second}))
	start := time.Now()
	if failed, err := burst(t, client, srv.URL, n); failed > 0 {
		t.Fatalf("%d of %d requests failed, first: %v", failed, n, err)
	}
	t.Logf("%d requests held 300 ms: %v", n, time.Since(start).Round(time.Millisecond))
	st := tr.PoolStats()
	if st.Opened <= 10 || srv.newConns.Load() <= 10 {
		t.Errorf("opened %d connections (server saw %d), want more than 10", st.Opened, srv.newConns.Load())
	}
	if st.InUse != 0 || st.Idle > TransportMaxIdlePerHost || st.Opened-st.Closed != st.Idle {
		t.Errorf("after the burst: %+v, want none in use and at most %d idle", st, TransportMaxIdlePerHost)
	}
	if st.Opened > TransportMaxIdlePerHost && st.Idle != TransportMaxIdlePerHost {
		t.Errorf("after the burst: %d idle of %d opened, want %d kept", st.Idle, st.Opened, TransportMaxIdlePerHost)
	}
	// The kept connections serve the next burst.
	if failed, err := burst(t, client, srv.URL, 10); failed > 0 {
		t.Fatalf("%d of 10 requests failed, first: %v", failed, err)
	}
	if again := tr.PoolStats(); again.Reused < st.Reused+10 {
		t.Errorf("second burst reused %d connections, want 10", again.Reused-st.Reused)
	}
}

// The failure mode the default avoids: on a pool of 10 per host (a
// Session's default, here through WithPool), the same kind of burst waits
// for slots and requests fail with ErrPoolTimeout.
func TestTransportOnALimitedPoolTimesOutInABurst(t *testing.T) {
	srv := holdServer(t, 300*time.Millisecond, nil)
	pool, err := NewPool(PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	client, tr := newTestClient(t, WithPool(pool), WithTimeouts(Timeouts{Pool: 100 * time.Millisecond}))
	failed, err := burst(t, client, srv.URL, 30)
	if failed == 0 || !errors.Is(err, ErrPoolTimeout) {
		t.Errorf("%d of 30 failed, first: %v; want pool timeouts", failed, err)
	}
	if st := tr.PoolStats(); st.Opened != 10 {
		t.Errorf("opened %d connections, want the limit, 10", st.Opened)
	}
}

// MaxIdlePerHost and NoLimit reach the pool: 0 keeps as many idle as
// MaxPerHost, a negative or too large value is refused.
func TestPoolConfigMaxIdlePerHost(t *testing.T) {
	srv := holdServer(t, 300*time.Millisecond, nil)
	for _, tc := range []struct {
		cfg      PoolConfig
		wantIdle uint64
	}{
		{PoolConfig{MaxPerHost: 8, MaxIdlePerHost: 2}, 2},
		{PoolConfig{MaxPerHost: 8}, 8},
		{PoolConfig{MaxPerHost: NoLimit, MaxTotal: NoLimit, MaxIdlePerHost: NoLimit}, 12},
	} {
		pool, err := NewPool(tc.cfg)
		if err != nil {
			t.Fatalf("%+v: %v", tc.cfg, err)
		}
		client, _ := newTestClient(t, WithPool(pool), WithTimeouts(Timeouts{Pool: 5 * time.Second}))
		n := 8
		if tc.cfg.MaxPerHost == NoLimit {
			n = 12
		}
		if failed, err := burst(t, client, srv.URL, n); failed > 0 {
			t.Fatalf("%+v: %d failed, first: %v", tc.cfg, failed, err)
		}
		st := pool.Stats()
		if st.Opened != uint64(n) || st.Idle != tc.wantIdle || st.Closed != uint64(n)-tc.wantIdle {
			t.Errorf("%+v: %+v, want %d opened, %d idle", tc.cfg, st, n, tc.wantIdle)
		}
		pool.Close()
	}
	bad := []PoolConfig{{MaxIdlePerHost: -1}}
	if strconv.IntSize == 64 { // an int past uint32 exists only there
		past := int64(1) << 40 // a variable: a constant would not compile for 32 bits
		bad = append(bad, PoolConfig{MaxIdlePerHost: int(past)})
	}
	for _, bad := range bad {
		if _, err := NewPool(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: %v, want an invalid-argument error", bad, err)
		}
	}
}
