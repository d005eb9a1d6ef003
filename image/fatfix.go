package image

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"
)

// fixFAT32 corrects what go-diskfs v1.9.4 leaves for fsck.vfat to
// complain about, so that `fsck.vfat -n` exits 0:
//   - a directory's ".." entry must name cluster 0 when the parent is the
//     root directory (FAT spec); go-diskfs writes the root's cluster (2),
//     and a bogus date;
//   - the FSInfo free-cluster count, left "unknown" (0xFFFFFFFF), is set;
//   - every entry's timestamps are fatTime (go-diskfs dates them now), so
//     the same files make the same bytes.
func fixFAT32(f *os.File, off int64) error {
	v, err := readFATVolume(f, off)
	if err != nil {
		return fmt.Errorf("fix ESP: %w", err)
	}
	date, clock := fatDateTime(time.Unix(fatTime, 0).UTC())
	if err := v.fixDir(v.rootCluster, 0, date, clock, 0); err != nil {
		return fmt.Errorf("fix ESP: %w", err)
	}
	if err := v.writeFreeCount(); err != nil {
		return fmt.Errorf("fix ESP: %w", err)
	}
	return nil
}

type fatVolume struct {
	f                     *os.File
	off                   int64 // partition offset in the image
	bytesPerSector        int64
	clusterSize           int64
	fatOffset, dataOffset int64 // relative to off
	clusters              uint32
	rootCluster           uint32
	fat                   []uint32 // first FAT, entries 0..clusters+1
}

func readFATVolume(f *os.File, off int64) (*fatVolume, error) {
	var bs [512]byte
	if _, err := f.ReadAt(bs[:], off); err != nil {
		return nil, err
	}
	v := &fatVolume{f: f, off: off}
	v.bytesPerSector = int64(binary.LittleEndian.Uint16(bs[11:]))
	v.clusterSize = int64(bs[13]) * v.bytesPerSector
	reserved := int64(binary.LittleEndian.Uint16(bs[14:]))
	fats := int64(bs[16])
	total := int64(binary.LittleEndian.Uint32(bs[32:]))
	fatSectors := int64(binary.LittleEndian.Uint32(bs[36:]))
	v.rootCluster = binary.LittleEndian.Uint32(bs[44:])
	if v.clusterSize == 0 || fats == 0 {
		return nil, fmt.Errorf("not a FAT32 boot sector")
	}
	v.fatOffset = reserved * v.bytesPerSector
	v.dataOffset = (reserved + fats*fatSectors) * v.bytesPerSector
	v.clusters = uint32((total*v.bytesPerSector - v.dataOffset) / v.clusterSize)
	raw := make([]byte, 4*(int64(v.clusters)+2))
	if _, err := f.ReadAt(raw, off+v.fatOffset); err != nil {
		return nil, fmt.Errorf("read FAT: %w", err)
	}
	v.fat = make([]uint32, v.clusters+2)
	for i := range v.fat {
		v.fat[i] = binary.LittleEndian.Uint32(raw[4*i:]) & 0x0fffffff
	}
	return v, nil
}

// chain returns the clusters of the chain starting at c.
func (v *fatVolume) chain(c uint32) ([]uint32, error) {
	var out []uint32
	for c >= 2 && c < 0x0ffffff8 {
		if c >= uint32(len(v.fat)) || len(out) > len(v.fat) {
			return nil, fmt.Errorf("bad cluster chain at %d", c)
		}
		out = append(out, c)
		c = v.fat[c]
	}
	return out, nil
}

func (v *fatVolume) clusterOffset(c uint32) int64 {
	return v.off + v.dataOffset + int64(c-2)*v.clusterSize
}

// fatDateTime encodes t as a FAT directory entry's date and time.
func fatDateTime(t time.Time) (date, clock uint16) {
	date = uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
	clock = uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
	return date, clock
}

// fixDir fixes the directory at cluster dir (whose parent is at parent, 0
// for the root) and its subdirectories: every entry is dated date and
// clock (creation with its 10 ms part, access, modification), and each
// ".." names its parent's cluster, 0 for the root.
func (v *fatVolume) fixDir(dir, parent uint32, date, clock uint16, depth int) error {
	if depth > 32 {
		return fmt.Errorf("directories nested too deep")
	}
	clusters, err := v.chain(dir)
	if err != nil {
		return err
	}
	buf := make([]byte, v.clusterSize)
	for i, c := range clusters {
		if _, err := v.f.ReadAt(buf, v.clusterOffset(c)); err != nil {
			return err
		}
		end := false
		var subs []uint32
		for e := 0; e+32 <= len(buf); e += 32 {
			ent := buf[e : e+32]
			if ent[0] == 0 {
				end = true
				break
			}
			if ent[0] == 0xe5 || ent[11] == 0x0f {
				continue // deleted, or a long-name slot (it has no times)
			}
			ent[13] = 0
			binary.LittleEndian.PutUint16(ent[14:], clock)
			binary.LittleEndian.PutUint16(ent[16:], date)
			binary.LittleEndian.PutUint16(ent[18:], date)
			binary.LittleEndian.PutUint16(ent[22:], clock)
			binary.LittleEndian.PutUint16(ent[24:], date)
			switch name := string(ent[:11]); {
			case ent[11]&0x10 == 0:
			case i == 0 && e == 32 && name == "..         " && dir != v.rootCluster:
				want := parent
				if parent == v.rootCluster {
					want = 0
				}
				binary.LittleEndian.PutUint16(ent[20:], uint16(want>>16))
				binary.LittleEndian.PutUint16(ent[26:], uint16(want))
			case name[0] != '.':
				subs = append(subs, uint32(binary.LittleEndian.Uint16(ent[20:]))<<16|uint32(binary.LittleEndian.Uint16(ent[26:])))
			}
		}
		if _, err := v.f.WriteAt(buf, v.clusterOffset(c)); err != nil {
			return err
		}
		for _, sub := range subs {
			if err := v.fixDir(sub, dir, date, clock, depth+1); err != nil {
				return err
			}
		}
		if end {
			return nil
		}
	}
	return nil
}

// writeFreeCount sets FSI_Free_Count in the FSInfo sector and its backup.
func (v *fatVolume) writeFreeCount() error {
	var free uint32
	for _, e := range v.fat[2:] {
		if e == 0 {
			free++
		}
	}
	var bs [512]byte
	if _, err := v.f.ReadAt(bs[:], v.off); err != nil {
		return err
	}
	info := int64(binary.LittleEndian.Uint16(bs[48:]))
	backup := int64(binary.LittleEndian.Uint16(bs[50:]))
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], free)
	for _, s := range []int64{info, backup + info} {
		var sig [4]byte
		if _, err := v.f.ReadAt(sig[:], v.off+s*v.bytesPerSector); err != nil {
			return err
		}
		if string(sig[:]) != "RRaA" {
			continue // no FSInfo there
		}
		if _, err := v.f.WriteAt(b[:], v.off+s*v.bytesPerSector+488); err != nil {
			return err
		}
	}
	return nil
}
