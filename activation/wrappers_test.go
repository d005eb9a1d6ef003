package activation

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/toplevel"
)

// TestWrapperCapabilities: a wrapper with capabilities carries them as
// security.capability after its owner is set; a generation that changes
// only the capabilities makes the wrappers again.
func TestWrapperCapabilities(t *testing.T) {
	testenv.NeedRoot(t, "security.capability is set by root only")
	root := t.TempDir()
	probe := filepath.Join(root, "probe")
	if err := os.WriteFile(probe, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	c, _ := toplevel.ParseCapabilities("cap_net_raw+ep")
	if err := unix.Setxattr(probe, toplevel.XattrName, c.Xattr(), 0); err != nil {
		testenv.SkipOrFail(t, "%s cannot be set under %s: %v", toplevel.XattrName, root, err)
	}
	os.Remove(probe)
	spec := func(caps string) *toplevel.ActivationSpec {
		s := fullSpec()
		s.Wrappers = append(s.Wrappers, toplevel.Wrapper{Name: "ping", Source: "/usr/bin/ping", Owner: "root", Group: "root", Mode: "0755", Capabilities: caps})
		return s
	}
	tree := map[string]string{"bin/ping": "ping program"}
	for k, v := range swTree {
		tree[k] = v
	}
	check := func(gen, caps string) {
		t.Helper()
		c, err := toplevel.ParseCapabilities(caps)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := unix.Getxattr(under(root, "/run/wrappers/bin/ping"), toplevel.XattrName, buf)
		if err != nil {
			t.Fatalf("%s: no %s on the ping wrapper: %v", gen, toplevel.XattrName, err)
		}
		if !bytes.Equal(buf[:n], c.Xattr()) {
			t.Errorf("%s: the ping wrapper's capabilities are % x, want %s (% x)", gen, buf[:n], caps, c.Xattr())
		}
	}
	gen1 := makeToplevel(t, root, "gen1", spec("cap_net_raw+ep"), baseGen.tree, tree)
	if err := Activate(root, gen1, Boot); err != nil {
		t.Fatal(err)
	}
	check("gen1", "cap_net_raw+ep")
	before, _ := filepath.Glob(under(root, "/run/wrappers/wrappers.*"))
	if err := Activate(root, gen1, Boot); err != nil {
		t.Fatal(err)
	}
	if after, _ := filepath.Glob(under(root, "/run/wrappers/wrappers.*")); len(after) != 1 || after[0] != before[0] {
		t.Errorf("re-activation replaced the wrappers: %v, then %v", before, after)
	}
	gen2 := makeToplevel(t, root, "gen2", spec("cap_net_raw,cap_net_admin+ep"), baseGen.tree, tree)
	if err := Activate(root, gen2, SwitchPhase); err != nil {
		t.Fatal(err)
	}
	check("gen2", "cap_net_raw,cap_net_admin+ep")
}
