package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/klauspost/compress/zlib"
	"golang.org/x/sync/errgroup"
)

// A streamOptimized VMDK (VMware's Virtual Disk Format 5.0), laid out as
// VMware's own open-vmdk writes it: the sparse extent header, the embedded
// descriptor, the grain directory and every grain table, then each grain
// that holds data, deflated (zlib) behind a marker naming its sector,
// then the end-of-stream marker. The tables are written last, into the
// room kept for them, so the data streams through once.
const (
	vmdkMagic         = 0x564d444b // "KDMV"
	vmdkGrainSectors  = 128        // 64 KiB grains
	vmdkGrainSize     = vmdkGrainSectors * SectorSize
	vmdkGTEs          = 512 // grain table entries: a 2 KiB table maps 32 MiB
	vmdkDescOffset    = 1
	vmdkDescSectors   = 20
	vmdkFlags         = 1 | 1<<16 | 1<<17 // valid newline test, compressed grains, markers
	vmdkDeflate       = 1
	vmdkGrainHeader   = 12 // lba uint64, compressed size uint32
	vmdkBatch         = 64 // grains compressed in parallel at a time
	vmdkCompressLevel = zlib.DefaultCompression
)

// writeVMDK writes the size-byte raw image src, whose data lies in exts,
// to dst as a streamOptimized VMDK. Grains of zeros are not stored; the
// compression runs on every core, each grain on its own, so the bytes do
// not depend on how many there are.
func writeVMDK(ctx context.Context, dst, src *os.File, size int64, exts []extent, fileID, name string, done func(int64)) error {
	id, err := uuid.Parse(fileID)
	if err != nil {
		return fmt.Errorf("file id: %w", err)
	}
	capacity := ceilDiv(size, SectorSize)
	grains := ceilDiv(capacity, vmdkGrainSectors)
	gts := ceilDiv(grains, vmdkGTEs)
	gdOffset := int64(vmdkDescOffset + vmdkDescSectors)
	gdSectors := ceilDiv(gts*4, SectorSize)
	gtSectors := int64(vmdkGTEs * 4 / SectorSize)
	overhead := gdOffset + gdSectors + gts*gtSectors
	desc, err := vmdkDescriptor(capacity, id, name)
	if err != nil {
		return err
	}

	w, err := newSeqWriter(dst, overhead*SectorSize)
	if err != nil {
		return err
	}
	gt := make([]uint32, gts*vmdkGTEs)
	batch := newGrainBatch()
	err = forEachCluster(ctx, src, size, vmdkGrainSize, exts, done, func(c int64, b []byte) error {
		batch.add(c, b)
		if batch.n == vmdkBatch {
			return batch.write(w, gt)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := batch.write(w, gt); err != nil {
		return err
	}
	if err := w.write(make([]byte, SectorSize)); err != nil { // end-of-stream marker
		return err
	}
	if err := w.flush(); err != nil {
		return err
	}

	if err := writeVMDKTables(dst, gt, gdOffset, gdSectors, gtSectors); err != nil {
		return err
	}
	if _, err := dst.WriteAt(desc, vmdkDescOffset*SectorSize); err != nil {
		return fmt.Errorf("write VMDK descriptor: %w", err)
	}
	if _, err := dst.WriteAt(vmdkHeader(capacity, gdOffset, overhead), 0); err != nil {
		return fmt.Errorf("write VMDK header: %w", err)
	}
	return nil
}

// writeVMDKTables writes the grain directory at gdOffset and the grain
// tables after it, where the directory points.
func writeVMDKTables(dst *os.File, gt []uint32, gdOffset, gdSectors, gtSectors int64) error {
	gts := int64(len(gt) / vmdkGTEs)
	meta := make([]byte, (gdSectors+gts*gtSectors)*SectorSize)
	for i := range gts {
		binary.LittleEndian.PutUint32(meta[i*4:], uint32(gdOffset+gdSectors+i*gtSectors))
	}
	for i, e := range gt {
		binary.LittleEndian.PutUint32(meta[gdSectors*SectorSize+int64(i)*4:], e)
	}
	if _, err := dst.WriteAt(meta, gdOffset*SectorSize); err != nil {
		return fmt.Errorf("write VMDK grain tables: %w", err)
	}
	return nil
}

// vmdkHeader is the sparse extent header (little-endian, packed).
func vmdkHeader(capacity, gdOffset, overhead int64) []byte {
	h := make([]byte, SectorSize)
	le := binary.LittleEndian
	le.PutUint32(h[0:], vmdkMagic)
	le.PutUint32(h[4:], 3) // version 3: compressed grains
	le.PutUint32(h[8:], vmdkFlags)
	le.PutUint64(h[12:], uint64(capacity))
	le.PutUint64(h[20:], vmdkGrainSectors)
	le.PutUint64(h[28:], vmdkDescOffset)
	le.PutUint64(h[36:], vmdkDescSectors)
	le.PutUint32(h[44:], vmdkGTEs)
	le.PutUint64(h[48:], 0) // no redundant grain directory
	le.PutUint64(h[56:], uint64(gdOffset))
	le.PutUint64(h[64:], uint64(overhead))
	h[72] = 0 // clean
	h[73], h[74], h[75], h[76] = '\n', ' ', '\r', '\n'
	le.PutUint16(h[77:], vmdkDeflate)
	return h
}

// vmdkDescriptor is the embedded descriptor. The content ids come from the
// image's file id; the geometry is the 255 heads and 63 sectors VMware
// gives SCSI disks; the extent is the file itself, by name.
func vmdkDescriptor(capacity int64, id uuid.UUID, name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, "\"\n\r") {
		return nil, fmt.Errorf("VMDK file name %q cannot go into its descriptor", name)
	}
	cid := binary.BigEndian.Uint32(id[:4])
	if cid >= 0xfffffffe { // "no parent" and "all zeros" to some readers
		cid ^= 0x80000000
	}
	cylinders := min(ceilDiv(capacity, 255*63), 65535)
	d := fmt.Sprintf(`# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=%08x
parentCID=ffffffff
createType="streamOptimized"

# Extent description
RW %d SPARSE "%s"

# The Disk Data Base
#DDB

ddb.adapterType = "lsilogic"
ddb.geometry.cylinders = "%d"
ddb.geometry.heads = "255"
ddb.geometry.sectors = "63"
ddb.longContentID = "%s"
ddb.virtualHWVersion = "4"
`, cid, capacity, name, cylinders, hex.EncodeToString(id[:]))
	if len(d) > vmdkDescSectors*SectorSize {
		return nil, fmt.Errorf("VMDK descriptor of %d bytes does not fit %d sectors", len(d), vmdkDescSectors)
	}
	return []byte(d), nil
}

// grainBatch holds grains read for compression.
type grainBatch struct {
	grains []grain
	n      int
}

type grain struct {
	index int64
	data  []byte
	out   bytes.Buffer
}

func newGrainBatch() *grainBatch {
	b := &grainBatch{grains: make([]grain, vmdkBatch)}
	for i := range b.grains {
		b.grains[i].data = make([]byte, 0, vmdkGrainSize)
	}
	return b
}

func (b *grainBatch) add(index int64, data []byte) {
	g := &b.grains[b.n]
	g.index, g.data = index, append(g.data[:0], data...)
	// A short last grain is compressed whole: readers inflate a full grain.
	if len(g.data) < vmdkGrainSize {
		g.data = append(g.data, make([]byte, vmdkGrainSize-len(g.data))...)
	}
	b.n++
}

// write compresses the batch's grains and writes them in order, each
// behind its marker, noting where in gt, and empties the batch.
func (b *grainBatch) write(w *seqWriter, gt []uint32) error {
	if err := b.compress(); err != nil {
		return err
	}
	for i := range b.grains[:b.n] {
		g := &b.grains[i]
		gt[g.index] = uint32(w.off / SectorSize)
		var hdr [vmdkGrainHeader]byte
		binary.LittleEndian.PutUint64(hdr[0:], uint64(g.index*vmdkGrainSectors))
		binary.LittleEndian.PutUint32(hdr[8:], uint32(g.out.Len()))
		if err := w.write(hdr[:]); err != nil {
			return err
		}
		if err := w.writePadded(g.out.Bytes(), SectorSize); err != nil {
			return err
		}
	}
	b.n = 0
	return nil
}

var zlibWriters = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, vmdkCompressLevel)
	return w
}}

// compress deflates the batch's grains, as many at once as there are
// cores.
func (b *grainBatch) compress() error {
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range b.grains[:b.n] {
		gr := &b.grains[i]
		g.Go(func() error {
			gr.out.Reset()
			zw := zlibWriters.Get().(*zlib.Writer)
			defer zlibWriters.Put(zw)
			zw.Reset(&gr.out)
			if _, err := zw.Write(gr.data); err != nil {
				return err
			}
			return zw.Close()
		})
	}
	return g.Wait()
}
