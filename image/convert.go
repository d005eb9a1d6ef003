package image

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// convert writes the raw image in src (size bytes of guest disk) to dst in
// format f, reading only src's allocated extents. fileID names the image
// file in the formats' headers (VHD unique id, VMDK content ids) and name
// is the file name the VMDK descriptor gives its extent. progress, when
// not nil, is told the source bytes done and their total.
func convert(ctx context.Context, dst, src *os.File, size int64, f Format, fileID, name string, progress func(done, total int64)) error {
	exts, err := dataExtents(src, size)
	if err != nil {
		return err
	}
	total, sofar := extentBytes(exts), int64(0)
	done := func(n int64) {
		sofar += n
		if progress != nil {
			progress(min(sofar, total), total)
		}
	}
	switch f {
	case RawZstd:
		err = writeZstd(ctx, dst, src, size, exts, done)
	case QCOW2:
		err = writeQCOW2(ctx, dst, src, size, exts, done)
	case VMDK:
		err = writeVMDK(ctx, dst, src, size, exts, fileID, name, done)
	default:
		return fmt.Errorf("convert to %s: not a converted format", f)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", f, err)
	}
	if progress != nil {
		progress(total, total)
	}
	return nil
}

// convertFile converts the raw image file raw into out (next to it: a
// temporary file, fsynced and renamed over out).
func convertFile(ctx context.Context, out, raw string, size int64, f Format, fileID string, progress func(done, total int64)) (err error) {
	src, err := os.Open(raw)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(out), ".kiln-image-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := convert(ctx, tmp, src, size, f, fileID, filepath.Base(out), progress); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// seqWriter writes a file sequentially from an offset, buffered.
type seqWriter struct {
	w   *bufio.Writer
	off int64
}

func newSeqWriter(f *os.File, off int64) (*seqWriter, error) {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return &seqWriter{w: bufio.NewWriterSize(f, 1<<20), off: off}, nil
}

func (s *seqWriter) write(b []byte) error {
	n, err := s.w.Write(b)
	s.off += int64(n)
	return err
}

// zeros is a source of zero bytes for padding.
var zeros = make([]byte, 64<<10)

// writePadded writes b and zeros up to the next multiple of align.
func (s *seqWriter) writePadded(b []byte, align int64) error {
	if err := s.write(b); err != nil {
		return err
	}
	return s.pad(align)
}

// pad writes zeros up to the next multiple of align.
func (s *seqWriter) pad(align int64) error {
	for rem := (align - s.off%align) % align; rem > 0; {
		n := min(rem, int64(len(zeros)))
		if err := s.write(zeros[:n]); err != nil {
			return err
		}
		rem -= n
	}
	return nil
}

func (s *seqWriter) flush() error { return s.w.Flush() }
