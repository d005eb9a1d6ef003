package image

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/google/uuid"
)

// A fixed VHD (Microsoft's Virtual Hard Disk Image Format Specification)
// is the raw disk followed by a 512-byte footer, so kiln writes the raw
// image and appends the footer: no copy, and the file stays sparse.
const vhdFooterSize = 512

// vhdFooter returns the footer of a fixed VHD of size bytes.
//
// The creator application is "qem2", which QEMU reads as "the disk's size
// is the footer's current size": for any other creator it takes the size
// from the CHS geometry, which rounds a 2 GiB disk down by 16 sectors and
// so cuts off the backup GPT header. It is also what `qemu-img convert -O
// vpc -o subformat=fixed,force_size`, the conversion Azure documents,
// writes. Hyper-V and Azure read the current size whatever the creator.
// The time stamp is the format's epoch (2000-01-01) and the unique id
// comes from the image's seed, so the same image gives the same bytes.
func vhdFooter(size int64, id uuid.UUID) []byte {
	f := make([]byte, vhdFooterSize)
	be := binary.BigEndian
	copy(f[0:], "conectix")
	be.PutUint32(f[8:], 2)           // features: the reserved bit, always set
	be.PutUint32(f[12:], 0x00010000) // file format version 1.0
	be.PutUint64(f[16:], ^uint64(0)) // data offset: none, a fixed disk
	be.PutUint32(f[24:], 0)          // time stamp: seconds since 2000-01-01
	copy(f[28:], "qem2")
	be.PutUint32(f[32:], 0x00010000) // creator version
	copy(f[36:], "Wi2k")             // creator host OS, as QEMU and Hyper-V write
	be.PutUint64(f[40:], uint64(size))
	be.PutUint64(f[48:], uint64(size))
	c, h, s := vhdGeometry(size / SectorSize)
	be.PutUint16(f[56:], c)
	f[58], f[59] = h, s
	be.PutUint32(f[60:], 2) // disk type: fixed
	copy(f[68:], id[:])
	be.PutUint32(f[64:], vhdChecksum(f))
	return f
}

// vhdChecksum is the ones' complement of the sum of the footer's bytes,
// the checksum field counted as zero.
func vhdChecksum(f []byte) uint32 {
	var sum uint32
	for i, b := range f {
		if i >= 64 && i < 68 {
			continue
		}
		sum += uint32(b)
	}
	return ^sum
}

// vhdGeometry is the CHS geometry the VHD specification's algorithm gives
// a disk of total sectors.
func vhdGeometry(total int64) (cylinders uint16, heads, sectors uint8) {
	total = min(total, 65535*16*255)
	var spt, hd, cth int64
	if total >= 65535*16*63 {
		spt, hd = 255, 16
		cth = total / spt
	} else {
		spt = 17
		cth = total / spt
		hd = max((cth+1023)/1024, 4)
		if cth >= hd*1024 || hd > 16 {
			spt, hd = 31, 16
			cth = total / spt
		}
		if cth >= hd*1024 {
			spt, hd = 63, 16
			cth = total / spt
		}
	}
	return uint16(cth / hd), uint8(hd), uint8(spt)
}

// appendVHDFooter turns the raw image file f, size bytes, into a fixed VHD.
func appendVHDFooter(f *os.File, size int64, id uuid.UUID) error {
	if _, err := f.WriteAt(vhdFooter(size, id), size); err != nil {
		return fmt.Errorf("write VHD footer: %w", err)
	}
	return nil
}
