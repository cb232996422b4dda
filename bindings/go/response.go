package reqivo

// #include <reqivo.h>
import "C"

import (
	"encoding/json"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// HeaderField is one response header field as received.
type HeaderField struct {
	Name  string // as received, not canonicalised
	Value string
}

// Timings say when each phase ended, measured from the start of the send;
// zero when the phase did not happen (no DNS for an IP literal, no connect
// on a reused connection).
type Timings struct {
	DNS       time.Duration
	Connect   time.Duration
	TLS       time.Duration
	Sent      time.Duration
	FirstByte time.Duration
	Total     time.Duration
}

// ResponseHead is everything about a response but its body. It is plain
// Go memory, copied out of the library's fixed-layout reqivo_response.
type ResponseHead struct {
	StatusCode int    // e.g. 200
	Status     string // e.g. "200 OK"
	Reason     string // e.g. "OK", as sent
	Proto      string // e.g. "HTTP/1.1"
	ProtoMajor int
	ProtoMinor int
	// Header holds the fields under canonical names; the values of each
	// name are in received order.
	Header http.Header
	// Fields holds every field in received order, names as received.
	Fields        []HeaderField
	URL           string // final URL, after redirects
	RedirectCount int    // redirects followed to reach this response
	Reused        bool   // read on a connection that served an earlier request
	TLS           bool   // came over TLS
	TLSResumed    bool   // the TLS handshake resumed an earlier session
	TLSVersion    uint16 // tls.VersionTLS12 or tls.VersionTLS13; 0 without TLS
	Decompressed  bool   // the body was decoded (gzip, deflate, br, zstd) by the library
	// RedirectNotFollowed is set on a 307 or 308 that the session did not
	// follow because the request body came from a reader (SetBodyReader)
	// and cannot be sent again.
	RedirectNotFollowed bool
	Timings             Timings
}

// Response is a complete response. It owns no C memory: the library's
// response is copied into it and freed before Do returns, so there is
// nothing to Close.
type Response struct {
	ResponseHead
	Body []byte
	// Trailer holds the trailer fields of a chunked body (RFC 9112
	// §7.1.2) under canonical names; nil when there were none.
	Trailer http.Header
}

// JSON decodes the body into v with encoding/json.
func (r *Response) JSON(v any) error { return json.Unmarshal(r.Body, v) }

// Text returns the body as a string.
func (r *Response) Text() string { return string(r.Body) }

// headFromC copies a reqivo_response's head. The struct is read field by
// field in Go (DESIGN §4: no call per field); the caller frees it.
func headFromC(r *C.reqivo_response) ResponseHead {
	return headFromCFields(r, true)
}

// headFromCFields is headFromC that fills Fields only when fields is set
// (the Transport has no use for them).
//
// Every string of the head (status line, URL, header names and values) is
// cut from one copy of the library's bytes, and every value slice of
// Header from one []string, as net/textproto does: a small response's head
// costs a handful of allocations instead of two or three per field.
func headFromCFields(r *C.reqivo_response, fields bool) ResponseHead {
	h := ResponseHead{
		StatusCode:          int(r.status),
		ProtoMajor:          int(r.http_major),
		ProtoMinor:          int(r.http_minor),
		RedirectCount:       int(r.redirect_count),
		Reused:              r.flags&C.REQIVO_RESPONSE_REUSED != 0,
		TLS:                 r.flags&C.REQIVO_RESPONSE_TLS != 0,
		TLSResumed:          r.flags&C.REQIVO_RESPONSE_TLS_RESUMED != 0,
		Decompressed:        r.flags&C.REQIVO_RESPONSE_DECOMPRESSED != 0,
		RedirectNotFollowed: r.flags&C.REQIVO_RESPONSE_REDIRECT_NOT_FOLLOWED != 0,
		Timings: Timings{
			DNS:       time.Duration(r.timings.dns_ns),
			Connect:   time.Duration(r.timings.connect_ns),
			TLS:       time.Duration(r.timings.tls_ns),
			Sent:      time.Duration(r.timings.sent_ns),
			FirstByte: time.Duration(r.timings.first_byte_ns),
			Total:     time.Duration(r.timings.total_ns),
		},
	}
	// A library older than the header may not have the field.
	if uintptr(r.struct_size) >= unsafe.Offsetof(r.tls_version)+unsafe.Sizeof(r.tls_version) {
		h.TLSVersion = uint16(r.tls_version)
	}
	h.Proto = protoString(h.ProtoMajor, h.ProtoMinor)

	n := int(r.header_count)
	var cfields []C.reqivo_header
	if n > 0 {
		cfields = unsafe.Slice((*C.reqivo_header)(unsafe.Pointer(r.headers)), n)
	}
	var num [20]byte
	code := strconv.AppendInt(num[:0], int64(h.StatusCode), 10)
	reason, url := cbytesView(r.reason), cbytesView(r.url)
	size := len(code) + 1 + len(reason) + len(url)
	for _, f := range cfields {
		size += int(f.name.len) + int(f.value.len)
	}
	var b strings.Builder
	b.Grow(size)
	b.Write(code)
	if len(reason) > 0 {
		b.WriteByte(' ')
		b.Write(reason)
	}
	b.Write(url)
	for _, f := range cfields {
		b.Write(cbytesView(f.name))
		b.Write(cbytesView(f.value))
	}
	all := b.String()
	next := func(n int) string {
		s := all[:n]
		all = all[n:]
		return s
	}
	statusLen := len(code)
	if len(reason) > 0 {
		statusLen += 1 + len(reason)
	}
	h.Status = next(statusLen)
	if len(reason) > 0 {
		h.Reason = h.Status[len(code)+1:]
	}
	h.URL = next(len(url))

	if fields {
		h.Fields = make([]HeaderField, n)
	}
	h.Header = make(http.Header, n)
	values := make([]string, n)
	for i, f := range cfields {
		name, value := next(int(f.name.len)), next(int(f.value.len))
		if fields {
			h.Fields[i] = HeaderField{Name: name, Value: value}
		}
		// An already canonical name (what servers send) is returned as
		// is, without an allocation.
		key := textproto.CanonicalMIMEHeaderKey(name)
		if vs, ok := h.Header[key]; ok {
			h.Header[key] = append(vs, value)
			continue
		}
		values[i] = value
		// cap 1: a caller's append copies instead of overwriting the
		// next field's value.
		h.Header[key] = values[i : i+1 : i+1]
	}
	return h
}

// trailerFromC adds the n trailer fields at fields to into (made when nil
// and there are fields) and returns it. Values are copied into Go memory.
func trailerFromC(fields *C.reqivo_header, n C.size_t, into http.Header) http.Header {
	if n == 0 {
		return into
	}
	if into == nil {
		into = make(http.Header, int(n))
	}
	for _, f := range unsafe.Slice(fields, int(n)) {
		key := textproto.CanonicalMIMEHeaderKey(string(cbytesView(f.name)))
		into[key] = append(into[key], string(cbytesView(f.value)))
	}
	return into
}

// protoString is "HTTP/major.minor", without an allocation for 1.1 and 1.0.
func protoString(major, minor int) string {
	switch {
	case major == 1 && minor == 1:
		return "HTTP/1.1"
	case major == 1 && minor == 0:
		return "HTTP/1.0"
	}
	return "HTTP/" + strconv.Itoa(major) + "." + strconv.Itoa(minor)
}

// trailersOf copies the trailer fields of r, nil when it has none.
func trailersOf(r *C.reqivo_response) http.Header {
	if r.flags&C.REQIVO_RESPONSE_TRAILERS == 0 {
		return nil
	}
	var n C.size_t
	return trailerFromC(C.reqivo_response_trailers(r, &n), n, nil)
}

// responseFromC copies a complete reqivo_response; the caller frees it.
func responseFromC(r *C.reqivo_response) *Response {
	resp := &Response{ResponseHead: headFromC(r), Trailer: trailersOf(r)}
	resp.Body = []byte{}
	if r.body_len > 0 {
		// One copy into Go memory; append does not zero it first.
		resp.Body = append(resp.Body, unsafe.Slice((*byte)(unsafe.Pointer(r.body)), int(r.body_len))...)
	}
	return resp
}
