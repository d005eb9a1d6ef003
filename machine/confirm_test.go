package machine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// recordEngine activates nothing and records what it was asked to.
type recordEngine struct {
	switched *[]store.Path
	fail     map[store.Path]bool
}

func (e recordEngine) Plan(context.Context, string, store.Path, store.Path) (string, error) {
	return "", nil
}

func (e recordEngine) Switch(_ context.Context, _ string, to store.Path, _ EngineOptions) (EngineResult, error) {
	*e.switched = append(*e.switched, to)
	if e.fail[to] {
		return EngineResult{Failed: []string{"broken.service"}}, nil
	}
	return EngineResult{}, nil
}

func (e recordEngine) Close() {}

// fakeDeadMan records arming; fire makes Disarm report it fired.
type fakeDeadMan struct {
	armed map[string][]string
	fired bool
}

func (d *fakeDeadMan) Arm(_ context.Context, unit string, _ time.Duration, cmd []string) error {
	d.armed[unit] = cmd
	return nil
}

func (d *fakeDeadMan) Disarm(_ context.Context, unit string) (bool, error) {
	delete(d.armed, unit)
	return d.fired, nil
}

func TestConfirmedSwitch(t *testing.T) {
	ctx := context.Background()
	m := newMachine(t)
	var switched []store.Path
	eng := recordEngine{switched: &switched, fail: map[store.Path]bool{}}
	m.Engine = func(context.Context, string) (Engine, error) { return eng, nil }
	dm := &fakeDeadMan{armed: map[string][]string{}}
	m.DeadMan = dm
	loader := func(mode string) *toplevel.Loader {
		return &toplevel.Loader{Timeout: 1, ConsoleMode: mode, BootCountingTries: 3}
	}
	g1, g2, g3 := m.toplevel(t, "one", loader("0")), m.toplevel(t, "two", loader("1")), m.toplevel(t, "three", loader("2"))
	// A first generation: checks, no dead-man switch.
	if _, err := m.SwitchPending(ctx, g1, time.Minute); err != nil {
		t.Fatal(err)
	}
	if len(dm.armed) != 0 {
		t.Errorf("a first generation armed %v", dm.armed)
	}
	if _, err := m.Confirm(ctx, g1, func(context.Context) ([]CheckResult, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	m.rename(t, "kiln-generation-1+3.conf", "kiln-generation-1.conf")

	// Pending: generation 2 is current and active, 1 stays the default.
	if _, err := m.SwitchPending(ctx, g2, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := dm.armed["kiln-confirm-2"]; strings.Join(got, " ") != g2.String()+"/bin/kiln rollback --to 1" {
		t.Errorf("armed %q", got)
	}
	if lc := m.loaderConf(t); !strings.Contains(lc, "default kiln-generation-1.conf\n") {
		t.Errorf("loader.conf during the window:\n%s", lc)
	}
	if got := m.entries(t); got != "kiln-generation-1.conf kiln-generation-2+3.conf" {
		t.Errorf("entries during the window: %s", got)
	}
	if _, err := m.SwitchPending(ctx, g3, time.Minute); err == nil || !strings.Contains(err.Error(), "not confirmed yet") {
		t.Errorf("a second switch in the window: %v", err)
	}

	// A failed check rolls back at once.
	failing := func(context.Context) ([]CheckResult, error) {
		r := CheckResult{Name: "kiln-check-web.service", Output: "curl: (7) Failed to connect"}
		return []CheckResult{r}, &HealthError{Failed: []CheckResult{r}}
	}
	_, err := m.Confirm(ctx, g2, failing)
	var he *HealthError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "kiln-check-web.service failed: curl: (7)") || !strings.Contains(err.Error(), "rolled back to generation 1") {
		t.Fatalf("confirm with a failing check: %v", err)
	}
	if cur, _ := m.current(); cur != 1 || switched[len(switched)-1] != g1 {
		t.Errorf("after the failed check: current %d, last activated %v", cur, switched[len(switched)-1])
	}
	if p, _ := m.ReadPending(); p != nil || len(dm.armed) != 0 {
		t.Errorf("left pending %+v, armed %v", p, dm.armed)
	}
	// its entry is bad: systemd-boot never falls back to it
	if got := m.entries(t); got != "kiln-generation-1.conf kiln-generation-2+0-0.conf" {
		t.Errorf("entries after the rollback: %s", got)
	}

	// A good one is confirmed: it becomes the default.
	if _, err := m.SwitchPending(ctx, g3, time.Minute); err != nil {
		t.Fatal(err)
	}
	passing := func(context.Context) ([]CheckResult, error) { return nil, nil }
	if _, err := m.Confirm(ctx, g3, passing); err != nil {
		t.Fatal(err)
	}
	if lc := m.loaderConf(t); !strings.Contains(lc, "default kiln-generation-3[+.][1-9c]*\n") || !strings.Contains(lc, "console-mode 2") {
		t.Errorf("loader.conf after the confirmation:\n%s", lc)
	}
	if _, err := m.Confirm(ctx, g3, passing); err != nil {
		t.Errorf("confirming the current generation again: %v", err)
	}
	if _, err := m.Confirm(ctx, g2, passing); !errors.Is(err, ErrNotConfirmable) {
		t.Errorf("confirming another generation: %v", err)
	}

	// Too late: the dead-man switch fired (its rollback ran).
	m.rename(t, "kiln-generation-3+3.conf", "kiln-generation-3.conf")
	if _, err := m.SwitchPending(ctx, g2, time.Minute); err != nil {
		t.Fatal(err)
	}
	dm.fired = true
	if _, err := m.Confirm(ctx, g2, passing); !errors.Is(err, ErrNotConfirmable) || !strings.Contains(err.Error(), "fired") {
		t.Errorf("confirm after the timer fired: %v", err)
	}
	dm.fired = false
	// The dead-man switch's rollback, then a reboot: the stale record goes.
	if _, err := m.Rollback(ctx, 3, true); err != nil {
		t.Fatal(err)
	}
	if n, err := m.SettleFallback(ctx); err != nil || n != 0 {
		t.Errorf("settle after the rollback: %d, %v", n, err)
	}
	if p, _ := m.ReadPending(); p != nil {
		t.Errorf("stale pending record kept: %+v", p)
	}

	// Activation fails: rolled back at once, with the reason.
	eng.fail[g1] = true
	_, err = m.SwitchPending(ctx, g1, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "broken.service") || !strings.Contains(err.Error(), "rolled back to generation") {
		t.Errorf("a failing activation: %v", err)
	}
	if cur, _ := m.current(); cur != 3 {
		t.Errorf("after a failing activation: current %d, want 3", cur)
	}

	// The deployer goes away while the checks run (kiln confirm
	// --deployer-stdin read EOF): the checks pass, yet nobody would hear
	// the confirmation, so it rolls back.
	g4 := m.toplevel(t, "four", loader("0"))
	if _, err := m.SwitchPending(ctx, g4, time.Minute); err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancelCause(ctx)
	_, err = m.Confirm(gone, g4, func(context.Context) ([]CheckResult, error) {
		cancel(ErrDeployerGone)
		return nil, nil
	})
	if !errors.Is(err, ErrDeployerGone) || !strings.Contains(err.Error(), "rolled back to generation 3") {
		t.Errorf("confirm after the deployer went away: %v", err)
	}
	if cur, _ := m.current(); cur != 3 || switched[len(switched)-1] != g3 {
		t.Errorf("after the deployer went away: current %d, last activated %v", cur, switched[len(switched)-1])
	}
	if p, _ := m.ReadPending(); p != nil || len(dm.armed) != 0 {
		t.Errorf("left pending %+v, armed %v", p, dm.armed)
	}

	// The dead-man switch's rollback: the switch stays pending until the
	// previous generation is activated (a deployer or test waiting for
	// the record to go finds the machine back, sshd running).
	g5 := m.toplevel(t, "five", loader("0"))
	if _, err := m.SwitchPending(ctx, g5, time.Minute); err != nil {
		t.Fatal(err)
	}
	pendingDuring := false
	m.Engine = func(context.Context, string) (Engine, error) {
		return pendingEngine{recordEngine: eng, check: func() { p, _ := m.ReadPending(); pendingDuring = p != nil }}, nil
	}
	if _, err := m.Rollback(ctx, 3, false); err != nil {
		t.Fatal(err)
	}
	if p, _ := m.ReadPending(); !pendingDuring || p != nil {
		t.Errorf("the dead-man's rollback: pending during its activation %v, after %+v", pendingDuring, p)
	}
}

// pendingEngine calls check as it activates.
type pendingEngine struct {
	recordEngine
	check func()
}

func (e pendingEngine) Switch(ctx context.Context, root string, to store.Path, o EngineOptions) (EngineResult, error) {
	e.check()
	return e.recordEngine.Switch(ctx, root, to, o)
}

// A reset during the window: the previous generation booted (it stayed
// the default) and becomes current again at boot; in the window's own
// boot nothing is settled (kiln-boot-fallback.service may start during
// a switch).
func TestConfirmWindowReset(t *testing.T) {
	ctx := context.Background()
	m := newMachine(t)
	var switched []store.Path
	m.Engine = func(context.Context, string) (Engine, error) { return recordEngine{switched: &switched}, nil }
	m.DeadMan = &fakeDeadMan{armed: map[string][]string{}}
	l := &toplevel.Loader{Timeout: 1, BootCountingTries: 3}
	g1, g2 := m.toplevel(t, "one", l), m.toplevel(t, "two", &toplevel.Loader{Timeout: 2, BootCountingTries: 3})
	if _, err := m.Switch(ctx, g1, false); err != nil {
		t.Fatal(err)
	}
	bootID := filepath.Join(m.Root, "proc", "sys", "kernel", "random", "boot_id")
	os.MkdirAll(filepath.Dir(bootID), 0o755)
	os.WriteFile(bootID, []byte("boot-1\n"), 0o644)
	if _, err := m.SwitchPending(ctx, g2, time.Minute); err != nil {
		t.Fatal(err)
	}
	os.Symlink(g1.String(), filepath.Join(m.Root, "run", "booted-system"))
	if n, err := m.SettleFallback(ctx); err != nil || n != 0 {
		t.Fatalf("settle in the window's boot: %d, %v", n, err)
	}
	os.WriteFile(bootID, []byte("boot-2\n"), 0o644)
	if n, err := m.SettleFallback(ctx); err != nil || n != 1 {
		t.Fatalf("settle after the reset: %d, %v; want 1", n, err)
	}
	if p, _ := m.ReadPending(); p != nil {
		t.Errorf("pending left: %+v", p)
	}
	if lc := m.loaderConf(t); !strings.Contains(lc, "timeout 1\n") {
		t.Errorf("loader.conf after the reset is not generation 1's:\n%s", lc)
	}
}
