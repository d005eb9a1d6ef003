package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/kiln-os/kiln/internal/testenv"
)

func TestOutputFormat(t *testing.T) {
	tests := []struct {
		format, out   string
		want, wantOut string
		err           string
	}{
		{"", "", "raw", "disk.img", ""},
		{"raw", "", "raw", "disk.img", ""},
		{"raw.zst", "", "raw.zst", "disk.img.zst", ""},
		{"qcow2", "", "qcow2", "disk.qcow2", ""},
		{"vhd", "", "vhd", "disk.vhd", ""},
		{"vmdk", "", "vmdk", "disk.vmdk", ""},
		{"", "out/a.img", "raw", "out/a.img", ""},
		{"", "a.raw", "raw", "a.raw", ""},
		{"", "a.img.zst", "raw.zst", "a.img.zst", ""},
		{"", "a.raw.zst", "raw.zst", "a.raw.zst", ""},
		{"", "a.zst", "raw.zst", "a.zst", ""},
		{"", "A.QCOW2", "qcow2", "A.QCOW2", ""},
		{"", "a.vhd", "vhd", "a.vhd", ""},
		{"", "a.vmdk", "vmdk", "a.vmdk", ""},
		{"", "disk.bin", "raw", "disk.bin", ""},
		{"", "/dev/sdb", "raw", "/dev/sdb", ""},
		{"vmdk", "disk.bin", "vmdk", "disk.bin", ""},
		{"qcow2", "a.qcow2", "qcow2", "a.qcow2", ""},
		{"qcow2", "disk.vhd", "", "", "image file disk.vhd: its extension means vhd, but the format is qcow2: name it disk.qcow2, or write vhd"},
		{"raw.zst", "disk.img", "", "", "name it disk.img.zst, or write raw"},
		{"raw", "disk.img.zst", "", "", "its extension means raw.zst, but the format is raw: name it disk.img"},
		{"vhdx", "", "", "", `unknown image format "vhdx": want one of raw, raw.zst, qcow2, vhd, vmdk`},
	}
	for _, tc := range tests {
		t.Run(tc.format+"_"+tc.out, func(t *testing.T) {
			f, out, err := OutputFormat(tc.format, tc.out)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil || string(f) != tc.want || out != tc.wantOut {
				t.Errorf("got %q, %q, %v; want %q, %q", f, out, err, tc.want, tc.wantOut)
			}
		})
	}
}

// sparseRaw makes a raw disk file of size bytes with data at the given
// offsets, an allocated run of zeros, and holes elsewhere.
func sparseRaw(t *testing.T, size int64) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "raw.img")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	put := func(off int64, b []byte) {
		t.Helper()
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	pattern := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7) + byte(i>>9)
		}
		return b
	}
	put(0, []byte("first sector"))
	put(64<<10-100, pattern(300, 1))            // across a 64 KiB cluster boundary
	put(3<<20, make([]byte, 1<<20))             // allocated, all zeros
	put(5<<20+4096, pattern(700<<10, 2))        // 700 KiB of data: many grains, compressible
	put(600<<20, pattern(64<<10, 3))            // a second qcow2 L2 table, another VMDK grain table
	put(size-SectorSize, []byte("last sector")) // the very end, like a backup GPT header
	return name
}

// qemuImg runs qemu-img and returns its output; it fails the test on a
// non-zero exit.
func qemuImg(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "qemu-img", args...)
}

// qemuFormat is the name qemu-img gives a kiln format.
var qemuFormat = map[Format]string{Raw: "raw", QCOW2: "qcow2", VHD: "vpc", VMDK: "vmdk"}

