package cli

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/store"
)

// Every built-in module behind a `when` locks and builds both switched off
// and switched on, and what it brings is there exactly when it is on: a
// pkgs.NAME under a false `when` is neither locked nor resolved (a host
// without ssh once failed to build: "Unknown package openssh-server").
func TestBuiltinModulesOffAndOn(t *testing.T) {
	testenv.NeedLiveArchive(t)
	testenv.Slow(t, "locks and builds eight systems")
	cache, _ := os.UserCacheDir()
	env := map[string]string{"XDG_CACHE_HOME": cache, "KILN_MIRROR": os.Getenv("KILN_MIRROR")}
	storeDir := filepath.Join(t.TempDir(), "store")
	base := "networking {\n  host_name = \"x\"\n}\n"
	tests := []struct {
		module, off, on string
		pkg             string // locked only when on ("" none)
		file            string // in the toplevel only when on
	}{
		{"ssh", "", "ssh {\n  enable = true\n}\n", "openssh-server", "etc/systemd/system/multi-user.target.wants/ssh.service"},
		{"networking.dhcp", "networking {\n  dhcp = false\n}\n", "networking {\n  dhcp = true\n}\n", "systemd-resolved", "etc/systemd/network/99-kiln-dhcp.network"},
		{"testing.backdoor", "", "testing {\n  backdoor = true\n}\n", "", "etc/systemd/system/kiln-backdoor.service"},
		{"documentation", "", "documentation {\n  enable = true\n}\n", "", "sw/share/doc/bash/README.gz"},
	}
	for _, tc := range tests {
		for _, on := range []bool{false, true} {
			name := tc.module + "/off"
			src := base + tc.off
			if on {
				name, src = tc.module+"/on", base+tc.on
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				host := filepath.Join(dir, "host.hcl")
				if err := os.WriteFile(host, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
				for _, args := range [][]string{{"lock", "-c", host}, {"build", "-c", host, "-o", filepath.Join(dir, "result")}} {
					code, out, errs := runCLIWith(t, nil, env, append([]string{"--store", storeDir}, args...)...)
					if code != ExitOK {
						t.Fatalf("kiln %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
					}
				}
				lock, err := debian.ReadLock(filepath.Join(dir, debian.HostLockFile(host)))
				if err != nil {
					t.Fatal(err)
				}
				if tc.pkg != "" {
					if _, locked := lock.StorePath(tc.pkg); locked != on {
						t.Errorf("%s locked: %v, want %v", tc.pkg, locked, on)
					}
				}
				top, err := os.Readlink(filepath.Join(dir, "result"))
				if err != nil {
					t.Fatal(err)
				}
				st, err := store.Open(storeDir)
				if err != nil {
					t.Fatal(err)
				}
				// The parent is resolved in the store; the entry itself may
				// be a link to an FHS path (enablement links are).
				p, err := st.ResolveLogical(path.Dir(store.LogicalDir + "/" + filepath.Base(top) + "/" + tc.file))
				if err == nil {
					_, err = os.Lstat(filepath.Join(st.PhysicalPath(p), path.Base(tc.file)))
				}
				if present := err == nil; present != on {
					t.Errorf("%s in the toplevel: %v, want %v (%v)", tc.file, present, on, err)
				}
			})
		}
	}
}
