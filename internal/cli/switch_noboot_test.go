package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSwitchNoBoot: switch --no-boot activates the toplevel and leaves
// the profile and the ESP as they were (nixos-rebuild test); the toplevel
// is a GC root while it runs. --boot and --no-boot exclude each other.
func TestSwitchNoBoot(t *testing.T) {
	m := newTestMachine(t)
	eng := m.useFakeEngine()
	top1 := m.system(t, m.st, "one", "A")
	top2 := m.system(t, m.st, "two", "A")
	if code, _, errs := m.run(t, nil, "switch", "--toplevel", top1.String()); code != ExitOK {
		t.Fatal(errs)
	}
	before := withoutRun(m.state(t))
	code, out, errs := m.run(t, nil, "switch", "--no-boot", "--toplevel", top2.String())
	if code != ExitOK {
		t.Fatalf("switch --no-boot: %d %s", code, errs)
	}
	if !strings.Contains(out, "activated "+top2.String()+"; no generation added, the boot entries are unchanged") {
		t.Errorf("switch --no-boot printed %q", out)
	}
	if after := withoutRun(m.state(t)); after != before {
		t.Errorf("switch --no-boot changed the profile or the ESP:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if want := []string{top1.String(), top2.String()}; !slices.Equal(eng.switches, want) {
		t.Errorf("activated %v, want %v", eng.switches, want)
	}
	if got, err := os.Readlink(filepath.Join(m.st.StateDir, "gcroots", "test")); err != nil || !strings.HasSuffix(got, top2.Base()) {
		t.Errorf("gcroots/test = %q, %v; want a link to %s", got, err, top2)
	}
	if code, _, errs := m.run(t, nil, "switch", "--boot", "--no-boot", "--toplevel", top2.String()); code != ExitUsage || !strings.Contains(errs, "exclude each other") {
		t.Errorf("--boot --no-boot: exit %d, %q", code, errs)
	}
	if code, out, _ := m.run(t, nil, "generations", "list"); code != ExitOK || !strings.Contains(out, "GEN") {
		t.Errorf("generations list: exit %d, %q", code, out)
	}
	if code, _, errs := m.run(t, nil, "generations", "lsit"); code != ExitUsage || !strings.Contains(errs, `did you mean "list"`) {
		t.Errorf("generations lsit: exit %d, %q", code, errs)
	}
}

// withoutRun drops the run/ links (what activation changes) from a state.
func withoutRun(state string) string {
	var keep []string
	for _, l := range strings.Split(state, "\n") {
		if !strings.HasPrefix(l, "run/") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// TestSwitchDryRunJSON: switch --dry-run --json prints the plan's lines
// in a versioned object; --json without --dry-run is a usage error.
func TestSwitchDryRunJSON(t *testing.T) {
	m := newTestMachine(t)
	m.useFakeEngine()
	top1 := m.system(t, m.st, "one", "A")
	top2 := m.system(t, m.st, "two", "A")
	if code, _, errs := m.run(t, nil, "switch", "--toplevel", top1.String()); code != ExitOK {
		t.Fatal(errs)
	}
	code, out, errs := m.run(t, nil, "--json", "switch", "--dry-run", "--toplevel", top2.String())
	if code != ExitOK {
		t.Fatalf("dry run: %d %s", code, errs)
	}
	want := fmt.Sprintf("{\n  \"version\": 1,\n  \"toplevel\": %q,\n  \"plan\": [\n    %q,\n    %q,\n    %q\n  ]\n}\n",
		top2, "would switch "+m.root, "  from "+top1.String(), "  to   "+top2.String())
	if out != want {
		t.Errorf("switch --dry-run --json printed\n%s\nwant\n%s", out, want)
	}
	if code, _, _ := m.run(t, nil, "--json", "switch", "--toplevel", top2.String()); code != ExitUsage {
		t.Errorf("switch --json: exit %d, want %d", code, ExitUsage)
	}
}

// TestSwitchTargetHostAlias: --target-host takes a ~/.ssh/config alias
// (HostName, Port, IdentityFile) with no USER@ and no -i, and a plain
// HOST:PORT with the default key ~/.ssh/id_ed25519.
func TestSwitchTargetHostAlias(t *testing.T) {
	local := newTestMachine(t)
	top := local.system(t, local.st, "alias", "A")
	target := newTestMachine(t)
	target.useFakeEngine()
	srv := startSSHTarget(t, target)
	host, port, _ := strings.Cut(srv.Addr, ":")
	sshDir := filepath.Join(srv.Home, ".ssh")
	os.MkdirAll(sshDir, 0o700)
	conf := "Host web1\n  HostName " + host + "\n  Port " + port + "\n  IdentityFile " + srv.KeyFile + "\n"
	if err := os.WriteFile(filepath.Join(sshDir, "config"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": srv.Home}
	code, _, errs := runCLIWith(t, nil, env, "--store", local.st.Dir, "switch", "--toplevel", top.String(), "--target-host", "web1", "--accept-new-host-key")
	if code != ExitOK {
		t.Fatalf("switch --target-host web1: exit %d, %s", code, errs)
	}
	os.Remove(filepath.Join(sshDir, "config"))
	key, err := os.ReadFile(srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sshDir, "id_ed25519"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runCLIWith(t, nil, env, "--store", local.st.Dir, "switch", "--toplevel", top.String(), "--target-host", srv.Addr)
	if code != ExitOK {
		t.Fatalf("switch --target-host %s with the default key: exit %d, %s", srv.Addr, code, errs)
	}
	if n, p := target.current(t); n != 1 || p != top {
		t.Errorf("target at %d %s, want 1 %s", n, p, top)
	}
}
