package image

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"

	"github.com/klauspost/compress/zstd"
)

// A raw.zst image is a sequence of zstd frames (RFC 8878 allows any
// number; `zstd -d` writes them out as one stream): each run of data is a
// frame from the encoder (level 3, the zstd tool's default, with a
// checksum), and each hole between runs a frame kiln writes itself out of
// RLE blocks, 4 bytes for 128 KiB of zeros. So the holes cost nothing to
// compress (fed to the encoder, 1.8 GiB of zeros took 0.6 to 2 s), and
// `zstd -d` writes a sparse file of exactly the image's size.
const (
	// zstdConcurrency is fixed rather than the machine's core count, so
	// that nothing about the build host can change the bytes.
	zstdConcurrency = 2
	// zstdMinHole is the smallest hole that gets a frame of its own;
	// smaller ones are compressed with the data around them.
	zstdMinHole  = 1 << 20
	zstdMaxBlock = 128 << 10 // the largest block, and the RLE frames' window
	zstdMagic    = 0xfd2fb528
)

// writeZstd writes the size-byte raw image src, whose data lies in exts,
// to dst as zstd frames.
func writeZstd(ctx context.Context, dst, src *os.File, size int64, exts []extent, done func(int64)) error {
	w, err := newSeqWriter(dst, 0)
	if err != nil {
		return err
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(zstdConcurrency), zstd.WithEncoderCRC(true))
	if err != nil {
		return err
	}
	defer enc.Close()
	buf := make([]byte, 1<<20)
	pos := int64(0)
	for _, run := range dataRuns(exts, zstdMinHole) {
		if err := zstdZeroFrame(w, run.off-pos); err != nil {
			return err
		}
		enc.ResetContentSize(w.w, run.len)
		for off := run.off; off < run.off+run.len; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(run.off+run.len-off, int64(len(buf)))
			if _, err := src.ReadAt(buf[:n], off); err != nil {
				return fmt.Errorf("read %s at %d: %w", src.Name(), off, err)
			}
			if _, err := enc.Write(buf[:n]); err != nil {
				return err
			}
			done(n)
			off += n
		}
		if err := enc.Close(); err != nil {
			return err
		}
		pos = run.off + run.len
	}
	if err := zstdZeroFrame(w, size-pos); err != nil {
		return err
	}
	return w.flush()
}

// dataRuns merges extents separated by less than minHole.
func dataRuns(exts []extent, minHole int64) []extent {
	var runs []extent
	for _, e := range exts {
		if n := len(runs); n > 0 && e.off-(runs[n-1].off+runs[n-1].len) < minHole {
			runs[n-1].len = e.off + e.len - runs[n-1].off
			continue
		}
		runs = append(runs, e)
	}
	return runs
}

// zstdZeroFrame writes a frame of n zero bytes (none when n is 0): a
// header with the content size and a 128 KiB window, then RLE blocks.
func zstdZeroFrame(w *seqWriter, n int64) error {
	if n <= 0 {
		return nil
	}
	h := make([]byte, 14)
	binary.LittleEndian.PutUint32(h[0:], zstdMagic)
	h[4] = 3 << 6 // frame header descriptor: 8-byte content size, no checksum, not single-segment
	h[5] = 7 << 3 // window descriptor: 2^(10+7) = 128 KiB
	binary.LittleEndian.PutUint64(h[6:], uint64(n))
	if err := w.write(h); err != nil {
		return err
	}
	var block [4]byte // 3-byte block header, then the byte to repeat (0)
	for n > 0 {
		size := min(n, zstdMaxBlock)
		n -= size
		hdr := uint32(size)<<3 | 1<<1 // block type 1: RLE
		if n == 0 {
			hdr |= 1 // the last block
		}
		block[0], block[1], block[2] = byte(hdr), byte(hdr>>8), byte(hdr>>16)
		if err := w.write(block[:]); err != nil {
			return err
		}
	}
	return nil
}
