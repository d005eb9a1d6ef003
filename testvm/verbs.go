package testvm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// The NixOS test driver's verbs. Commands run as root in the guest
// through the backdoor shell (see backdoor.go).

// pollInterval is the pause between tries of the WaitUntil verbs.
const pollInterval = time.Second

// ErrNoBackdoor reports a command on a machine started WithoutBackdoor.
var ErrNoBackdoor = errors.New("machine has no backdoor shell")

func (m *Machine) shell() (*shell, error) {
	p, err := m.running()
	if err != nil {
		return nil, err
	}
	if p.shell == nil {
		return nil, fmt.Errorf("machine %s: %w", m.cfg.name, ErrNoBackdoor)
	}
	return p.shell, nil
}

// ExecuteCtx runs cmd in the guest and returns its output (stdout and
// stderr merged) and exit status.
func (m *Machine) ExecuteCtx(ctx context.Context, cmd string) (string, int, error) {
	sh, err := m.shell()
	if err != nil {
		return "", -1, err
	}
	ctx, cancel := m.bound(ctx)
	defer cancel()
	return sh.run(ctx, cmd)
}

// Execute is ExecuteCtx for tests.
func (m *Machine) Execute(cmd string) (string, int) {
	out, status, err := m.ExecuteCtx(context.Background(), cmd)
	m.must(err)
	return out, status
}

// CommandError is a command whose exit status was not the one expected.
type CommandError struct {
	Command string
	Status  int
	Output  string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("command %q exited %d; output:\n%s", abbreviate(e.Command), e.Status, lastLines(e.Output, 30))
}

// SucceedCtx runs cmd and fails unless it exits 0.
func (m *Machine) SucceedCtx(ctx context.Context, cmd string) (string, error) {
	out, status, err := m.ExecuteCtx(ctx, cmd)
	if err != nil {
		return out, err
	}
	if status != 0 {
		return out, &CommandError{cmd, status, out}
	}
	return out, nil
}

// Succeed is SucceedCtx for tests.
func (m *Machine) Succeed(cmd string) string {
	out, err := m.SucceedCtx(context.Background(), cmd)
	m.must(err)
	return out
}

// FailCtx runs cmd and fails if it exits 0.
func (m *Machine) FailCtx(ctx context.Context, cmd string) (string, error) {
	out, status, err := m.ExecuteCtx(ctx, cmd)
	if err != nil {
		return out, err
	}
	if status == 0 {
		return out, &CommandError{cmd, status, out}
	}
	return out, nil
}

// Fail is FailCtx for tests.
func (m *Machine) Fail(cmd string) string {
	out, err := m.FailCtx(context.Background(), cmd)
	m.must(err)
	return out
}

// WaitUntilSucceedsCtx runs cmd every second until it exits 0.
func (m *Machine) WaitUntilSucceedsCtx(ctx context.Context, cmd string) (string, error) {
	return m.waitUntil(ctx, cmd, true)
}

// WaitUntilSucceeds is WaitUntilSucceedsCtx for tests.
func (m *Machine) WaitUntilSucceeds(cmd string) string {
	out, err := m.WaitUntilSucceedsCtx(context.Background(), cmd)
	m.must(err)
	return out
}

// WaitUntilFailsCtx runs cmd every second until it exits non-zero.
func (m *Machine) WaitUntilFailsCtx(ctx context.Context, cmd string) (string, error) {
	return m.waitUntil(ctx, cmd, false)
}

// WaitUntilFails is WaitUntilFailsCtx for tests.
func (m *Machine) WaitUntilFails(cmd string) string {
	out, err := m.WaitUntilFailsCtx(context.Background(), cmd)
	m.must(err)
	return out
}

func (m *Machine) waitUntil(ctx context.Context, cmd string, success bool) (string, error) {
	ctx, cancel := m.bound(ctx)
	defer cancel()
	var last error
	for {
		out, status, err := m.ExecuteCtx(ctx, cmd)
		if err != nil {
			if last != nil && ctx.Err() != nil && !errors.Is(err, ErrKernelPanic) {
				return out, fmt.Errorf("%w; last try: %v", err, last)
			}
			return out, err
		}
		if (status == 0) == success {
			return out, nil
		}
		last = &CommandError{cmd, status, out}
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("wait until %q %s: %w; last try: %v", abbreviate(cmd), map[bool]string{true: "succeeds", false: "fails"}[success], context.Cause(ctx), last)
		case <-time.After(pollInterval):
		}
	}
}

