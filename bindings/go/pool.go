package reqivo

// #include <reqivo.h>
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
)

// PoolConfig configures a connection pool; zero fields take the defaults
// (10 per host, 100 in all, idle connections closed after 30 s, as many
// kept idle per host as MaxPerHost allows). NoLimit in MaxPerHost,
// MaxTotal or MaxIdlePerHost means no limit (REQIVO_NO_LIMIT).
type PoolConfig struct {
	MaxPerHost int           // most connections to one scheme/host/port, idle or in use
	MaxTotal   int           // most connections in all
	MaxIdle    time.Duration // idle connections older than this are not reused
	// MaxIdlePerHost is how many idle connections to one scheme/host/port
	// are kept: one released while its host has that many idle is closed
	// (counted in PoolStats.Closed). 0 means as many as MaxPerHost, which
	// bounds idle and in use together anyway.
	MaxIdlePerHost int
}

// NoLimit in a PoolConfig field (MaxPerHost, MaxTotal, MaxIdlePerHost)
// means no limit (REQIVO_NO_LIMIT).
const NoLimit = math.MaxInt

// TransportMaxIdlePerHost is how many idle connections to one host the
// pool NewTransport makes for itself (without WithPool) keeps. That pool
// has, as net/http's Transport by default (MaxConnsPerHost 0), no limit
// on connections per host or in all, so a burst of requests never queues
// for a slot under the pool timeout; once the burst is over, connections
// released beyond this many idle per host are closed. net/http keeps 2
// (DefaultMaxIdleConnsPerHost), which makes a steady load of more than 2
// concurrent requests to one host open and close connections all the
// time; 64 keeps such a load on warm connections while a burst of
// thousands still gives its connections back.
const TransportMaxIdlePerHost = 64

// transportPoolConfig is the pool NewTransport makes for itself.
func transportPoolConfig() PoolConfig {
	return PoolConfig{MaxPerHost: NoLimit, MaxTotal: NoLimit, MaxIdlePerHost: TransportMaxIdlePerHost}
}

// PoolStats are counters since the pool was made and gauges now.
type PoolStats struct {
	Opened  uint64 // connections opened
	Reused  uint64 // checkouts served by an idle connection
	Closed  uint64 // connections closed
	Idle    uint64 // connections idle now
	InUse   uint64 // connections checked out now
	Waiting uint64 // callers waiting for a free slot now
}

// Pool is a connection pool that several sessions can share (WithPool).
// It is safe for concurrent use. Call Close when done; the cleanup that
// frees a forgotten Pool is only a safety net.
type Pool struct {
	mu      sync.RWMutex // readers: Stats; writer: Close
	_ptr    *C.reqivo_pool
	cleanup runtime.Cleanup
}

// NewPool creates a pool.
func NewPool(cfg PoolConfig) (*Pool, error) {
	c := C.reqivo_pool_config_default()
	set := func(name string, v int, dst *C.uint32_t) error {
		switch {
		case v == NoLimit:
			*dst = C.REQIVO_NO_LIMIT
		case v < 0 || uint64(v) > math.MaxUint32:
			return newError(CodeInvalidArgument, fmt.Sprintf("PoolConfig.%s out of range: %d (NoLimit means no limit)", name, v))
		case v > 0:
			*dst = C.uint32_t(v)
		}
		return nil
	}
	if err := set("MaxPerHost", cfg.MaxPerHost, &c.max_per_host); err != nil {
		return nil, err
	}
	if err := set("MaxTotal", cfg.MaxTotal, &c.max_total); err != nil {
		return nil, err
	}
	c.max_idle_per_host = 0 // as many as max_per_host, unless set
	if err := set("MaxIdlePerHost", cfg.MaxIdlePerHost, &c.max_idle_per_host); err != nil {
		return nil, err
	}
	if cfg.MaxIdle < 0 || cfg.MaxIdle > math.MaxUint32*time.Millisecond {
		return nil, newError(CodeInvalidArgument, fmt.Sprintf("PoolConfig.MaxIdle out of range: %v", cfg.MaxIdle))
	}
	if cfg.MaxIdle > 0 {
		c.max_idle_ms = C.uint32_t((cfg.MaxIdle + time.Millisecond - 1) / time.Millisecond)
	}
	var cerr C.reqivo_error
	p := C.reqivo_pool_new(&c, &cerr)
	if p == nil {
		return nil, errorFromC(&cerr)
	}
	return newPoolHandle(p), nil
}

// newPoolHandle wraps a pool reference the caller owns.
func newPoolHandle(p *C.reqivo_pool) *Pool {
	pool := &Pool{_ptr: p}
	pool.cleanup = runtime.AddCleanup(pool, freePool, p)
	return pool
}

func freePool(p *C.reqivo_pool) {
	C.reqivo_pool_free(p)
	cleanupsRun.Add(1)
}

func (p *Pool) ptr() *C.reqivo_pool {
	if p._ptr == nil {
		panic("reqivo: Pool used after Close")
	}
	maybeGC()
	return p._ptr
}

// Stats returns the pool's statistics.
func (p *Pool) Stats() PoolStats {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var s C.reqivo_pool_stats
	s.struct_size = C.uint32_t(C.sizeof_reqivo_pool_stats)
	C.reqivo_pool_get_stats(p.ptr(), &s)
	runtime.KeepAlive(p)
	return PoolStats{
		Opened: uint64(s.opened), Reused: uint64(s.reused), Closed: uint64(s.closed),
		Idle: uint64(s.idle), InUse: uint64(s.in_use), Waiting: uint64(s.waiting),
	}
}

// CloseIdle closes the pool's idle connections now, instead of when they
// expire (PoolConfig.MaxIdle). Connections in use are left alone and come
// back to the pool as usual; later requests open new connections.
func (p *Pool) CloseIdle() {
	p.mu.RLock()
	defer p.mu.RUnlock()
	C.reqivo_pool_close_idle(p.ptr())
	runtime.KeepAlive(p)
}

// Close releases this reference to the pool; sessions using it keep it
// alive. Close is idempotent; using the Pool afterwards panics.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p._ptr == nil {
		return
	}
	p.cleanup.Stop()
	C.reqivo_pool_free(p._ptr)
	p._ptr = nil
}
