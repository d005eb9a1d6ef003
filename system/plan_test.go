package system

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/modules"
)

// The -update flag (of internal/golden) rewrites testdata/plan too.

// planPackages is a small but complete fake closure.
func planPackages(t *testing.T) *treePackages { return newTreePackages(t, planPackageFiles()) }

func planPackageFiles() map[string][]string {
	return map[string][]string{
		"linux-image-6.1.0-1-cloud-amd64": {
			"boot/vmlinuz-6.1.0-1-cloud-amd64",
			"lib/modules/6.1.0-1-cloud-amd64/modules.builtin=kernel/fs/ext4/ext4.ko\n",
		},
		"linux-image-cloud-amd64": {"usr/share/doc/linux-image-cloud-amd64/copyright"},
		"libc6":                   {"lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2->/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
		"base-files": {
			"usr/share/base-files/profile=# profile\n", "usr/share/base-files/motd=hello\n",
			"usr/lib/os-release=ID=debian\nVERSION_ID=\"12\"\n", "etc/os-release->../usr/lib/os-release", "etc/issue=Debian\n",
		},
		"systemd": {"usr/lib/sysusers.d/basic.conf=g users 100 -\nu root 0 - /root /bin/bash\n", "bin/systemctl",
			"usr/lib/systemd/system/getty@.service=[Unit]\nDescription=Getty on %I\n[Service]\nExecStart=-/sbin/agetty -o '-p -- \\\\u' --noclear - $TERM\n[Install]\nWantedBy=getty.target\n",
			"usr/lib/systemd/system/multi-user.target=[Unit]\nDescription=Multi-User System\n"},
		"util-linux":  {"bin/su", "usr/bin/more"},
		"mawk":        {"usr/bin/mawk"},
		"bash":        {"bin/bash", "etc/bash.bashrc=# bashrc\n"},
		"udev":        {"bin/udevadm"},
		"kmod":        {"bin/kmod"},
		"diffutils":   {"usr/bin/diff"},
		"base-passwd": {"usr/share/base-passwd/passwd.master"},
	}
}

func TestPlanGolden(t *testing.T) {
	pk := planPackages(t)
	kilnBin := filepath.Join(t.TempDir(), "kiln")
	if err := os.WriteFile(kilnBin, []byte("not really kiln"), 0o755); err != nil {
		t.Fatal(err)
	}
	uid := 1000
	sys := &modules.System{
		Networking: modules.Networking{HostName: "golden"},
		Kernel:     modules.Kernel{Package: "linux-image-cloud-amd64", Params: []string{"console=ttyS0,115200"}},
		Users:      map[string]modules.User{"alice": {UID: &uid, Groups: []string{"users"}}},
		Packages:   []string{"diffutils"},
	}
	p, err := PlanBuild(sys, pk, PlanOptions{KilnBinary: kilnBin, Version: "0.0.0-test"})
	if err != nil {
		t.Fatal(err)
	}
	var etc bytes.Buffer
	for _, e := range p.etc {
		what := e.Target
		if e.Data != nil {
			what = fmt.Sprintf("%d bytes", len(e.Data))
		}
		fmt.Fprintf(&etc, "%-8s %-40s %s\n", e.Kind, e.Path, what)
	}
	files := map[string][]byte{
		"plan.txt":        []byte(p.String()),
		"etc.txt":         etc.Bytes(),
		"activation.json": p.spec,
		"boot.json":       p.bootspec,
	}
	for name, got := range files {
		golden.Check(t, filepath.Join("testdata", "plan", name), got)
	}

	// A configuration change moves etc and the toplevel, nothing else.
	sys.Networking.HostName = "other"
	q, err := PlanBuild(sys, pk, PlanOptions{KilnBinary: kilnBin, Version: "0.0.0-test"})
	if err != nil {
		t.Fatal(err)
	}
	for part, path := range p.Parts {
		moved := q.Parts[part] != path
		if want := part == PartEtc || part == PartToplevel; moved != want {
			t.Errorf("after a host name change, %s moved = %v, want %v", part, moved, want)
		}
	}
}

// A package added to the closure moves what holds every package (sw, etc,
// hwdb, the toplevel) but not the kernel parts: the kernel image, its
// module tree and the initrd keep their paths, so a switch copies no new
// kernel or initrd over SSH or onto the ESP.
func TestPlanPackageChangeKeepsKernelParts(t *testing.T) {
	kilnBin := filepath.Join(t.TempDir(), "kiln")
	if err := os.WriteFile(kilnBin, []byte("not really kiln"), 0o755); err != nil {
		t.Fatal(err)
	}
	sys := &modules.System{
		Networking: modules.Networking{HostName: "h"},
		Kernel:     modules.Kernel{Package: "linux-image-cloud-amd64"},
	}
	opts := PlanOptions{KilnBinary: kilnBin, Version: "0.0.0-test"}
	p, err := PlanBuild(sys, planPackages(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	files := planPackageFiles()
	files["hello"] = []string{"usr/bin/hello"}
	sys.Packages = []string{"hello"}
	q, err := PlanBuild(sys, newTreePackages(t, files), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{PartKernel, PartKernelModules, PartInitrd, PartKiln} {
		if p.Parts[part] != q.Parts[part] {
			t.Errorf("adding a package moved %s: %s -> %s", part, p.Parts[part], q.Parts[part])
		}
	}
	if p.Parts[PartSw] == q.Parts[PartSw] {
		t.Errorf("adding a package did not move sw (%s)", p.Parts[PartSw])
	}
}

// An etc source that is a device or a named pipe is refused at once,
// naming the entry: /dev/zero was once hashed forever, a fifo blocked in
// open (issue 9, item 8).
func TestPlanRefusesSpecialEtcSources(t *testing.T) {
	pk := planPackages(t)
	kilnBin := filepath.Join(t.TempDir(), "kiln")
	os.WriteFile(kilnBin, []byte("not really kiln"), 0o755)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ source, want string }{
		{"/dev/zero", `etc "d": source: /dev/zero is a character device: not a regular file`},
		{fifo, `etc "d": source: ` + fifo + ` is a named pipe: not a regular file`},
	} {
		sys := &modules.System{
			Networking: modules.Networking{HostName: "h"},
			Kernel:     modules.Kernel{Package: "linux-image-cloud-amd64"},
			Etc:        map[string]modules.EtcFile{"d": {Source: tc.source}},
		}
		done := make(chan error, 1)
		go func() {
			_, err := PlanBuild(sys, pk, PlanOptions{KilnBinary: kilnBin, Version: "0.0.0-test"})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("source %s: %v, want %q", tc.source, err, tc.want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("source %s: PlanBuild still runs after 20 s", tc.source)
		}
	}
}
