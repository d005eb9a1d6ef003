package activation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/toplevel"
)

// golden compares got with testdata/NAME.golden (rewritten with -update).
func golden(t testing.TB, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name+".golden"), []byte(got))
}

// writeFiles writes machine files under root: path → content. A content
// starting with "->" makes a symlink.
func writeFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		h := under(root, p)
		if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Remove(h)
		var err error
		if target, ok := strings.CutPrefix(c, "->"); ok {
			err = os.Symlink(target, h)
		} else {
			err = os.WriteFile(h, []byte(c), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// makeToplevel writes a toplevel named NAME into root's store: its
// activation.json, its etc tree (as a separate store path it links to, the
// way the builder makes it) and a sw tree. It returns the logical path.
func makeToplevel(t testing.TB, root, name string, spec *toplevel.ActivationSpec, etc, sw map[string]string) string {
	t.Helper()
	top := "/kiln/store/" + strings.Repeat("t", 31) + name[len(name)-1:] + "-" + name
	etcPath := "/kiln/store/" + strings.Repeat("e", 31) + name[len(name)-1:] + "-etc"
	swPath := "/kiln/store/" + strings.Repeat("s", 31) + name[len(name)-1:] + "-sw"
	files := map[string]string{top + "/etc": "->" + etcPath, top + "/sw": "->" + swPath}
	for p, c := range etc {
		files[etcPath+"/"+p] = c
	}
	for p, c := range sw {
		files[swPath+"/"+p] = c
	}
	if len(etc) == 0 {
		os.MkdirAll(under(root, etcPath), 0o755)
	}
	writeFiles(t, root, files)
	b, err := spec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, root, map[string]string{top + "/" + toplevel.ActivationFile: string(b)})
	return top
}

func readFile(t testing.TB, root, p string) string {
	t.Helper()
	b, err := os.ReadFile(under(root, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readLink(t testing.TB, root, p string) string {
	t.Helper()
	s, err := os.Readlink(under(root, p))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func intp(i int) *int { return &i }
