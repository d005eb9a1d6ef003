package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// kiln image -o refuses an output it would replace by a regular file (a
// character device, a named pipe, a link to one, a link to nothing), with
// the reason, before building anything, and leaves the output as it was.
func TestImageOutputRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink("/dev/null", filepath.Join(dir, "to-null"))
	os.Symlink("nothing", filepath.Join(dir, "dangling"))
	tests := []struct{ out, want string }{
		{"/dev/null", "-o: image output /dev/null is a character device: kiln writes an image to a regular file or a block device"},
		{fifo, "is a named pipe"},
		{filepath.Join(dir, "to-null"), "to-null (→ /dev/null) is a character device"},
		{filepath.Join(dir, "dangling"), "is a symlink that leads nowhere"},
		{dir, "is a directory"},
	}
	for _, tc := range tests {
		before, _ := os.Lstat(tc.out)
		code, _, stderr := runCLIIn(t, dir, "--store", filepath.Join(t.TempDir(), "store"), "image", "-o", tc.out)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("image -o %s: exit %d, stderr %q; want exit %d and %q", tc.out, code, stderr, ExitUsage, tc.want)
		}
		if after, err := os.Lstat(tc.out); err != nil || after.Mode() != before.Mode() {
			t.Errorf("image -o %s changed it: %v → %v (%v)", tc.out, before.Mode(), after, err)
		}
	}
	code, _, stderr := runCLIIn(t, dir, "--store", filepath.Join(t.TempDir(), "store"), "image", "-o", "/dev/loop-control")
	if _, err := os.Stat("/dev/loop-control"); err == nil && (code != ExitUsage || !strings.Contains(stderr, "character device")) {
		t.Errorf("image -o /dev/loop-control: exit %d, %q", code, stderr)
	}
}

// kiln image --size 1K says the size asked for and the smallest that
// works, before building anything (it once said "size 0").
func TestImageSizeTooSmall(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLIIn(t, dir, "--store", filepath.Join(dir, "store"), "image", "--size", "1K")
	want := "kiln image: --size 1K: plan image: size 1024 bytes leaves less than 64 MiB for the root after a 256 MiB ESP: the image needs at least 322 MiB\n"
	if code != ExitUsage || stderr != want {
		t.Errorf("exit %d, stderr %q; want %d, %q", code, stderr, ExitUsage, want)
	}
	if code, _, stderr := runCLIIn(t, dir, "--store", filepath.Join(dir, "store"), "image", "--size", "322M"); strings.Contains(stderr, "--size") {
		t.Errorf("--size 322M is refused (exit %d): %s", code, stderr)
	}
}

// An empty --store is refused: it once meant the default store silently.
func TestStoreFlagEmpty(t *testing.T) {
	for _, args := range [][]string{{"--store", "", "gc"}, {"gc", "--store="}} {
		code, _, stderr := runCLI(t, nil, args...)
		if code != ExitUsage || !strings.Contains(stderr, `invalid value "" for flag -store: empty directory`) {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
	}
}
