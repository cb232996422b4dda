package reqivo

import (
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// -reqivo.event-driven-only sends every request of the suite through the
// driver (driver.go), none on the fast path: test.sh runs the suite so
// once more, which puts everything the binding tests on the multi.
var eventDrivenOnly = flag.Bool("reqivo.event-driven-only", false,
	"send every request through the event-driven driver (no fast path)")

func TestMain(m *testing.M) {
	if hold := os.Getenv("REQIVO_HOLD_SERVER"); hold != "" {
		serveHold(hold) // a server process for driver_test.go
		return
	}
	flag.Parse()
	if *eventDrivenOnly {
		none := make(chan struct{}) // no room: takeBlockingSlot always fails
		blockingSlots.Store(&none)
	}
	os.Exit(m.Run())
}

// withoutFastPath sends the test's requests through the driver.
func withoutFastPath(t *testing.T) {
	none := make(chan struct{})
	saved := blockingSlots.Swap(&none)
	t.Cleanup(func() { blockingSlots.Store(saved) })
}

// serveHold is the test binary run as a server (REQIVO_HOLD_SERVER set to
// a duration): it answers every request after that long on 127.0.0.1,
// prints its URL, and exits when its stdin closes.
func serveHold(hold string) {
	d, err := time.ParseDuration(hold)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A body is read whole first and answered with its length and
		// CRC-32, so an upload can be checked byte for byte.
		sum := crc32.NewIEEE()
		n, err := io.Copy(sum, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		if r.Method == http.MethodGet {
			fmt.Fprintf(w, "held %s", r.URL.Path)
		} else {
			fmt.Fprintf(w, "held %s %d %08x", r.URL.Path, n, sum.Sum32())
		}
	}))
	fmt.Printf("URL http://%s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
}

// holdServerProcess starts serveHold in a process of its own, so that
// its threads and descriptors do not count as the client's; it stops
// when the test ends.
func holdServerProcess(t *testing.T, hold time.Duration) string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "REQIVO_HOLD_SERVER="+hold.String())
	cmd.Stderr = os.Stderr
	line := serverProcess(t, cmd)
	url, ok := strings.CutPrefix(line, "URL ")
	if !ok {
		t.Fatalf("the hold server said %q", line)
	}
	return url
}