// WaitForUnitCtx waits until a systemd unit is active. It fails early
// when the unit failed, or is inactive with no job pending.
func (m *Machine) WaitForUnitCtx(ctx context.Context, unit string) error {
	ctx, cancel := m.bound(ctx)
	defer cancel()
	show := "systemctl show --no-pager --property=ActiveState,SubState,LoadState -- " + shellQuote(unit)
	for {
		out, err := m.SucceedCtx(ctx, show)
		if err != nil {
			return fmt.Errorf("wait for unit %s: %w", unit, err)
		}
		props := parseProperties(out)
		switch props["ActiveState"] {
		case "active":
			return nil
		case "failed":
			status, _, _ := m.ExecuteCtx(ctx, "systemctl status --no-pager --lines=20 -- "+shellQuote(unit))
			return fmt.Errorf("wait for unit %s: unit failed:\n%s", unit, status)
		case "inactive":
			jobs, err := m.SucceedCtx(ctx, "systemctl list-jobs --no-pager --no-legend")
			if err != nil {
				return fmt.Errorf("wait for unit %s: %w", unit, err)
			}
			if strings.TrimSpace(jobs) == "" {
				again, err := m.SucceedCtx(ctx, show)
				if err != nil {
					return fmt.Errorf("wait for unit %s: %w", unit, err)
				}
				if p := parseProperties(again); p["ActiveState"] == "inactive" {
					return fmt.Errorf("wait for unit %s: unit is inactive (load state %s) and no jobs are pending", unit, p["LoadState"])
				}
			}
		}
		select {
		case <-ctx.Done():
			// What the boot still waits for says why it is late.
			jctx, jcancel := context.WithTimeout(context.Background(), 30*time.Second)
			jobs, _, _ := m.ExecuteCtx(jctx, "systemctl list-jobs --no-pager --no-legend | head -40")
			jcancel()
			return fmt.Errorf("wait for unit %s: %w (state %s/%s); pending jobs:\n%s", unit, context.Cause(ctx), props["ActiveState"], props["SubState"], jobs)
		case <-time.After(pollInterval):
		}
	}
}

// WaitForUnit is WaitForUnitCtx for tests.
func (m *Machine) WaitForUnit(unit string) {
	m.must(m.WaitForUnitCtx(context.Background(), unit))
}

func parseProperties(s string) map[string]string {
	props := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			props[k] = v
		}
	}
	return props
}

// WaitForOpenPortCtx waits until something in the guest listens on TCP
// port on the loopback interface (IPv4 or IPv6).
func (m *Machine) WaitForOpenPortCtx(ctx context.Context, port int) error {
	cmd := fmt.Sprintf("(exec 3<>/dev/tcp/127.0.0.1/%d) 2>/dev/null || (exec 3<>/dev/tcp/::1/%d) 2>/dev/null", port, port)
	if _, err := m.WaitUntilSucceedsCtx(ctx, cmd); err != nil {
		return fmt.Errorf("wait for open port %d: %w", port, err)
	}
	return nil
}

// WaitForOpenPort is WaitForOpenPortCtx for tests.
func (m *Machine) WaitForOpenPort(port int) {
	m.must(m.WaitForOpenPortCtx(context.Background(), port))
}

// WaitForConsoleTextCtx waits until the serial console prints text
// matching the regular expression and returns the match. Matching starts
// after the previous match (or at the start of the log), so text printed
// before the call counts and each match is consumed. The text matched
// has no terminal escape sequences and no carriage returns.
func (m *Machine) WaitForConsoleTextCtx(ctx context.Context, pattern string) (string, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return "", fmt.Errorf("wait for console text: %w", err)
	}
	ctx, cancel := m.bound(ctx)
	defer cancel()
	var stop <-chan struct{}
	if p := m.current(); p != nil {
		stop = p.done
	} else {
		closed := make(chan struct{})
		close(closed)
		stop = closed
	}
	return m.console.waitFor(ctx, re, stop)
}

