// Package image writes x86_64 GPT raw disk images of kiln systems: a FAT32
// EFI System Partition (go-diskfs) holding systemd-boot, kernels, initrds
// and boot entries, and an ext4 root file system (mkfs.ext4 -d) holding
// /kiln/store and the system profile. Images are written without root and
// without loop devices, and are reproducible: the same Layout gives the
// same bytes, every UUID derived from Layout.Seed.
//
// PlanDisk computes a DiskPlan (pure data, printable); ApplyDisk writes it.
// SystemLayout stages a Layout from toplevels in a store; WriteSystem does
// the three. The package does not build toplevels and does not boot
// images.
package image

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/google/uuid"
)

// Defaults and limits.
const (
	DefaultSize    = 2 << 30
	DefaultESPSize = 256 << 20
	MinESPSize     = 64 << 20 // FAT32 needs 65525 clusters; go-diskfs uses 512-byte clusters up to 260 MB
	MinRootSize    = 64 << 20
	SectorSize     = 512
	align          = 1 << 20           // partitions start on MiB boundaries; the disk is whole MiB
	rootGrain      = 4096 / SectorSize // the root partition's size is whole 4 KiB blocks
	gptSectors     = 34                // protective MBR + GPT header + 32 sectors of entries
)

// Labels and partition types.
const (
	ESPLabel  = "ESP"
	RootLabel = "kiln-root"
	// GPT partition type GUIDs (UEFI spec; Discoverable Partitions Spec).
	TypeESP        = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	TypeRootX86_64 = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
	// Time is the time of every file system timestamp: the store's mtime for
	// ext4, the FAT epoch for the ESP.
	ext4Time = 1
	fatTime  = 315532800 // 1980-01-01T00:00:00Z
)

// Layout is what an image holds.
type Layout struct {
	Size    int64             // whole image in bytes (0: DefaultSize)
	ESPSize int64             // 0: DefaultESPSize
	Seed    string            // every UUID derives from it, e.g. the toplevel's hash
	ESP     map[string]string // ESP path ("EFI/BOOT/BOOTX64.EFI") → host file
	RootDir string            // host directory whose tree becomes the ext4 root
	Format  Format            // the file's format ("": Raw)
}

// Partition is one GPT partition and its file system.
type Partition struct {
	Index      int    // 1-based, as in /dev/vdaN
	Name       string // GPT partition name
	Type       string // GPT type GUID
	GUID       string // unique partition GUID
	Start, End int64  // first and last sector
	FS         string // "vfat" or "ext4"
	Label      string // file system label
	FSUUID     string // ext4 UUID, or the FAT volume id as XXXX-XXXX
}

// Size is the partition's size in bytes.
func (p Partition) Size() int64 { return (p.End - p.Start + 1) * SectorSize }

// Offset is the partition's first byte in the image.
func (p Partition) Offset() int64 { return p.Start * SectorSize }

// ESPFile is a file to put on the ESP.
type ESPFile struct {
	Path   string // on the ESP, slash-separated, no leading slash
	Source string // host file
}

// DiskPlan is a planned image: everything ApplyDisk needs, nothing it must
// decide.
type DiskPlan struct {
	Size        int64
	Format      Format
	FileID      string // the image file's id in VHD and VMDK headers
	DiskGUID    string
	Partitions  []Partition // ESP first, then root
	ESPFiles    []ESPFile   // sorted by Path
	FATVolumeID uint32
	RootDir     string
	HashSeed    string // ext4 directory hash seed
}

// ESP returns the ESP partition.
func (m *DiskPlan) ESP() Partition { return m.Partitions[0] }

// Root returns the root partition.
func (m *DiskPlan) Root() Partition { return m.Partitions[1] }

