package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/testenv"
)

func TestInspectDisk(t *testing.T) {
	const size = 8 << 20
	tests := []struct {
		name string
		fill func(b []byte)
		want string
	}{
		{"blank", func(b []byte) {}, ""},
		{"gpt", func(b []byte) { copy(b[512:], "EFI PART") }, "a GPT partition table"},
		{"mbr", func(b []byte) { b[446+4] = 0x83; b[510], b[511] = 0x55, 0xAA }, "an MBR partition table"},
		{"mbr signature only", func(b []byte) { b[510], b[511] = 0x55, 0xAA }, "data"},
		{"backup gpt", func(b []byte) { copy(b[size-512:], "EFI PART") }, "a backup GPT header"},
		{"ext4 superblock", func(b []byte) { b[1080], b[1081] = 0x53, 0xEF }, "data"},
		{"end of disk", func(b []byte) { b[size-4096] = 1 }, "data"},
		// Only the ends are read: the middle of a disk is not looked at.
		{"middle", func(b []byte) { b[size/2] = 1 }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, size)
			tc.fill(b)
			got, err := inspectDisk(bytes.NewReader(b), size)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got, tc.want) || (tc.want == "") != (got == "") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestInstallFile installs onto a blank file, checks the disk with sfdisk
// and e2fsck, refuses the now partitioned file, and installs again with
// Wipe.
func TestInstallFile(t *testing.T) {
	testenv.NeedTools(t, "sfdisk", "mkfs.ext4", "e2fsck", "debugfs")
	st, tops := testStore(t)
	disk := filepath.Join(t.TempDir(), "disk.img")
	const size = 400<<20 + 12345 // not a whole MiB: the GPT ends on the disk's last sector anyway
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opts := InstallOptions{ESPSize: MinESPSize}
	if err := Install(ctx, st, disk, opts, nil, tops...); err == nil || !strings.Contains(err.Error(), "the file is empty") {
		t.Fatalf("install onto an empty file: got %v, want the file is empty", err)
	}
	if err := os.Truncate(disk, size); err != nil {
		t.Fatal(err)
	}
	if err := Install(ctx, st, disk, opts, nil, tops...); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(disk); fi.Size() != size {
		t.Errorf("the disk file is %d bytes, was %d", fi.Size(), size)
	}
	run(t, "sfdisk", "--verify", disk)
	dump := run(t, "sfdisk", "--dump", disk)
	if !strings.Contains(dump, `name="ESP"`) || !strings.Contains(dump, `name="kiln-root"`) {
		t.Errorf("sfdisk --dump:\n%s", dump)
	}
	l, cleanup, err := SystemLayout(st, SystemOptions{Size: size, ESPSize: MinESPSize}, tops...)
	if err != nil {
		t.Fatal(err)
	}
	m, err := PlanDisk(l)
	cleanup()
	if err != nil {
		t.Fatal(err)
	}
	root := extract(t, disk, m.Root(), filepath.Join(t.TempDir(), "root.img"))
	run(t, "e2fsck", "-fn", root)
	if out := run(t, "debugfs", "-R", "ls /kiln/var/profiles", root); !strings.Contains(out, "system-1-link") {
		t.Errorf("the installed root has no system-1-link:\n%s", out)
	}

	err = Install(ctx, st, disk, opts, nil, tops...)
	var nb *NotBlankError
	if !errors.As(err, &nb) || nb.What != "a GPT partition table" {
		t.Fatalf("second install without Wipe: got %v, want a refusal naming the GPT", err)
	}
	if !strings.Contains(err.Error(), "pass --wipe") {
		t.Errorf("the refusal does not say how to proceed: %v", err)
	}
	opts.Wipe = true
	if err := Install(ctx, st, disk, opts, nil, tops...); err != nil {
		t.Fatalf("install with Wipe: %v", err)
	}
	run(t, "sfdisk", "--verify", disk)
}

// TestInstallLoopDevice installs onto a loop block device: opened
// exclusively, sized by ioctl, wiped by BLKZEROOUT.
func TestInstallLoopDevice(t *testing.T) {
	testenv.NeedRoot(t, "a loop device")
	testenv.NeedTools(t, "losetup", "sfdisk")
	st, tops := testStore(t)
	file := filepath.Join(t.TempDir(), "backing.img")
	if err := os.WriteFile(file, []byte("not blank"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, 300<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", file).CombinedOutput()
	if err != nil {
		testenv.SkipOrFail(t, "losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	ctx := context.Background()
	var nb *NotBlankError
	if err := Install(ctx, st, dev, InstallOptions{ESPSize: MinESPSize}, nil, tops...); !errors.As(err, &nb) {
		t.Fatalf("install onto a device holding data: got %v, want a refusal", err)
	}
	if err := Install(ctx, st, dev, InstallOptions{ESPSize: MinESPSize, Wipe: true}, nil, tops...); err != nil {
		t.Fatal(err)
	}
	run(t, "sfdisk", "--verify", dev)
	// Held open exclusively by someone else: refused.
	held, err := os.OpenFile(dev, os.O_RDONLY|unix.O_EXCL, 0) // exclusive on a block device
	if err == nil {
		defer held.Close()
		if err := Install(ctx, st, dev, InstallOptions{ESPSize: MinESPSize, Wipe: true}, nil, tops...); err == nil || !strings.Contains(err.Error(), "in use") {
			t.Errorf("install onto a device held open: got %v, want a refusal", err)
		}
	}
}
