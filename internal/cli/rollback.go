package cli

import (
	"context"
	"flag"
)

type rollbackFlags struct {
	to       int
	boot     bool
	fallback bool
	root     string
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
With --boot it only becomes the default for the next boot.

--fallback (run at boot by kiln-boot-fallback.service) makes the booted
generation current and the default when systemd-boot fell back to it
because the current generation's entry went bad (boot counting), and does
nothing otherwise.`,
		flags: func(fs *flag.FlagSet) any {
			f := &rollbackFlags{root: "/"}
			fs.IntVar(&f.to, "to", 0, "generation `N` to roll back to (default: the previous one)")
			fs.BoolVar(&f.boot, "boot", false, "only make it the default boot entry; do not activate")
			fs.BoolVar(&f.fallback, "fallback", false, "make the booted generation current if systemd-boot fell back to it")
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
	m, err := r.machineOnly(f.root, args)
	if err != nil {
		return err
	}
	defer m.Close()
	if f.fallback {
		if f.to != 0 || f.boot {
			return usageErrorf("--fallback takes neither --to nor --boot")
		}
		n, err := m.SettleFallback(ctx)
		if n > 0 {
			r.Printf("systemd-boot fell back to generation %d: it is current and the default boot entry\n", n)
		}
		return err
	}
	res, err := m.Rollback(ctx, f.to, f.boot)
	if res != nil {
		r.Printf("generation %d (%s) is current and the default boot entry\n", res.Generation, res.Toplevel)
	}
	return r.activated(res, err)
}
