package machine

import (
	"context"
	"fmt"

	"github.com/kiln-os/kiln/activation"
	"github.com/kiln-os/kiln/store"
)

// Engine activates generations on a machine: package activation driving
// systemd over D-Bus (SystemdEngine); tests substitute a recording one.
type Engine interface {
	// Plan returns the printable plan of switching the machine under root
	// from the toplevel from (zero: none active) to to.
	Plan(ctx context.Context, root string, from, to store.Path) (string, error)
	// Switch activates to on the machine under root and reports what it
	// did. The caller holds the switch lock.
	Switch(ctx context.Context, root string, to store.Path, o EngineOptions) (EngineResult, error)
	Close()
}

// EngineOptions tune Engine.Switch.
type EngineOptions struct {
	Log     func(format string, a ...any) // progress lines; may be nil
	CrashAt string                        // fault injection point (KILN_TEST_FAULTS=1 only)
	OnCrash func(point string)            // called at CrashAt
}

// EngineResult is what an activation did.
type EngineResult struct {
	Summary string   // printable report
	Failed  []string // units failed after the switch
	Errors  []string // activation steps and unit jobs that failed
}

// ConnectSystemd is the default Machine.Engine: package activation over
// the D-Bus API of the systemd managing root, which must be "/".
func ConnectSystemd(ctx context.Context, root string) (Engine, error) {
	if root != "/" {
		// systemd runs this machine, not the one under root: its jobs
		// would start and stop this machine's units.
		return nil, fmt.Errorf("cannot activate a machine under %s: systemd manages /; use --boot", root)
	}
	sd, err := activation.ConnectSystemd(ctx)
	if err != nil {
		return nil, err
	}
	return SystemdEngine(sd), nil
}

// SystemdEngine is the Engine of package activation over sd.
func SystemdEngine(sd activation.Systemd) Engine { return systemdEngine{sd} }

type systemdEngine struct{ sd activation.Systemd }

func (e systemdEngine) Close() { e.sd.Close() }

func (e systemdEngine) Plan(ctx context.Context, root string, from, to store.Path) (string, error) {
	f := ""
	if !from.IsZero() {
		f = from.String()
	}
	p, err := activation.PlanSwitch(ctx, root, f, to.String(), e.sd)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

func (e systemdEngine) Switch(ctx context.Context, root string, to store.Path, o EngineOptions) (EngineResult, error) {
	rep, err := activation.Switch(ctx, root, to.String(), e.sd, activation.SwitchOptions{
		Log:     o.Log,
		CrashAt: o.CrashAt,
		OnCrash: o.OnCrash,
		// the machine holds the lock across profile, boot entries and switch
		HoldsLock: true,
	})
	var res EngineResult
	if rep != nil {
		res = EngineResult{Summary: rep.String(), Failed: rep.Failed, Errors: rep.Errors}
	}
	return res, err
}
