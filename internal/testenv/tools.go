package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Test servers that are Go programs come from the Go module proxy, pinned
// here, and `make tools` (which `make test` runs) builds each into
// ToolsDir()/<name>-<version>/, only when it is missing. The Makefile
// reads the versions from this file.
const (
	// SeaweedFSVersion is the SeaweedFS (Apache-2.0) the S3 tests run: a
	// real S3 server ("weed server -s3").
	SeaweedFSVersion = "v0.0.0-20261109003541-7506e5f91cd6"
)

// ToolsDir is where `make tools` installs test servers:
// $KILN_TOOLS, else $XDG_CACHE_HOME/kiln/tools, else ~/.cache/kiln/tools.
func ToolsDir() string {
	if d := os.Getenv("KILN_TOOLS"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "kiln", "tools")
	}
	return ""
}

// Weed returns the path of SeaweedFS's weed program: the pinned build in
// ToolsDir, else one on PATH. Without it the test skips, or fails where
// KILN_VMTEST is set.
func Weed(t testing.TB) string {
	t.Helper()
	if ClockAhead() {
		// S3 requests are signed with the client's clock, and the server,
		// which keeps the real one, refuses a request 20 years ahead.
		t.Skip("S3 server: requests carry the test binary's clock, the server checks them against the real one")
		return ""
	}
	return tool(t, "weed", filepath.Join(ToolsDir(), "seaweedfs-"+SeaweedFSVersion, "weed"))
}

func tool(t testing.TB, name, pinned string) string {
	t.Helper()
	if st, err := os.Stat(pinned); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
		return pinned
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	SkipOrFail(t, "%s is not installed at %s nor on PATH (`make tools` builds it; it takes minutes once)", name, pinned)
	return ""
}
