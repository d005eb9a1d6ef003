package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// extent is a byte range of a file that holds data.
type extent struct{ off, len int64 }

// dataExtents lists the ranges of f's first size bytes that hold data, in
// order, by SEEK_DATA and SEEK_HOLE; the rest reads as zeros. On a file
// system without them the whole file is one extent (lseek's fallback),
// which is correct, only slower.
func dataExtents(f *os.File, size int64) ([]extent, error) {
	var out []extent
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // no data after off
		}
		if err != nil {
			return nil, fmt.Errorf("find data in %s: %w", f.Name(), err)
		}
		if start >= size {
			break
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("find holes in %s: %w", f.Name(), err)
		}
		end = min(end, size)
		out = append(out, extent{start, end - start})
		off = end
	}
	return out, nil
}

// extentBytes sums the extents' bytes.
func extentBytes(exts []extent) int64 {
	var n int64
	for _, e := range exts {
		n += e.len
	}
	return n
}

// forEachCluster calls fn, in order, with every cluster of f (size bytes,
// in clusters of cs bytes; the last one may be short) that overlaps a data
// extent and is not all zeros. b is reused after fn returns. done, when
// not nil, is told the extent bytes behind each cluster as it passes.
func forEachCluster(ctx context.Context, f *os.File, size, cs int64, exts []extent, done func(int64), fn func(index int64, b []byte) error) error {
	buf := make([]byte, cs)
	zero := make([]byte, cs)
	next := int64(0) // the first cluster not yet visited
	for _, e := range exts {
		first, last := e.off/cs, (e.off+e.len-1)/cs
		for c := max(first, next); c <= last; c++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(cs, size-c*cs)
			if _, err := f.ReadAt(buf[:n], c*cs); err != nil {
				return fmt.Errorf("read %s at %d: %w", f.Name(), c*cs, err)
			}
			if done != nil {
				done(overlap(e, c*cs, n))
			}
			if bytes.Equal(buf[:n], zero[:n]) {
				continue
			}
			if err := fn(c, buf[:n]); err != nil {
				return err
			}
		}
		next = max(next, last+1)
	}
	return nil
}

// overlap is how many bytes of e lie in [off, off+n).
func overlap(e extent, off, n int64) int64 {
	lo, hi := max(e.off, off), min(e.off+e.len, off+n)
	return max(0, hi-lo)
}
