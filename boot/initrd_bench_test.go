package boot

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// BenchmarkInitrd compares the compressions on a realistic initrd: the
// test binary (a static-ish Go program, like kiln) as /init. It reports
// the compressed size and the time to decompress, which is what the
// kernel pays at every boot.
func BenchmarkInitrd(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []Compression{Zstd, Gzip} {
		in := Initrd{Init: exe, Compression: c}
		var out bytes.Buffer
		rep, err := WriteInitrd(&out, in)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("write-"+string(c), func(b *testing.B) {
			for b.Loop() {
				if _, err := WriteInitrd(io.Discard, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rep.Compressed), "bytes")
			b.ReportMetric(float64(rep.Compressed)/float64(rep.Uncompressed), "ratio")
		})
		b.Run("read-"+string(c), func(b *testing.B) {
			b.SetBytes(rep.Uncompressed)
			for b.Loop() {
				decompressB(b, c, out.Bytes())
			}
		})
	}
}

func decompressB(b *testing.B, c Compression, data []byte) {
	if len(decompress(b, c, data)) == 0 {
		b.Fatal("empty archive")
	}
}
