package system

import (
	"strings"
	"testing"

	"github.com/kiln-os/kiln/modules"
)

// TestImpermanenceEtc: with an ephemeral root, fstab mounts a tmpfs on /
// and the root partition (with its options and growfs) at the persist
// path, no repart definition is written (systemd-repart cannot find a disk
// under a tmpfs), ssh-keygen writes the host keys where they persist, and
// the spec lists the default and declared persisted paths.
func TestImpermanenceEtc(t *testing.T) {
	sys := modules.System{
		Mounts:       map[string]modules.Mount{"/": {Device: "LABEL=kiln-root", FSType: "ext4", Options: []string{"noatime"}, AutoResize: true}},
		SSH:          modules.SSH{Enable: true},
		Impermanence: modules.Impermanence{Enable: true, Path: "/persist", Directories: []string{"/var/lib/app", "/home"}, Files: []string{"/etc/adjtime", "/etc/machine-id"}},
	}
	entries, err := GenerateEtc(&sys, fakePackages(t))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		files[e.Path] = string(e.Data)
	}
	if got, want := files["fstab"], "tmpfs / tmpfs mode=0755 0 0\nLABEL=kiln-root /persist ext4 noatime,x-systemd.growfs 0 0\n"; !strings.Contains(got, want) {
		t.Errorf("fstab:\n%s\nwant it to contain:\n%s", got, want)
	}
	if _, ok := files[repartRootConf]; ok {
		t.Errorf("%s written under an ephemeral root", repartRootConf)
	}
	if got := files["systemd/system/kiln-sshd-keygen.service"]; !strings.Contains(got, "ExecStart=/usr/bin/ssh-keygen -A -f /persist\n") || !strings.Contains(got, "ConditionPathIsMountPoint=/persist\n") {
		t.Errorf("keygen unit:\n%s", got)
	}
	p := planPersist(&sys)
	if strings.Join(p.Directories, " ") != "/home /var/lib/app" || !strings.Contains(strings.Join(p.Files, " "), "/etc/adjtime /etc/machine-id /etc/ssh/ssh_host_ecdsa_key") {
		t.Errorf("persist: %+v", p)
	}
	sys.Impermanence.Enable = false
	if planPersist(&sys) != nil {
		t.Errorf("persist without impermanence")
	}
}
