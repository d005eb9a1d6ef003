package testdriver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Machine is what the runner drives: *testvm.Machine, or a fake in tests.
type Machine interface {
	WaitForUnitCtx(ctx context.Context, unit string) error
	SucceedCtx(ctx context.Context, cmd string) (string, error)
	FailCtx(ctx context.Context, cmd string) (string, error)
	WaitUntilSucceedsCtx(ctx context.Context, cmd string) (string, error)
	WaitUntilFailsCtx(ctx context.Context, cmd string) (string, error)
	WaitForOpenPortCtx(ctx context.Context, port int) error
	WaitForConsoleTextCtx(ctx context.Context, pattern string) (string, error)
	RebootCtx(ctx context.Context) error
	ShutdownCtx(ctx context.Context) error
	CrashCtx(ctx context.Context) error
	BootCtx(ctx context.Context) error
	SelectGenerationCtx(ctx context.Context, n int) error
	// Report describes the machine after a failure (serial console tail,
	// how to reproduce).
	Report() string
	Close() error
}

// Env is what a run needs from outside.
type Env struct {
	Out io.Writer
	// Build builds the disk image of a machine declared with config.
	Build func(ctx context.Context, m *MachineSpec) (image string, err error)
	// Start boots a machine from its image; timeout bounds each of its
	// waits (the longest step timeout of the test).
	Start func(ctx context.Context, m *MachineSpec, image string, timeout time.Duration) (Machine, error)
	// Now is the clock for durations; nil means time.Now.
	Now func() time.Time
}

// Run executes the test: builds the images, boots each machine when a
// step first needs it, runs the steps in order and stops at the first
// failure. It prints go test -v style lines to env.Out and reports
// whether the test passed. Machines are closed before it returns.
func Run(ctx context.Context, t *Test, env Env) bool {
	r := &runner{t: t, env: env, images: map[string]string{}, machines: map[string]Machine{}}
	if r.env.Now == nil {
		r.env.Now = time.Now
	}
	start := r.env.Now()
	ok := r.run(ctx)
	for _, m := range t.Machines {
		if vm := r.machines[m.Name]; vm != nil {
			if err := vm.Close(); err != nil {
				fmt.Fprintf(env.Out, "    close machine %s: %v\n", m.Name, err)
				ok = false
			}
		}
	}
	took := r.env.Now().Sub(start)
	if ok {
		fmt.Fprintf(env.Out, "PASS\nok  \t%s\t%s\n", t.File, seconds(took))
	} else {
		fmt.Fprintf(env.Out, "FAIL\nFAIL\t%s\t%s\n", t.File, seconds(took))
	}
	return ok
}

type runner struct {
	t        *Test
	env      Env
	images   map[string]string
	machines map[string]Machine
}

// pos is "file:line" of a range.
func pos(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }

func seconds(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// phase runs one reported unit of work.
func (r *runner) phase(name string, f func() (Machine, error)) bool {
	fmt.Fprintf(r.env.Out, "=== RUN   %s\n", name)
	start := r.env.Now()
	vm, err := f()
	took := seconds(r.env.Now().Sub(start))
	if err == nil {
		fmt.Fprintf(r.env.Out, "--- PASS: %s (%s)\n", name, took)
		return true
	}
	fmt.Fprintf(r.env.Out, "--- FAIL: %s (%s)\n", name, took)
	fmt.Fprint(r.env.Out, indent(err.Error(), "    "))
	if vm != nil {
		fmt.Fprint(r.env.Out, indent(vm.Report(), "    "))
	}
	return false
}

func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix) + "\n"
}

