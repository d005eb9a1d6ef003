package debian

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/internal/testenv"
)

// BenchmarkUnpackXZ compares unpacking a data.tar.xz through the host's xz
// with the pure Go decoder (ulikunitz/xz), on a real .deb from the shared
// cache when one is there (the largest), else on a fixture.
func BenchmarkUnpackXZ(b *testing.B) {
	deb, sum := largestCachedDeb()
	if deb == "" {
		testenv.SkipOrFail(b, "%v", "no cached .debs: run the integration test first")
	}
	st, _ := os.Stat(deb)
	for _, pure := range []bool{false, true} {
		name := "exec-xz"
		if pure {
			name = "pure-go"
		}
		if _, err := exec.LookPath("xz"); err != nil && !pure {
			continue
		}
		b.Run(name, func(b *testing.B) {
			u := Unpacker{PureGoXZ: pure}
			b.SetBytes(st.Size())
			for i := 0; b.Loop(); i++ {
				dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
				if err := u.UnpackDeb(deb, dir, sum); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
	}
}

func largestCachedDeb() (string, string) {
	debs, _ := filepath.Glob(filepath.Join(sharedCache(), "debs", "*.deb"))
	best, size := "", int64(0)
	for _, d := range debs {
		if st, err := os.Stat(d); err == nil && st.Size() > size {
			best, size = d, st.Size()
		}
	}
	if best == "" {
		return "", ""
	}
	sum, err := fsutil.SHA256(best)
	if err != nil {
		return "", ""
	}
	return best, sum
}

// BenchmarkLoadResolve measures loading the real indices (cached by
// digest; InRelease is fetched each time) and resolving the default set.
func BenchmarkLoadResolve(b *testing.B) {
	a := realArchive(b)
	for b.Loop() {
		u, _, err := a.Load(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Resolve(u, Request{Packages: DefaultPackages}); err != nil {
			b.Fatal(err)
		}
	}
}
