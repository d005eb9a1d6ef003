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

	"github.com/kiln-os/kiln/internal/fsutil"
)

// ApplyDisk writes the image m describes to out: into a temporary file next to
// it, fsynced and renamed over out, so out is either the old file or the
// complete new image. progress, when not nil, is called with the bytes
// done so far and the total.
func ApplyDisk(ctx context.Context, out string, m *DiskPlan, progress func(done, total int64)) (err error) {
	if len(m.Partitions) != 2 {
		return fmt.Errorf("write image %s: manifest has %d partitions, want 2", out, len(m.Partitions))
	}
	espBytes, err := espSize(m)
	if err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
	}
	rootBytes, err := treeSize(m.RootDir)
	if err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
	}
	if room := m.Root().Size() * 9 / 10; rootBytes > room {
		return fmt.Errorf("write image %s: the root tree has %d MiB of files, the %d MiB root partition holds about %d MiB: make the image larger",
			out, rootBytes>>20, m.Root().Size()>>20, room>>20)
	}
	p := &progressor{fn: progress, total: espBytes + rootBytes}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".kiln-image-*")
	if err != nil {
		return fmt.Errorf("write image: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Truncate(m.Size); err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
	}
	if err := writeGPT(tmp, m); err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
	}
	if err := writeESP(ctx, tmp, m, p); err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
	}
	if err := writeRoot(ctx, tmp, m, p, rootBytes); err != nil {
		return fmt.Errorf("write image %s: %w", out, err)
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

// writeGPT writes the protective MBR and both GPT headers with go-diskfs.
func writeGPT(f *os.File, m *DiskPlan) error {
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
