package activation

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/toplevel"
)

// BenchmarkLoadUnits loads a toplevel of 200 package units (20 of them
// enabled) and 20 generated ones with a drop-in each.
func BenchmarkLoadUnits(b *testing.B) {
	root := b.TempDir()
	tree, sw := map[string]string{}, map[string]string{}
	for i := range 200 {
		sw[fmt.Sprintf("lib/systemd/system/pkg%d.service", i)] = "[Unit]\nDescription=p\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
		if i%10 == 0 {
			tree[fmt.Sprintf("systemd/system/multi-user.target.wants/pkg%d.service", i)] = fmt.Sprintf("->/usr/lib/systemd/system/pkg%d.service", i)
		}
	}
	for i := range 20 {
		tree[fmt.Sprintf("systemd/system/gen%d.service", i)] = "[Service]\nExecStart=/bin/true\n"
		tree[fmt.Sprintf("systemd/system/gen%d.service.d/env.conf", i)] = "[Service]\nEnvironment=A=1\n"
	}
	top := makeToplevel(b, root, "gen1", baseSpec(), tree, sw)
	for b.Loop() {
		units, err := LoadUnits(root, top)
		if err != nil {
			b.Fatal(err)
		}
		if len(units) != 220 {
			b.Fatalf("%d units", len(units))
		}
	}
}

// BenchmarkSwitchOneService switches back and forth between two
// generations of 30 running services that differ in one, with a real
// systemd (user manager) doing the jobs: plan, stop, activate,
// daemon-reload, start.
func BenchmarkSwitchOneService(b *testing.B) {
	root := b.TempDir()
	link := filepath.Join(b.TempDir(), "units")
	gen := func(name, v string) string {
		tree := map[string]string{}
		spec := baseSpec()
		for i := range 30 {
			p := fmt.Sprintf("systemd/system/kb%d.service", i)
			tree[p] = fmt.Sprintf("[Service]\nExecStart=/bin/sleep %d\n", 1000+i)
			spec.Etc = append(spec.Etc, toplevel.EtcEntry{Path: p, Kind: toplevel.EtcLink})
		}
		tree["systemd/system/kb0.service"] = "[Service]\nExecStart=/bin/sleep 99" + v + "\n"
		return makeToplevel(b, root, name, spec, tree, nil)
	}
	gens := []string{gen("gen1", "1"), gen("gen2", "2")}
	if err := Activate(root, gens[0], Boot); err != nil {
		b.Fatal(err)
	}
	sd := etcView{Systemd: userManager(b, link), root: root, link: link}
	ctx := context.Background()
	if err := sd.DaemonReload(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range 30 {
		if err := sd.Start(ctx, fmt.Sprintf("kb%d.service", i)); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	for b.Loop() {
		n++
		rep, err := Switch(ctx, root, gens[n%2], sd, SwitchOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() || len(rep.Started) != 1 || len(rep.Stopped) != 1 {
			b.Fatalf("switch: %s", rep)
		}
	}
}
