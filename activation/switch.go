package activation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// SwitchPlan is everything a switch does (`kiln switch --dry-run` prints
// it, Switch applies it and records it in the journal): the activation
// and the unit jobs.
type SwitchPlan struct {
	From, To string // From is "" when the machine has no current system
	ActivationPlan
	Units UnitsPlan
}

// String prints the plan: accounts, /etc, then the unit jobs in the order
// they run, with the activation between the stops and the rest.
func (p *SwitchPlan) String() string {
	var b strings.Builder
	from := p.From
	if from == "" {
		from = "(none)"
	}
	fmt.Fprintf(&b, "switch from %s\n         to %s\n", from, p.To)
	section := func(title, text string) {
		if strings.HasPrefix(text, title+": ") && strings.Count(text, "\n") == 1 {
			b.WriteString(text) // "etc: no changes"
			return
		}
		b.WriteString(title + ":\n")
		for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	section("users", p.Users.String())
	section("etc", p.Etc.String())
	section("wrappers", p.Wrappers.String())
	if !p.Secrets.IsZero() {
		section("secrets", p.Secrets.String())
	}
	b.WriteString(p.Hostname.String())
	var u strings.Builder
	for _, a := range p.Units.Stop {
		fmt.Fprintf(&u, "%-8s %s (%s)\n", "stop", a.Unit, a.Reason)
	}
	u.WriteString("activate " + p.To + "\n")
	rest := p.Units
	rest.Stop = nil
	if !rest.Empty() {
		u.WriteString(rest.String())
	}
	section("units", u.String())
	return b.String()
}

// PlanSwitch computes what switching root from fromToplevel ("" for the
// target of root's /run/current-system) to toToplevel would do, asking sd
// which units run. It changes nothing.
func PlanSwitch(ctx context.Context, root, fromToplevel, toToplevel string, sd Systemd) (*SwitchPlan, error) {
	if fromToplevel == "" {
		fromToplevel, _ = os.Readlink(under(root, "/run/current-system"))
	}
	p := &SwitchPlan{From: fromToplevel, To: toToplevel}
	ap, err := PlanActivation(root, toToplevel)
	if err != nil {
		return nil, fmt.Errorf("plan switch: %w", err)
	}
	p.ActivationPlan = *ap
	old := map[string]*UnitFile{}
	if fromToplevel != "" {
		if old, err = LoadUnits(root, fromToplevel); err != nil {
			return nil, fmt.Errorf("plan switch: %w", err)
		}
	}
	new, err := LoadUnits(root, toToplevel)
	if err != nil {
		return nil, fmt.Errorf("plan switch: %w", err)
	}
	observed, err := sd.ListUnits(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan switch: %w", err)
	}
	p.Units = withSecretRestarts(PlanUnits(old, new, observed), p.Secrets, observed)
	return p, nil
}

// SwitchOptions tune Switch.
type SwitchOptions struct {
	// Log receives progress lines (may be nil).
	Log func(format string, a ...any)
	// CrashAt names a point where Switch stops as if killed, for tests:
	// "after-journal", "after-stop-N", "before-activate", "after-activate",
	// "after-daemon-reload", "after-reload-N", "after-restart-N",
	// "before-start", "after-start-N", "before-journal-removal" (N counts
	// from 1 within its list). Honoured only when the environment has
	// KILN_TEST_FAULTS=1.
	CrashAt string
	// OnCrash, when set, is called at the CrashAt point (a command kills
	// itself there with SIGKILL); if it returns, Switch returns
	// ErrCrashInjected.
	OnCrash func(point string)
	// HoldsLock: the caller took LockSwitch already.
	HoldsLock bool
}

// ErrCrashInjected is returned at SwitchOptions.CrashAt.
var ErrCrashInjected = errors.New("crash injected for a test")

// SwitchReport is what a switch did.
type SwitchReport struct {
	From, To string
	// Resumed is the target of an interrupted switch finished first ("" if
	// there was none).
	Resumed string
	// Dropped is the target of a switch interrupted before the last
	// reboot, whose journal was dropped ("" if none).
	Dropped                               string
	Plan                                  *SwitchPlan
	Stopped, Reloaded, Restarted, Started []string
	// Errors lists the activation's and the jobs' failures, in order.
	Errors []string
	// Failed lists the units systemd reports failed after the switch.
	Failed []string
}

// OK reports whether the switch went through with no error and no failed
// unit (else the command exits non-zero).
func (r *SwitchReport) OK() bool { return len(r.Errors) == 0 && len(r.Failed) == 0 }

// String summarizes the report for humans.
func (r *SwitchReport) String() string {
	var b strings.Builder
	if r.Resumed != "" {
		fmt.Fprintf(&b, "finished the interrupted switch to %s\n", r.Resumed)
	}
	fmt.Fprintf(&b, "switched to %s\n", r.To)
	for _, l := range []struct {
		verb  string
		units []string
	}{{"stopped", r.Stopped}, {"reloaded", r.Reloaded}, {"restarted", r.Restarted}, {"started", r.Started}} {
		if len(l.units) > 0 {
			fmt.Fprintf(&b, "%s: %s\n", l.verb, strings.Join(l.units, " "))
		}
	}
	for _, e := range r.Errors {
		b.WriteString("error: " + e + "\n")
	}
	if len(r.Failed) > 0 {
		fmt.Fprintf(&b, "failed units: %s\n", strings.Join(r.Failed, " "))
	}
	return b.String()
}

// Switch moves the machine under root to toToplevel: it takes the switch
// lock (ErrSwitchRunning when held), finishes an interrupted switch from
// its journal, plans (PlanSwitch), writes the journal, stops units,
// activates (Activate with SwitchPhase), reloads systemd, reloads,
// restarts and starts units (rewriting the journal after each step),
// removes the journal and lists the failed units. Job and activation
// failures do not stop it: they are in the report (see OK); the error is
// for what prevents switching at all.
func Switch(ctx context.Context, root, toToplevel string, sd Systemd, opts SwitchOptions) (*SwitchReport, error) {
	if !opts.HoldsLock {
		unlock, err := LockSwitch(root)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	s := &switcher{ctx: ctx, root: root, sd: sd, opts: opts, rep: &SwitchReport{To: toToplevel}}
	if os.Getenv("KILN_TEST_FAULTS") != "1" {
		s.opts.CrashAt = ""
	}
	if s.opts.Log == nil {
		s.opts.Log = func(string, ...any) {}
	}
	pending, err := ReadJournal(root)
	if err != nil {
		return nil, err
	}
	if pending != nil && pending.BootID != "" && pending.BootID != bootID(root) {
		// The machine rebooted since: it booted a whole generation.
		s.opts.Log("dropping the journal of a switch to %s interrupted before the last reboot", pending.To)
		s.rep.Dropped = pending.To
		if err := removeJournal(root); err != nil {
			return nil, err
		}
		pending = nil
	}
	if pending != nil {
		s.opts.Log("finishing the interrupted switch to %s", pending.To)
		s.rep.Resumed = pending.To
		// The journal records what was planned, not what the crash left
		// applied: an activation still to do is planned again.
		if err := s.run(pending, nil); err != nil {
			return s.rep, err
		}
	}
	plan, err := PlanSwitch(ctx, root, "", toToplevel, sd)
	if err != nil {
		return s.rep, err
	}
	s.rep.Plan, s.rep.From = plan, plan.From
	act := plan.ActivationPlan
	j := &Journal{BootID: bootID(root), From: plan.From, To: toToplevel, Activation: &act, DaemonReload: plan.Units.DaemonReload,
		Stop: plan.Units.Stop, Reload: plan.Units.Reload, Restart: plan.Units.Restart, Start: plan.Units.Start}
	if err := writeJournal(root, j); err != nil {
		return s.rep, err
	}
	if err := s.fault("after-journal"); err != nil {
		return s.rep, err
	}
	// A unit failed before this switch (a generation rolled back, a
	// health check of an earlier boot) is not this switch's failure:
	// forget the failed states first, as NixOS's switch does, so the
	// report, a confirmation's "no failed units" and a rollback decision
	// see only what this switch caused.
	if before, err := sd.Failed(ctx); err == nil {
		for _, u := range before {
			if err := sd.ResetFailed(ctx, u); err != nil {
				s.opts.Log("%v", err)
			}
		}
	}
	if err := s.run(j, &plan.ActivationPlan); err != nil {
		return s.rep, err
	}
	failed, err := sd.Failed(ctx)
	if err != nil {
		return s.rep, fmt.Errorf("switch to %s: %w", toToplevel, err)
	}
	s.rep.Failed = failed
	return s.rep, nil
}

type switcher struct {
	ctx  context.Context
	root string
	sd   Systemd
	opts SwitchOptions
	rep  *SwitchReport
}

func (s *switcher) fault(point string) error {
	if s.opts.CrashAt == "" || s.opts.CrashAt != point {
		return nil
	}
	if s.opts.OnCrash != nil {
		s.opts.OnCrash(point)
	}
	return fmt.Errorf("switch: %s: %w", point, ErrCrashInjected)
}

// run carries out a journal, saving it after every step, and removes it.
// The activation applied is plan, the one the journal records; nil (a
// journal left by an interrupted switch) plans it again.
func (s *switcher) run(j *Journal, plan *ActivationPlan) error {
	if err := s.jobs(j, &j.Stop, "stop", s.sd.Stop, &s.rep.Stopped); err != nil {
		return err
	}
	if !j.Activated {
		if err := s.fault("before-activate"); err != nil {
			return err
		}
		s.opts.Log("activating %s", j.To)
		a := Activator{Log: s.opts.Log}
		var err error
		if plan != nil {
			err = a.ApplyActivation(s.root, plan, SwitchPhase)
		} else {
			err = a.Activate(s.root, j.To, SwitchPhase)
		}
		if err != nil {
			s.rep.Errors = append(s.rep.Errors, err.Error())
		}
		j.Activated = true
		if err := s.save(j, "after-activate"); err != nil {
			return err
		}
	}
	if j.DaemonReload {
		s.opts.Log("reloading systemd")
		if err := s.sd.DaemonReload(s.ctx); err != nil {
			// Without the reload systemd runs the old units: say so, go on.
			s.rep.Errors = append(s.rep.Errors, err.Error())
		}
		j.DaemonReload = false
		if err := s.save(j, "after-daemon-reload"); err != nil {
			return err
		}
	}
	if len(j.Start)+len(j.Restart) > 0 {
		if err := CreateTmpfiles(s.ctx, s.root); err != nil {
			s.rep.Errors = append(s.rep.Errors, err.Error())
		}
	}
	if err := s.reloadsOfStopped(j); err != nil {
		return err
	}
	if err := s.jobs(j, &j.Reload, "reload", s.sd.Reload, &s.rep.Reloaded); err != nil {
		return err
	}
	if err := s.jobs(j, &j.Restart, "restart", s.sd.Restart, &s.rep.Restarted); err != nil {
		return err
	}
	if len(j.Start) > 0 {
		if err := s.fault("before-start"); err != nil {
			return err
		}
	}
	if err := s.jobs(j, &j.Start, "start", s.sd.Start, &s.rep.Started); err != nil {
		return err
	}
	if err := s.fault("before-journal-removal"); err != nil {
		return err
	}
	return removeJournal(s.root)
}

// jobs runs the first job of *list until none is left, dropping each from
// the journal once done (a crash mid-job repeats that job, and stop,
// start, reload and restart may be repeated).
func (s *switcher) jobs(j *Journal, list *[]UnitAction, verb string, do func(context.Context, string) error, done *[]string) error {
	for n := 1; len(*list) > 0; n++ {
		a := (*list)[0]
		s.opts.Log("%s %s (%s)", verb, a.Unit, a.Reason)
		if err := do(s.ctx, a.Unit); err != nil {
			if s.ctx.Err() != nil {
				return fmt.Errorf("switch: %w", err)
			}
			s.rep.Errors = append(s.rep.Errors, err.Error())
		} else {
			*done = append(*done, a.Unit)
		}
		*list = (*list)[1:]
		if err := s.save(j, fmt.Sprintf("after-%s-%d", verb, n)); err != nil {
			return err
		}
	}
	return nil
}

// reloadsOfStopped turns reloads of units that are no longer running (a
// dependency was stopped meanwhile) into starts, as NixOS does.
func (s *switcher) reloadsOfStopped(j *Journal) error {
	if len(j.Reload) == 0 {
		return nil
	}
	states, err := s.sd.ListUnits(s.ctx)
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	var keep []UnitAction
	for _, a := range j.Reload {
		if states[a.Unit].running() {
			keep = append(keep, a)
			continue
		}
		j.Start = append(j.Start, UnitAction{Unit: a.Unit, Reason: a.Reason + "; not running, so started"})
	}
	if len(keep) == len(j.Reload) {
		return nil
	}
	j.Reload = keep
	return writeJournal(s.root, j)
}

func (s *switcher) save(j *Journal, point string) error {
	if err := writeJournal(s.root, j); err != nil {
		return err
	}
	return s.fault(point)
}
