package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	goldenfile "github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/internal/testenv"
)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), got)
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name string
		l    Layout
	}{
		{"default", Layout{Seed: "0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r", RootDir: "/stage/root",
			ESP: map[string]string{"EFI/BOOT/BOOTX64.EFI": "/s/efi", "/loader/loader.conf": "/s/loader.conf"}}},
		{"small", Layout{Size: 300<<20 + 12345, ESPSize: 64 << 20, Seed: "other", RootDir: "/r"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := PlanDisk(tc.l)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "plan-"+tc.name+".txt", []byte(m.String()))
			// The root ends on the disk's last 4 KiB boundary before the
			// backup GPT, so systemd-repart has nothing to grow on a disk
			// of the image's own size.
			if last, end := m.Size/SectorSize-gptSectors, m.Root().End; (end+1)%rootGrain != 0 || last-end >= rootGrain {
				t.Errorf("root ends at sector %d, last usable %d: want the last 4 KiB boundary", end, last)
			}
			again, _ := PlanDisk(tc.l)
			if again.String() != m.String() {
				t.Error("Plan is not deterministic")
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name string
		l    Layout
		want string
	}{
		{"no seed", Layout{RootDir: "/r"}, "seed is empty"},
		{"no root", Layout{Seed: "s"}, "root directory is empty"},
		{"tiny esp", Layout{Seed: "s", RootDir: "/r", ESPSize: 32 << 20}, "at least 64 MiB"},
		{"unaligned esp", Layout{Seed: "s", RootDir: "/r", ESPSize: 100<<20 + 1}, "multiple of 1 MiB"},
		{"no room", Layout{Seed: "s", RootDir: "/r", Size: 300 << 20}, "less than 64 MiB for the root"},
		{"escape", Layout{Seed: "s", RootDir: "/r", ESP: map[string]string{"../x": "/a"}}, `bad ESP file "../x"`},
		{"fat case", Layout{Seed: "s", RootDir: "/r", ESP: map[string]string{"EFI/a": "/a", "efi/A": "/b"}}, "collide on FAT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PlanDisk(tc.l)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// fixture makes a small root tree shaped like a kiln system (store paths
// with read-only dirs, a hardlinked file, symlinks, a profile link, empty
// FHS dirs) and ESP files with a fake systemd-boot and loader entries.
func fixture(t *testing.T) Layout {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	sp := filepath.Join(root, "kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello")
	must(os.MkdirAll(filepath.Join(sp, "bin"), 0o755))
	must(os.WriteFile(filepath.Join(sp, "bin/hello"), bytes.Repeat([]byte("#!/bin/sh\necho hello\n"), 3000), 0o555))
	must(os.Link(filepath.Join(sp, "bin/hello"), filepath.Join(sp, "bin/hi")))
	must(os.Symlink("hello", filepath.Join(sp, "bin/hey")))
	// A store-path link, longer than ext4's 60-byte fast symlinks (the sw
	// forest is thousands of these).
	must(os.Symlink("/kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello/bin/hello-far-away", filepath.Join(sp, "bin/far")))
	for i := range 300 { // a directory bigger than one block
		must(os.WriteFile(filepath.Join(sp, fmt.Sprintf("bin/tool-%03d", i)), []byte{byte(i)}, 0o444))
	}
	must(os.Chmod(filepath.Join(sp, "bin"), 0o555))
	must(os.Chmod(sp, 0o555))
	must(os.MkdirAll(filepath.Join(root, "kiln/var/profiles"), 0o755))
	must(os.Symlink("/kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello", filepath.Join(root, "kiln/var/profiles/system-1-link")))
	must(os.Symlink("system-1-link", filepath.Join(root, "kiln/var/profiles/system")))
	for _, d := range []string{"etc", "proc", "sys", "dev", "run", "var", "home", "mnt", "boot"} {
		must(os.Mkdir(filepath.Join(root, d), 0o755))
	}
	must(os.Mkdir(filepath.Join(root, "tmp"), 0o755))
	must(os.Chmod(filepath.Join(root, "tmp"), os.ModeSticky|0o777))
	must(os.Mkdir(filepath.Join(root, "root"), 0o700))
	t.Cleanup(func() { os.Chmod(sp, 0o755); os.Chmod(filepath.Join(sp, "bin"), 0o755) })

	esp := map[string]string{}
	put := func(p, content string) {
		src := filepath.Join(dir, "esp-src", filepath.FromSlash(p))
		must(os.MkdirAll(filepath.Dir(src), 0o755))
		must(os.WriteFile(src, []byte(content), 0o444))
		esp[p] = src
	}
	put("EFI/BOOT/BOOTX64.EFI", "MZ fake systemd-boot")
	put("EFI/systemd/systemd-bootx64.efi", "MZ fake systemd-boot")
	put("EFI/kiln/1111111111111111111111111111111a-vmlinuz-6.1.0-56-cloud-amd64", strings.Repeat("kernel", 100000))
	put("EFI/kiln/2222222222222222222222222222222b-initrd", strings.Repeat("initrd", 20000))
	put("loader/loader.conf", "timeout 3\ndefault kiln-generation-1.conf\neditor no\n")
	put("loader/entries.srel", "type1\n")
	put("loader/entries/kiln-generation-1.conf", "title kiln\nsort-key kiln\nversion Generation 1\n"+
		"linux /EFI/kiln/1111111111111111111111111111111a-vmlinuz-6.1.0-56-cloud-amd64\n"+
		"initrd /EFI/kiln/2222222222222222222222222222222b-initrd\n"+
		"options init=/kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello/init root=LABEL=kiln-root rw\n")
	return Layout{Size: 200 << 20, ESPSize: 64 << 20, Seed: "0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r", RootDir: root, ESP: esp}
}

func writeImage(t *testing.T, l Layout) (string, *DiskPlan) {
	t.Helper()
	m, err := PlanDisk(l)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "disk.img")
	progress, ended := progressCheck(t)
	if err := ApplyDisk(context.Background(), out, m, progress); err != nil {
		t.Fatal(err)
	}
	ended()
	return out, m
}

// progressCheck returns a progress callback that fails the test when
// progress goes back, and a func that checks it ended at its total.
func progressCheck(t *testing.T) (progress func(done, total int64), ended func()) {
	var last, total int64
	progress = func(done, tot int64) {
		if done < last {
			t.Errorf("progress went back from %d to %d", last, done)
		}
		last, total = done, tot
	}
	ended = func() {
		t.Helper()
		if last != total || total == 0 {
			t.Errorf("progress ended at %d of %d", last, total)
		}
	}
	return progress, ended
}

func TestWrite(t *testing.T) {
	l := fixture(t)
	img, m := writeImage(t, l)
	run(t, "sfdisk", "--verify", img)
	dump := run(t, "sfdisk", "--dump", img)
	for _, w := range []string{
		"label: gpt", "label-id: " + m.DiskGUID,
		"start=        2048, size=      131072, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=" + m.ESP().GUID + `, name="ESP"`,
		"type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=" + m.Root().GUID + `, name="kiln-root"`,
	} {
		if !strings.Contains(dump, w) {
			t.Errorf("sfdisk --dump lacks %q:\n%s", w, dump)
		}
	}

	dir := t.TempDir()
	espImg := extract(t, img, m.ESP(), filepath.Join(dir, "esp.img"))
	run(t, "fsck.vfat", "-n", espImg)
	if out := run(t, "blkid", "-p", "-o", "export", espImg); !strings.Contains(out, "LABEL=ESP") || !strings.Contains(out, "UUID="+m.ESP().FSUUID) {
		t.Errorf("blkid of the ESP:\n%s", out)
	}
	espTree := filepath.Join(dir, "esp")
	run(t, "mcopy", "-s", "-n", "-i", espImg, "::/", espTree)
	for p, src := range l.ESP {
		want, _ := os.ReadFile(src)
		got, err := os.ReadFile(filepath.Join(espTree, p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ESP %s: got %d bytes (%v), want %d", p, len(got), err, len(want))
		}
	}
	if out := testenv.BootctlList(t, espTree); !strings.Contains(out, "id: kiln-generation-1.conf") || strings.Contains(out, "No such file") {
		t.Errorf("bootctl list:\n%s", out)
	}

	rootImg := extract(t, img, m.Root(), filepath.Join(dir, "root.img"))
	run(t, "e2fsck", "-fn", rootImg)
	if out := run(t, "blkid", "-p", "-o", "export", rootImg); !strings.Contains(out, "LABEL=kiln-root") || !strings.Contains(out, "UUID="+strings.ToLower(m.Root().FSUUID)) {
		t.Errorf("blkid of the root:\n%s", out)
	}
	ls := run(t, "debugfs", "-R", "ls -l /kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello/bin", rootImg)
	if ino := inodeOf(ls, "hello"); ino == "" || ino != inodeOf(ls, "hi") {
		t.Errorf("hardlinked hello and hi have inodes %q and %q:\n%.400s", inodeOf(ls, "hello"), inodeOf(ls, "hi"), ls)
	}
	for _, c := range []struct{ path, want string }{
		{"/tmp", "Mode:  01777"}, {"/root", "Mode:  0700"}, {"/kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello", "Mode:  0555"},
		{"/kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello/bin/hello", "Links: 2"},
		{"/kiln/var/profiles/system-1-link", `Fast link dest: "/kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello"`},
		// inline_data: a long link and a small file take no data block.
		{"/kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello/bin/far", "Blockcount: 0"},
		{"/kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello/bin/far", `Fast link dest: "/kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello/bin/hello-far-away"`},
		{"/kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello/bin/tool-001", "Size of inline data"},
		{"/boot", "User:     0   Group:     0"},
		{"/etc", "mtime: 0x00000001"},
	} {
		if out := run(t, "debugfs", "-R", "stat "+c.path, rootImg); !strings.Contains(out, c.want) {
			t.Errorf("debugfs stat %s lacks %q:\n%s", c.path, c.want, out)
		}
	}
}

func TestWriteTwiceSameBytes(t *testing.T) {
	a, _ := writeImage(t, fixture(t))
	b, _ := writeImage(t, fixture(t)) // another tree, made later: other ctimes
	if ha, hb := fileHash(t, a), fileHash(t, b); ha != hb {
		t.Errorf("two images of the same layout differ: %s vs %s", ha, hb)
	}
}

func TestWriteReplacesAtomically(t *testing.T) {
	l := fixture(t)
	m, _ := PlanDisk(l)
	out := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(out, []byte("old"), 0o644)
	delete(l.ESP, "loader/loader.conf")
	m.ESPFiles = append(m.ESPFiles, ESPFile{Path: "missing", Source: "/nonexistent/file"})
	if err := ApplyDisk(context.Background(), out, m, nil); err == nil || !strings.Contains(err.Error(), "ESP file missing") {
		t.Fatalf("got %v, want an error naming the missing ESP file", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Errorf("a failed write changed %s", out)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("a failed write left files behind: %v", ents)
	}
}

func TestWriteRootTooBig(t *testing.T) {
	l := fixture(t)
	big := filepath.Join(l.RootDir, "var", "big")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 200<<20); err != nil { // sparse: costs nothing here
		t.Fatal(err)
	}
	m, err := PlanDisk(l)
	if err != nil {
		t.Fatal(err)
	}
	err = ApplyDisk(context.Background(), filepath.Join(t.TempDir(), "disk.img"), m, nil)
	if err == nil || !strings.Contains(err.Error(), "the root tree has 200 MiB of files, the 134 MiB root partition") {
		t.Fatalf("got %v, want an error naming the sizes", err)
	}
}

func inodeOf(ls, name string) string {
	for _, line := range strings.Split(ls, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == name {
			return f[0]
		}
	}
	return ""
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// extract copies a partition out of the image into its own file.
func extract(t *testing.T, img string, p Partition, out string) string {
	t.Helper()
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := io.Copy(dst, io.NewSectionReader(src, p.Offset(), p.Size())); err != nil {
		t.Fatal(err)
	}
	return out
}

func fileHash(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// Every ESP entry is dated fatTime, set after go-diskfs wrote it with the
// clock (kiln never sets the process's SOURCE_DATE_EPOCH).
func TestESPTimestampsFixed(t *testing.T) {
	img, m := writeImage(t, fixture(t))
	esp := extract(t, img, m.ESP(), filepath.Join(t.TempDir(), "esp.img"))
	out := run(t, "mdir", "-/", "-a", "-i", esp, "::/")
	dated := regexp.MustCompile(`(?m)^\S.*\s(\d{4}-\d\d-\d\d\s+\d+:\d\d)\s`)
	entries := dated.FindAllStringSubmatch(out, -1)
	if len(entries) < 10 {
		t.Fatalf("mdir listed %d dated entries:\n%s", len(entries), out)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e[1], "1980-01-01") || !strings.HasSuffix(e[1], " 0:00") {
			t.Errorf("ESP entry dated %s, want 1980-01-01 0:00: %s", e[1], strings.TrimSpace(e[0]))
		}
	}
}
