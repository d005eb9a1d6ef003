package machine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kiln-os/kiln/store"
)

// DefaultConfirmTimeout is kiln switch --confirm-timeout's default.
const DefaultConfirmTimeout = 60 * time.Second

// ConfirmOptions say how ConfirmedSwitch reaches and switches a target.
type ConfirmOptions struct {
	SSH SSHOptions
	// Timeout is the window (DefaultConfirmTimeout when 0): the target
	// rolls back by itself unless a new connection confirmed within it.
	Timeout time.Duration
	Verbose bool
	// Stdout and Stderr receive the target's kiln's output (nil: dropped).
	Stdout, Stderr io.Writer
	// Copied, when set, hears how the copy went, before the switch runs.
	Copied func(CopyStats)
	// Substitute, when set, has the target take what it lacks from these
	// caches itself first (see DeployOptions.Substitute).
	Substitute *Substitute
	// Dial connects to the target (nil: Dial); a test's seam.
	Dial func(ctx context.Context, t Target, o SSHOptions) (*Remote, error)
}

// ConfirmResult is what a ConfirmedSwitch did, with its timings.
type ConfirmResult struct {
	Copy      CopyStats
	Switch    time.Duration // the target's kiln switch (arm + activate)
	Confirm   time.Duration // from the switch's end to the confirmation: what confirming adds
	Confirmed bool
}

// ConfirmError is a confirmed switch that did not stay: the target rolled
// back (or will by itself at the deadline). Stage says where it failed:
// "copy", "switch", "connect" (no new SSH connection within the window)
// or "confirm" (a health check failed, or the dead-man switch fired).
type ConfirmError struct {
	Target Target
	Stage  string
	Err    error
}

func (e *ConfirmError) Error() string {
	switch e.Stage {
	case "connect":
		return fmt.Sprintf("%s: no new SSH connection within the confirmation window (%v): the target rolls back to its previous generation by itself", e.Target, e.Err)
	case "confirm":
		return fmt.Sprintf("%s: not confirmed: %v", e.Target, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Target, e.Stage, e.Err)
}

func (e *ConfirmError) Unwrap() error { return e.Err }

// ConfirmedSwitch switches t to top from st and keeps it only if it is
// confirmed: it copies what the target lacks, runs the new generation's
// kiln there as `switch --toplevel TOP --confirm-within TIMEOUT` (the
// target arms its dead-man switch, then activates), then opens a NEW SSH
// connection — proof that the new generation still lets the deployer in —
// and runs `kiln confirm TOP` over it, which runs the target's health
// checks and only then disarms the dead-man switch and makes the
// generation the default boot entry. It never reports success unless the
// target confirmed; any failure is a *ConfirmError naming the stage.
//
// It is the building block of fleet deploys: one call per target.
func ConfirmedSwitch(ctx context.Context, t Target, st *store.Store, top store.Path, o ConfirmOptions) (*ConfirmResult, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultConfirmTimeout
	}
	dial := o.Dial
	if dial == nil {
		dial = Dial
	}
	out, errw := orDiscard(o.Stdout), orDiscard(o.Stderr)
	res := &ConfirmResult{}
	r, err := dial(ctx, t, o.SSH)
	if err != nil {
		return res, &ConfirmError{Target: t, Stage: "connect", Err: err}
	}
	_, err = r.copyClosure(st, top, func(c CopyStats) {
		res.Copy = c
		if o.Copied != nil {
			o.Copied(c)
		}
	}, o.Substitute)
	if err != nil {
		r.Close()
		return res, &ConfirmError{Target: t, Stage: "copy", Err: err}
	}
	cmd := []string{top.String() + "/bin/kiln"}
	if o.Verbose {
		cmd = append(cmd, "-v")
	}
	cmd = append(cmd, "switch", "--toplevel", top.String(), "--confirm-within", o.Timeout.String())
	start := time.Now()
	deadline := start.Add(o.Timeout)
	code, err := r.Run(cmd, nil, out, errw)
	r.Close()
	res.Switch = time.Since(start)
	switch {
	case err != nil || code == -1:
		// The connection broke during the activation (sshd restarted,
		// the network moved): the new connection below decides.
		o.SSH.logf("the switch's connection ended (%v): confirming over a new one", err)
	case code != 0:
		return res, &ConfirmError{Target: t, Stage: "switch", Err: fmt.Errorf("the target's kiln switch exited %d (its output above says why; it rolled back or changed nothing)", code)}
	}
	confirmStart := time.Now()
	r2, err := dialUntil(ctx, dial, t, o.SSH, deadline)
	if err != nil {
		return res, &ConfirmError{Target: t, Stage: "connect", Err: err}
	}
	defer r2.Close()
	var cout bytes.Buffer
	// The target confirms only while this connection stays open: a
	// deployer killed during the checks leaves it rolling back.
	ccmd := []string{top.String() + "/bin/kiln", "confirm", "--deployer-stdin", top.String()}
	code, err = r2.RunHeld(ccmd, io.MultiWriter(out, &cout), io.MultiWriter(errw, &cout))
	res.Confirm = time.Since(confirmStart)
	switch {
	case err != nil || code == -1:
		return res, &ConfirmError{Target: t, Stage: "confirm", Err: fmt.Errorf("the confirmation's connection broke (%v): unless it got through, the target rolls back by itself", err)}
	case code != 0:
		msg := strings.TrimSpace(cout.String())
		if msg == "" {
			msg = fmt.Sprintf("kiln confirm exited %d", code)
		}
		return res, &ConfirmError{Target: t, Stage: "confirm", Err: errors.New(msg)}
	}
	res.Confirmed = true
	return res, nil
}

// dialUntil connects to t, retrying until deadline (sshd may be
// restarting after the activation).
func dialUntil(ctx context.Context, dial func(context.Context, Target, SSHOptions) (*Remote, error), t Target, o SSHOptions, deadline time.Time) (*Remote, error) {
	var last error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			if last == nil {
				last = errors.New("the window closed")
			}
			return nil, last
		}
		actx, cancel := context.WithTimeout(ctx, min(left, 10*time.Second))
		r, err := dial(actx, t, o)
		cancel()
		if err == nil {
			return r, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(time.Second, max(time.Until(deadline), 0))):
		}
	}
}

// copyClosure copies the paths of top's closure the target lacks and
// returns the target's kiln.
func (r *Remote) copyClosure(st *store.Store, top store.Path, copied func(CopyStats), sub *Substitute) (string, error) {
	closure, err := st.Closure(top)
	if err != nil {
		return "", err
	}
	kiln, missing, err := r.Missing(closure)
	if err != nil {
		return "", err
	}
	substituted := 0
	if sub != nil && len(missing) > 0 {
		left, err := r.substitute(kiln, missing, sub)
		if err != nil {
			return "", err
		}
		substituted, missing = len(missing)-len(left), left
	}
	stats, err := r.Receive(kiln, st, missing)
	if err != nil {
		return "", err
	}
	if copied != nil {
		copied(CopyStats{TransferStats: stats, Missing: len(missing), Closure: len(closure), Substituted: substituted})
	}
	return kiln, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
