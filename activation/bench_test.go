package activation

import (
	"fmt"
	"testing"

	"github.com/kiln-os/kiln/toplevel"
)

// BenchmarkActivate measures a re-activation (the boot of an unchanged
// generation) of a system with 200 etc entries and 40 accounts.
func BenchmarkActivate(b *testing.B) {
	root := b.TempDir()
	spec := fullSpec()
	tree := map[string]string{}
	for i := range 200 {
		p := fmt.Sprintf("dir%d/file%d", i%10, i)
		spec.Etc = append(spec.Etc, toplevel.EtcEntry{Path: p, Kind: toplevel.EtcLink})
		tree[p] = "x\n"
	}
	for p, c := range baseGen.tree {
		tree[p] = c
	}
	for i := range 37 {
		spec.Users = append(spec.Users, toplevel.User{Name: fmt.Sprintf("svc%d", i), Group: "users", System: true})
	}
	top := makeToplevel(b, root, "gen1", spec, tree, swTree)
	if err := Activate(root, top, Boot); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := Activate(root, top, Boot); err != nil {
			b.Fatal(err)
		}
	}
}
