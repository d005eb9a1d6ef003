package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// Target is where an image is written: a file, replaced atomically (temp
// file, fsync, rename), or a block device, written in place, as one
// flashes a disk.
type Target struct {
	Path   string // the output, symlinks resolved
	Device bool   // a block device
}

// ResolveTarget says where an image for out goes, before anything is
// built. A symlink is followed, deliberately: /dev/disk/by-id/... names
// disks by links, and a link to a file has that file replaced, never the
// link. A missing output is a new file. A directory, a character device
// (/dev/null), a named pipe, a socket or a link to nothing is refused:
// replacing any of them with a regular file is never what the user meant.
func ResolveTarget(out string) (Target, error) {
	fi, err := os.Lstat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return Target{Path: out}, nil
	}
	if err != nil {
		return Target{}, fmt.Errorf("image output %s: %w", out, err)
	}
	path := out
	if fi.Mode()&fs.ModeSymlink != 0 {
		if path, err = filepath.EvalSymlinks(out); err != nil {
			return Target{}, fmt.Errorf("image output %s is a symlink that leads nowhere (%v): kiln follows a link to a file or a block device and never replaces the link", out, err)
		}
		if fi, err = os.Stat(path); err != nil {
			return Target{}, fmt.Errorf("image output %s: %w", out, err)
		}
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		return Target{Path: path}, nil
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0:
		return Target{Path: path, Device: true}, nil
	default:
		return Target{}, fmt.Errorf("image output %s is %s: kiln writes an image to a regular file or a block device", describe(out, path), fsutil.Kind(m))
	}
}

func describe(out, path string) string {
	if out == path {
		return out
	}
	return out + " (→ " + path + ")"
}

// writeDevice copies the raw image file src onto the block device dev in
// place, every byte (holes as zeros: a disk keeps whatever it held where
// the image has a hole), and flushes it. dev is opened O_EXCL, which for
// a block device fails while it is mounted or otherwise held.
func writeDevice(ctx context.Context, dev string, src *os.File, size int64, p *progressor) error {
	d, err := os.OpenFile(dev, os.O_WRONLY|os.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open device (is it mounted?): %w", err)
	}
	defer d.Close()
	devSize, err := d.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("size of %s: %w", dev, err)
	}
	if devSize < size {
		return fmt.Errorf("%s holds %d MiB, the image is %d MiB", dev, devSize>>20, size>>20)
	}
	if _, err := d.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := copyAll(ctx, d, src, size, p); err != nil {
		return fmt.Errorf("write %s: %w", dev, err)
	}
	if err := d.Sync(); err != nil {
		return fmt.Errorf("flush %s: %w", dev, err)
	}
	return d.Close()
}

// copyAll copies size bytes from the start of src to dst's offset,
// checking ctx between chunks.
func copyAll(ctx context.Context, dst io.Writer, src *os.File, size int64, p *progressor) error {
	buf := make([]byte, 4<<20)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := src.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
			off += int64(n)
			p.add(int64(n))
		}
		if err != nil && !(errors.Is(err, io.EOF) && off == size) {
			return err
		}
	}
	return nil
}
