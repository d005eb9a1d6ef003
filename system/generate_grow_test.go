package system

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/modules"
)

// TestRepartGrowsRoot judges the generated /etc/repart.d with the real
// systemd-repart, on a disk file laid out as kiln images are (a 1 MiB gap,
// the ESP, then the root-x86-64 partition up to the last 4 KiB before the
// backup GPT): on a disk of its own size it changes nothing; on a larger
// one it moves the backup GPT to the new end and grows the root to it,
// leaving the ESP and the root's start alone; then it changes nothing
// again. systemd-repart works on a plain file without privileges, and
// systemd-growfs then needs only the mounted file system.
func TestRepartGrowsRoot(t *testing.T) {
	repart := needTool(t, "systemd-repart")
	needTool(t, "sfdisk")
	needTool(t, "cmp")
	sys := modules.System{Mounts: map[string]modules.Mount{"/": {AutoResize: true}}}
	entries, err := GenerateEtc(&sys, fakePackages(t))
	if err != nil {
		t.Fatal(err)
	}
	defs := filepath.Join(t.TempDir(), "repart.d")
	for _, e := range entries {
		if name, ok := strings.CutPrefix(e.Path, "repart.d/"); ok {
			if err := os.MkdirAll(defs, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(defs, name), e.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := os.Stat(defs); err != nil {
		t.Fatalf("auto_resize on / generated no repart.d: %v", err)
	}

	const size, espStart, espSize = 256 << 20, 2048, 64 << 11
	rootStart := int64(espStart + espSize)
	rootEnd := int64((size/512-34+1)/8*8 - 1)
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, size); err != nil {
		t.Fatal(err)
	}
	layout := fmt.Sprintf("label: gpt\nstart=%d, size=%d, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"ESP\"\n"+
		"start=%d, size=%d, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=\"kiln-root\"\n",
		espStart, espSize, rootStart, rootEnd-rootStart+1)
	sfdisk := exec.Command("sfdisk", "-q", disk)
	sfdisk.Stdin = strings.NewReader(layout)
	if out, err := sfdisk.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	checkTable(t, disk, size, rootStart, rootEnd)

	grow := func() string {
		t.Helper()
		cmd := exec.Command(repart, "--dry-run=no", "--no-pager", "--definitions="+defs, disk)
		cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-repart: %v\n%s", err, out)
		}
		return string(out)
	}
	unchanged := func(what string) {
		t.Helper()
		before := disk + ".before"
		if out, err := exec.Command("cp", "--sparse=always", disk, before).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v\n%s", err, out)
		}
		if out := grow(); !strings.Contains(out, "No changes.") {
			t.Errorf("systemd-repart on %s:\n%s", what, out)
		}
		if out, err := exec.Command("cmp", before, disk).CombinedOutput(); err != nil {
			t.Errorf("systemd-repart changed %s: %v\n%s", what, err, out)
		}
	}
	unchanged("a disk of the image's own size")

	const bigger = 1 << 30
	if err := os.Truncate(disk, bigger); err != nil {
		t.Fatal(err)
	}
	out := grow()
	if !strings.Contains(out, "Growing existing partition") {
		t.Errorf("systemd-repart did not grow the root:\n%s", out)
	}
	checkTable(t, disk, bigger, rootStart, (bigger/512-34+1)/8*8-1)
	unchanged("the grown disk")
}

// checkTable runs sfdisk --verify on the disk and checks its table: the
// backup GPT at the disk's end, the ESP as made, the root from rootStart
// to rootEnd.
func checkTable(t *testing.T, disk string, size, rootStart, rootEnd int64) {
	t.Helper()
	if out, err := exec.Command("sfdisk", "--verify", disk).CombinedOutput(); err != nil || !strings.Contains(string(out), "No errors detected") {
		t.Fatalf("sfdisk --verify: %v\n%s", err, out)
	}
	out, err := exec.Command("sfdisk", "--json", disk).Output()
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		PartitionTable struct {
			LastLBA    int64 `json:"lastlba"`
			Partitions []struct {
				Start, Size int64
				Type, Name  string
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &table); err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, out)
	}
	pt := table.PartitionTable
	if pt.LastLBA != size/512-34 {
		t.Errorf("last usable sector %d, want %d: the backup GPT is not at the disk's end", pt.LastLBA, size/512-34)
	}
	if len(pt.Partitions) != 2 {
		t.Fatalf("partitions: %+v", pt.Partitions)
	}
	esp, root := pt.Partitions[0], pt.Partitions[1]
	if esp.Start != 2048 || esp.Size != 64<<11 || esp.Name != "ESP" {
		t.Errorf("ESP: %+v", esp)
	}
	if root.Start != rootStart || root.Start+root.Size-1 != rootEnd || root.Name != "kiln-root" {
		t.Errorf("root: sectors %d-%d (%+v), want %d-%d", root.Start, root.Start+root.Size-1, root, rootStart, rootEnd)
	}
}
