package image

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// espSize sums the ESP files and checks that they fit, with room to spare
// for FAT metadata and later generations' kernels.
func espSize(m *DiskPlan) (int64, error) {
	var total int64
	for _, f := range m.ESPFiles {
		fi, err := os.Stat(f.Source)
		if err != nil {
			return 0, fmt.Errorf("ESP file %s: %w", f.Path, err)
		}
		if !fi.Mode().IsRegular() {
			return 0, fmt.Errorf("ESP file %s: %s is not a regular file", f.Path, f.Source)
		}
		total += fi.Size()
	}
	if room := m.ESP().Size() * 9 / 10; total > room {
		return 0, fmt.Errorf("ESP files need %d bytes, the %d MiB ESP holds %d", total, m.ESP().Size()>>20, room)
	}
	return total, nil
}

// writeESP makes the FAT32 file system and copies the files in, sorted.
// go-diskfs dates the entries it makes with the clock (or the process's
// SOURCE_DATE_EPOCH, which kiln never sets: changing the environment
// races every other goroutine's exec); fixFAT32 then dates every entry
// fatTime.
func writeESP(ctx context.Context, f *os.File, m *DiskPlan, p *progressor) error {
	esp := m.ESP()
	fsys, err := makeFAT32(f, esp)
	if err != nil {
		return err
	}
	made := map[string]bool{"/": true}
	for _, ef := range m.ESPFiles {
		if err := ctx.Err(); err != nil {
			return err
		}
		dir := "/" + path.Dir(ef.Path)
		if !made[dir] {
			if err := fsys.Mkdir(dir); err != nil {
				return fmt.Errorf("ESP mkdir %s: %w", dir, err)
			}
			for d := dir; d != "/"; d = path.Dir(d) {
				made[d] = true
			}
		}
		n, err := copyIntoFAT(fsys, "/"+ef.Path, ef.Source)
		if err != nil {
			return fmt.Errorf("ESP file %s: %w", ef.Path, err)
		}
		p.add(n)
	}
	if err := fsys.Close(); err != nil {
		return fmt.Errorf("close ESP: %w", err)
	}
	if err := fixFAT32(f, esp.Offset()); err != nil {
		return err
	}
	return patchVolumeID(f, esp.Offset(), m.FATVolumeID)
}

// makeFAT32 makes the ESP's file system with go-diskfs. go-diskfs v1.9.4
// sizes the FAT one sector short for some sizes (64 MiB: 129024 clusters,
// room for 129022), which fsck.vfat rejects; the boot sector is read back
// and checked, and the file system made a cluster smaller until it holds.
func makeFAT32(f *os.File, esp Partition) (*fat32.FileSystem, error) {
	size := esp.Size()
	for range 64 {
		fsys, err := fat32.Create(file.New(f, false), size, esp.Offset(), SectorSize, esp.Label, true)
		if err != nil {
			return nil, fmt.Errorf("make ESP file system: %w", err)
		}
		var bs [512]byte
		if _, err := f.ReadAt(bs[:], esp.Offset()); err != nil {
			return nil, fmt.Errorf("read ESP boot sector: %w", err)
		}
		bytesPerSector := int64(binary.LittleEndian.Uint16(bs[11:]))
		perCluster := int64(bs[13])
		reserved := int64(binary.LittleEndian.Uint16(bs[14:]))
		fats := int64(bs[16])
		total := int64(binary.LittleEndian.Uint32(bs[32:]))
		fatSectors := int64(binary.LittleEndian.Uint32(bs[36:]))
		if bytesPerSector == 0 || perCluster == 0 {
			return nil, fmt.Errorf("make ESP file system: bad boot sector")
		}
		clusters := (total - reserved - fats*fatSectors) / perCluster
		if clusters+2 <= fatSectors*bytesPerSector/4 {
			return fsys, nil
		}
		size -= perCluster * bytesPerSector
	}
	return nil, fmt.Errorf("make ESP file system: no valid FAT32 layout below %d bytes", esp.Size())
}

func copyIntoFAT(fsys filesystem.FileSystem, name, source string) (int64, error) {
	src, err := os.Open(source)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	dst, err := fsys.OpenFile(name, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// patchVolumeID writes the seeded volume serial number into the FAT32 boot
// sector and its backup (sector 6): go-diskfs writes 0 when reproducible.
func patchVolumeID(f *os.File, espOffset int64, id uint32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], id)
	for _, sector := range []int64{0, 6} {
		if _, err := f.WriteAt(b[:], espOffset+sector*SectorSize+0x43); err != nil {
			return fmt.Errorf("write ESP volume id: %w", err)
		}
	}
	return nil
}
