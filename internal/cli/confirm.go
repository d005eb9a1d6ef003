package cli

import (
	"context"
	"flag"
	"io"

	"github.com/kiln-os/kiln/machine"
)

type confirmFlags struct {
	root          string
	deployerStdin bool
}

func init() {
	register(&command{
		name:    "confirm",
		summary: "confirm a pending switch: run the health checks, then keep it",
		usage: `kiln confirm [--deployer-stdin] TOPLEVEL

confirm is the target side of a confirmed kiln switch --target-host, run
over a new SSH connection: it runs the health checks (kiln health) while
the dead-man switch is still armed; when they pass it disarms it and
makes the new generation the default boot entry. A failed check rolls
back at once, and confirm exits 1 with the check's output. It fails when
the switch to TOPLEVEL is not pending any more (the dead-man switch rolled
it back).`,
		flags: func(fs *flag.FlagSet) any {
			f := &confirmFlags{root: "/"}
			fs.BoolVar(&f.deployerStdin, "deployer-stdin", false, "roll back if stdin (the deployer's connection) closes before the checks pass")
			if hidden(fs) {
				fs.StringVar(&f.root, "root", "/", "machine root `DIR` (tests)")
			}
			return f
		},
		run: runConfirm,
	})
}

func runConfirm(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*confirmFlags)
	if len(args) != 1 {
		return usageErrorf("want the toplevel of the pending switch")
	}
	m, err := r.openMachine(f.root)
	if err != nil {
		return err
	}
	defer m.Close()
	top, err := m.Store.PathOf(args[0])
	if err != nil {
		return err
	}
	if f.deployerStdin {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		go func() {
			io.Copy(io.Discard, r.Stdin)
			cancel(machine.ErrDeployerGone)
		}()
	}
	res, err := m.Confirm(ctx, top, nil)
	for _, c := range res {
		mark := "ok    "
		if !c.OK {
			mark = "FAILED"
		}
		r.Printf("%s %s\n", mark, c.Name)
	}
	if err == nil {
		r.Printf("confirmed %s: it is the default boot entry\n", top)
	}
	return err
}
