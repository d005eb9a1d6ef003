package boot

import (
	"path/filepath"
	"testing"

	goldenfile "github.com/kiln-os/kiln/internal/golden"
)

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), got)
}
