package sqlstore

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/gatehouse-auth/gatehouse/store"
)

// Every operation is timed under its own name, and the names are the
// store.Store methods: the fixed set package metrics labels latency with.
// A new method that forgets op, or copies another's name, fails here.
func TestEveryOperationTimedUnderItsName(t *testing.T) {
	iface := reflect.TypeFor[store.Store]()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	timed := map[string]bool{}
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || !fn.Name.IsExported() || fn.Body == nil {
				continue
			}
			if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); !ok || star.X.(*ast.Ident).Name != "Store" {
				continue
			}
			method := fn.Name.Name
			switch method {
			// Not operations: set-up a pool does once at start (KeepAliases
			// fills alias keys in under the caller's context, unbounded by
			// the store's timeout, user by user).
			case "Close", "SetTimeout", "SetObserver", "KeepAliases":
				continue
			}
			var names []string
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "op" || len(call.Args) != 3 {
					return true
				}
				lit, ok := call.Args[1].(*ast.BasicLit)
				if !ok {
					t.Errorf("%s: op's name is not a literal", method)
					return true
				}
				s, _ := strconv.Unquote(lit.Value)
				names = append(names, s)
				return true
			})
			if len(names) != 1 || names[0] != method {
				t.Errorf("%s times itself as %v, want [%s]", method, names, method)
			}
			if _, ok := iface.MethodByName(method); !ok {
				t.Errorf("%s is timed but is no store.Store method: its name would be counted as other", method)
			}
			timed[method] = true
		}
	}
	for i := range iface.NumMethod() {
		m := iface.Method(i).Name
		if !timed[m] && m != "Close" && m != "KeepAliases" {
			t.Errorf("store.Store's %s is not timed by sqlstore", m)
		}
	}
}
