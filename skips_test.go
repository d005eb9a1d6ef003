package kiln_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawSkips finds the calls of t.Skip, t.Skipf, t.SkipNow (on any value)
// and testing.Short in the _test.go files under dir, outside
// internal/testenv: a test skips only through testenv, which fails where
// KILN_VMTEST is set, so that CI cannot pass over a test that did not run.
func rawSkips(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel, _ := filepath.Rel(dir, path); rel == filepath.Join("internal", "testenv") || (d.Name() != "." && strings.HasPrefix(d.Name(), ".")) || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			name := sel.Sel.Name
			pkg, _ := sel.X.(*ast.Ident)
			if name == "Skip" || name == "Skipf" || name == "SkipNow" || (name == "Short" && pkg != nil && pkg.Name == "testing") {
				found = append(found, fset.Position(call.Pos()).String()+": "+name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestNoRawSkips(t *testing.T) {
	for _, s := range rawSkips(t, ".") {
		t.Errorf("%s: skip through internal/testenv instead (it fails where KILN_VMTEST is set)", s)
	}
}

// The check itself finds each form.
func TestRawSkipsFindsEachForm(t *testing.T) {
	dir := t.TempDir()
	src := "package x\nimport \"testing\"\nfunc TestX(t *testing.T) {\n" +
		// Split so that a plain grep for raw skips does not take this
		// fixture for one.
		"\tt.Skip" + "(\"a\")\n\tt.Skipf" + "(\"b\")\n\tt.SkipNow" + "()\n\tif testing.Short" + "() {}\n\tb := t\n\tb.Skip()\n}\n"
	writeFile(t, filepath.Join(dir, "x_test.go"), src)
	writeFile(t, filepath.Join(dir, "internal", "testenv", "y_test.go"), src)
	got := rawSkips(t, dir)
	if len(got) != 5 {
		t.Errorf("found %d raw skips, want 5 (testenv's own not counted): %q", len(got), got)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
