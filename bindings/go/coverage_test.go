package reqivo

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// unboundC lists the functions of include/reqivo.h the Go binding does
// not call, each with the reason. TestCoverage holds the binding to it:
// every export is called or listed here, and nothing listed is called, so
// a new C function is bound or given a reason in the same change.
var unboundC = map[string]string{
	"reqivo_session_clear_cookies": "cookieJar",
	"reqivo_session_save_cookies":  "cookieJar",
	"reqivo_session_load_cookies":  "cookieJar",

	"reqivo_session_set_hooks":          "hooks",
	"reqivo_hook_request_method":        "hooks",
	"reqivo_hook_request_url":           "hooks",
	"reqivo_hook_request_set_header":    "hooks",
	"reqivo_hook_request_add_header":    "hooks",
	"reqivo_hook_request_remove_header": "hooks",
	"reqivo_session_set_logger":         "logger",

	"reqivo_response_json":        "json",
	"reqivo_json_string":          "json",
	"reqivo_json_lookup":          "json",
	"reqivo_request_set_progress": "progress",
	"reqivo_response_header":      "header",

	"reqivo_multi_poll":      "driver",
	"reqivo_multi_wakeup":    "driver",
	"reqivo_multi_in_flight": "driver",

	"reqivo_ws_receive": "wsWait",

	"reqivo_ws_connect": "wsDial",
}

// unboundReasons holds the text of each reason unboundC names, so
// functions unbound for one reason share it.
var unboundReasons = map[string]string{
	"wsDial": "Dial runs the handshake on the driver (reqivo_multi_add_ws), never in a blocking " +
		"call that would hold a thread",
	"wsWait": "ReadMessage waits in Go's netpoller between calls of reqivo_ws_try_receive " +
		"(websocket_wait.go), never in a blocking receive that would hold a thread",
	"cookieJar": "a Session's jar is on or off with limits (WithCookies, WithCookieLimits); " +
		"clearing, saving and loading it are not exposed, and a Transport leaves cookies to http.Client.Jar",
	"hooks": "per-hop hooks are not exposed: a Go program sets a request's headers before Do, or " +
		"wraps the Transport in an http.RoundTripper of its own (http.Client.CheckRedirect sees each redirect)",
	"logger": "the binding has no log output of its own; a Transport reports through " +
		"net/http/httptrace (trace.go)",
	"json": "JSON pointer lookups: a Response is copied into Go memory, where encoding/json reads " +
		"it (doc.go, Limits of this version)",
	"progress": "progress is an io.Reader wrapped around the body, either way (doc.go, Limits of " +
		"this version)",
	"header": "a response's fields are copied into an http.Header, whose lookups are Go's",
	"driver": "the driver (driver.go) waits in Go's netpoller on reqivo_multi_fd and calls " +
		"reqivo_multi_perform, so it never polls, wakes a poll or asks the multi for its count: " +
		"its own call table is that count",
}

// headerFunctions reads the exported functions from the header with a
// pattern of its own: a declaration starts at column 0, comments and
// preprocessor lines do not.
func headerFunctions(t *testing.T) map[string]bool {
	t.Helper()
	header, err := os.ReadFile(headerPath)
	if err != nil {
		t.Fatal(err)
	}
	fns := map[string]bool{}
	re := regexp.MustCompile(`(?m)^[^\s/*#].*?\b(reqivo_\w+)\(`)
	for _, m := range re.FindAllSubmatch(header, -1) {
		fns[string(m[1])] = true
	}
	if len(fns) < 50 {
		t.Fatalf("found only %d functions in %s", len(fns), headerPath)
	}
	return fns
}

// boundFunctions is every reqivo_* name the package's non-test files use:
// C.reqivo_* in Go code, and calls in the C of a cgo preamble (wrappers
// that pass a callback or a number as user data).
func boundFunctions(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	call := regexp.MustCompile(`\b(reqivo_\w+)\s*\(`)
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.IMPORT || gen.Doc == nil {
				continue
			}
			for _, spec := range gen.Specs {
				if p, _ := strconv.Unquote(spec.(*ast.ImportSpec).Path.Value); p == "C" {
					for _, m := range call.FindAllStringSubmatch(gen.Doc.Text(), -1) {
						used[m[1]] = true
					}
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "C" && strings.HasPrefix(sel.Sel.Name, "reqivo_") {
					used[sel.Sel.Name] = true
				}
			}
			return true
		})
	}
	return used
}

// Every export of include/reqivo.h is called by the binding or listed in
// unboundC with a reason.
func TestCoverage(t *testing.T) {
	exports := headerFunctions(t)
	used := boundFunctions(t)
	var missing, stale, called []string
	for fn := range exports {
		if _, listed := unboundC[fn]; !used[fn] && !listed {
			missing = append(missing, fn)
		}
	}
	for fn, key := range unboundC {
		if unboundReasons[key] == "" {
			t.Errorf("unboundC[%q] names reason %q, which unboundReasons lacks", fn, key)
		}
		switch {
		case !exports[fn]:
			stale = append(stale, fn)
		case used[fn]:
			called = append(called, fn)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	sort.Strings(called)
	if len(missing) > 0 {
		t.Errorf("exports the Go binding neither calls nor lists in unboundC (with a reason): %s",
			strings.Join(missing, ", "))
	}
	if len(stale) > 0 {
		t.Errorf("unboundC lists functions the header does not export: %s", strings.Join(stale, ", "))
	}
	if len(called) > 0 {
		t.Errorf("unboundC lists functions the binding calls (drop them from it): %s", strings.Join(called, ", "))
	}
	t.Logf("%d exports: %d called, %d listed as unbound", len(exports), len(exports)-len(unboundC), len(unboundC))
}