// WaitForConsoleText is WaitForConsoleTextCtx for tests.
func (m *Machine) WaitForConsoleText(pattern string) string {
	match, err := m.WaitForConsoleTextCtx(context.Background(), pattern)
	m.must(err)
	return match
}

// SendConsoleCtx types text on the serial console (e.g. keys for the boot
// menu or the UEFI shell).
func (m *Machine) SendConsoleCtx(ctx context.Context, text string) error {
	p, err := m.running()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(p.stdin, text); err != nil {
		return fmt.Errorf("send to the console of %s: %w", m.cfg.name, err)
	}
	return nil
}

// SendConsole is SendConsoleCtx for tests.
func (m *Machine) SendConsole(text string) {
	m.must(m.SendConsoleCtx(context.Background(), text))
}

// ShutdownCtx powers the guest off and waits for QEMU to exit. With a
// backdoor it runs "systemctl poweroff" (after waiting for the shell);
// without one it stops QEMU as a power button would not: by SIGTERM.
func (m *Machine) ShutdownCtx(ctx context.Context) error {
	p := m.current()
	if p == nil {
		return nil
	}
	ctx, cancel := m.bound(ctx)
	defer cancel()
	if p.shell != nil {
		if err := p.shell.send(ctx, "systemctl poweroff"); err != nil {
			m.kill(p)
			return fmt.Errorf("shut down %s: %w (killed QEMU)", m.cfg.name, err)
		}
	} else {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	if err := m.waitExit(ctx, p); err != nil {
		m.kill(p)
		return fmt.Errorf("shut down %s: QEMU did not exit: %w (killed it)", m.cfg.name, err)
	}
	return nil
}

// Shutdown is ShutdownCtx for tests.
func (m *Machine) Shutdown() {
	m.must(m.ShutdownCtx(context.Background()))
}

// CrashCtx stops QEMU at once, like pulling the plug.
func (m *Machine) CrashCtx(ctx context.Context) error {
	if p := m.current(); p != nil {
		m.kill(p)
	}
	return nil
}

// Crash is CrashCtx for tests.
func (m *Machine) Crash() {
	m.must(m.CrashCtx(context.Background()))
}

// RebootCtx reboots the guest and waits for its backdoor to come back.
// The guest reboots itself ("systemctl reboot") within the same QEMU,
// unless a SelectGeneration is pending or there is no backdoor: then the
// machine is shut down and booted again, the EFI variable written in
// between.
func (m *Machine) RebootCtx(ctx context.Context) error {
	p, err := m.running()
	if err != nil {
		return fmt.Errorf("reboot: %w", err)
	}
	m.mu.Lock()
	pending := m.pending != ""
	m.mu.Unlock()
	if pending || p.shell == nil {
		if err := m.ShutdownCtx(ctx); err != nil {
			return fmt.Errorf("reboot: %w", err)
		}
		if err := m.BootCtx(ctx); err != nil {
			return fmt.Errorf("reboot: %w", err)
		}
	} else {
		from := m.console.textLen()
		bctx, cancel := m.bound(ctx)
		defer cancel()
		if err := p.shell.restart(bctx, "systemctl reboot"); err != nil {
			return fmt.Errorf("reboot %s: %w", m.cfg.name, err)
		}
		if m.resetHung(bctx, from) {
			// Seen under TCG, rarely: after the guest's reset the
			// firmware prints nothing and never loads the boot loader.
			// The guest has shut down cleanly by then; a power cycle
			// boots what the reset would have.
			if m.t != nil {
				m.t.Logf("machine %s: nothing on the console %s after the guest's reset; power-cycling QEMU", m.cfg.name, resetGrace)
			}
			m.kill(p)
			if err := m.BootCtx(ctx); err != nil {
				return fmt.Errorf("reboot: %w", err)
			}
		}
	}
	p, err = m.running()
	if err != nil || p.shell == nil {
		return err
	}
	ctx, cancel := m.bound(ctx)
	defer cancel()
	if err := p.shell.waitReady(ctx); err != nil {
		return fmt.Errorf("reboot %s: %w", m.cfg.name, err)
	}
	return nil
}

// resetGrace is how long after the guest's reset its next boot must
// print something (systemd-boot's menu, the kernel's first lines): OVMF
// and systemd-boot take seconds under TCG.
var resetGrace = 2 * time.Minute

var (
	guestReset = regexp.MustCompile(`reboot: (machine restart|Restarting system)`)
	bootOutput = regexp.MustCompile(`\S`)
)

// resetHung reports whether the guest reset itself (its console says so
// after from) and then the console stayed empty for resetGrace: the backdoor
// will never come back without a power cycle.
func (m *Machine) resetHung(ctx context.Context, from int) bool {
	if m.console.watch(ctx, guestReset, from) == "" {
		return false
	}
	after := m.console.textLen()
	wctx, cancel := context.WithTimeout(ctx, resetGrace)
	defer cancel()
	if m.console.watch(wctx, bootOutput, after) != "" || m.readyNow() {
		return false
	}
	return ctx.Err() == nil
}

// readyNow reports whether the current QEMU's backdoor is up.
func (m *Machine) readyNow() bool {
	p := m.current()
	return p != nil && p.shell != nil && p.shell.isReady()
}

// Reboot is RebootCtx for tests.
func (m *Machine) Reboot() {
	m.must(m.RebootCtx(context.Background()))
}

// SelectGenerationCtx makes the next boot start kiln generation n once
// (systemd-boot's LoaderEntryOneShot). QEMU holds the EFI variable store
// while it runs, so the variable is written when the machine is stopped:
// now if it is, else at the next Reboot or Boot.
func (m *Machine) SelectGenerationCtx(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("select generation %d: generations start at 1", n)
	}
	return m.SelectEntryCtx(ctx, GenerationEntry(n))
}

