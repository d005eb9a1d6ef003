package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/debian"
)

// TestBuildLockErrors: a build without a lock, or with a lock that does
// not cover the configuration, tells the user to run kiln lock.
func TestBuildLockErrors(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "host.hcl")
	if err := os.WriteFile(host, []byte("packages = [pkgs.nginx]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() (int, string) {
		code, _, stderr := runCLIIn(t, dir, "--store", filepath.Join(dir, "store"), "build", "-c", host)
		return code, stderr
	}
	if code, stderr := run(); code != ExitFailure || !strings.Contains(stderr, "no host.lock beside the configuration: run 'kiln lock -c "+host+"' first") {
		t.Errorf("missing lock: code %d, stderr %q", code, stderr)
	}
	lock := &debian.Lock{Version: debian.LockVersion, Roots: debian.Roots{Packages: []string{"systemd"}},
		Packages: []debian.LockedPackage{{Name: "systemd", Version: "252", Arch: "amd64", SHA256: strings.Repeat("a", 64), Filename: "pool/s.deb", Size: 1, Suite: "bookworm"}}}
	if err := lock.Write(filepath.Join(dir, "kiln.lock")); err != nil {
		t.Fatal(err)
	}
	code, stderr := run()
	if code != ExitFailure || !strings.Contains(stderr, "kiln.lock is stale: it does not lock ") || !strings.Contains(stderr, "nginx") || !strings.Contains(stderr, "run 'kiln lock -c") {
		t.Errorf("stale lock: code %d, stderr %q", code, stderr)
	}
}

// runCLIIn runs the real CLI in-process in dir.
func runCLIIn(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	code := Main(context.Background(), Env{
		Args: args, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(string) string { return "" }, Dir: dir,
	})
	return code, out.String(), errb.String()
}
