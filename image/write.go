package image

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/google/uuid"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// Write writes the image m describes to out, in m's format: into a
// temporary file next to it, fsynced and renamed over out, so out is
// either the old file or the complete new image. Every format starts as
// the raw image; a fixed VHD is that file with a footer appended, the
// others are converted from it (reading only its allocated extents) into
// a second temporary file, and the raw one is removed. progress, when not
// nil, is called with the bytes done so far and the total.
func ApplyDisk(ctx context.Context, out string, m *DiskPlan, progress func(done, total int64)) (err error) {
	if len(m.Partitions) != 2 {
		return fmt.Errorf("write image %s: manifest has %d partitions, want 2", out, len(m.Partitions))
	}
	format := m.Format
	if format == "" {
		format = Raw
	}
	if _, err := ParseFormat(string(format)); err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
	}
	target, err := ResolveTarget(out)
	if err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	if target.Device && format != Raw {
		return fmt.Errorf("write image %s: a block device gets the raw image, not %s", out, format)
	}
	out = target.Path
	espBytes, rootBytes, err := contentSize(m)
	if err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
	}
	converted := format != Raw && format != VHD
	p := &progressor{fn: progress, total: espBytes + rootBytes}
	if converted {
		p.total *= 2 // the conversion reads the data once more
	}
	// A device's image is made in a temporary file first (mkfs.ext4
	// writes a file), not beside the device: /dev is a small tmpfs.
	tmpDir := filepath.Dir(out)
	if target.Device {
		tmpDir = os.TempDir()
		p.total += m.Size
	}
	tmp, err := os.CreateTemp(tmpDir, ".kiln-image-*")
	if err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	defer func() {
		if err != nil || converted || target.Device {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Truncate(m.Size); err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
	}
	if err := writeRaw(ctx, tmp, m, p, rootBytes, tmpDir); err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
	}
	if target.Device {
		if err := writeDevice(ctx, out, tmp, m.Size, p); err != nil {
			return fmt.Errorf("write image: %w", err)
		}
		return nil
	}
	if converted {
		base, share := p.done, espBytes+rootBytes
		err = convertFile(ctx, out, tmp.Name(), m.Size, format, m.FileID, func(done, total int64) {
			p.to(base + done*share/max(total, 1))
		})
		if err != nil {
			return fmt.Errorf("write image %s: %w", out, err)
		}
		return fsutil.SyncDir(filepath.Dir(out))
	}
	if format == VHD {
		id, err := uuid.Parse(m.FileID)
		if err != nil {
			return fmt.Errorf("write image %s: file id: %w", out, err)
		}
		if err := appendVHDFooter(tmp, m.Size, id); err != nil {
			return fmt.Errorf("write image %s: %w", out, err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	return fsutil.SyncDir(filepath.Dir(out))
}

// contentSize returns the bytes the ESP's and the root's files hold, and
// refuses a root tree its partition cannot hold.
func contentSize(m *DiskPlan) (espBytes, rootBytes int64, err error) {
	if espBytes, err = espSize(m); err != nil {
		return 0, 0, err
	}
	if rootBytes, err = treeSize(m.RootDir); err != nil {
		return 0, 0, err
	}
	if room := m.Root().Size() * 9 / 10; rootBytes > room {
		return 0, 0, fmt.Errorf("the root tree has %d MiB of files, the %d MiB root partition holds about %d MiB: make the disk larger",
			rootBytes>>20, m.Root().Size()>>20, room>>20)
	}
	return espBytes, rootBytes, nil
}

// writeRaw writes the raw disk into f, which is at least m.Size bytes
// long and reads as zeros where nothing is written: the GPT, the ESP and
// the root file system. work is where mkfs's scratch directory goes.
func writeRaw(ctx context.Context, f *os.File, m *DiskPlan, p *progressor, rootBytes int64, work string) error {
	if err := writeGPT(f, m); err != nil {
		return err
	}
	if err := writeESP(ctx, f, m, p); err != nil {
		return err
	}
	return writeRoot(ctx, f, m, p, rootBytes, work)
}

// writeGPT writes the protective MBR and both GPT headers with go-diskfs.
// On a block device go-diskfs insists on the kernel re-reading the table
// (which fails on a device without partition scanning, and on a busy
// disk): the table is written into a sparse file of the disk's size and
// its two ends copied onto the device.
func writeGPT(f *os.File, m *DiskPlan) error {
	if fi, err := f.Stat(); err != nil {
		return err
	} else if fi.Mode()&os.ModeDevice != 0 {
		return writeGPTDevice(f, m)
	}
	d, err := diskfs.OpenBackend(file.New(f, false), diskfs.WithOpenMode(diskfs.ReadWrite), diskfs.WithSectorSize(diskfs.SectorSize512))
	if err != nil {
		return fmt.Errorf("open disk: %w", err)
	}
	table := &gpt.Table{
		LogicalSectorSize:  SectorSize,
		PhysicalSectorSize: SectorSize,
		GUID:               m.DiskGUID,
		ProtectiveMBR:      true,
	}
	for _, p := range m.Partitions {
		// go-diskfs numbers partitions by Index; it must be set.
		table.Partitions = append(table.Partitions, &gpt.Partition{
			Index: p.Index, Start: uint64(p.Start), End: uint64(p.End), Size: uint64(p.Size()),
			Type: gpt.Type(p.Type), Name: p.Name, GUID: p.GUID,
		})
	}
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("write partition table: %w", err)
	}
	return nil
}

func writeGPTDevice(dev *os.File, m *DiskPlan) error {
	tmp, err := os.CreateTemp("", "kiln-gpt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tmp.Truncate(m.Size); err != nil {
		return err
	}
	if err := writeGPT(tmp, m); err != nil {
		return err
	}
	tail := int64(gptSectors * SectorSize)
	for _, r := range [][2]int64{{0, align}, {m.Size - tail, tail}} {
		b := make([]byte, r[1])
		if _, err := tmp.ReadAt(b, r[0]); err != nil {
			return err
		}
		if _, err := dev.WriteAt(b, r[0]); err != nil {
			return err
		}
	}
	return nil
}

type progressor struct {
	fn          func(done, total int64)
	done, total int64
}

func (p *progressor) add(n int64) {
	p.done += n
	if p.fn != nil {
		p.fn(p.done, p.total)
	}
}

// to moves progress forward to done (never back).
func (p *progressor) to(done int64) {
	if done > p.done {
		p.add(done - p.done)
	}
}

// treeSize is the bytes of the regular files under dir, each inode once:
// what mkfs.ext4 -d will write, for progress.
func treeSize(dir string) (int64, error) {
	seen := map[uint64]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		total += fi.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("root tree: %w", err)
	}
	return total, nil
}