// SelectGeneration is SelectGenerationCtx for tests.
func (m *Machine) SelectGeneration(n int) {
	m.must(m.SelectGenerationCtx(context.Background(), n))
}

// SelectEntryCtx is SelectGenerationCtx for any loader entry file name.
func (m *Machine) SelectEntryCtx(ctx context.Context, entry string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		select {
		case <-m.proc.done:
		default:
			m.pending = entry
			return nil
		}
	}
	m.pending = ""
	if err := SetVariableFile(m.plan.VarsFile, OneShotEntry(entry)); err != nil {
		return fmt.Errorf("select boot entry %s: %w", entry, err)
	}
	return nil
}

// WaitForShutdownCtx waits until QEMU exits by itself (the guest powered
// off).
func (m *Machine) WaitForShutdownCtx(ctx context.Context) error {
	p := m.current()
	if p == nil {
		return nil
	}
	ctx, cancel := m.bound(ctx)
	defer cancel()
	if err := m.waitExit(ctx, p); err != nil {
		return fmt.Errorf("wait for %s to shut down: %w", m.cfg.name, err)
	}
	return nil
}

// WaitForShutdown is WaitForShutdownCtx for tests.
func (m *Machine) WaitForShutdown() {
	m.must(m.WaitForShutdownCtx(context.Background()))
}

// ExpectGuestReboot forgets the guest's shell: the guest is about to
// reboot by itself (a failed health check reboots it), and
// WaitForGuestReboot then waits for the next boot's shell. Send no
// command in between: the shell that would run it goes away.
func (m *Machine) ExpectGuestReboot() {
	p, err := m.running()
	m.must(err)
	if p.shell == nil {
		m.must(fmt.Errorf("machine %s: %w", m.cfg.name, ErrNoBackdoor))
	}
	p.shell.expectRestart()
}

// WaitForGuestRebootCtx waits until the guest, after ExpectGuestReboot,
// rebooted by itself and its new shell is ready.
func (m *Machine) WaitForGuestRebootCtx(ctx context.Context) error {
	sh, err := m.shell()
	if err != nil {
		return err
	}
	ctx, cancel := m.bound(ctx)
	defer cancel()
	if err := sh.waitReady(ctx); err != nil {
		return fmt.Errorf("wait for %s to reboot by itself: %w", m.cfg.name, err)
	}
	return nil
}

// WaitForGuestReboot is WaitForGuestRebootCtx for tests.
func (m *Machine) WaitForGuestReboot() {
	m.must(m.WaitForGuestRebootCtx(context.Background()))
}
