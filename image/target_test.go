package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestResolveTarget(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "disk.img")
	os.WriteFile(file, []byte("old"), 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, out string
		want      Target
		err       string
	}{
		{"new file", filepath.Join(dir, "new.img"), Target{Path: filepath.Join(dir, "new.img")}, ""},
		{"file", file, Target{Path: file}, ""},
		{"link to a file", link("l-file", "disk.img"), Target{Path: file}, ""},
		{"char device", "/dev/null", Target{}, "/dev/null is a character device"},
		{"link to a char device", link("l-null", "/dev/null"), Target{}, "l-null (→ /dev/null) is a character device"},
		{"fifo", fifo, Target{}, "fifo is a named pipe"},
		{"directory", dir, Target{}, "is a directory"},
		{"dangling link", link("l-none", "nothing"), Target{}, "is a symlink that leads nowhere"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveTarget(tc.out)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// ApplyDisk through a symlink replaces the file it leads to and keeps the
// link; to a character device it refuses and leaves the device alone.
func TestWriteThroughSymlink(t *testing.T) {
	l := fixture(t)
	m, err := PlanDisk(l)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "disk.img"), []byte("old"), 0o644)
	link := filepath.Join(dir, "latest.img")
	os.Symlink("disk.img", link)
	if err := ApplyDisk(context.Background(), link, m, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi, err)
	}
	direct, _ := writeImage(t, l)
	if fileHash(t, filepath.Join(dir, "disk.img")) != fileHash(t, direct) {
		t.Error("the image written through the link differs from one written directly")
	}
	if err := ApplyDisk(context.Background(), "/dev/null", m, nil); err == nil || !strings.Contains(err.Error(), "character device") {
		t.Errorf("ApplyDisk to /dev/null: %v, want a refusal", err)
	}
	if fi, err := os.Lstat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is no longer a character device: %v %v", fi, err)
	}
}

// writeDevice writes every byte in place, holes as zeros, over what the
// disk held, and refuses a disk smaller than the image. A regular file
// stands in for the block device (O_EXCL without O_CREAT is ignored for
// it); ResolveTarget decides which outputs are devices.
func TestWriteDeviceInPlace(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	src, _ := os.Create(img)
	src.Truncate(9 << 20) // mostly a hole
	src.WriteAt([]byte("GPT"), 512)
	src.WriteAt([]byte("end"), 9<<20-3)
	dev := filepath.Join(dir, "dev")
	os.WriteFile(dev, bytes.Repeat([]byte{0xff}, 10<<20), 0o644)
	p := &progressor{}
	if err := writeDevice(context.Background(), dev, src, 9<<20, p); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dev)
	want, _ := os.ReadFile(img)
	if !bytes.Equal(got[:9<<20], want) {
		t.Error("the device does not hold the image (the disk's old bytes show through a hole?)")
	}
	if len(got) != 10<<20 || got[9<<20] != 0xff {
		t.Error("writing the device changed what lies beyond the image")
	}
	if p.done != 9<<20 {
		t.Errorf("progress %d, want %d", p.done, 9<<20)
	}
	small := filepath.Join(dir, "small")
	os.WriteFile(small, make([]byte, 1<<20), 0o644)
	if err := writeDevice(context.Background(), small, src, 9<<20, &progressor{}); err == nil || !strings.Contains(err.Error(), "holds 1 MiB, the image is 9 MiB") {
		t.Errorf("a small device: %v", err)
	}
}
