package debian

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSplitDocs moves trees of files (a "->" value makes a symlink) and
// compares what stays and what moves.
func TestSplitDocs(t *testing.T) {
	tests := []struct {
		name       string
		files      map[string]string
		keep, move []string
		moved      bool
	}{
		{
			name:  "no documentation",
			files: map[string]string{"usr/bin/x": "x", "usr/share/x/data": "d"},
			keep:  []string{"usr/bin/x", "usr/share/x/data"},
		},
		{
			name: "doc man info locale",
			files: map[string]string{
				"usr/bin/x":                            "x",
				"usr/share/doc/x/copyright":            "license",
				"usr/share/doc/x/changelog.Debian.gz":  "log",
				"usr/share/doc/x/examples/a.conf":      "ex",
				"usr/share/doc/README.top":             "stray",
				"usr/share/man/man1/x.1.gz":            "man",
				"usr/share/info/x.info.gz":             "info",
				"usr/share/locale/de/LC_MESSAGES/x.mo": "mo",
				"usr/share/locale/locale.alias":        "alias",
			},
			keep: []string{"usr/bin/x", "usr/share/doc/x/copyright", "usr/share/locale/locale.alias"},
			move: []string{"usr/share/doc/README.top", "usr/share/doc/x/changelog.Debian.gz", "usr/share/doc/x/examples/a.conf",
				"usr/share/info/x.info.gz", "usr/share/locale/de/LC_MESSAGES/x.mo", "usr/share/man/man1/x.1.gz"},
			moved: true,
		},
		{
			name: "doc directory without copyright is removed, a doc symlink stays",
			files: map[string]string{
				"usr/share/doc/libx1":      "->libx-common",
				"usr/share/doc/y/NEWS.gz":  "news",
				"usr/share/locale/fr/x.mo": "mo",
			},
			keep:  []string{"usr/share/doc/libx1"},
			move:  []string{"usr/share/doc/y/NEWS.gz", "usr/share/locale/fr/x.mo"},
			moved: true,
		},
		{
			name:  "a man symlink to elsewhere is left alone",
			files: map[string]string{"usr/share/man": "->../elsewhere", "usr/share/doc/z/copyright": "license"},
			keep:  []string{"usr/share/doc/z/copyright", "usr/share/man"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, doc := t.TempDir(), filepath.Join(t.TempDir(), "doc")
			for n, c := range tc.files {
				p := filepath.Join(dir, n)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				var err error
				if target, ok := strings.CutPrefix(c, "->"); ok {
					err = os.Symlink(target, p)
				} else {
					err = os.WriteFile(p, []byte(c), 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			moved, err := SplitDocs(dir, doc)
			if err != nil {
				t.Fatal(err)
			}
			if moved != tc.moved {
				t.Errorf("moved = %v, want %v", moved, tc.moved)
			}
			if diff := cmp.Diff(tc.keep, leaves(t, dir)); diff != "" {
				t.Errorf("main output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.move, leaves(t, doc)); diff != "" {
				t.Errorf("doc output (-want +got):\n%s", diff)
			}
			// No directory emptied by the split is left behind.
			for _, d := range []string{"usr/share/doc/y", "usr/share/locale"} {
				if _, ok := tc.files[d]; !ok && !hasPrefix(tc.keep, d+"/") {
					if _, err := os.Lstat(filepath.Join(dir, d)); err == nil {
						t.Errorf("empty %s left in the main output", d)
					}
				}
			}
		})
	}
}

func hasPrefix(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// leaves lists the files and symlinks under dir (nil when dir is missing).
func leaves(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if os.IsNotExist(err) && p == dir {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
