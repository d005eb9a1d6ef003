package cli

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/kiln-os/kiln/activation"
)

// systemdEngine is the real engine: package activation driving systemd
// over D-Bus.
type systemdEngine struct{ sd activation.Systemd }

// newEngine connects to the activation engine for the machine at root;
// tests replace it.
var newEngine = func(ctx context.Context, root string) (engine, error) {
	if root != "/" {
		// systemd runs this machine, not the one under root: its jobs
		// would start and stop this machine's units.
		return nil, fmt.Errorf("cannot activate a machine under %s: systemd manages /; use --boot", root)
	}
	sd, err := activation.ConnectSystemd(ctx)
	if err != nil {
		return nil, err
	}
	return systemdEngine{sd}, nil
}

func (e systemdEngine) Close() { e.sd.Close() }

func (e systemdEngine) Plan(ctx context.Context, root, from, to string) (string, error) {
	p, err := activation.PlanSwitch(ctx, root, from, to, e.sd)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

func (e systemdEngine) Switch(ctx context.Context, root, to string, o switchOpts) (switchResult, error) {
	rep, err := activation.Switch(ctx, root, to, e.sd, activation.SwitchOptions{
		Log:     func(format string, a ...any) { o.log(fmt.Sprintf(format, a...)) },
		CrashAt: o.crashAt,
		OnCrash: func(string) { killSelf() },
		// the CLI holds the lock across profile, boot entries and switch
		HoldsLock: true,
	})
	var res switchResult
	if rep != nil {
		res = switchResult{Summary: rep.String(), Failed: rep.Failed, Errors: rep.Errors}
	}
	return res, err
}

// killSelf dies as kill -9 would kill kiln (fault injection in tests).
func killSelf() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
