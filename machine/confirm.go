package machine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/internal/versioned"
	"github.com/kiln-os/kiln/store"
)

// The target side of a confirmed switch (deploy-rs's "magic rollback",
// done by systemd rather than by a process of the SSH session):
//
//  1. SwitchPending adds the generation, writes the boot entries with the
//     previous generation still the default (a reset during the window
//     boots it), records the pending switch in PendingFile, arms the
//     dead-man switch — a transient systemd timer, owned by PID 1, so it
//     survives the SSH connection dropping — that runs kiln rollback --to
//     PREV when it fires (the rollback marks the new generation's pending
//     entry bad, so systemd-boot never falls back to it), and then
//     activates.
//  2. Confirm, over a new SSH connection, runs the health checks while the
//     timer is still armed, then stops the timer and, only if its
//     rollback never started, makes the new generation the default boot
//     entry. A failed check rolls back at once.
//  3. At boot, kiln rollback --fallback finds a PendingFile left by a reset
//     during the window and makes the booted generation current.

// PendingFile records an unconfirmed switch (versioned JSON).
const PendingFile = "kiln/var/lib/confirm-pending.json"

const pendingVersion = 1

// Pending is an unconfirmed switch.
type Pending struct {
	Version    int        `json:"version"`
	Generation int        `json:"generation"` // the new generation, current until rolled back
	Previous   int        `json:"previous"`   // the generation the dead-man switch returns to
	Toplevel   store.Path `json:"toplevel"`
	Unit       string     `json:"unit"`     // the transient timer's unit name, without .timer
	Deadline   time.Time  `json:"deadline"` // when the timer fires (the target's clock)
	BootID     string     `json:"boot_id"`  // the boot it was armed in (/proc/sys/kernel/random/boot_id)
}

// bootID is the running boot's id ("" when unknown).
func (m *Machine) bootID() string {
	b, _ := os.ReadFile(filepath.Join(m.Root, "proc", "sys", "kernel", "random", "boot_id"))
	return strings.TrimSpace(string(b))
}

// DeadMan arms and disarms the dead-man switch; ArmSystemd is the real one.
type DeadMan interface {
	// Arm makes cmd run as root after d, whatever happens to the caller.
	Arm(ctx context.Context, unit string, d time.Duration, cmd []string) error
	// Disarm stops the timer; fired reports whether its command started.
	Disarm(ctx context.Context, unit string) (fired bool, err error)
}

// SystemdDeadMan is a transient timer and service made by systemd-run.
type SystemdDeadMan struct{}

