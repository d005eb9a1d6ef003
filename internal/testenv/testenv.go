// Package testenv decides what a test does when this machine lacks
// something it needs (a tool, root, the mirror, OVMF): skip on a
// developer's machine, but fail where KILN_VMTEST is set — CI sets it
// through `make test` — so that a green CI run never hides a test that
// did not run.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// Required reports whether every test must run: KILN_VMTEST is set.
func Required() bool { return os.Getenv("KILN_VMTEST") != "" }

// SkipOrFail skips the test with the reason, or fails it when Required.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (KILN_VMTEST is set: this test must run here; `make deps` installs what tests need)", msg)
		return
	}
	t.Skip(msg)
}
