package image

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkWrite2GiB writes a default-size (2 GiB) image of a generated
// root tree shaped like a system closure: ~14,000 entries, ~250 MB, staged
// with hard links as SystemLayout does. It reports the image's disk usage.
func BenchmarkWrite2GiB(b *testing.B) {
	dir := b.TempDir()
	m, bytes, entries := benchLayout(b, dir)
	out := filepath.Join(dir, "disk.img")
	for b.Loop() {
		if err := ApplyDisk(context.Background(), out, m, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(usedBytes(b, out))/(1<<20), "used-MiB")
	b.ReportMetric(float64(bytes)/(1<<20), "tree-MiB")
	b.ReportMetric(float64(entries), "entries")
}

// BenchmarkConvert2GiB converts that raw image into each format (the
// step Write adds to the raw image's), reporting the file's disk usage.
func BenchmarkConvert2GiB(b *testing.B) {
	dir := b.TempDir()
	m, _, _ := benchLayout(b, dir)
	raw := filepath.Join(dir, "disk.img")
	if err := ApplyDisk(context.Background(), raw, m, nil); err != nil {
		b.Fatal(err)
	}
	for _, f := range []Format{RawZstd, QCOW2, VMDK} {
		b.Run(string(f), func(b *testing.B) {
			out := filepath.Join(dir, "disk"+f.Ext())
			for b.Loop() {
				if err := convertFile(context.Background(), out, raw, m.Size, f, m.FileID, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(usedBytes(b, out))/(1<<20), "used-MiB")
		})
	}
}

func usedBytes(b *testing.B, name string) int64 {
	var st syscall.Stat_t
	if err := syscall.Stat(name, &st); err != nil {
		b.Fatal(err)
	}
	return st.Blocks * 512
}

// benchLayout generates the tree under dir and plans its image.
func benchLayout(b *testing.B, dir string) (m *DiskPlan, bytes int64, entries int) {
	src, root := filepath.Join(dir, "store"), filepath.Join(dir, "root")
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for p := range 90 { // store paths
		pkg := filepath.Join(src, fmt.Sprintf("%032d-pkg%d", p, p))
		for d := range 8 {
			sub := filepath.Join(pkg, fmt.Sprintf("usr/share/d%d", d))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				b.Fatal(err)
			}
			entries++
			for f := range 18 {
				n := rng.IntN(2*250_000_000/(90*8*18)) + 1
				if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", f)), buf[:min(n, len(buf))], 0o444); err != nil {
					b.Fatal(err)
				}
				entries, bytes = entries+1, bytes+int64(min(n, len(buf)))
				if f%6 == 0 {
					if err := os.Symlink(fmt.Sprintf("f%d", f), filepath.Join(sub, fmt.Sprintf("l%d", f))); err != nil {
						b.Fatal(err)
					}
					entries++
				}
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "kiln"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := linkTree(src, filepath.Join(root, "kiln", "store")); err != nil {
		b.Fatal(err)
	}
	m, err := PlanDisk(Layout{Seed: "bench", RootDir: root})
	if err != nil {
		b.Fatal(err)
	}
	return m, bytes, entries
}
