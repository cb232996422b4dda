// The multi_hold phase's server:
//
//	gobench holdserver 127.0.0.1:PORT
//
// A raw HTTP/1.1 listener (no net/http: it has to stay cheap with 10,000+
// connections on one core, and answer every one of them on time): one
// goroutine per connection reads a request head (up to 4 KiB, no body),
// holds it (GET /hold: 1 s; /hold?ms=N: N ms), then writes a 200 with a
// 100-byte body and keeps the connection for the next request. GET /stats
// answers at once with what was seen since the last /stats (connections
// accepted, requests held, the most held at the same time, connections
// open now) and starts counting afresh; GET /open, the connections open
// now (the driver waits for the last run's to close). The descriptor
// limit is raised to the hard limit; the listen backlog is the kernel's
// somaxconn.
package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// 100 bytes, as nginx's /small.
var holdBody = append(bytes.Repeat([]byte("reqivo benchmark /hold: held, then answered "), 3)[:99], '\n')

var (
	holdAccepted atomic.Int64 // connections accepted since the last /stats
	holdRequests atomic.Int64 // requests answered after a hold
	holdActive   atomic.Int64 // requests being held now
	holdPeak     atomic.Int64 // most held at once since the last /stats
	holdOpen     atomic.Int64 // connections open now
	holdErrors   atomic.Int64 // malformed requests, failed writes
)

func raiseNofile() uint64 {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return 0
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return lim.Cur
}

func holdMain(args []string) bool {
	if len(args) >= 3 && args[1] == "holdserver" {
		holdServer(args[2])
		return true
	}
	return false
}

func holdServer(addr string) {
	nofile := raiseNofile()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "holdserver:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "holdserver on %s, RLIMIT_NOFILE %d\n", ln.Addr(), nofile)
	for {
		c, err := ln.Accept()
		if err != nil {
			// EMFILE and the like: wait a little rather than spin.
			fmt.Fprintln(os.Stderr, "holdserver: accept:", err)
			holdErrors.Add(1)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		holdAccepted.Add(1)
		go holdConn(c)
	}
}

func holdConn(c net.Conn) {
	holdOpen.Add(1)
	defer holdOpen.Add(-1)
	defer c.Close()
	buf := make([]byte, 4096)
	have := 0
	for {
		end := bytes.Index(buf[:have], []byte("\r\n\r\n"))
		for end < 0 {
			if have == len(buf) {
				holdErrors.Add(1)
				return
			}
			n, err := c.Read(buf[have:])
			if n > 0 {
				have += n
				end = bytes.Index(buf[:have], []byte("\r\n\r\n"))
				continue
			}
			if err != nil {
				return
			}
		}
		head := buf[:end]
		line := head
		if i := bytes.IndexByte(head, '\r'); i >= 0 {
			line = head[:i]
		}
		closeAfter := bytes.Contains(bytes.ToLower(head), []byte("\nconnection: close"))
		f := bytes.Fields(line)
		if len(f) != 3 {
			holdErrors.Add(1)
			return
		}
		target := string(f[1])
		rest := copy(buf, buf[end+4:have])
		have = rest
		var resp []byte
		switch {
		case target == "/stats":
			body := fmt.Sprintf(`{"accepted":%d,"requests":%d,"peak_held":%d,"open":%d,"errors":%d}`,
				holdAccepted.Swap(0)-1, holdRequests.Swap(0), holdPeak.Swap(0), holdOpen.Load()-1, holdErrors.Swap(0))
			resp = []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
				"Connection: close\r\n\r\n%s", len(body), body))
			closeAfter = true
		case target == "/open":
			holdAccepted.Add(-1) // not a connection of a run
			body := fmt.Sprintf(`{"open":%d}`, holdOpen.Load()-1)
			resp = []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
				"Connection: close\r\n\r\n%s", len(body), body))
			closeAfter = true
		case target == "/hold" || bytes.HasPrefix(f[1], []byte("/hold?")):
			hold := time.Second
			if i := bytes.Index(f[1], []byte("ms=")); i >= 0 {
				if ms, err := strconv.Atoi(string(f[1][i+3:])); err == nil {
					hold = time.Duration(ms) * time.Millisecond
				}
			}
			a := holdActive.Add(1)
			for {
				p := holdPeak.Load()
				if a <= p || holdPeak.CompareAndSwap(p, a) {
					break
				}
			}
			time.Sleep(hold)
			holdActive.Add(-1)
			resp = holdResponse
			holdRequests.Add(1)
		default:
			resp = []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		}
		if _, err := c.Write(resp); err != nil {
			holdErrors.Add(1)
			return
		}
		if closeAfter {
			return
		}
	}
}

var holdResponse = []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
	len(holdBody), holdBody))
