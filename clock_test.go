package kiln_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
)

// clockAhead is how far the clock-ahead run moves time.Now: twenty years
// of 365 days, far past every fixture date, key and Valid-Until.
const clockAhead = "20 * 365 * 86400"

// TestClockYearsAhead runs every package's tests (but the VM tests, which
// boot a guest with its own clock) again with time.Now moved twenty years
// ahead in the test binaries: the standard library's time.Now is
// replaced through `go test -overlay`, so fixtures, libraries and the
// code under test all see the same future. A test that mixes a fixed
// fixture date with the real clock (a key made "an hour ago" verified at
// a fixed date) fails here today instead of on some later day in CI.
func TestClockYearsAhead(t *testing.T) {
	if testenv.ClockAhead() {
		return // the child run: the repository's own package is not rerun
	}
	testenv.Slow(t, "rebuilds and reruns the unit tests")
	testenv.NeedTools(t, "go")
	overlay := writeClockOverlay(t)
	cmd := exec.Command("go", "test", "-overlay", overlay, "-count=1", "-timeout", "20m", "./...")
	cmd.Env = append(clockAheadEnv(), testenv.ClockAheadEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test ./... with the clock %s s ahead: %v\n%s", clockAhead, err, out)
	}
	t.Logf("clock-ahead run:\n%s", out)
}

// clockAheadEnv is this process's environment without KILN_VMTEST: the
// child run skips the VM tests (and what needs root or tools the main run
// already requires).
func clockAheadEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KILN_VMTEST=") {
			env = append(env, e)
		}
	}
	return env
}

// writeClockOverlay writes a copy of GOROOT's time/time.go whose Now adds
// clockAhead seconds, and the overlay file that swaps it in.
func writeClockOverlay(t *testing.T) string {
	t.Helper()
	orig := filepath.Join(runtime.GOROOT(), "src", "time", "time.go")
	src, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "\tsec, nsec, mono := runtimeNow()\n"
	if strings.Count(string(src), anchor) != 1 {
		t.Fatalf("%s: time.Now no longer starts with %q; update the clock overlay", orig, anchor)
	}
	patched := strings.Replace(string(src), anchor, anchor+"\tsec += "+clockAhead+"\n", 1)
	dir := t.TempDir()
	timeGo := filepath.Join(dir, "time.go")
	if err := os.WriteFile(timeGo, []byte(patched), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(map[string]map[string]string{"Replace": {orig: timeGo}})
	if err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlay, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return overlay
}
