package fsutil

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileReplacesAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	for _, content := range []string{"old", "new"} {
		if err := WriteFile(name, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	fi, _ := os.Stat(name)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 (past the umask)", fi.Mode().Perm())
	}
	assertOnly(t, dir, "f")
}

func TestWriteFileErrorNamesFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "missing-dir", "f")
	err := WriteFile(name, nil, 0o644)
	if err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("error %v, want one naming %s", err, name)
	}
}

// A reader that fails halfway leaves the old file and no temp file.
func TestWriteFromKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	n, err := WriteFrom(name, strings.NewReader("old content"), 0o600)
	if err != nil || n != 11 {
		t.Fatalf("WriteFrom = %d, %v; want 11, nil", n, err)
	}
	broken := io.MultiReader(strings.NewReader("new"), iotest{errors.New("connection reset")})
	if _, err := WriteFrom(name, broken, 0o600); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("WriteFrom of a failing reader = %v, want its error", err)
	}
	if got, _ := os.ReadFile(name); string(got) != "old content" {
		t.Errorf("after a failed write: %q, want the old content", got)
	}
	assertOnly(t, dir, "f")
}

type iotest struct{ err error }

func (r iotest) Read([]byte) (int, error) { return 0, r.err }

func TestSymlinkReplaces(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "l")
	for _, target := range []string{"/a", "/b"} {
		if err := Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.Readlink(link); got != target {
			t.Fatalf("link -> %q, want %q", got, target)
		}
	}
	assertOnly(t, dir, "l")
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("directory holds %v, want %v (no temporary left)", got, names)
	}
}
