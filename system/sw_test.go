package system

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kiln-os/kiln/store"
)

// treePackages is a Packages over directories in a temporary "store".
type treePackages struct {
	dir   string
	paths map[string]store.Path
}

// newTreePackages makes one package per map entry; each file spec is
// "path" (a file with its own name as content), "path=content", or
// "path->target" (a symlink).
func newTreePackages(t *testing.T, pkgs map[string][]string) *treePackages {
	t.Helper()
	fp := &treePackages{dir: t.TempDir(), paths: map[string]store.Path{}}
	for name, files := range pkgs {
		sp, err := store.NewKey("test").Path(name)
		if err != nil {
			t.Fatal(err)
		}
		fp.paths[name] = sp
		root := filepath.Join(fp.dir, sp.Base())
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if a, b, ok := strings.Cut(f, "->"); ok {
				full := filepath.Join(root, a)
				os.MkdirAll(filepath.Dir(full), 0o755)
				if err := os.Symlink(b, full); err != nil {
					t.Fatal(err)
				}
				continue
			}
			p, content := f, f
			if a, b, ok := strings.Cut(f, "="); ok {
				p, content = a, b
			}
			full := filepath.Join(root, p)
			if strings.HasSuffix(p, "/") {
				os.MkdirAll(full, 0o755)
				continue
			}
			os.MkdirAll(filepath.Dir(full), 0o755)
			if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return fp
}

func (fp *treePackages) Path(n string) (store.Path, bool) { p, ok := fp.paths[n]; return p, ok }
func (fp *treePackages) Dir(n string) (string, bool) {
	p, ok := fp.paths[n]
	return filepath.Join(fp.dir, p.Base()), ok
}
func (fp *treePackages) Names() []string { return orderedKeys(fp.paths) }

// buildForest writes the forest of pk and returns its tree as
// "path -> target" lines (directories as "path/").
func buildForest(t *testing.T, pk Packages) ([]string, error) {
	f := newForest()
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		sp, _ := pk.Path(n)
		if err := f.add(swSource{Name: n, Logical: sp.String(), Phys: d}); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(t.TempDir(), "sw")
	if _, err := f.write(out); err != nil {
		t.Fatal(err)
	}
	var lines []string
	filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		rel := strings.TrimPrefix(p, out+"/")
		if p == out {
			return nil
		}
		if fi.IsDir() {
			lines = append(lines, rel+"/")
			return nil
		}
		tg, _ := os.Readlink(p)
		lines = append(lines, rel+" -> "+tg)
		return nil
	})
	sort.Strings(lines)
	return lines, nil
}

func TestForest(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"a": {"bin/ls", "usr/bin/cat", "usr/share/doc/a/README", "usr/share/a/data", "etc/a.conf", "var/lib/a/"},
		"b": {"usr/bin/sh->dash", "usr/bin/dash", "usr/share/doc/b->a", "usr/lib/x/libb.so", "usr/lib/x/libb.so.1->libb.so",
			"usr/lib/y/escape->../../../etc/b.conf"},
		"c": {"usr/share/doc/c/README", "lib/x/libc.so", "lib64/ld.so->../lib/x/ld.so"},
	})
	got, err := buildForest(t, pk)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := pk.paths["a"].String(), pk.paths["b"].String(), pk.paths["c"].String()
	want := []string{
		"bin/",
		"bin/cat -> " + a + "/usr/bin/cat",
		"bin/dash -> " + b + "/usr/bin/dash",
		"bin/ls -> " + a + "/bin/ls", // merged-/usr: /bin/ls lands in usr/bin
		"bin/sh -> dash",
		"lib/",
		"lib/x/",
		"lib/x/libb.so -> " + b + "/usr/lib/x/libb.so",
		"lib/x/libb.so.1 -> libb.so",
		"lib/x/libc.so -> " + c + "/lib/x/libc.so",
		"lib/y/",                      // not collapsed: its link leaves the package
		"lib/y/escape -> /etc/b.conf", // made absolute: resolved at run time
		"lib64/",
		"lib64/ld.so -> ../lib/x/ld.so", // resolves inside /usr: stays relative
		"share/",
		"share/a -> " + a + "/usr/share/a", // one package: collapsed
		"share/doc/",
		"share/doc/a -> " + a + "/usr/share/doc/a",
		"share/doc/b -> a",
		"share/doc/c -> " + c + "/usr/share/doc/c",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("forest (-want +got):\n%s", d)
	}
}

func TestForestConflicts(t *testing.T) {
	tests := []struct {
		name    string
		pkgs    map[string][]string
		wantErr string // "" = no error
	}{
		{"same content", map[string][]string{"a": {"usr/bin/x=1"}, "b": {"bin/x=1"}}, ""},
		{"same link", map[string][]string{"a": {"usr/bin/x->y"}, "b": {"usr/bin/x->y"}}, ""},
		{"different content", map[string][]string{"a": {"usr/bin/x=1"}, "b": {"bin/x=2"}}, "/usr/bin/x: package b has a different file where package a"},
		{"different link", map[string][]string{"a": {"usr/bin/x->y"}, "b": {"usr/bin/x->z"}}, "package b has a different file"},
		{"file and dir", map[string][]string{"a": {"usr/share/x=1"}, "b": {"usr/share/x/y"}}, "package b has a directory where package a"},
		{"dir and file", map[string][]string{"a": {"usr/share/x/y"}, "b": {"usr/share/x=1"}}, "package b has a file where another package's directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildForest(t, newTreePackages(t, tc.pkgs))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want a conflict containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestForestCopiesRelocatingPrograms: GCC's drivers are copies in the
// forest (they find cc1 and the start files relative to where they
// really are, symbolic links resolved); their other files, and other
// packages' programs, stay links.
func TestForestCopiesRelocatingPrograms(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"gcc-12":  {"usr/bin/x86_64-linux-gnu-gcc-12=driver", "usr/bin/gcc-12->x86_64-linux-gnu-gcc-12", "usr/lib/gcc/x86_64-linux-gnu/12/collect2=c2"},
		"cpp-12":  {"usr/bin/x86_64-linux-gnu-cpp-12=cpp", "usr/lib/gcc/x86_64-linux-gnu/12/cc1=cc1"},
		"gcc-12x": {"usr/bin/other=x"},
	})
	got, err := buildForest(t, pk)
	if err != nil {
		t.Fatal(err)
	}
	g, c, x := pk.paths["gcc-12"].String(), pk.paths["cpp-12"].String(), pk.paths["gcc-12x"].String()
	want := []string{
		"bin/",
		"bin/gcc-12 -> x86_64-linux-gnu-gcc-12",
		"bin/other -> " + x + "/usr/bin/other",
		"bin/x86_64-linux-gnu-cpp-12 -> ", // a copy: no link target
		"bin/x86_64-linux-gnu-gcc-12 -> ",
		"lib/",
		"lib/gcc/",
		"lib/gcc/x86_64-linux-gnu/",
		"lib/gcc/x86_64-linux-gnu/12/",
		"lib/gcc/x86_64-linux-gnu/12/cc1 -> " + c + "/usr/lib/gcc/x86_64-linux-gnu/12/cc1",
		"lib/gcc/x86_64-linux-gnu/12/collect2 -> " + g + "/usr/lib/gcc/x86_64-linux-gnu/12/collect2",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("forest (-want +got):\n%s", d)
	}
}
