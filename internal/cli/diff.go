package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/kiln-os/kiln/machine"
	"github.com/kiln-os/kiln/store"
)

type diffFlags struct{ root string }

func init() {
	register(&command{
		name:    "diff",
		summary: "what moving between two generations changes: packages, bytes to copy, reboot",
		usage: `kiln diff [FROM] [TO]

diff compares two generations (each a number or a toplevel store path;
given one, it is compared with the current generation: 'kiln diff 7' is
current → 7) from their closures in the store, so
nothing is downloaded: Debian packages added, removed and changed with
their versions (read from the packages' store names), the paths and bytes
a switch copies, and whether a reboot is needed and why (kernel, initrd,
kernel parameters, systemd, dbus or libc changed), and on a machine the
ESP's use after installing TO against its size. --json prints it as
JSON. 'kiln switch --dry-run' prints the unit actions of a switch.`,
		flags: func(fs *flag.FlagSet) any {
			f := &diffFlags{root: "/"}
			if hidden(fs) {
				fs.StringVar(&f.root, "root", "/", "machine root `DIR` (tests)")
			}
			return f
		},
		run: runDiff,
	})
}

func runDiff(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*diffFlags)
	if len(args) > 2 {
		return usageErrorf("want at most two generations")
	}
	m, err := r.openMachine(f.root)
	if err != nil {
		return err
	}
	defer m.Close()
	gens, err := m.Generations()
	if err != nil {
		return err
	}
	resolve := func(a string) (store.Path, error) {
		if n, err := strconv.Atoi(a); err == nil {
			for _, g := range gens {
				if g.N == n {
					return g.Toplevel, nil
				}
			}
			return store.Path{}, fmt.Errorf("no generation %d (see 'kiln generations')", n)
		}
		p, err := m.Store.PathOf(r.Path(a))
		if err != nil {
			return store.Path{}, err
		}
		if !m.Store.Valid(p) {
			return store.Path{}, fmt.Errorf("%s is not in the store %s", p, m.Store.Dir)
		}
		return p, nil
	}
	var from, to store.Path
	for _, g := range gens {
		if g.Current {
			from = g.Toplevel
		}
	}
	switch len(args) {
	case 0:
		return usageErrorf("want a generation to compare the current one with")
	case 1:
		if to, err = resolve(args[0]); err != nil {
			return err
		}
	case 2:
		if from, err = resolve(args[0]); err != nil {
			return err
		}
		if to, err = resolve(args[1]); err != nil {
			return err
		}
	}
	if from.IsZero() {
		return fmt.Errorf("no current generation to compare with: name two")
	}
	d, err := machine.DiffToplevels(m.Store, from, to)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(filepath.Join(m.ESP(), "loader")); err == nil && fi.IsDir() {
		if d.ESP, err = m.PlanESPUse(to); err != nil {
			return err
		}
	}
	if r.JSON {
		b, err := d.JSON()
		if err != nil {
			return err
		}
		r.Printf("%s", b)
		return nil
	}
	r.Printf("%s", d.String())
	return nil
}
