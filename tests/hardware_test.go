package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/testvm"
)

// genericHost is a generic-hardware system: Debian's generic kernel and
// the initrd modules of real disks.
const genericHost = `
networking {
  host_name = "kilngeneric"
}

hardware {
  profile = "generic"
}

testing {
  backdoor = true
}

bootloader {
  timeout = 0
}
`

// TestGenericHardwareBuses boots one generic-hardware image from an NVMe,
// a SATA (AHCI) and a virtio-scsi disk in turn: stage 1 loads the
// controllers' modules and finds the root's label on whichever disk
// holds it. Each boot only waits for multi-user.target and looks at the
// root device.
func TestGenericHardwareBuses(t *testing.T) {
	testenv.NeedVM(t)
	bin := kilnBinary(t)
	dir := hostDir(t, genericHost)
	// The repository's lock with the generic kernel instead of the cloud
	// one, and firmware-linux-free.
	lock, err := os.ReadFile(filepath.Join(repoRoot(t), "tests", "testdata", "generic.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kiln.lock"), lock, 0o644); err != nil {
		t.Fatal(err)
	}
	storeDir := filepath.Join(t.TempDir(), "store")
	img := filepath.Join(dir, "disk.img")
	kiln(t, bin, dir, "--store", storeDir, "image", "-c", "host.hcl", "-o", img)

	for _, tc := range []struct{ bus, root string }{
		{testvm.BusNVMe, "/dev/nvme0n1p2"},
		{testvm.BusSATA, "/dev/sda2"},
		{testvm.BusVirtioSCSI, "/dev/sda2"},
	} {
		t.Run(tc.bus, func(t *testing.T) {
			start := time.Now()
			m := testvm.Start(t, testvm.WithDisk(img), testvm.WithDiskBus(tc.bus), testvm.WithoutNetwork(),
				testvm.WithName("generic-"+tc.bus))
			m.WaitForUnit("multi-user.target")
			t.Logf("%s: QEMU start to multi-user.target in %s", tc.bus, time.Since(start).Round(time.Second))
			g := guest{t, m}
			g.expect(tc.bus, [][3]string{
				{"root device", "findmnt -no SOURCE /", tc.root},
				{"generic kernel", "uname -r | grep -c -- '-amd64$'; uname -r | grep -c cloud || true", "1\n0"},
			})
			if out := g.out("cat /proc/cmdline"); !strings.Contains(out, "init=") {
				t.Errorf("kernel command line without init=: %s", out)
			}
			m.Shutdown()
		})
	}
}
