package cli

import (
	"context"
	"flag"
	"fmt"
)

type rollbackFlags struct {
	to   int
	boot bool
	root string
}

func init() {
	register(&command{
		name:    "rollback",
		summary: "make an earlier generation current and the default boot entry, and activate it",
		usage: `kiln rollback [--to N] [--boot]

rollback makes generation N (default: the one before the current one)
the system profile's current generation and the default boot entry, then
activates it: units, /etc and users return to that generation's without a
reboot. Any kept generation can be chosen ('kiln generations' lists them).
With --boot it only becomes the default for the next boot.`,
		flags: func(fs *flag.FlagSet) any {
			f := &rollbackFlags{root: "/"}
			fs.IntVar(&f.to, "to", 0, "generation `N` to roll back to (default: the previous one)")
			fs.BoolVar(&f.boot, "boot", false, "only make it the default boot entry; do not activate")
			if hidden(fs) {
				fs.StringVar(&f.root, "root", "/", "machine root `DIR` (tests)")
			}
			return f
		},
		run: runRollback,
	})
}

func runRollback(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*rollbackFlags)
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	m, err := openMachine(r, f.root)
	if err != nil {
		return err
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	gens, cur, err := m.generations()
	if err != nil {
		return err
	}
	want := f.to
	if want == 0 {
		for _, g := range gens {
			if g.N < cur {
				want = g.N // the highest below the current one
			}
		}
		if want == 0 {
			return fmt.Errorf("no generation before the current one (%d) to roll back to", cur)
		}
	}
	idx := -1
	for i, g := range gens {
		if g.N == want {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("no generation %d (see 'kiln generations')", want)
	}
	top := gens[idx].Path
	if want != cur {
		if err := m.st.SetCurrent(profileName, want); err != nil {
			return err
		}
	}
	if _, err := m.syncBoot(ctx, m.readLoader()); err != nil {
		if want != cur && cur > 0 {
			m.st.SetCurrent(profileName, cur)
		}
		return fmt.Errorf("install boot entries (still at generation %d): %w", cur, err)
	}
	r.Printf("generation %d (%s) is current and the default boot entry\n", want, top)
	if f.boot {
		return nil
	}
	return m.activate(ctx, r, top)
}
