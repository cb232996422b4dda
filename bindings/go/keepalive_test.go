package reqivo

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeepAliveAfterCalls checks the package's own source: every
// C call that passes a pointer from a handle's ptr() must be followed, in
// the same function, by runtime.KeepAlive of that handle; and every C call
// that passes a handle's raw _ptr field (Close) must use the handle again
// after the call. Otherwise the handle could be collected, and its cleanup
// free the C object, while C still uses it. A call can be exempted by a
// comment containing "keepalive:" and the reason, on its line.
func TestKeepAliveAfterCalls(t *testing.T) {
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		exempt := map[int]bool{}
		for _, cg := range f.Comments {
			if strings.Contains(cg.Text(), "keepalive:") {
				exempt[fset.Position(cg.Pos()).Line] = true
			}
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || !isCCall(call) {
					return true
				}
				pos := fset.Position(call.Pos())
				if exempt[pos.Line] {
					return true
				}
				for _, arg := range call.Args {
					for _, h := range handlesIn(arg) {
						checked++
						if h.viaPtr && !keepAliveAfter(fn.Body, h.expr, call.End()) {
							t.Errorf("%s: C.%s uses %s.ptr() with no runtime.KeepAlive(%s) after it",
								pos, cName(call), h.expr, h.expr)
						}
						if !h.viaPtr && !usedAfter(fn.Body, h.expr, call.End()) {
							t.Errorf("%s: C.%s uses %s._ptr and never touches %s after it",
								pos, cName(call), h.expr, h.expr)
						}
					}
				}
				return true
			})
		}
	}
	if checked < 20 {
		t.Fatalf("only %d handle uses found: is the check still looking at the right code?", checked)
	}
}

func isCCall(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == "C" && strings.HasPrefix(sel.Sel.Name, "reqivo_")
}

func cName(call *ast.CallExpr) string { return call.Fun.(*ast.SelectorExpr).Sel.Name }

type handleUse struct {
	expr   string // source text of the handle, e.g. "s" or "cfg.pool"
	viaPtr bool   // x.ptr() rather than x._ptr
}

func handlesIn(arg ast.Expr) []handleUse {
	var out []handleUse
	ast.Inspect(arg, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "ptr" && len(n.Args) == 0 {
				out = append(out, handleUse{types.ExprString(sel.X), true})
				return false
			}
		case *ast.SelectorExpr:
			if n.Sel.Name == "_ptr" {
				out = append(out, handleUse{types.ExprString(n.X), false})
				return false
			}
		}
		return true
	})
	return out
}

func keepAliveAfter(body *ast.BlockStmt, expr string, after token.Pos) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || call.Pos() < after || len(call.Args) != 1 {
			return true
		}
		if types.ExprString(call.Fun) == "runtime.KeepAlive" && types.ExprString(call.Args[0]) == expr {
			found = true
		}
		return true
	})
	return found
}

func usedAfter(body *ast.BlockStmt, expr string, after token.Pos) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		e, ok := n.(ast.Expr)
		if ok && e.Pos() >= after && types.ExprString(e) == expr {
			found = true
		}
		return !found
	})
	return found
}
