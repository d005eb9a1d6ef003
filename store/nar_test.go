package store

import (
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// Nix's own test suite (tests/functional/hash) prints these MD5 sums of the
// NAR of a directory holding one entry "hello"; matching them shows our
// serialization is Nix's.
func TestNarMatchesNix(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(hello string) error
		md5  string
	}{
		{"file", func(h string) error { return os.WriteFile(h, []byte("Hello World\n"), 0o644) }, "ea9b55537dd4c7e104515b2ccfaf4100"},
		{"executable", func(h string) error { return os.WriteFile(h, []byte("Hello World\n"), 0o755) }, "20f3ffe011d4cfa7d72bfabef7882836"},
		{"mode 744", func(h string) error { return os.WriteFile(h, []byte("Hello World\n"), 0o744) }, "20f3ffe011d4cfa7d72bfabef7882836"},
		{"symlink", func(h string) error { return os.Symlink("x", h) }, "f78b733a68f5edbdf9413899339eaa4a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hash-path")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tc.make(filepath.Join(dir, "hello")); err != nil {
				t.Fatal(err)
			}
			h := md5.New()
			w := newWalkerHash(false, h)
			if _, _, err := w.hashTree(dir); err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != tc.md5 {
				t.Errorf("md5 of NAR = %s, want %s (Nix)", got, tc.md5)
			}
		})
	}
}