func (r *runner) run(ctx context.Context) bool {
	for _, m := range r.t.Machines {
		if m.Config == "" {
			r.images[m.Name] = m.Image
			continue
		}
		ok := r.phase("build "+m.Name, func() (Machine, error) {
			img, err := r.env.Build(ctx, m)
			if err != nil {
				return nil, fmt.Errorf("%s: build %s: %w", pos(m.Range), m.Config, err)
			}
			r.images[m.Name] = img
			return nil, nil
		})
		if !ok {
			return false
		}
	}
	for _, s := range r.t.Steps {
		if vm := r.machines[s.Machine]; vm == nil && s.Kind != Start {
			if !r.phase("start "+s.Machine, func() (Machine, error) { return nil, r.boot(ctx, s.Machine) }) {
				return false
			}
		}
		ok := r.phase(s.String(), func() (Machine, error) {
			timeout := s.Timeout
			if timeout == 0 {
				timeout = r.t.Timeout
			}
			sctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			err := r.step(sctx, s)
			if err != nil {
				err = fmt.Errorf("%s: %w", pos(s.Range), err)
			}
			return r.machines[s.Machine], err
		})
		if !ok {
			return false
		}
	}
	return true
}

// boot starts a machine for the first time.
func (r *runner) boot(ctx context.Context, name string) error {
	var spec *MachineSpec
	for _, m := range r.t.Machines {
		if m.Name == name {
			spec = m
		}
	}
	vm, err := r.env.Start(ctx, spec, r.images[name], r.longestTimeout())
	if err != nil {
		return fmt.Errorf("%s: start machine %s: %w", pos(spec.Range), name, err)
	}
	r.machines[name] = vm
	return nil
}

func (r *runner) longestTimeout() time.Duration {
	d := r.t.Timeout
	for _, s := range r.t.Steps {
		d = max(d, s.Timeout)
	}
	return d
}

// ErrNoMatch reports output that does not match a step's expect.
var ErrNoMatch = errors.New("output does not match")

func (r *runner) step(ctx context.Context, s *Step) error {
	vm := r.machines[s.Machine]
	switch s.Kind {
	case WaitForUnit:
		return vm.WaitForUnitCtx(ctx, s.Unit)
	case Succeed, Fail:
		run := vm.SucceedCtx
		if s.Kind == Fail {
			run = vm.FailCtx
		}
		out, err := run(ctx, s.Command)
		if err != nil {
			return err
		}
		if s.Expect != nil && !s.Expect.MatchString(out) {
			return fmt.Errorf("%w /%s/:\n%s", ErrNoMatch, oneLine(s.Expect.String()), out)
		}
		return nil
	case WaitUntilSucceeds:
		_, err := vm.WaitUntilSucceedsCtx(ctx, s.Command)
		return err
	case WaitUntilFails:
		_, err := vm.WaitUntilFailsCtx(ctx, s.Command)
		return err
	case WaitForOpenPort:
		return vm.WaitForOpenPortCtx(ctx, s.Port)
	case WaitForConsoleText:
		_, err := vm.WaitForConsoleTextCtx(ctx, s.Regexp)
		return err
	case Reboot:
		return vm.RebootCtx(ctx)
	case SelectGeneration:
		return vm.SelectGenerationCtx(ctx, s.Generation)
	case Shutdown:
		return vm.ShutdownCtx(ctx)
	case Crash:
		return vm.CrashCtx(ctx)
	case Start:
		if vm == nil {
			return r.boot(ctx, s.Machine)
		}
		return vm.BootCtx(ctx)
	}
	return fmt.Errorf("step kind %q has no runner", s.Kind)
}

// String describes the step in one line, e.g.
// `step 2: server: succeed "hostname"`.
func (s *Step) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %d", s.Index)
	if s.Name != "" {
		fmt.Fprintf(&b, " (%s)", s.Name)
	}
	fmt.Fprintf(&b, ": %s: %s", s.Machine, s.Kind)
	switch {
	case s.Unit != "":
		b.WriteString(" " + s.Unit)
	case s.Command != "":
		fmt.Fprintf(&b, " %q", abbreviate(s.Command))
	case s.Regexp != "":
		fmt.Fprintf(&b, " /%s/", oneLine(s.Regexp))
	case s.Port != 0:
		fmt.Fprintf(&b, " %d", s.Port)
	case s.Generation != 0:
		fmt.Fprintf(&b, " %d", s.Generation)
	}
	if s.Expect != nil {
		fmt.Fprintf(&b, " =~ /%s/", oneLine(s.Expect.String()))
	}
	return b.String()
}

// oneLine escapes line breaks.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

func abbreviate(s string) string {
	const max = 60
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max]) + "…"
}
