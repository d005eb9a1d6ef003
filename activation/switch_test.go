package activation

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/toplevel"
)

// fakeSystemd is a service manager in memory: jobs change unit states and
// PIDs the way systemd's would, and every call is recorded.
type fakeSystemd struct {
	mu      sync.Mutex
	units   map[string]*UnitState
	calls   []string
	nextPID uint32
	fail    map[string]bool // units whose start/restart fails
	listErr error
}

func newFakeSystemd(active ...string) *fakeSystemd {
	f := &fakeSystemd{units: map[string]*UnitState{}, nextPID: 100, fail: map[string]bool{}}
	for _, n := range active {
		f.units[n] = &UnitState{Active: "active", Sub: "running", MainPID: f.pid(n)}
	}
	return f
}

func (f *fakeSystemd) pid(name string) uint32 {
	if !strings.HasSuffix(name, ".service") {
		return 0
	}
	f.nextPID++
	return f.nextPID
}

func (f *fakeSystemd) unit(name string) *UnitState {
	if f.units[name] == nil {
		f.units[name] = &UnitState{Active: "inactive", Sub: "dead"}
	}
	return f.units[name]
}

func (f *fakeSystemd) record(verb, name string) {
	f.calls = append(f.calls, strings.TrimSpace(verb+" "+name))
}

func (f *fakeSystemd) ListUnits(context.Context) (map[string]UnitState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	out := map[string]UnitState{}
	for n, u := range f.units {
		out[n] = *u
	}
	return out, nil
}

func (f *fakeSystemd) Stop(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("stop", name)
	*f.unit(name) = UnitState{Active: "inactive", Sub: "dead"}
	return nil
}

func (f *fakeSystemd) Start(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("start", name)
	return f.run(name, false)
}

func (f *fakeSystemd) Restart(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("restart", name)
	return f.run(name, true)
}

func (f *fakeSystemd) run(name string, restart bool) error {
	u := f.unit(name)
	if f.fail[name] {
		*u = UnitState{Active: "failed", Sub: "failed"}
		return fmt.Errorf("start %s: job failed", name)
	}
	if u.running() && !restart {
		return nil // starting a running unit does nothing
	}
	*u = UnitState{Active: "active", Sub: "running", MainPID: f.pid(name)}
	return nil
}

func (f *fakeSystemd) Reload(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("reload", name)
	if !f.unit(name).running() {
		return fmt.Errorf("reload %s: job invalid", name)
	}
	return nil
}

func (f *fakeSystemd) DaemonReload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("daemon-reload", "")
	return nil
}

