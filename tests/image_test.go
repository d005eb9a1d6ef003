package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
)

const formatsHost = `
networking {
  host_name = "kilnformats"
}
`

// TestImageFormatsAndGrowth writes one system as an image in every format
// and judges each by the real tools against the raw image (qemu-img
// check, info and compare; zstd -t and decompression); then it grows the
// raw image's root the way first boot will: systemd-repart with the
// repart.d definition read out of the image's own /etc, on a copy of the
// image enlarged to 3 GiB, then the file system resized to its partition
// (offline resize2fs where the machine runs systemd-growfs). On a copy of
// its own size systemd-repart changes nothing. Booting a grown image is
// the VM tests' part.
func TestImageFormatsAndGrowth(t *testing.T) {
	testenv.Slow(t, "builds a whole system")
	testenv.NeedTools(t, "qemu-img", "zstd", "cmp", "systemd-repart", "sfdisk", "debugfs", "resize2fs", "e2fsck")
	bin := kilnBinary(t)
	dir := hostDir(t, formatsHost)
	storeDir := filepath.Join(t.TempDir(), "store")
	image := func(args ...string) string {
		out := kiln(t, bin, dir, append([]string{"--store", storeDir, "image", "-c", "host.hcl", "--size", "1G"}, args...)...)
		if !filepath.IsAbs(out) {
			out = filepath.Join(dir, out)
		}
		return out
	}
	raw := image("-o", "disk.img")
	for _, c := range []struct{ args []string }{
		{[]string{"-o", "disk.img.zst"}},
		{[]string{"--format", "qcow2"}},
		{[]string{"-o", "disk.vhd"}},
		{[]string{"--format", "vmdk", "-o", "disk.vmdk"}},
	} {
		out := image(c.args...)
		switch {
		case strings.HasSuffix(out, ".zst"):
			run(t, "zstd", "-q", "-t", out)
			run(t, "sh", "-c", `zstd -q -d -c "$1" | cmp - "$2"`, "sh", out, raw)
		default:
			q := map[string]string{".qcow2": "qcow2", ".vhd": "vpc", ".vmdk": "vmdk"}[filepath.Ext(out)]
			if q != "vpc" {
				run(t, "qemu-img", "check", "-f", q, out)
			}
			var info struct {
				VirtualSize int64 `json:"virtual-size"`
			}
			if err := json.Unmarshal([]byte(run(t, "qemu-img", "info", "-f", q, "--output=json", out)), &info); err != nil || info.VirtualSize != 1<<30 {
				t.Errorf("qemu-img info %s: virtual size %d (%v), want 1 GiB", out, info.VirtualSize, err)
			}
			run(t, "qemu-img", "compare", "-q", "-f", "raw", "-F", q, raw, out)
		}
	}
	// A format the file name contradicts is refused before anything is built.
	cmd := exec.Command(bin, "--store", storeDir, "image", "-c", "host.hcl", "--format", "qcow2", "-o", "disk.vhd")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "name it disk.qcow2") {
		t.Errorf("kiln image --format qcow2 -o disk.vhd: %v\n%s", err, out)
	}

	// The image's own growth configuration.
	rootOff := partitionStart(t, raw, 2) * 512
	fsImg := fmt.Sprintf("%s?offset=%d", raw, rootOff)
	etc := strings.TrimSpace(run(t, "debugfs", "-R", "stat /kiln/var/profiles/system-1-link", fsImg))
	top := fastLinkTarget(t, etc)
	etcLink := fastLinkTarget(t, run(t, "debugfs", "-R", "stat "+top+"/etc", fsImg))
	defs := filepath.Join(t.TempDir(), "repart.d")
	if err := os.Mkdir(defs, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "debugfs", "-R", fmt.Sprintf("dump %s/repart.d/50-kiln-root.conf %s/50-kiln-root.conf", etcLink, defs), fsImg)
	if conf, err := os.ReadFile(filepath.Join(defs, "50-kiln-root.conf")); err != nil || !strings.Contains(string(conf), "Type=root") {
		t.Fatalf("the image's /etc/repart.d/50-kiln-root.conf: %q, %v", conf, err)
	}
	fstab := filepath.Join(t.TempDir(), "fstab")
	run(t, "debugfs", "-R", fmt.Sprintf("dump %s/fstab %s", etcLink, fstab), fsImg)
	if b, _ := os.ReadFile(fstab); !strings.Contains(string(b), " / ext4 defaults,x-systemd.growfs ") {
		t.Errorf("the image's fstab does not grow /:\n%s", b)
	}

	repart := func(disk string) string {
		return run(t, "systemd-repart", "--dry-run=no", "--no-pager", "--definitions="+defs, disk)
	}
	same := filepath.Join(t.TempDir(), "same.img")
	run(t, "cp", "--sparse=always", raw, same)
	if out := repart(same); !strings.Contains(out, "No changes.") {
		t.Errorf("systemd-repart on a disk of the image's size:\n%s", out)
	}
	run(t, "cmp", raw, same)

	big := filepath.Join(t.TempDir(), "big.img")
	run(t, "cp", "--sparse=always", raw, big)
	if err := os.Truncate(big, 3<<30); err != nil {
		t.Fatal(err)
	}
	repart(big)
	run(t, "sfdisk", "--verify", big)
	start, size := partitionStart(t, big, 2), partitionSize(t, big, 2)
	if last := int64(3<<30/512 - 34); start+size-1 < last-7 || start*512 != rootOff {
		t.Errorf("grown root: sectors %d-%d, want from %d to the last 4 KiB before sector %d", start, start+size-1, rootOff/512, last)
	}
	bigFS := fmt.Sprintf("%s?offset=%d", big, rootOff)
	run(t, "resize2fs", "-f", bigFS, fmt.Sprint(size*512/4096))
	run(t, "e2fsck", "-fn", bigFS)
	if out := run(t, "dumpe2fs", "-h", bigFS); !strings.Contains(out, fmt.Sprintf("Block count:              %d\n", size*512/4096)) {
		t.Errorf("grown file system:\n%s", out)
	}
}

// run runs a tool and returns its combined output; it fails the test on a
// non-zero exit.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fastLinkTarget reads a symlink's target from debugfs stat output.
func fastLinkTarget(t *testing.T, stat string) string {
	t.Helper()
	_, rest, ok := strings.Cut(stat, `Fast link dest: "`)
	target, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 {
		t.Fatalf("no symlink target in debugfs stat:\n%s", stat)
	}
	return target
}

type sfdiskTable struct {
	PartitionTable struct {
		Partitions []struct{ Start, Size int64 } `json:"partitions"`
	} `json:"partitiontable"`
}

func partition(t *testing.T, disk string, n int) (start, size int64) {
	t.Helper()
	var table sfdiskTable
	if err := json.Unmarshal([]byte(run(t, "sfdisk", "--json", disk)), &table); err != nil || len(table.PartitionTable.Partitions) < n {
		t.Fatalf("sfdisk --json %s: %v, %+v", disk, err, table)
	}
	p := table.PartitionTable.Partitions[n-1]
	return p.Start, p.Size
}

func partitionStart(t *testing.T, disk string, n int) int64 { s, _ := partition(t, disk, n); return s }
func partitionSize(t *testing.T, disk string, n int) int64  { _, s := partition(t, disk, n); return s }
