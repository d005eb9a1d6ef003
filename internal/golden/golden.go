// Package golden compares test output with golden files and rewrites them
// when the test binary runs with -update. It registers the -update flag
// itself, so a test package that imports it must not declare its own.
// Only tests import it; it does not decide where golden files live.
package golden

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/internal/fsutil"
)

var update = flag.Bool("update", false, "rewrite golden files with the output of the tests")

// Update reports whether the test binary runs with -update, for tests
// that do more than Check under it.
func Update() bool { return *update }

// Check compares got with the file at path and fails t with a diff
// (-want +got) when they differ, or a missing file. Under -update it
// writes got to path instead, creating its directory.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("update golden file: %v", err)
		}
		if err := fsutil.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("update golden file: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (-want +got); run go test -update if the change is intended:\n%s", path, Diff(want, got))
	}
}

// Diff is the go-cmp diff of want and got, line by line for text and of
// their hex dumps for binary data; "" when they are equal.
func Diff(want, got []byte) string {
	if utf8.Valid(want) && utf8.Valid(got) {
		return cmp.Diff(string(want), string(got))
	}
	return cmp.Diff(hex.Dump(want), hex.Dump(got))
}
