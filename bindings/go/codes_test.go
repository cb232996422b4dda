package reqivo

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
)

const headerPath = "../../include/reqivo.h"

// The header is the source of truth: a code there that the Go table lacks
// (or numbers that differ) means codes_gen.go is stale. This parses the
// header with its own regular expression, independent of
// tools/gen_bindings.py.
func TestCodesMatchHeader(t *testing.T) {
	header, err := os.ReadFile(headerPath)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*(REQIVO_(?:OK|ERR_[A-Z0-9_]+))\s*=\s*([0-9]+),`)
	matches := re.FindAllSubmatch(header, -1)
	if len(matches) < 10 {
		t.Fatalf("found only %d codes in %s", len(matches), headerPath)
	}
	inHeader := map[string]bool{}
	for _, m := range matches {
		name := string(m[1])
		n, _ := strconv.ParseUint(string(m[2]), 10, 32)
		inHeader[name] = true
		info, ok := codeIndex[Code(n)]
		if !ok {
			t.Errorf("%s = %d is in the header but not in codes_gen.go: run make bindings", name, n)
			continue
		}
		if info.name != name {
			t.Errorf("code %d: header says %s, codes_gen.go says %s", n, name, info.name)
		}
	}
	for _, info := range codeTable {
		if !inHeader[info.name] {
			t.Errorf("%s is in codes_gen.go but not in the header: run make bindings", info.name)
		}
	}
}

// Every entry against the library at run time: name and class.
func TestCodesMatchLibrary(t *testing.T) {
	for _, info := range codeTable {
		if got := libCodeName(info.code); got != info.name {
			t.Errorf("reqivo_code_name(%d) = %q, table says %q", info.code, got, info.name)
		}
		if got := libCodeClass(info.code); got != info.class {
			t.Errorf("reqivo_code_class(%d) = %d, table says %d", info.code, got, info.class)
		}
	}
	// A code the library knows but the header (and so Go) lacks: the
	// header is stale against the library.
	for n := Code(0); n < 10000; n++ {
		if _, ok := codeIndex[n]; ok {
			continue
		}
		if name := libCodeName(n); name != "REQIVO_ERR_UNKNOWN" {
			t.Errorf("the library names code %d %s, which codes_gen.go lacks", n, name)
		}
	}
	for _, ci := range classTable {
		if got := libCodeClass(Code(ci.class) + 1); got != ci.class {
			t.Errorf("class of %d is %d, want %d", ci.class+1, got, ci.class)
		}
	}
}

// Every REQIVO_CLASS_* of the header is a Class of classTable, with the
// same number, and nothing else is.
func TestClassesMatchHeader(t *testing.T) {
	header, err := os.ReadFile(headerPath)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^#define (REQIVO_CLASS_[A-Z0-9_]+) ([0-9]+)$`)
	matches := re.FindAllSubmatch(header, -1)
	if len(matches) == 0 {
		t.Fatalf("no REQIVO_CLASS_* in %s", headerPath)
	}
	inTable := map[Class]bool{}
	for _, ci := range classTable {
		inTable[ci.class] = true
	}
	for _, m := range matches {
		n, _ := strconv.ParseUint(string(m[2]), 10, 32)
		if !inTable[Class(n)] {
			t.Errorf("%s = %d is in the header but not in codes_gen.go: run make bindings", m[1], n)
		}
		delete(inTable, Class(n))
	}
	for c := range inTable {
		t.Errorf("class %d is in codes_gen.go but not in the header: run make bindings", c)
	}
}

func TestVersionMatchesHeader(t *testing.T) {
	major, minor, patch := headerVersion()
	if want := fmt.Sprintf("%d.%d.%d", major, minor, patch); Version() != want {
		t.Fatalf("library version %q, header %q", Version(), want)
	}
}

func TestErrorSentinels(t *testing.T) {
	tests := []struct {
		code  Code
		is    []error
		isNot []error
	}{
		{CodeTimeoutRead, []error{ErrReadTimeout, ErrTimeout, CodeTimeoutRead}, []error{ErrConnectTimeout, ErrNetwork, ErrUsage}},
		{CodeTimeoutConnect, []error{ErrConnectTimeout, ErrTimeout}, []error{ErrReadTimeout, ErrNetwork}},
		{CodeTLSHandshake, []error{ErrTLS, ErrNetwork}, []error{ErrTimeout, ErrProtocol}},
		{CodeConnectRefused, []error{ErrConnectRefused, ErrNetwork}, []error{ErrTLS}},
		{CodeInvalidChunk, []error{ErrProtocol}, []error{ErrNetwork, ErrUnexpectedEOF}},
		{CodeTooManyRedirects, []error{ErrTooManyRedirects, ErrRedirect}, []error{ErrRedirectLoop}},
		{CodeRedirectLoop, []error{ErrRedirectLoop, ErrRedirect}, []error{ErrTooManyRedirects}},
		{CodeCancelled, []error{ErrCanceled, ErrStopped}, []error{ErrTimeout}},
		{CodeInvalidHeader, []error{ErrInvalidHeader, ErrUsage}, []error{ErrInvalidURL}},
		{CodePanic, []error{ErrInternal}, []error{ErrUsage}},
	}
	for _, tt := range tests {
		err := error(newError(tt.code, "test"))
		wrapped := fmt.Errorf("context: %w", err)
		for _, target := range tt.is {
			if !errors.Is(err, target) || !errors.Is(wrapped, target) {
				t.Errorf("%s: errors.Is(%v) = false, want true", tt.code.Name(), target)
			}
		}
		for _, target := range tt.isNot {
			if errors.Is(err, target) {
				t.Errorf("%s: errors.Is(%v) = true, want false", tt.code.Name(), target)
			}
		}
		var e *Error
		if !errors.As(wrapped, &e) || e.Code != tt.code || e.Class != tt.code.Class() || e.Name != tt.code.Name() {
			t.Errorf("%s: errors.As gave %+v", tt.code.Name(), e)
		}
	}
	// Code sentinels are in their class; classes nest.
	if !errors.Is(ErrReadTimeout, ErrTimeout) || !errors.Is(ErrTLS, ErrNetwork) || errors.Is(ErrNetwork, ErrTLS) {
		t.Error("sentinel hierarchy is wrong")
	}
	if e := newError(CodeTimeoutRead, ""); !e.Timeout() || newError(CodeDNS, "").Timeout() {
		t.Error("Timeout() must be true exactly for the timeout class")
	}
	e := newError(CodeIO, "x")
	e.OSError = syscall.ECONNRESET
	if !errors.Is(e, syscall.ECONNRESET) || !errors.Is(e, ErrNetwork) {
		t.Error("errno must unwrap")
	}
}
