package testvm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrNotRunning reports a verb that needs QEMU running while it is not.
var ErrNotRunning = errors.New("machine is not running")

// Machine is one virtual machine: a state directory (EFI variables, disk
// overlay) that outlives the QEMU processes booted from it, so that a
// machine can be shut down, changed (SelectGeneration) and booted again.
//
// Every verb comes in two forms: Verb(...) for tests, which fails the
// test (it needs a machine from Start; on one from StartCtx it panics),
// and VerbCtx(ctx, ...) returning an error. Each wait is bounded by the
// machine's timeout (WithTimeout) as well as by ctx.
type Machine struct {
	t       testing.TB
	cfg     config
	plan    *VMPlan
	console *console

	mu      sync.Mutex
	proc    *process
	pending string // loader entry to write as LoaderEntryOneShot before the next boot
	closed  bool
}

// process is one run of QEMU.
type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *console
	start  int           // where this run's console text starts
	done   chan struct{} // closed when QEMU exited
	err    error         // QEMU's exit, valid after done
	conn   net.Conn
	shell  *shell
}

// Start boots a machine for a test. Cleanup stops QEMU and removes the
// machine's state; when the test failed it first logs the tail of the
// serial console and the QEMU command line, reproducible by hand.
func Start(t testing.TB, opts ...Option) *Machine {
	t.Helper()
	m, err := start(context.Background(), t, opts)
	if m != nil {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s", m.Report())
			}
			if err := m.Close(); err != nil {
				t.Errorf("close machine %s: %v", m.cfg.name, err)
			}
		})
	}
	if err != nil {
		t.Fatalf("start machine: %v", err)
	}
	return m
}

// StartCtx boots a machine outside of a test. The caller must Close it.
// ctx bounds the start only, not the machine's life.
func StartCtx(ctx context.Context, opts ...Option) (*Machine, error) {
	m, err := start(ctx, nil, opts)
	if err != nil && m != nil {
		m.Close()
		return nil, err
	}
	return m, err
}

func start(ctx context.Context, t testing.TB, opts []Option) (*Machine, error) {
	c := newConfig(opts)
	if c.interactive {
		return nil, fmt.Errorf("start machine %s: an interactive plan is run by the caller", c.name)
	}
	dir, err := os.MkdirTemp("", "testvm-")
	if err != nil {
		return nil, fmt.Errorf("start machine %s: %w", c.name, err)
	}
	plan, err := planVM(dir, c)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	m := &Machine{t: t, cfg: c, plan: plan, console: newConsole(c.serialLog)}
	if err := ApplyVM(plan); err != nil {
		return m, fmt.Errorf("start machine %s: %w", c.name, err)
	}
	if err := m.BootCtx(ctx); err != nil {
		return m, err
	}
	return m, nil
}

// Name is the machine's name.
func (m *Machine) Name() string { return m.cfg.name }

// Plan is the machine's QEMU invocation.
func (m *Machine) Plan() *VMPlan { return m.plan }

// CommandLine is a shell script reproducing the machine's QEMU run.
func (m *Machine) CommandLine() string { return m.plan.String() }

// SerialLog returns everything the serial console printed, over every
// boot of the machine, as printed.
func (m *Machine) SerialLog() string { return m.console.String() }

// SerialText is SerialLog without terminal escape sequences and carriage
// returns: what WaitForConsoleText matches.
func (m *Machine) SerialText() string { return m.console.Text() }

// ForwardedPort returns the host port forwarded to a guest port, or 0.
func (m *Machine) ForwardedPort(guest int) int { return m.plan.Ports[guest] }

// Running reports whether QEMU runs.
func (m *Machine) Running() bool { return m.current() != nil }

// Report describes the machine for a failure: the command line, the tail
// of the serial console and QEMU's own messages.
func (m *Machine) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "machine %s: QEMU command line (reproduce by hand):\n%s\n", m.cfg.name, m.plan.String())
	fmt.Fprintf(&b, "machine %s: last lines of the serial console:\n%s", m.cfg.name, lastLines(m.console.String(), 60))
	m.mu.Lock()
	p := m.proc
	m.mu.Unlock()
	if p != nil {
		if s := p.stderr.String(); s != "" {
			fmt.Fprintf(&b, "\nmachine %s: QEMU's messages:\n%s", m.cfg.name, lastLines(s, 20))
		}
	}
	return b.String()
}

// current returns the running QEMU, forgetting one that exited.
func (m *Machine) current() *process {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		select {
		case <-m.proc.done:
			m.proc.conn.Close()
			m.proc = nil
		default:
		}
	}
	return m.proc
}

