package toplevel

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/testenv"
)

// TestCapabilitiesMatchSetcap: for each text, the xattr kiln writes is
// the one libcap's setcap writes, byte for byte, and getcap reads it
// back.
func TestCapabilitiesMatchSetcap(t *testing.T) {
	testenv.NeedRoot(t, "setcap sets security.capability")
	testenv.NeedTools(t, "setcap", "getcap")
	for _, text := range []string{
		"cap_net_raw+ep",
		"cap_dac_override,cap_sys_admin,cap_net_admin=ep",
		"cap_net_bind_service=+eip",
		"cap_net_admin,cap_net_raw+p",
		"all=ep cap_sys_module-ep",
		"cap_bpf,cap_perfmon+ep",
	} {
		t.Run(text, func(t *testing.T) {
			c, err := ParseCapabilities(text)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(t.TempDir(), "prog")
			if err := os.WriteFile(f, []byte("x"), 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("setcap", text, f).CombinedOutput(); err != nil {
				testenv.SkipOrFail(t, "setcap %s: %v: %s (no xattrs here?)", text, err, out)
			}
			buf := make([]byte, 64)
			n, err := unix.Getxattr(f, XattrName, buf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], c.Xattr()) {
				t.Errorf("setcap wrote % x, kiln % x", buf[:n], c.Xattr())
			}
			g := filepath.Join(t.TempDir(), "prog")
			os.WriteFile(g, []byte("x"), 0o755)
			if err := unix.Setxattr(g, XattrName, c.Xattr(), 0); err != nil {
				t.Fatal(err)
			}
			a, _ := exec.Command("getcap", f).Output()
			b, _ := exec.Command("getcap", g).Output()
			if got, want := strings.TrimPrefix(string(b), g), strings.TrimPrefix(string(a), f); got != want || len(want) < 3 {
				t.Errorf("getcap reads %q from kiln's, %q from setcap's", b, a)
			}
		})
	}
}

func TestParseCapabilitiesErrors(t *testing.T) {
	for text, want := range map[string]string{
		"":               "empty",
		"cap_net_raw":    "no operator",
		"cap_bogus+ep":   `unknown capability "cap_bogus"`,
		"cap_net_raw+eq": `flag 'q'`,
		"cap_net_raw+e":  "the effective set must be empty or all",
		"cap_sys_nice,cap_ipc_lock+ep cap_sys_nice-e": "the effective set must be empty or all",
		"cap_net_raw-eip": "none permitted or inheritable",
	} {
		if _, err := ParseCapabilities(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCapabilities(%q) = %v, want %q", text, err, want)
		}
	}
}
