package activation

import (
	"os"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/toplevel"
)

// TestPersistAndAudit activates an ephemeral-root generation on a
// temporary machine: persisted files become links into /persist (the
// machine-id made there), persisted directories exist on both sides, and
// the state audit lists exactly the stray files.
func TestPersistAndAudit(t *testing.T) {
	root := t.TempDir()
	spec := baseSpec()
	spec.Persist = &toplevel.Persist{Path: "/persist", Directories: []string{"/var/lib/app"}, Files: []string{"/etc/machine-id", "/etc/ssh/ssh_host_ed25519_key"}}
	spec.Etc = append(spec.Etc, toplevel.EtcEntry{Path: "motd", Kind: toplevel.EtcLink})
	top := makeToplevel(t, root, "gen1", spec, map[string]string{"motd": "hi\n"}, nil)

	// Not yet ephemeral (no /persist): nothing is linked.
	if err := Activate(root, top, Boot); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Readlink(under(root, "/etc/machine-id")); err == nil {
		t.Errorf("/etc/machine-id linked before the root is ephemeral")
	}
	os.Remove(under(root, "/etc/machine-id"))

	writeFiles(t, root, map[string]string{"/persist/etc/ssh/ssh_host_ed25519_key": "key\n", "/persist/var/lib/app/data": "kept\n"})
	if err := Activate(root, top, Boot); err != nil {
		t.Fatal(err)
	}
	if got := readLink(t, root, "/etc/machine-id"); got != "/persist/etc/machine-id" {
		t.Errorf("/etc/machine-id -> %q", got)
	}
	if fi, err := os.Stat(under(root, "/persist/etc/machine-id")); err != nil || fi.Size() != 0 {
		t.Errorf("the persisted machine-id: %v %v (want an empty file made through the link)", fi, err)
	}
	if got := readFile(t, root, "/persist"+readLink(t, root, "/etc/ssh/ssh_host_ed25519_key")[len("/persist"):]); got != "key\n" {
		t.Errorf("host key through its link: %q", got)
	}
	if fi, err := os.Stat(under(root, "/var/lib/app")); err != nil || !fi.IsDir() {
		t.Errorf("/var/lib/app: %v", err)
	}

	writeFiles(t, root, map[string]string{"/root/stray": "x", "/var/cache/thing": "y", "/tmp/scratch": "z"})
	got, err := AuditState(root)
	if err != nil {
		t.Fatal(err)
	}
	// The temporary root is one file system, so what a real machine has on
	// other ones (the store, /persist, /run) is skipped by name here.
	var stray []string
	for _, p := range got {
		if !strings.HasPrefix(p, "/run/") {
			stray = append(stray, p)
		}
	}
	if s := strings.Join(stray, " "); s != "/root/stray /var/cache/thing" {
		t.Errorf("audit = %q, want /root/stray /var/cache/thing", s)
	}

	// A root that is not ephemeral is refused.
	plain := t.TempDir()
	spec.Persist = nil
	top2 := makeToplevel(t, plain, "gen2", spec, nil, nil)
	if err := Activate(plain, top2, Boot); err != nil {
		t.Fatal(err)
	}
	if _, err := AuditState(plain); err != ErrNotEphemeral {
		t.Errorf("audit of a disk root: %v", err)
	}
}