func (SystemdDeadMan) Arm(ctx context.Context, unit string, d time.Duration, cmd []string) error {
	args := []string{"--unit=" + unit, "--collect", "--quiet",
		"--on-active=" + strconv.FormatInt(d.Milliseconds(), 10) + "ms",
		"--timer-property=AccuracySec=100ms",
		"--description=kiln: roll back an unconfirmed switch", "--"}
	out, err := exec.CommandContext(ctx, "systemd-run", append(args, cmd...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("arm the dead-man switch (systemd-run): %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

func (SystemdDeadMan) Disarm(ctx context.Context, unit string) (bool, error) {
	if out, err := exec.CommandContext(ctx, "systemctl", "stop", unit+".timer").CombinedOutput(); err != nil {
		return false, fmt.Errorf("disarm the dead-man switch: %v: %s", err, bytes.TrimSpace(out))
	}
	// A service that never ran has no start timestamp (and, collected,
	// may be gone: then it never ran either).
	out, err := exec.CommandContext(ctx, "systemctl", "show", "-p", "ExecMainStartTimestampMonotonic", "-p", "ActiveState", unit+".service").Output()
	if err != nil {
		return false, fmt.Errorf("disarm the dead-man switch: %w", err)
	}
	s := string(out)
	fired := !strings.Contains(s, "ExecMainStartTimestampMonotonic=0") ||
		strings.Contains(s, "ActiveState=active") || strings.Contains(s, "ActiveState=activating")
	return fired, nil
}

func (m *Machine) deadMan() DeadMan {
	if m.DeadMan != nil {
		return m.DeadMan
	}
	if m.Root != "/" {
		// systemd runs this machine, not the one under Root
		return refusedDeadMan{m.Root}
	}
	return SystemdDeadMan{}
}

type refusedDeadMan struct{ root string }

func (d refusedDeadMan) Arm(context.Context, string, time.Duration, []string) error {
	return fmt.Errorf("cannot arm a dead-man switch for the machine under %s: systemd manages /", d.root)
}

func (d refusedDeadMan) Disarm(context.Context, string) (bool, error) {
	return false, fmt.Errorf("cannot disarm a dead-man switch for the machine under %s", d.root)
}

// ReadPending returns the unconfirmed switch, nil when there is none.
func (m *Machine) ReadPending() (*Pending, error) {
	name := filepath.Join(m.Root, PendingFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p Pending
	if _, err := versioned.Decode(b, pendingVersion, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &p, nil
}

func (m *Machine) writePending(p *Pending) error {
	p.Version = pendingVersion
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	name := filepath.Join(m.Root, PendingFile)
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return fsutil.WriteFile(name, append(b, '\n'), 0o644)
}

func (m *Machine) clearPending() error {
	err := os.Remove(filepath.Join(m.Root, PendingFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// ErrDeployerGone is the cause a confirmation's context is cancelled
// with when the deployer went away (kiln confirm --deployer-stdin: its
// stdin, the SSH channel, reached EOF): a switch is confirmed only while
// the deployer is still there, so Confirm rolls back instead.
var ErrDeployerGone = errors.New("the deployer went away before the confirmation (its SSH connection closed)")

// ErrNotConfirmable reports a confirmation that came too late or for
// another switch: the target rolled back, or is rolling back.
var ErrNotConfirmable = errors.New("nothing to confirm")

// SwitchPending is Switch for a confirmed switch: the new generation is
// current and activated, but the previous one stays the default boot
// entry and a dead-man switch rolls back to it after window unless
// Confirm runs first. It needs a previous generation to return to.
func (m *Machine) SwitchPending(ctx context.Context, top store.Path, window time.Duration) (*Result, error) {
	unlock, err := m.Lock()
	if err != nil {
		return nil, err
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	prev, err := m.current()
	if err != nil {
		return nil, err
	}
	switch old, err := m.ReadPending(); {
	case err != nil:
		return nil, err
	case old != nil && old.Generation == prev:
		return nil, fmt.Errorf("generation %d's switch is not confirmed yet (it rolls back at %s)", old.Generation, old.Deadline.Format(time.RFC3339))
	case old != nil:
		m.clearPending() // the dead-man switch rolled it back
	}
	n, created, err := m.Store.AddGeneration(Profile, top)
	if err != nil {
		return nil, err
	}
	if prev != 0 && n == prev {
		// nothing changes: there is nothing to roll back
		res := &Result{Generation: n, Toplevel: top}
		res.Activation, err = m.activate(ctx, top)
		return res, err
	}
	if _, err := m.installBoot(ctx, prev); err != nil {
		if created {
			m.Store.RevertGeneration(Profile, n, prev)
		}
		return nil, fmt.Errorf("install boot entries (generation %d not added): %w", n, err)
	}
	p := &Pending{Generation: n, Previous: prev, Toplevel: top, Unit: "kiln-confirm-" + strconv.Itoa(n),
		Deadline: time.Now().Add(window), BootID: m.bootID()}
	if prev == 0 {
		p.Unit = "" // a first generation: nothing to roll back to, only checks to pass
	}
	if err := m.writePending(p); err != nil {
		m.Store.SetCurrent(Profile, prev)
		m.installBoot(ctx, 0)
		return nil, err
	}
	// The new generation's kiln (the one arming it; it marks the
	// generation's entry bad as it rolls back).
	cmd := []string{top.String() + "/bin/kiln", "rollback", "--to", strconv.Itoa(prev)}
	if p.Unit == "" {
		// no dead-man switch
	} else if err := m.deadMan().Arm(ctx, p.Unit, window, cmd); err != nil {
		m.clearPending()
		m.Store.SetCurrent(Profile, prev)
		m.installBoot(ctx, 0)
		return nil, err
	}
	m.fault("after-arm")
	res := &Result{Generation: n, Toplevel: top, Created: created}
	res.Activation, err = m.activate(ctx, top)
	if err != nil {
		// Roll back now rather than at the deadline: the deployer hears
		// why, and the machine spends less time broken.
		unlock()
		locked = false
		return res, rolledBack(err, p, m.abandon(ctx, p))
	}
	return res, nil
}

// abandon disarms the dead-man switch and rolls back to the previous
// generation itself. The error says how the rollback went: nil, or its
// activation's failures after the profile and the boot entries moved
// back, or why it could not roll back at all.
func (m *Machine) abandon(ctx context.Context, p *Pending) error {
	if p.Unit == "" {
		m.clearPending()
		return fmt.Errorf("generation %d is the first: there is nothing to roll back to", p.Generation)
	}
	fired, err := m.deadMan().Disarm(ctx, p.Unit)
	if err != nil {
		return fmt.Errorf("rolling back to generation %d failed: %w (the dead-man switch rolls back at %s)", p.Previous, err, p.Deadline.Format(time.RFC3339))
	}
	if fired {
		return nil // the dead-man switch is rolling back
	}
	res, err := m.Rollback(ctx, p.Previous, false)
	m.clearPending()
	switch {
	case res == nil && err != nil:
		return fmt.Errorf("rolling back to generation %d failed: %w", p.Previous, err)
	case err != nil:
		return fmt.Errorf("rolled back to generation %d, whose activation reported: %w", p.Previous, err)
	}
	return nil
}

// rolledBack words the outcome of abandon after err.
func rolledBack(err error, p *Pending, rerr error) error {
	if rerr != nil {
		return fmt.Errorf("%w; %v", err, rerr)
	}
	return fmt.Errorf("%w; rolled back to generation %d", err, p.Previous)
}

// Confirm confirms the pending switch to top: it runs the health
// checks while the dead-man switch is still armed; when they pass it
// disarms it and makes n the default boot entry. A failed check rolls
// back at once and returns the *HealthError (with why the rollback
// failed, if it did). Too late — the dead-man switch fired, or another
// switch is pending — is ErrNotConfirmable.
func (m *Machine) Confirm(ctx context.Context, top store.Path, checks func(context.Context) ([]CheckResult, error)) ([]CheckResult, error) {
	p, err := m.ReadPending()
	if err != nil {
		return nil, err
	}
	cur, err := m.current()
	if err != nil {
		return nil, err
	}
	if checks == nil {
		checks = m.Checks
	}
	if checks == nil {
		checks = m.RunHealthChecks
	}
	if p == nil && cur != 0 && m.currentToplevel() == top {
		// a switch to the current generation: nothing to keep or undo
		return checks(ctx)
	}
	if p == nil || p.Toplevel != top || cur != p.Generation {
		return nil, fmt.Errorf("%w: %s is not a pending switch (current generation %d): the target rolled back", ErrNotConfirmable, top, cur)
	}
	n := p.Generation
	res, cerr := checks(ctx)
	if cause := context.Cause(ctx); errors.Is(cause, ErrDeployerGone) {
		// Nobody is left to hear the confirmation: the deployer was
		// killed or its connection dropped while the checks ran.
		cerr = cause
	}
	if cerr != nil {
		// The rollback must run even when ctx was cancelled.
		return res, rolledBack(cerr, p, m.abandon(context.WithoutCancel(ctx), p))
	}
	fired := false
	if p.Unit != "" {
		if fired, err = m.deadMan().Disarm(ctx, p.Unit); err != nil {
			return res, err
		}
	}
	if fired {
		return res, fmt.Errorf("%w: the dead-man switch fired before the confirmation: the target rolls back to generation %d", ErrNotConfirmable, p.Previous)
	}
	unlock, err := m.Lock()
	if err != nil {
		return res, err
	}
	defer unlock()
	if _, err := m.installBoot(ctx, 0); err != nil {
		return res, fmt.Errorf("make generation %d the default boot entry: %w", n, err)
	}
	return res, m.clearPending()
}

// settlePending handles a pending switch found at boot: the machine was
// reset during the window, and booted the previous generation (the
// default); it becomes current again. It reports the generation made
// current (0: none).
func (m *Machine) settlePending(ctx context.Context) (int, error) {
	p, err := m.ReadPending()
	if err != nil || p == nil {
		return 0, err
	}
	if cur, err := m.current(); err != nil || cur != p.Generation {
		return 0, m.clearPending() // rolled back already
	}
	if p.BootID == m.bootID() {
		return 0, nil // the window is open in this boot: the dead-man switch decides
	}
	booted := m.System("booted-system")
	if booted == p.Toplevel {
		return 0, nil // it booted the new one (chosen by hand): leave it pending
	}
	m.logf("generation %d's switch was never confirmed: back to generation %d", p.Generation, p.Previous)
	if _, err := m.Rollback(ctx, p.Previous, true); err != nil {
		return 0, err
	}
	return p.Previous, m.clearPending()
}

// currentToplevel is the current generation's toplevel (zero: none).
func (m *Machine) currentToplevel() store.Path {
	gens, err := m.Store.Generations(Profile)
	if err != nil {
		return store.Path{}
	}
	for _, g := range gens {
		if g.Current {
			return g.Path
		}
	}
	return store.Path{}
}
