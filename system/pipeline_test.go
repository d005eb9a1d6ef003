package system

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/store"
)

// Build's errors before anything is fetched are typed: no lock, a stale
// lock naming what it lacks, a configuration's diagnostics.
func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	host := filepath.Join(dir, "host.hcl")
	lockFile := filepath.Join(dir, debian.LockFile)
	o := Options{Store: st, HostFile: host, LockFile: lockFile, PlanOptions: PlanOptions{KilnBinary: "/bin/true"}}
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(host, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("packages = [pkgs.nginx]\n")
	_, err = Build(context.Background(), o)
	var nolock *NoLockError
	if !errors.As(err, &nolock) || nolock.Lock != lockFile || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("without a lock: %v", err)
	}
	lock := &debian.Lock{Version: debian.LockVersion, Roots: debian.Roots{Packages: []string{"systemd"}},
		Packages: []debian.LockedPackage{{Name: "systemd", Version: "252", Arch: "amd64", SHA256: strings.Repeat("a", 64), Filename: "pool/s.deb", Size: 1, Suite: "bookworm"}}}
	if err := lock.Write(lockFile); err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), o)
	var stale *StaleLockError
	if !errors.As(err, &stale) || !slices.Contains(stale.Missing, "nginx") || stale.Lock != lockFile {
		t.Errorf("a stale lock: %v", err)
	}
	write("config {\n  networking.host_nmae = \"x\"\n}\n")
	_, err = Build(context.Background(), o)
	var cerr *ConfigError
	if !errors.As(err, &cerr) || err.Error() != "configuration has 1 error" || !strings.Contains(modules.DiagnosticText(cerr.Diagnostics, 0), "host.hcl line 2") {
		t.Errorf("a bad configuration: %v %s", err, modules.DiagnosticText(cerr.Diagnostics, 0))
	}
}