func (m *Machine) running() (*process, error) {
	if p := m.current(); p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("machine %s: %w", m.cfg.name, ErrNotRunning)
}

// ErrKernelPanic reports a guest whose kernel panicked: waiting longer
// for it is pointless.
var ErrKernelPanic = errors.New("guest kernel panicked")

var kernelPanic = regexp.MustCompile(`Kernel panic - not syncing: [^\n]*`)

// bound limits a wait by the machine's timeout, and ends it early when
// the guest's kernel panics (the error then says so).
func (m *Machine) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancelTimeout := context.WithTimeout(ctx, m.cfg.timeout)
	p := m.current()
	if p == nil {
		return ctx, cancelTimeout
	}
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		if line := m.console.watch(ctx, kernelPanic, p.start); line != "" {
			cancel(fmt.Errorf("%w: %s", ErrKernelPanic, line))
		}
	}()
	return ctx, func() { cancel(context.Canceled); cancelTimeout() }
}

// must fails the test (or panics without one) on err.
func (m *Machine) must(err error) {
	if err == nil {
		return
	}
	if m.t == nil {
		panic(err)
	}
	m.t.Helper()
	m.t.Fatalf("machine %s: %v", m.cfg.name, err)
}

// BootCtx starts QEMU for a machine that is not running, writing a
// pending SelectGeneration into the EFI variables first.
func (m *Machine) BootCtx(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("boot machine %s: closed", m.cfg.name)
	}
	if m.proc != nil {
		select {
		case <-m.proc.done:
		default:
			return fmt.Errorf("boot machine %s: already running", m.cfg.name)
		}
	}
	if m.pending != "" {
		if err := SetVariableFile(m.plan.VarsFile, OneShotEntry(m.pending)); err != nil {
			return fmt.Errorf("boot machine %s: %w", m.cfg.name, err)
		}
		m.pending = ""
	}
	p, err := m.launch(ctx)
	if err != nil {
		return fmt.Errorf("boot machine %s: %w", m.cfg.name, err)
	}
	m.proc = p
	return nil
}

// launch runs QEMU and connects to the backdoor socket.
func (m *Machine) launch(ctx context.Context) (*process, error) {
	if m.plan.Backdoor != "" {
		os.Remove(m.plan.Backdoor) // a previous run's socket
	}
	cmd := exec.Command(m.plan.QEMU, m.plan.Args...)
	cmd.Dir = m.plan.Dir
	cmd.Stdout = m.console
	p := &process{cmd: cmd, stderr: newConsole(nil), start: m.console.textLen(), done: make(chan struct{})}
	cmd.Stderr = p.stderr
	// QEMU dies with the test binary instead of outliving it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run QEMU: %w", err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	p.conn = nopConn{}
	if m.plan.Backdoor == "" {
		return p, nil
	}
	conn, err := dialBackdoor(ctx, m.plan.Backdoor, p.done)
	if err != nil {
		cmd.Process.Kill()
		<-p.done
		return nil, fmt.Errorf("%w (QEMU: %v; %s)", err, p.err, strings.TrimSpace(p.stderr.String()))
	}
	p.conn = conn
	p.shell = newShell(conn)
	return p, nil
}

// dialBackdoor connects to QEMU's chardev socket, which appears shortly
// after QEMU starts.
func dialBackdoor(ctx context.Context, path string, exited <-chan struct{}) (net.Conn, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("connect to the backdoor socket: %w", err)
		}
		select {
		case <-exited:
			return nil, errors.New("QEMU exited before opening the backdoor socket")
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to the backdoor socket: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// nopConn stands for the backdoor connection of a machine without one.
type nopConn struct{ net.Conn }

func (nopConn) Close() error { return nil }

// waitExit waits for QEMU to exit.
func (m *Machine) waitExit(ctx context.Context, p *process) error {
	select {
	case <-p.done:
		m.current()
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// kill stops QEMU at once.
func (m *Machine) kill(p *process) {
	p.cmd.Process.Kill()
	<-p.done
	m.current()
}

// Close stops QEMU if it runs and removes the machine's state directory.
func (m *Machine) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	p := m.proc
	m.mu.Unlock()
	if p != nil {
		p.cmd.Process.Kill()
		<-p.done
		p.conn.Close()
	}
	if err := os.RemoveAll(m.plan.Dir); err != nil {
		return fmt.Errorf("remove machine state: %w", err)
	}
	return nil
}

// Boot starts QEMU again after Shutdown or Crash.
func (m *Machine) Boot() {
	m.must(m.BootCtx(context.Background()))
}

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?=]*[A-Za-z]`)

// lastLines returns the last n lines of s without terminal escapes.
func lastLines(s string, n int) string {
	s = ansiEscape.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "\r", "")
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
