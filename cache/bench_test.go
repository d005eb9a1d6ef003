package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/store"
)

// benchClosure is 8 paths of 4 MiB each, like a system's packages: half
// of each compresses well (text), half not (random bytes).
func benchClosure(b *testing.B, st *store.Store) (top store.Path, narBytes int64) {
	b.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	var refs []store.Path
	for i := range 8 {
		noise := make([]byte, 2<<20)
		for j := range noise {
			noise[j] = byte(r.Uint32())
		}
		text := strings.Repeat(fmt.Sprintf("line %d of a config file or a man page\n", i), (2<<20)/40)
		refs = append(refs, buildPath(b, st, fmt.Sprintf("pkg-%d", i), nil, files{"bin/prog*": string(noise), "share/doc/README": text}))
	}
	top = buildPath(b, st, "system", refs, files{"init": "->" + refs[0].String() + "/bin/prog"})
	closure, err := st.Closure(top)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range closure {
		narBytes += mustInfo(b, st, p).NarSize
	}
	return top, narBytes
}

// benchBackends opens a fresh cache per iteration.
var benchBackends = []struct {
	name string
	open func(b *testing.B, i int) *Cache
}{
	{"file", func(b *testing.B, _ int) *Cache { return fileCache(b) }},
	{"s3", func(b *testing.B, i int) *Cache { return s3Cache(b, fmt.Sprintf("bench-%d", i)) }},
}

// BenchmarkPush measures compressing and uploading a 32 MiB closure
// (MB/s of NAR).
func BenchmarkPush(b *testing.B) {
	src := openStore(b)
	top, narBytes := benchClosure(b, src)
	k := testKey(b, "bench-1", 1)
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			b.SetBytes(narBytes)
			var file int64
			i := 0
			for b.Loop() {
				b.StopTimer()
				c := be.open(b, i)
				i++
				b.StartTimer()
				res := push(b, c, src, k, top)
				file = res.FileBytes
			}
			b.ReportMetric(float64(file)/float64(narBytes), "compressed/nar")
		})
	}
}

// BenchmarkSubstitute measures downloading, verifying and importing the
// closure into a fresh store (MB/s of NAR).
func BenchmarkSubstitute(b *testing.B) {
	src := openStore(b)
	top, narBytes := benchClosure(b, src)
	k := testKey(b, "bench-1", 1)
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			c := be.open(b, 0)
			push(b, c, src, k, top)
			b.SetBytes(narBytes)
			for b.Loop() {
				b.StopTimer()
				dst := openStore(b)
				b.StartTimer()
				res, err := Substitute(context.Background(), dst, []store.Path{top}, SubstituteOptions{Caches: []*Cache{c}, Trusted: []PublicKey{k.Public()}})
				if err != nil || len(res.Fetched) != 9 {
					b.Fatalf("substitute = %+v, %v", res, err)
				}
			}
		})
	}
}
