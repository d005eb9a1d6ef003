package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// Reading what a user names (a configuration, file(), an etc source, a
// lock) must neither block nor run forever: a named pipe blocks in open,
// /dev/zero never ends. So such a file is opened with O_NONBLOCK (open
// returns at once, whatever the file is), refused unless fstat says it is
// a regular file, and read no further than fstat's size said.

// ErrNotRegular reports a file that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens name for reading if it is a regular file (symlinks
// followed) and returns it with its size. Anything else (a named pipe, a
// device, a directory, a socket) is refused without blocking.
func OpenRegular(name string) (*os.File, int64, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is %s: %w", name, Kind(fi.Mode()), ErrNotRegular)
	}
	return f, fi.Size(), nil
}

// ReadRegular reads a regular file of at most limit bytes.
func ReadRegular(name string, limit int64) ([]byte, error) {
	f, size, err := OpenRegular(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d it may be", name, size, limit)
	}
	b := make([]byte, 0, size)
	w := &sliceWriter{b}
	if _, err := CopyRegular(w, f, name, size); err != nil {
		return nil, err
	}
	return w.b, nil
}

type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// CopyRegular copies the size bytes fstat said f (named name) holds, and
// fails if it holds more: a file that grows while kiln reads it (or a
// /proc file, whose size says 0) is not read forever.
func CopyRegular(w io.Writer, f *os.File, name string, size int64) (int64, error) {
	n, err := io.CopyN(w, f, size)
	if err == io.EOF {
		return n, fmt.Errorf("%s shrank while being read (%d of %d bytes)", name, n, size)
	}
	if err != nil {
		return n, fmt.Errorf("read %s: %w", name, err)
	}
	var one [1]byte
	if m, _ := f.Read(one[:]); m > 0 {
		return n, fmt.Errorf("%s grew while being read (more than the %d bytes it had)", name, size)
	}
	return n, nil
}

// Kind names a file type for an error message: "a named pipe".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	default:
		return "a special file (" + m.Type().String() + ")"
	}
}