// checkAgainstRaw checks img (format f) with the real tools and compares
// its guest-visible disk with raw, byte for byte.
func checkAgainstRaw(t *testing.T, raw, img string, f Format, size int64) {
	t.Helper()
	if f == RawZstd {
		run(t, "zstd", "-q", "-t", img)
		plain := filepath.Join(t.TempDir(), "plain.img")
		run(t, "zstd", "-q", "-d", "-o", plain, img)
		run(t, "cmp", raw, plain)
		return
	}
	q := qemuFormat[f]
	if f == QCOW2 || f == VMDK {
		qemuImg(t, "check", "-f", q, img)
	}
	var info struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
		Format2     struct {
			Data struct {
				CreateType string `json:"create-type"`
				Compat     string `json:"compat"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	out := qemuImg(t, "info", "-f", q, "--output=json", img)
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	if info.Format != q || info.VirtualSize != size {
		t.Errorf("qemu-img info: format %s, virtual size %d; want %s, %d\n%s", info.Format, info.VirtualSize, q, size, out)
	}
	switch f {
	case QCOW2:
		if info.Format2.Data.Compat != "1.1" {
			t.Errorf("qcow2 compat %q, want 1.1 (version 3)", info.Format2.Data.Compat)
		}
	case VMDK:
		if info.Format2.Data.CreateType != "streamOptimized" {
			t.Errorf("vmdk create type %q, want streamOptimized", info.Format2.Data.CreateType)
		}
	}
	qemuImg(t, "compare", "-q", "-f", "raw", "-F", q, raw, img)
}

func TestConvert(t *testing.T) {
	testenv.NeedTools(t, "qemu-img", "zstd", "cmp")
	const size = 700 << 20 // two qcow2 L2 tables, 22 VMDK grain tables
	raw := sparseRaw(t, size)
	for _, f := range []Format{RawZstd, QCOW2, VMDK} {
		t.Run(string(f), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "disk"+f.Ext())
			progress, ended := progressCheck(t)
			if err := convertFile(context.Background(), out, raw, size, f, seededUUID("test", "image-file"), progress); err != nil {
				t.Fatal(err)
			}
			ended()
			checkAgainstRaw(t, raw, out, f, size)
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			// About 1.8 MiB of data (with the zero run skipped and
			// rounded to clusters) in a 700 MiB disk.
			if fi.Size() > 4<<20 {
				t.Errorf("%s is %d bytes: more than the data it holds", out, fi.Size())
			}
			// The comparison can fail: one byte changed in the guest disk.
			changed := filepath.Join(t.TempDir(), "changed.img")
			run(t, "cp", "--sparse=always", raw, changed)
			g, err := os.OpenFile(changed, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			g.WriteAt([]byte{0xff}, 5<<20+4096+12345)
			g.Close()
			var cmd *exec.Cmd
			if f == RawZstd {
				cmd = exec.Command("sh", "-c", `zstd -q -d -c "$1" | cmp - "$2"`, "sh", out, changed)
			} else {
				cmd = exec.Command("qemu-img", "compare", "-q", "-f", "raw", "-F", qemuFormat[f], changed, out)
			}
			if err := cmd.Run(); err == nil {
				t.Errorf("%s: a changed disk compares equal", cmd)
			}
		})
	}
}

func TestWriteFormats(t *testing.T) {
	testenv.NeedTools(t, "qemu-img", "zstd", "cmp")
	l := fixture(t)
	raw, _ := writeImage(t, l)
	for _, f := range Formats[1:] {
		t.Run(string(f), func(t *testing.T) {
			l := l
			l.Format = f
			a, m := writeImage(t, l)
			if m.Format != f {
				t.Fatalf("manifest format %q, want %q", m.Format, f)
			}
			checkAgainstRaw(t, raw, a, f, m.Size)
			if f == QCOW2 {
				// What a VM test does to boot it on a larger disk: QEMU
				// extends the tables kiln wrote, and they stay consistent.
				grown := filepath.Join(t.TempDir(), "grown.qcow2")
				run(t, "cp", a, grown)
				qemuImg(t, "resize", "-f", "qcow2", grown, "1G")
				qemuImg(t, "check", "-f", "qcow2", grown)
				if out := qemuImg(t, "info", "-f", "qcow2", grown); !strings.Contains(out, "(1073741824 bytes)") {
					t.Errorf("resized qcow2:\n%s", out)
				}
			}
			if f == VHD {
				if fi, err := os.Stat(a); err != nil || fi.Size() != m.Size+vhdFooterSize {
					t.Errorf("fixed VHD is %v bytes (%v), want %d", fi.Size(), err, m.Size+vhdFooterSize)
				}
			}
			// Same layout, same bytes (the VMDK names its file: same name).
			b, _ := writeImage(t, l)
			if fileHash(t, a) != fileHash(t, b) {
				t.Errorf("two %s images of the same layout differ", f)
			}
		})
	}
}

func TestVHDFooter(t *testing.T) {
	id := [16]byte{1, 2, 3}
	f := vhdFooter(2<<30, id)
	if !bytes.Equal(f[:8], []byte("conectix")) || vhdChecksum(f) != beUint32(f[64:]) {
		t.Errorf("footer %x: bad cookie or checksum", f[:72])
	}
	// The specification's geometry for a few sizes.
	for _, tc := range []struct {
		sectors int64
		c       uint16
		h, s    uint8
	}{
		{4194304, 4161, 16, 63},                // 2 GiB
		{131072, 963, 8, 17},                   // 64 MiB: 17 sectors a track
		{65535 * 16 * 255 * 2, 65535, 16, 255}, // beyond the largest geometry
	} {
		c, h, s := vhdGeometry(tc.sectors)
		if c != tc.c || h != tc.h || s != tc.s {
			t.Errorf("geometry of %d sectors: %d/%d/%d, want %d/%d/%d", tc.sectors, c, h, s, tc.c, tc.h, tc.s)
		}
	}
}

func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// TestQCOW2RefcountsCoverThemselves checks the refcount table and blocks
// of a qcow2 larger than one refcount block maps (2 GiB of clusters),
// which the images in these tests are not: every cluster up to and
// including the refcount structures counts 1, none after.
func TestQCOW2RefcountsCoverThemselves(t *testing.T) {
	for _, host := range []int64{1, qcowRefsPerBlock - 2, qcowRefsPerBlock - 1, 2*qcowRefsPerBlock + 5} {
		f, err := os.Create(filepath.Join(t.TempDir(), "q"))
		if err != nil {
			t.Fatal(err)
		}
		w, err := newSeqWriter(f, host*qcowClusterSize)
		if err != nil {
			t.Fatal(err)
		}
		q := &qcow2{w: w, host: host}
		tableOff, tableClusters, err := q.refcounts()
		if err != nil || w.flush() != nil {
			t.Fatal(err)
		}
		total := q.host
		table := make([]byte, tableClusters*qcowClusterSize)
		if _, err := f.ReadAt(table, tableOff); err != nil {
			t.Fatal(err)
		}
		for c := int64(0); c < ceilDiv(total, qcowRefsPerBlock)*qcowRefsPerBlock; c++ {
			blockOff := int64(binary.BigEndian.Uint64(table[c/qcowRefsPerBlock*8:]))
			if blockOff == 0 || blockOff >= total*qcowClusterSize {
				t.Fatalf("host %d: cluster %d has refcount block at %d, beyond the %d clusters", host, c, blockOff, total)
			}
			var ref [2]byte
			if _, err := f.ReadAt(ref[:], blockOff+c%qcowRefsPerBlock*2); err != nil {
				t.Fatal(err)
			}
			if got, want := binary.BigEndian.Uint16(ref[:]), uint16(min(1, max(0, total-c))); got != want {
				t.Fatalf("host %d: cluster %d of %d has refcount %d, want %d", host, c, total, got, want)
			}
		}
		f.Close()
	}
}

// TestZstdZeroFrames decodes kiln's hand-made frames of zeros, at the
// block size's edges, with the zstd tool and with klauspost's decoder.
func TestZstdZeroFrames(t *testing.T) {
	testenv.NeedTools(t, "zstd")
	for _, n := range []int64{1, zstdMaxBlock - 1, zstdMaxBlock, zstdMaxBlock + 1, 5*zstdMaxBlock + 7} {
		name := filepath.Join(t.TempDir(), "zeros.zst")
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w, err := newSeqWriter(f, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := zstdZeroFrame(w, n); err != nil || w.flush() != nil {
			t.Fatal(err)
		}
		f.Close()
		if out := run(t, "sh", "-c", `zstd -q -d -c "$1" | wc -c`, "sh", name); strings.TrimSpace(out) != fmt.Sprint(n) {
			t.Errorf("zstd -d of %d zeros gave %s bytes", n, out)
		}
		data, _ := os.ReadFile(name)
		dec, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dec.DecodeAll(data, nil)
		dec.Close()
		if err != nil || int64(len(got)) != n || !bytes.Equal(got, make([]byte, n)) {
			t.Errorf("klauspost decode of %d zeros: %d bytes, %v", n, len(got), err)
		}
	}
}
