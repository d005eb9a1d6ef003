package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
// root device; the NVMe one boots a qcow2 image on a disk twice its size
// and sees the root grown (systemd-repart, systemd-growfs).
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
	// The NVMe boot is also the growth proof: the same system as a qcow2
	// image (2 GiB), enlarged to 4 GiB as a cloud enlarges a disk, grows
	// its root on first boot.
	qcow := filepath.Join(dir, "disk.qcow2")
	kiln(t, bin, dir, "--store", storeDir, "image", "-c", "host.hcl", "-o", qcow)
	if out, err := exec.Command("qemu-img", "resize", "-q", qcow, "4G").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img resize: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		bus, disk, root string
		grown           bool
	}{
		{testvm.BusNVMe, qcow, "/dev/nvme0n1p2", true},
		{testvm.BusSATA, img, "/dev/sda2", false},
		{testvm.BusVirtioSCSI, img, "/dev/sda2", false},
	} {
		t.Run(tc.bus, func(t *testing.T) {
			// The serial console goes to a file as it arrives, so a slow
			// or stuck boot can be watched while the test runs.
			serial, err := os.Create(filepath.Join(dir, "serial-"+tc.bus+".log"))
			if err != nil {
				t.Fatal(err)
			}
			defer serial.Close()
			t.Logf("%s: serial console in %s", tc.bus, serial.Name())
			start := time.Now()
			m := testvm.Start(t, testvm.WithDisk(tc.disk), testvm.WithDiskBus(tc.bus), testvm.WithoutNetwork(),
				testvm.WithName("generic-"+tc.bus), testvm.WithTimeout(10*time.Minute), testvm.WithSerialLog(serial))
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
			size, err := strconv.ParseInt(g.out("df -B1 --output=size / | tail -1"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: root file system %d MiB; %s", tc.bus, size>>20,
				g.out("systemd-analyze blame --no-pager | grep -E 'repart|growfs' | tr -s ' ' | tr '\\n' ';'"))
			if grown := size > 3<<30; grown != tc.grown {
				t.Errorf("%s: root file system of %d MiB on a %s disk", tc.bus, size>>20, map[bool]string{true: "4 GiB", false: "2 GiB"}[tc.grown])
			}
			m.Shutdown()
		})
	}
}