func (f *fakeSystemd) Failed(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n, u := range f.units {
		if u.Active == "failed" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeSystemd) ResetFailed(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u := f.units[name]; u != nil && u.Active == "failed" {
		*u = UnitState{Active: "inactive", Sub: "dead"}
	}
	return nil
}

func (f *fakeSystemd) Close() {}

func (f *fakeSystemd) state() map[string]UnitState {
	s, _ := f.ListUnits(context.Background())
	return s
}

const (
	unitKeep      = "[Unit]\nDescription=keep\n[Service]\nExecStart=/bin/keep\n"
	unitChanged1  = "[Service]\nExecStart=/bin/changed --v1\n"
	unitChanged2  = "[Service]\nExecStart=/bin/changed --v2\n"
	unitSock      = "[Socket]\nListenStream=/run/sock\n"
	unitSockSvc1  = "[Service]\nExecStart=/bin/sock --v1\n"
	unitSockSvc2  = "[Service]\nExecStart=/bin/sock --v2\n"
	unitReload1   = "[Unit]\nX-ReloadIfChanged=true\n[Service]\nExecStart=/bin/r\nExecReload=/bin/kill -HUP $MAINPID\nEnvironment=V=1\n"
	unitReload2   = "[Unit]\nX-ReloadIfChanged=true\n[Service]\nExecStart=/bin/r\nExecReload=/bin/kill -HUP $MAINPID\nEnvironment=V=2\n"
	unitNoRestart = "[Unit]\nX-RestartIfChanged=false\n[Service]\nExecStart=/bin/nr %s\n"
	unitNew       = "[Service]\nExecStart=/bin/new\n"
	unitRemoved   = "[Service]\nExecStart=/bin/removed\n"
)

// switchGenerations makes two generations in root and activates the first:
// gen2 changes changed.service, sock.service (socket-activated),
// reload.service (reload_if_changed) and norestart.service
// (restart_if_changed = false), removes removed.service, adds new.service,
// a user and changes motd. It returns the toplevels and a systemd running
// gen1's units.
func switchGenerations(t *testing.T, root string) (gen1, gen2 string, sd *fakeSystemd) {
	t.Helper()
	writeFiles(t, root, map[string]string{"/var/lib/secrets/alice": "$y$j9T$alicehash\n"})
	sw := map[string]string{"lib/systemd/system/multi-user.target": "[Unit]\nDescription=Multi-User System\n",
		"lib/systemd/system/sockets.target": "[Unit]\nDescription=Sockets\n"}
	gen := func(name string, units map[string]string, motd string, extraUser bool) string {
		spec := baseSpec()
		tree := map[string]string{"motd": motd}
		spec.Etc = append(spec.Etc, toplevel.EtcEntry{Path: "motd", Kind: toplevel.EtcLink})
		for u, text := range units {
			p := "systemd/system/" + u
			tree[p] = text
			spec.Etc = append(spec.Etc, toplevel.EtcEntry{Path: p, Kind: toplevel.EtcLink})
			by := "multi-user.target"
			if strings.HasSuffix(u, ".socket") {
				by = "sockets.target"
			} else if u == "sock.service" {
				continue
			}
			link := "systemd/system/" + by + ".wants/" + u
			tree[link] = "->/etc/systemd/system/" + u
			spec.Etc = append(spec.Etc, toplevel.EtcEntry{Path: link, Kind: toplevel.EtcSymlink, Target: "/etc/systemd/system/" + u})
		}
		if extraUser {
			spec.Users = append(spec.Users, toplevel.User{Name: "bob", Group: "users", Home: "/home/bob", Shell: "/bin/sh"})
		}
		return makeToplevel(t, root, name, spec, tree, sw)
	}
	gen1 = gen("gen1", map[string]string{"keep.service": unitKeep, "changed.service": unitChanged1,
		"removed.service": unitRemoved, "sock.socket": unitSock, "sock.service": unitSockSvc1,
		"reload.service": unitReload1, "norestart.service": fmt.Sprintf(unitNoRestart, "v1")}, "gen 1\n", false)
	gen2 = gen("gen2", map[string]string{"keep.service": unitKeep, "changed.service": unitChanged2,
		"new.service": unitNew, "sock.socket": unitSock, "sock.service": unitSockSvc2,
		"reload.service": unitReload2, "norestart.service": fmt.Sprintf(unitNoRestart, "v2")}, "gen 2\n", true)
	if err := Activate(root, gen1, Boot); err != nil {
		t.Fatal(err)
	}
	sd = newFakeSystemd("multi-user.target", "sockets.target", "keep.service", "changed.service",
		"removed.service", "sock.socket", "sock.service", "reload.service", "norestart.service", "session-1.scope")
	return gen1, gen2, sd
}

// wantCalls are the jobs of the switch from gen1 to gen2, in order.
var wantCalls = []string{
	"stop sock.socket", "stop changed.service", "stop removed.service", "stop sock.service",
	"daemon-reload", "reload reload.service",
	"start changed.service", "start new.service", "start sock.socket",
}

// wantSwitched checks what any complete switch from gen1 to gen2 leaves.
func wantSwitched(t *testing.T, root, gen2 string, before, after map[string]UnitState) {
	t.Helper()
	if got := readLink(t, root, "/run/current-system"); got != gen2 {
		t.Errorf("/run/current-system -> %s, want %s", got, gen2)
	}
	if got := readLink(t, root, "/etc/static"); got != gen2+"/etc" {
		t.Errorf("/etc/static -> %s, want %s/etc", got, gen2)
	}
	wantLine(t, root, "/etc/passwd", "bob:x:1001:100::/home/bob:/bin/sh")
	if _, err := os.Stat(under(root, JournalFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal left behind: %v", err)
	}
	pidChanged := func(n string) bool { return before[n].MainPID != after[n].MainPID }
	for _, c := range []struct {
		unit    string
		active  string
		changed bool
	}{
		{"keep.service", "active", false},
		{"changed.service", "active", true},
		{"new.service", "active", true},
		{"removed.service", "inactive", true},
		{"sock.socket", "active", false},
		{"sock.service", "inactive", true}, // the socket starts it on the next connection
		{"reload.service", "active", false},
		{"norestart.service", "active", false},
		{"session-1.scope", "active", false},
	} {
		if got := after[c.unit].Active; got != c.active {
			t.Errorf("%s is %s, want %s", c.unit, got, c.active)
		}
		if got := pidChanged(c.unit); got != c.changed {
			t.Errorf("%s: main PID changed = %v, want %v (%d -> %d)", c.unit, got, c.changed, before[c.unit].MainPID, after[c.unit].MainPID)
		}
	}
}

func TestSwitch(t *testing.T) {
	root := t.TempDir()
	gen1, gen2, sd := switchGenerations(t, root)
	before := sd.state()

	plan, err := PlanSwitch(context.Background(), root, "", gen2, sd)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "switch-plan", plan.String())
	if len(sd.calls) != 0 {
		t.Fatalf("planning ran jobs: %v", sd.calls)
	}

	var log []string
	rep, err := Switch(context.Background(), root, gen2, sd, SwitchOptions{Log: func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.From != gen1 || rep.To != gen2 || rep.Resumed != "" || !rep.OK() {
		t.Errorf("report: from %s to %s resumed %q ok %v errors %v failed %v", rep.From, rep.To, rep.Resumed, rep.OK(), rep.Errors, rep.Failed)
	}
	if diff := cmp.Diff(plan.String(), rep.Plan.String()); diff != "" {
		t.Errorf("the switch's plan differs from the dry run's:\n%s", diff)
	}
	if diff := cmp.Diff(wantCalls, sd.calls); diff != "" {
		t.Errorf("jobs differ (-want +got):\n%s", diff)
	}
	wantSwitched(t, root, gen2, before, sd.state())
	golden(t, "switch-report", strings.ReplaceAll(rep.String(), gen2, "GEN2"))
	if !strings.Contains(strings.Join(log, "\n"), "activating "+gen2) {
		t.Errorf("log does not mention the activation:\n%s", strings.Join(log, "\n"))
	}

	// Switching again to the same generation does nothing to units.
	sd.calls = nil
	rep, err = Switch(context.Background(), root, gen2, sd, SwitchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.calls) != 0 || !rep.Plan.Units.Empty() {
		t.Errorf("second switch ran %v, plan:\n%s", sd.calls, rep.Plan.Units)
	}
}

// TestSwitchResume kills the switch at every point and checks that the
// next switch finishes the job: the same end state as one uninterrupted
// switch.
func TestSwitchResume(t *testing.T) {
	t.Setenv("KILN_TEST_FAULTS", "1")
	points := []string{"after-journal", "after-stop-1", "after-stop-2", "after-stop-3", "after-stop-4",
		"before-activate", "after-activate", "after-daemon-reload", "after-reload-1",
		"before-start", "after-start-1", "after-start-2", "after-start-3", "before-journal-removal"}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			root := t.TempDir()
			_, gen2, sd := switchGenerations(t, root)
			before := sd.state()
			crashed := ""
			_, err := Switch(context.Background(), root, gen2, sd, SwitchOptions{CrashAt: point, OnCrash: func(p string) { crashed = p }})
			if !errors.Is(err, ErrCrashInjected) || crashed != point {
				t.Fatalf("switch with CrashAt %s: err %v, OnCrash saw %q", point, err, crashed)
			}
			j, err := ReadJournal(root)
			if err != nil || j == nil || j.To != gen2 {
				t.Fatalf("journal after the crash: %+v, %v", j, err)
			}
			jobsBefore := len(sd.calls)
			rep, err := Switch(context.Background(), root, gen2, sd, SwitchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Resumed != gen2 || !rep.OK() {
				t.Errorf("resumed %q, errors %v, failed %v", rep.Resumed, rep.Errors, rep.Failed)
			}
			if !rep.Plan.Units.Empty() {
				t.Errorf("after finishing, the new plan is not empty:\n%s", rep.Plan.Units)
			}
			wantSwitched(t, root, gen2, before, sd.state())
			// Each job the journal still held ran exactly once more.
			want := len(j.Stop) + len(j.Reload) + len(j.Restart) + len(j.Start)
			if j.DaemonReload {
				want++
			}
			if got := len(sd.calls) - jobsBefore; got != want {
				t.Errorf("resume ran %d jobs %v, want %d", got, sd.calls[jobsBefore:], want)
			}
			// And the journal had kept up: the crashed switch and the one
			// that finished it ran the plan's jobs once each, in order.
			if diff := cmp.Diff(wantCalls, sd.calls); diff != "" {
				t.Errorf("jobs over both switches differ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSwitchFaultsNeedTheEnvironment(t *testing.T) {
	t.Setenv("KILN_TEST_FAULTS", "")
	root := t.TempDir()
	_, gen2, sd := switchGenerations(t, root)
	before := sd.state()
	if _, err := Switch(context.Background(), root, gen2, sd, SwitchOptions{CrashAt: "after-stop-1"}); err != nil {
		t.Fatalf("CrashAt honoured without KILN_TEST_FAULTS=1: %v", err)
	}
	wantSwitched(t, root, gen2, before, sd.state())
}

func TestSwitchLock(t *testing.T) {
	root := t.TempDir()
	_, gen2, sd := switchGenerations(t, root)
	before := sd.state()
	unlock, err := LockSwitch(root)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Switch(context.Background(), root, gen2, sd, SwitchOptions{})
	if !errors.Is(err, ErrSwitchRunning) || !strings.Contains(err.Error(), "another switch is running") {
		t.Fatalf("switch while locked: %v, want ErrSwitchRunning", err)
	}
	if len(sd.calls) != 0 || readLink(t, root, "/run/current-system") == gen2 {
		t.Fatalf("a locked-out switch changed the machine: jobs %v", sd.calls)
	}
	if j, _ := ReadJournal(root); j != nil {
		t.Fatalf("a locked-out switch wrote a journal")
	}
	// The holder itself switches under its lock.
	if _, err := Switch(context.Background(), root, gen2, sd, SwitchOptions{HoldsLock: true}); err != nil {
		t.Fatal(err)
	}
	unlock()
	wantSwitched(t, root, gen2, before, sd.state())
	if _, err := Switch(context.Background(), root, gen2, sd, SwitchOptions{}); err != nil {
		t.Fatalf("switch after the lock was released: %v", err)
	}
}

func TestSwitchReportsFailures(t *testing.T) {
	root := t.TempDir()
	_, gen2, sd := switchGenerations(t, root)
	sd.fail["new.service"] = true
	rep, err := Switch(context.Background(), root, gen2, sd, SwitchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !cmp.Equal(rep.Failed, []string{"new.service"}) || len(rep.Errors) != 1 {
		t.Errorf("failed %v errors %v, want new.service failed and one error", rep.Failed, rep.Errors)
	}
	// The jobs after the failure still ran.
	if got := sd.state()["sock.socket"].Active; got != "active" {
		t.Errorf("sock.socket is %s after an earlier start failed", got)
	}
	if j, _ := ReadJournal(root); j != nil {
		t.Errorf("journal kept after a switch that ran to its end")
	}
}

func TestSwitchStartsReloadOfStoppedUnit(t *testing.T) {
	root := t.TempDir()
	_, gen2, sd := switchGenerations(t, root)
	// reload.service stops (say, a dependency stopped) while the switch
	// runs: its reload becomes a start.
	sd.fail["never"] = true
	wrapped := &stopDuring{fakeSystemd: sd, when: "stop removed.service", stop: "reload.service"}
	rep, err := Switch(context.Background(), root, gen2, wrapped, SwitchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || !contains(rep.Started, "reload.service") || contains(rep.Reloaded, "reload.service") {
		t.Errorf("reloaded %v started %v errors %v", rep.Reloaded, rep.Started, rep.Errors)
	}
}

// stopDuring stops another unit behind the switch's back after one job.
type stopDuring struct {
	*fakeSystemd
	when, stop string
}

func (s *stopDuring) Stop(ctx context.Context, name string) error {
	err := s.fakeSystemd.Stop(ctx, name)
	if "stop "+name == s.when {
		s.fakeSystemd.mu.Lock()
		*s.unit(s.stop) = UnitState{Active: "inactive"}
		s.fakeSystemd.mu.Unlock()
	}
	return err
}

func TestSwitchDropsJournalOfAnotherBoot(t *testing.T) {
	t.Setenv("KILN_TEST_FAULTS", "1")
	root := t.TempDir()
	_, gen2, sd := switchGenerations(t, root)
	writeFiles(t, root, map[string]string{"/proc/sys/kernel/random/boot_id": "boot-1\n"})
	if _, err := Switch(context.Background(), root, gen2, sd, SwitchOptions{CrashAt: "after-activate"}); !errors.Is(err, ErrCrashInjected) {
		t.Fatalf("crash: %v", err)
	}
	if j, err := ReadJournal(root); err != nil || j == nil || j.BootID != "boot-1" {
		t.Fatalf("journal %+v, %v; want one of boot-1", j, err)
	}
	// Rebooted: the boot activated gen2 whole and started its units.
	writeFiles(t, root, map[string]string{"/proc/sys/kernel/random/boot_id": "boot-2\n"})
	sd.calls = nil
	rep, err := Switch(context.Background(), root, gen2, sd, SwitchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Dropped != gen2 || rep.Resumed != "" || len(sd.calls) != 0 {
		t.Errorf("dropped %q resumed %q, jobs %v; want the stale journal dropped and no job replayed", rep.Dropped, rep.Resumed, sd.calls)
	}
}

// TestSwitchLockOtherProcess holds the lock from another process (util-linux
// flock), as a second `kiln switch` would.
func TestSwitchLockOtherProcess(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		testenv.SkipOrFail(t, "%v", "flock not installed")
	}
	root := t.TempDir()
	_, gen2, sd := switchGenerations(t, root)
	if err := os.MkdirAll(filepath.Dir(under(root, SwitchLockFile)), 0o755); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("flock", "--exclusive", "--no-fork", under(root, SwitchLockFile), "sh", "-c", "echo held; exec sleep 60")
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start(t, holder)
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if _, err := Switch(context.Background(), root, gen2, sd, SwitchOptions{}); !errors.Is(err, ErrSwitchRunning) {
		t.Fatalf("switch while another process holds the lock: %v", err)
	}
	holder.Process.Kill()
	holder.Wait()
	if _, err := Switch(context.Background(), root, gen2, sd, SwitchOptions{}); err != nil {
		t.Fatalf("switch after the holder died: %v", err)
	}
}

// The switch applies the activation it planned and records it in the
// journal: users, /etc, host name and wrappers, as the dry run printed
// them (never a password hash).
func TestSwitchJournalsThePlan(t *testing.T) {
	t.Setenv("KILN_TEST_FAULTS", "1")
	root := t.TempDir()
	_, gen2, sd := switchGenerations(t, root)
	plan, err := PlanSwitch(context.Background(), root, "", gen2, sd)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Switch(context.Background(), root, gen2, sd, SwitchOptions{CrashAt: "before-activate", OnCrash: func(string) {}})
	if !errors.Is(err, ErrCrashInjected) {
		t.Fatalf("switch crashing before the activation: %v", err)
	}
	raw, err := os.ReadFile(under(root, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	j, err := ReadJournal(root)
	if err != nil {
		t.Fatal(err)
	}
	if j.Version != JournalVersion || j.Activation == nil || j.Activated {
		t.Fatalf("journal: version %d, activation %v, activated %v", j.Version, j.Activation, j.Activated)
	}
	if got, want := j.Activation.Users.String(), plan.Users.String(); got != want {
		t.Errorf("journaled users plan:\n%s\nwant the dry run's:\n%s", got, want)
	}
	if got, want := j.Activation.Etc.String(), plan.Etc.String(); got != want {
		t.Errorf("journaled etc plan:\n%s\nwant the dry run's:\n%s", got, want)
	}
	if got, want := j.Activation.Wrappers.String(), plan.Wrappers.String(); got != want || j.Activation.Hostname != plan.Hostname {
		t.Errorf("journaled wrappers %q host name %+v, want %q %+v", got, j.Activation.Hostname, want, plan.Hostname)
	}
	if strings.Contains(string(raw), "alicehash") || !strings.Contains(string(raw), `"add user bob uid 1001`) {
		t.Errorf("the journal holds a password hash, or not the plan's changes:\n%s", raw)
	}
	// The journal's record is not a plan to apply.
	if err := ApplyUsers(root, j.Activation.Users); err == nil {
		t.Error("a users plan read back from the journal was applied")
	}
}

// A version 1 journal (no activation recorded) still finishes.
func TestSwitchResumesVersion1Journal(t *testing.T) {
	root := t.TempDir()
	_, gen2, sd := switchGenerations(t, root)
	writeFiles(t, root, map[string]string{JournalFile: `{"version":1,"from":"","to":"` + gen2 + `","activated":false,` +
		`"daemon_reload":true,"stop":null,"reload":null,"restart":null,"start":null}`})
	rep, err := Switch(context.Background(), root, gen2, sd, SwitchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Resumed != gen2 || !rep.OK() {
		t.Errorf("resumed %q, errors %v", rep.Resumed, rep.Errors)
	}
	wantLine(t, root, "/etc/passwd", "bob:x:1001:100::/home/bob:/bin/sh")
}
