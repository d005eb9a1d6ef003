package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// withTimeout fails the test when fn has not returned in 20 s.
func withTimeout(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { fn(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s still runs after 20 s", what)
	}
}

// -c FIFO, file(FIFO) and file("/dev/zero") are refused at once, naming
// the file and what it is; they once blocked in open or read forever.
func TestSpecialFilesRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	lockDir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(lockDir, "kiln.lock"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"-c fifo", []string{"eval", "-c", fifo}, fifo + " is a named pipe: not a regular file"},
		{"file(fifo)", []string{"eval", "-c", writeHost(t, `etc "motd" { text = file("`+fifo+`") }`+"\n")}, fifo + " is a named pipe: not a regular file"},
		{"file(/dev/zero)", []string{"eval", "-c", writeHost(t, `etc "motd" { text = file("/dev/zero") }`+"\n")}, "/dev/zero is a character device: not a regular file"},
		{"kiln.lock a fifo", []string{"build", "-c", writeHostIn(t, lockDir, "host.hcl", "")}, "kiln.lock is a named pipe: not a regular file"},
	}
	for _, tc := range tests {
		withTimeout(t, tc.name, func() {
			code, _, stderr := runCLIIn(t, dir, append([]string{"--store", filepath.Join(dir, "store")}, tc.args...)...)
			if code == ExitOK || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s: exit %d, stderr %q; want %q", tc.name, code, stderr, tc.want)
			}
		})
	}
}

func writeHostIn(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
