package cli

import (
	"context"
	"flag"
	"time"

	"github.com/kiln-os/kiln/machine"
)

type healthFlags struct {
	root  string
	grace time.Duration
}

func init() {
	register(&command{
		name:    "health",
		summary: "run the running system's health checks now",
		usage: `kiln health [--json]

health runs every health check of the running generation (the
health_checks option: kiln-check-NAME.service units, run again) and checks
that no unit failed. It prints each result and exits 1 naming each check
that failed, with its output. Confirmed switches (kiln switch
--target-host) run it on the target before confirming.`,
		flags: func(fs *flag.FlagSet) any {
			f := &healthFlags{root: "/"}
			if hidden(fs) {
				fs.StringVar(&f.root, "root", "/", "machine root `DIR` (tests)")
			}
			return f
		},
		run: runHealth,
	})
	register(&command{
		name:    "health-failed",
		summary: "after a failed health check at boot: reboot when the boot is counted",
		usage: `kiln health-failed [--grace 10s]

health-failed is what kiln-health-failed.service runs when a health check
fails. When systemd-boot counted this boot and another generation can
boot, it waits the grace period and reboots, so the counter runs down
and the machine falls back to the previous good generation on its own.
Otherwise (an uncounted boot, or nothing else to boot) it stays up. It
says which in the journal.`,
		flags: func(fs *flag.FlagSet) any {
			f := &healthFlags{root: "/"}
			fs.DurationVar(&f.grace, "grace", 10*time.Second, "wait `D` before rebooting")
			if hidden(fs) {
				fs.StringVar(&f.root, "root", "/", "machine root `DIR` (tests)")
			}
			return f
		},
		run: runHealthFailed,
	})
}

func runHealth(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*healthFlags)
	m, err := r.machineOnly(f.root, args)
	if err != nil {
		return err
	}
	defer m.Close()
	res, err := m.RunHealthChecks(ctx)
	if r.JSON {
		if jerr := storeJSON(r, append([]machine.CheckResult{}, res...)); jerr != nil {
			return jerr
		}
		return err
	}
	for _, c := range res {
		mark := "ok    "
		if !c.OK {
			mark = "FAILED"
		}
		r.Printf("%s %s\n", mark, c.Name)
	}
	return err
}

func runHealthFailed(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*healthFlags)
	m, err := r.machineOnly(f.root, args)
	if err != nil {
		return err
	}
	defer m.Close()
	fb, err := m.DecideFallback()
	if err != nil {
		return err
	}
	r.Printf("kiln: a health check failed; %s\n", fb.Why)
	if !fb.Reboot {
		return nil
	}
	select {
	case <-time.After(f.grace):
	case <-ctx.Done():
		return ctx.Err()
	}
	return m.Reboot(ctx)
}
