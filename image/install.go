package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/store"
)

// InstallOptions says how Install lays out the disk.
type InstallOptions struct {
	ESPSize int64 // 0: DefaultESPSize
	// Wipe allows installing onto a disk that holds a partition table or
	// other data: all of it is zeroed first.
	Wipe bool
	// Dir stages the trees, as SystemOptions.Dir.
	Dir string
}

// NotBlankError is Install's refusal of a disk that holds something.
type NotBlankError struct {
	Disk string
	What string // "a GPT partition table", ...
}

func (e *NotBlankError) Error() string {
	return fmt.Sprintf("disk %s holds %s: installing writes a new partition table over it; pass --wipe to destroy what it holds", e.Disk, e.What)
}

// inspectSpan is how much of each end of a disk Install looks at: where
// partition tables, file system superblocks, LVM and LUKS headers and
// ZFS labels live.
const inspectSpan = 1 << 20

// Install writes the toplevels' system (the last one current) onto disk,
// a block device or an existing regular file, as generation 1…n: the GPT,
// the ESP and the root over the whole disk, as an image of the disk's size
// would hold. It refuses a disk that holds a partition table or any
// non-zero byte in its first or last MiB unless opts.Wipe is set, and a
// block device another user holds open (mounted, in a RAID or LVM: it is
// first opened O_EXCL, and mkfs.ext4 opens it so again). Writing is in place: a failure leaves a partly written
// disk that does not boot, never a half-changed old one, since nothing of
// the old content is kept.
func Install(ctx context.Context, st *store.Store, disk string, opts InstallOptions, progress func(done, total int64), toplevels ...store.Path) error {
	f, size, isDev, err := openDisk(disk)
	if err != nil {
		return err
	}
	defer f.Close()
	what, err := inspectDisk(f, size)
	if err != nil {
		return fmt.Errorf("install onto %s: %w", disk, err)
	}
	if what != "" && !opts.Wipe {
		return &NotBlankError{Disk: disk, What: what}
	}
	l, cleanup, err := SystemLayout(st, SystemOptions{Size: size, ESPSize: opts.ESPSize, Dir: opts.Dir}, toplevels...)
	if err != nil {
		return err
	}
	defer cleanup()
	l.Format = Raw
	plan, err := PlanDisk(l)
	if err != nil {
		return fmt.Errorf("install onto %s: plan: %w", disk, err)
	}
	espBytes, rootBytes, err := contentSize(plan)
	if err != nil {
		return fmt.Errorf("install onto %s: %w", disk, err)
	}
	if what != "" {
		if err := wipeDisk(f, size, isDev); err != nil {
			return fmt.Errorf("install onto %s: wipe: %w", disk, err)
		}
	}
	p := &progressor{fn: progress, total: espBytes + rootBytes}
	if err := writeRaw(ctx, f, plan, p, rootBytes, st.StateDir); err != nil {
		return fmt.Errorf("install onto %s: %w", disk, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("install onto %s: %w", disk, err)
	}
	if isDev {
		// Have the kernel read the new table, so the partitions appear;
		// a busy disk keeps the old view until the next boot.
		unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0)
	}
	return nil
}

// openDisk opens a block device (exclusively) or an existing non-empty
// regular file for writing and returns its size.
func openDisk(disk string) (f *os.File, size int64, isDev bool, err error) {
	fi, err := os.Stat(disk)
	if err != nil {
		return nil, 0, false, fmt.Errorf("install: %w", err)
	}
	switch {
	case fi.Mode().IsRegular():
		if fi.Size() == 0 {
			return nil, 0, false, fmt.Errorf("install onto %s: the file is empty: give it the disk's size first (truncate -s 8G %s)", disk, disk)
		}
		f, err := os.OpenFile(disk, os.O_RDWR, 0)
		if err != nil {
			return nil, 0, false, fmt.Errorf("install: %w", err)
		}
		return f, fi.Size(), false, nil
	case fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0:
		// O_EXCL fails on a device that is mounted, in a RAID or LVM, or
		// held by another writer. The device is then opened again without
		// it, since mkfs.ext4 takes it for itself while it writes the root.
		excl, err := os.OpenFile(disk, os.O_RDWR|unix.O_EXCL, 0)
		if err != nil {
			return nil, 0, false, fmt.Errorf("install onto %s: open exclusively (is it mounted or in use?): %w", disk, err)
		}
		excl.Close()
		f, err := os.OpenFile(disk, os.O_RDWR, 0)
		if err != nil {
			return nil, 0, false, fmt.Errorf("install: %w", err)
		}
		n, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKGETSIZE64)
		if err != nil {
			f.Close()
			return nil, 0, false, fmt.Errorf("install onto %s: size: %w", disk, err)
		}
		ss, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET)
		if err != nil || ss != SectorSize {
			f.Close()
			return nil, 0, false, fmt.Errorf("install onto %s: logical sector size %d: kiln writes %d-byte sectors", disk, ss, SectorSize)
		}
		return f, int64(n), true, nil
	}
	return nil, 0, false, fmt.Errorf("install onto %s: neither a block device nor a regular file", disk)
}

// inspectDisk says what the disk holds at its ends ("" for nothing).
func inspectDisk(r io.ReaderAt, size int64) (string, error) {
	n := min(size, inspectSpan)
	head := make([]byte, n)
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	tail := make([]byte, n)
	if _, err := r.ReadAt(tail, size-n); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	switch {
	case len(head) >= 520 && string(head[512:520]) == "EFI PART":
		return "a GPT partition table", nil
	case len(head) >= 512 && head[510] == 0x55 && head[511] == 0xAA && mbrHasPartitions(head[446:510]):
		return "an MBR partition table", nil
	case len(tail) >= 512 && string(tail[len(tail)-512:len(tail)-504]) == "EFI PART":
		return "a backup GPT header", nil
	case !allZero(head) || !allZero(tail):
		return "data (non-zero bytes in its first or last MiB: a file system, RAID, LVM or LUKS header?)", nil
	}
	return "", nil
}

// mbrHasPartitions reports whether any of the four MBR entries has a
// type.
func mbrHasPartitions(entries []byte) bool {
	for i := 0; i < 4; i++ {
		if entries[i*16+4] != 0 {
			return true
		}
	}
	return false
}

func allZero(b []byte) bool {
	return len(bytes.TrimLeft(b, "\x00")) == 0
}

// blkZeroOut is BLKZEROOUT, _IO(0x12, 127): zero a byte range of a block
// device (by write-zeroes or discard where the device has them).
const blkZeroOut = 0x127f

// wipeDisk zeroes the whole disk: a file is truncated to nothing and back,
// a block device zeroed by BLKZEROOUT, or by writing zeros where the
// kernel refuses it.
func wipeDisk(f *os.File, size int64, isDev bool) error {
	if !isDev {
		if err := f.Truncate(0); err != nil {
			return err
		}
		return f.Truncate(size)
	}
	rng := [2]uint64{0, uint64(size)}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), blkZeroOut, uintptr(unsafe.Pointer(&rng[0]))); errno == 0 {
		return nil
	}
	zeros := make([]byte, 4<<20)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
	}
	return nil
}
