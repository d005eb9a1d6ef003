package image

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
)

// qcow2 (docs/interop/qcow2.txt in QEMU): a header cluster, then the data
// clusters in guest order as they are read, then the L2 tables, the L1
// table, the refcount table and the refcount blocks. The metadata goes
// last so the data streams through once; qcow2 allows any order.
const (
	qcowClusterBits  = 16
	qcowClusterSize  = 1 << qcowClusterBits
	qcowL2Entries    = qcowClusterSize / 8 // 8-byte entries: one L2 table maps 512 MiB
	qcowRefcountBits = 16                  // refcount_order 4
	qcowRefsPerBlock = qcowClusterSize * 8 / qcowRefcountBits
	qcowHeaderLen    = 104                 // the version 3 header, no optional fields
	qcowCopied       = uint64(1) << 63     // QCOW_OFLAG_COPIED: refcount is exactly 1
	qcowMagic        = 0x514649fb          // "QFI\xfb"
	qcowTableEntries = qcowClusterSize / 8 // refcount table entries per cluster
)

// writeQCOW2 writes the size-byte raw image src, whose data lies in exts,
// to dst as qcow2: every cluster that holds data is allocated once, every
// other cluster reads as zeros (no L2 entry, no backing file), and every
// allocated cluster has refcount 1, so `qemu-img check` finds no leak.
func writeQCOW2(ctx context.Context, dst, src *os.File, size int64, exts []extent, done func(int64)) error {
	w, err := newSeqWriter(dst, qcowClusterSize)
	if err != nil {
		return err
	}
	q := &qcow2{w: w, host: 1, l2: make(map[int64][]uint64)} // cluster 0 is the header
	if err := forEachCluster(ctx, src, size, qcowClusterSize, exts, done, q.data); err != nil {
		return err
	}
	l1Size := ceilDiv(size, qcowClusterSize*qcowL2Entries)
	l1Off, err := q.tables(l1Size)
	if err != nil {
		return err
	}
	tableOff, tableClusters, err := q.refcounts()
	if err != nil {
		return err
	}
	if err := w.flush(); err != nil {
		return err
	}
	h := make([]byte, qcowHeaderLen+8) // + the end of the header extensions
	be := binary.BigEndian
	be.PutUint32(h[0:], qcowMagic)
	be.PutUint32(h[4:], 3)
	be.PutUint32(h[20:], qcowClusterBits)
	be.PutUint64(h[24:], uint64(size))
	be.PutUint32(h[36:], uint32(l1Size))
	be.PutUint64(h[40:], uint64(l1Off))
	be.PutUint64(h[48:], uint64(tableOff))
	be.PutUint32(h[56:], uint32(tableClusters))
	be.PutUint32(h[96:], 4) // refcount_order: 16-bit refcounts
	be.PutUint32(h[100:], qcowHeaderLen)
	if _, err := dst.WriteAt(h, 0); err != nil {
		return fmt.Errorf("write qcow2 header: %w", err)
	}
	return nil
}

// qcow2 is the state of a qcow2 being written: the next free host
// cluster and the L2 tables made so far, by L1 index.
type qcow2 struct {
	w    *seqWriter
	host int64
	l2   map[int64][]uint64
}

// data writes guest cluster c at the next host cluster and maps it.
func (q *qcow2) data(c int64, b []byte) error {
	t := q.l2[c/qcowL2Entries]
	if t == nil {
		t = make([]uint64, qcowL2Entries)
		q.l2[c/qcowL2Entries] = t
	}
	t[c%qcowL2Entries] = uint64(q.host*qcowClusterSize) | qcowCopied
	q.host++
	return q.w.writePadded(b, qcowClusterSize)
}

// tables writes the L2 tables in L1 order, then the L1 table, and returns
// the L1 table's offset.
func (q *qcow2) tables(l1Size int64) (int64, error) {
	l1 := make([]uint64, l1Size)
	for i := range l1 {
		t := q.l2[int64(i)]
		if t == nil {
			continue
		}
		l1[i] = uint64(q.host*qcowClusterSize) | qcowCopied
		q.host++
		if err := q.w.writePadded(be64s(t), qcowClusterSize); err != nil {
			return 0, err
		}
	}
	off := q.host * qcowClusterSize
	q.host += ceilDiv(l1Size*8, qcowClusterSize)
	return off, q.w.writePadded(be64s(l1), qcowClusterSize)
}

// refcounts writes the refcount table and blocks, which count every
// cluster from the header to themselves, and returns the table's offset
// and size in clusters.
func (q *qcow2) refcounts() (int64, int64, error) {
	// The blocks count themselves and the table: grow both until they
	// cover every cluster, theirs included.
	var blocks, tableClusters int64
	for {
		nb := ceilDiv(q.host+tableClusters+blocks, qcowRefsPerBlock)
		nt := ceilDiv(nb, qcowTableEntries)
		if nb == blocks && nt == tableClusters {
			break
		}
		blocks, tableClusters = nb, nt
	}
	total := q.host + tableClusters + blocks
	tableOff := q.host * qcowClusterSize
	table := make([]uint64, tableClusters*qcowTableEntries)
	for i := range blocks {
		table[i] = uint64((q.host + tableClusters + i) * qcowClusterSize)
	}
	if err := q.w.writePadded(be64s(table), qcowClusterSize); err != nil {
		return 0, 0, err
	}
	block := make([]byte, qcowClusterSize)
	for i := range blocks {
		clear(block)
		for c := i * qcowRefsPerBlock; c < min(total, (i+1)*qcowRefsPerBlock); c++ {
			binary.BigEndian.PutUint16(block[(c-i*qcowRefsPerBlock)*2:], 1)
		}
		if err := q.w.write(block); err != nil {
			return 0, 0, err
		}
	}
	q.host = total
	return tableOff, tableClusters, nil
}

// be64s encodes a table of big-endian 64-bit entries.
func be64s(t []uint64) []byte {
	b := make([]byte, len(t)*8)
	for i, v := range t {
		binary.BigEndian.PutUint64(b[i*8:], v)
	}
	return b
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