// PlanDisk computes the image layout. It reads nothing from disk.
func PlanDisk(l Layout) (*DiskPlan, error) {
	size, espSize := l.Size, l.ESPSize
	if size == 0 {
		size = DefaultSize
	}
	if espSize == 0 {
		espSize = DefaultESPSize
	}
	if l.Seed == "" {
		return nil, errors.New("plan image: seed is empty")
	}
	if l.RootDir == "" {
		return nil, errors.New("plan image: root directory is empty")
	}
	if espSize < MinESPSize || espSize%align != 0 {
		return nil, fmt.Errorf("plan image: ESP size %d must be a multiple of 1 MiB and at least %d MiB", espSize, MinESPSize>>20)
	}
	format := l.Format
	if format == "" {
		format = Raw
	}
	if _, err := ParseFormat(string(format)); err != nil {
		return nil, fmt.Errorf("plan image: %w", err)
	}
	size -= size % align
	espStart := int64(align / SectorSize)
	espEnd := espStart + espSize/SectorSize - 1
	rootStart := espEnd + 1
	// The root is the last partition and ends on the last 4 KiB boundary
	// before the backup GPT: systemd-repart, which grows it on a larger
	// disk, sizes partitions in 4 KiB grains, so on a disk of the image's
	// own size it finds nothing to do.
	lastUsable := size/SectorSize - gptSectors
	rootEnd := (lastUsable+1)/rootGrain*rootGrain - 1
	if (rootEnd-rootStart+1)*SectorSize < MinRootSize {
		// The size asked for, not the whole MiB it rounds down to (a
		// 1 KiB request is not "size 0").
		return nil, fmt.Errorf("plan image: size %d bytes leaves less than %d MiB for the root after a %d MiB ESP: the image needs at least %d MiB",
			l.Size, MinRootSize>>20, espSize>>20, (align+espSize+MinRootSize)>>20+1)
	}
	m := &DiskPlan{
		Size:     size,
		Format:   format,
		FileID:   seededUUID(l.Seed, "image-file"),
		DiskGUID: seededUUID(l.Seed, "disk"),
		Partitions: []Partition{
			{Index: 1, Name: ESPLabel, Type: TypeESP, GUID: seededUUID(l.Seed, "esp"), Start: espStart, End: espEnd, FS: "vfat", Label: ESPLabel},
			{Index: 2, Name: RootLabel, Type: TypeRootX86_64, GUID: seededUUID(l.Seed, "root"), Start: rootStart, End: rootEnd, FS: "ext4", Label: RootLabel, FSUUID: seededUUID(l.Seed, "root-fs")},
		},
		FATVolumeID: binary.LittleEndian.Uint32(seedBytes(l.Seed, "esp-volume-id")),
		RootDir:     l.RootDir,
		HashSeed:    seededUUID(l.Seed, "root-hash-seed"),
	}
	m.Partitions[0].FSUUID = fmt.Sprintf("%04X-%04X", m.FATVolumeID>>16, m.FATVolumeID&0xffff)
	for p, src := range l.ESP {
		clean := path.Clean(strings.TrimPrefix(p, "/"))
		if clean == "." || strings.HasPrefix(clean, "../") || src == "" {
			return nil, fmt.Errorf("plan image: bad ESP file %q ← %q", p, src)
		}
		m.ESPFiles = append(m.ESPFiles, ESPFile{Path: clean, Source: src})
	}
	sort.Slice(m.ESPFiles, func(i, j int) bool { return m.ESPFiles[i].Path < m.ESPFiles[j].Path })
	for i := 1; i < len(m.ESPFiles); i++ {
		if strings.EqualFold(m.ESPFiles[i-1].Path, m.ESPFiles[i].Path) {
			return nil, fmt.Errorf("plan image: ESP files %q and %q collide on FAT", m.ESPFiles[i-1].Path, m.ESPFiles[i].Path)
		}
	}
	return m, nil
}

// kilnNamespace is the name-based UUID namespace of kiln images.
var kilnNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("kiln-os/kiln/image"))

// seededUUID derives a stable UUID (version 5) for one purpose from seed.
func seededUUID(seed, purpose string) string {
	return strings.ToUpper(uuid.NewSHA1(kilnNamespace, []byte(purpose+"\x00"+seed)).String())
}

func seedBytes(seed, purpose string) []byte {
	sum := sha256.Sum256([]byte(purpose + "\x00" + seed))
	return sum[:]
}

// String prints the manifest, one fact a line (golden-tested).
func (m *DiskPlan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "disk %d bytes, GPT, GUID %s\n", m.Size, m.DiskGUID)
	fmt.Fprintf(&b, "file format %s, id %s\n", m.Format, m.FileID)
	for _, p := range m.Partitions {
		fmt.Fprintf(&b, "partition %d %q type %s guid %s sectors %d-%d (%d MiB) %s label %q uuid %s\n",
			p.Index, p.Name, p.Type, p.GUID, p.Start, p.End, p.Size()>>20, p.FS, p.Label, p.FSUUID)
	}
	fmt.Fprintf(&b, "root tree %s, ext4 hash seed %s\n", m.RootDir, m.HashSeed)
	for _, f := range m.ESPFiles {
		fmt.Fprintf(&b, "esp %s <- %s\n", f.Path, f.Source)
	}
	return b.String()
}
