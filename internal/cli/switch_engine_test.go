package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-os/kiln/activation"
	"github.com/kiln-os/kiln/machine"
	"github.com/kiln-os/kiln/store"
)

// fakeSystemd answers the activation engine in place of systemd's D-Bus
// API: nothing runs, every job succeeds, and it records the jobs.
type fakeSystemd struct {
	mu     sync.Mutex
	jobs   []string
	failed []string
}

func (f *fakeSystemd) ListUnits(context.Context) (map[string]activation.UnitState, error) {
	return map[string]activation.UnitState{}, nil
}
func (f *fakeSystemd) record(verb, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = append(f.jobs, verb+" "+name)
	return nil
}
func (f *fakeSystemd) Stop(_ context.Context, n string) error    { return f.record("stop", n) }
func (f *fakeSystemd) Start(_ context.Context, n string) error   { return f.record("start", n) }
func (f *fakeSystemd) Restart(_ context.Context, n string) error { return f.record("restart", n) }
func (f *fakeSystemd) Reload(_ context.Context, n string) error  { return f.record("reload", n) }
func (f *fakeSystemd) DaemonReload(context.Context) error        { return f.record("daemon-reload", "") }
func (f *fakeSystemd) Failed(context.Context) ([]string, error)  { return f.failed, nil }
func (f *fakeSystemd) Close()                                    {}

// ResetFailed keeps f.failed: it stands for what the switch itself fails.
func (f *fakeSystemd) ResetFailed(context.Context, string) error { return nil }

// useFakeSystemd gives m the real activation engine over a fake systemd.
func (m *testMachine) useFakeSystemd() *fakeSystemd {
	sd := &fakeSystemd{}
	m.engine = func(context.Context, string) (machine.Engine, error) { return machine.SystemdEngine(sd), nil }
	return sd
}

// activatableSystem is a toplevel activation can apply: an etc tree with
// motd, and activation.json linking it.
func (m *testMachine) activatableSystem(t *testing.T, host, motd string) store.Path {
	t.Helper()
	etc := buildTestPath(t, m.st, "etc", map[string]string{"motd": motd})
	return m.systemWith(t, m.st, host, "A", map[string]string{
		"etc":             "->" + etc.String(),
		"activation.json": `{"version":1,"etc":[{"path":"motd","kind":"link"}],"users":[],"groups":[],"wrappers":[]}`,
	}, etc)
}

// The CLI driving the real activation engine (systemd replaced by a fake):
// --dry-run prints PlanSwitch's plan and changes nothing; switch and
// rollback activate; failed units make the exit status 1.
func TestSwitchWithActivationEngine(t *testing.T) {
	m := newTestMachine(t)
	sd := m.useFakeSystemd()
	for _, d := range []string{"etc", "kiln/var/lib"} {
		os.MkdirAll(filepath.Join(m.root, d), 0o755)
	}
	top1 := m.activatableSystem(t, "one", "hello from one\n")
	top2 := m.activatableSystem(t, "two", "hello from two\n")

	before := m.state(t)
	code, out, errs := m.run(t, nil, "switch", "--dry-run", "--toplevel", top1.String())
	if code != ExitOK || !strings.HasPrefix(out, "switch from (none)\n         to "+top1.String()) || !strings.Contains(out, "activate "+top1.String()) {
		t.Fatalf("dry run: code %d\nout %s\nerr %s", code, out, errs)
	}
	if after := m.state(t); after != before {
		t.Errorf("dry run changed the machine:\n%s\n%s", before, after)
	}

	for _, step := range []struct {
		args []string
		top  store.Path
		motd string
	}{
		{[]string{"switch", "--toplevel", top1.String()}, top1, "hello from one\n"},
		{[]string{"switch", "--toplevel", top2.String()}, top2, "hello from two\n"},
		{[]string{"rollback"}, top1, "hello from one\n"},
	} {
		code, out, errs := m.run(t, nil, step.args...)
		if code != ExitOK || !strings.Contains(out, "switched to "+step.top.String()) {
			t.Fatalf("%v: code %d\nout %s\nerr %s", step.args, code, out, errs)
		}
		if cur := (&machine.Machine{Root: m.root}).System("current-system"); cur != step.top {
			t.Errorf("%v: run/current-system = %s, want %s", step.args, cur, step.top)
		}
		if b, err := readUnder(m.root, "/etc/motd"); err != nil || string(b) != step.motd {
			t.Errorf("%v: /etc/motd = %q, %v; want %q", step.args, b, err, step.motd)
		}
	}
	sd.failed = []string{"broken.service"}
	code, out, errs = m.run(t, nil, "switch", "--toplevel", top2.String())
	if code != ExitFailure || !strings.Contains(out, "failed units: broken.service") || !strings.Contains(errs, "broken.service") {
		t.Errorf("failed unit: code %d\nout %s\nerr %s", code, out, errs)
	}
}

// readUnder reads the file at name (e.g. /etc/motd) on the machine under
// root, following symlinks as the machine would: absolute ones from root.
func readUnder(root, name string) ([]byte, error) {
	resolved := root
	rest := strings.Split(strings.Trim(name, "/"), "/")
	for hops := 0; len(rest) > 0; {
		next := filepath.Join(resolved, rest[0])
		rest = rest[1:]
		fi, err := os.Lstat(next)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if hops++; hops > 40 {
			return nil, fmt.Errorf("%s: too many links", name)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return nil, err
		}
		if filepath.IsAbs(target) {
			resolved = root
		}
		rest = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
	}
	return os.ReadFile(resolved)
}
