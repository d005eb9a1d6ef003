package fsutil

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, []byte("hello"), 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink("f", filepath.Join(dir, "link"))
	if b, err := ReadRegular(filepath.Join(dir, "link"), 5); err != nil || string(b) != "hello" {
		t.Errorf("through a link: %q, %v", b, err)
	}
	for _, tc := range []struct {
		name  string
		limit int64
		want  string
	}{
		{fifo, 100, "is a named pipe: not a regular file"}, // would block in a plain open
		{"/dev/zero", 100, "is a character device: not a regular file"},
		{dir, 100, "is a directory"},
		{file, 4, "is 5 bytes, more than the 4 it may be"},
		{filepath.Join(dir, "none"), 4, "no such file"},
	} {
		if _, err := ReadRegular(tc.name, tc.limit); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadRegular(%s): %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := ReadRegular(fifo, 1); !errors.Is(err, ErrNotRegular) {
		t.Errorf("a fifo: %v, want ErrNotRegular", err)
	}
}

// CopyRegular reads what fstat said and no more: a file that grew (or a
// /proc file, size 0) is refused rather than read on.
func TestCopyRegularGrown(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("hello"), 0o644)
	f, size, err := OpenRegular(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	os.WriteFile(file, []byte("hello, and more"), 0o644)
	var b bytes.Buffer
	if _, err := CopyRegular(&b, f, file, size); err == nil || !strings.Contains(err.Error(), "grew while being read") {
		t.Errorf("a grown file: %v", err)
	}
	p, psize, err := OpenRegular("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := CopyRegular(&b, p, "/proc/self/status", psize); err == nil {
		t.Error("a /proc file read as empty")
	}
}
