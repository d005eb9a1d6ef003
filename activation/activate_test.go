package activation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/toplevel"
)

func fullSpec() *toplevel.ActivationSpec {
	s := baseSpec()
	s.Etc = baseGen.entries
	s.Wrappers = []toplevel.Wrapper{
		{Name: "su", Source: "/usr/bin/su", Owner: "root", Group: "root", Mode: "4755"},
		{Name: "unix_chkpwd", Source: "/usr/sbin/unix_chkpwd", Owner: "root", Group: "shadow", Mode: "2755"},
	}
	return s
}

var swTree = map[string]string{
	"bin/su":           "su program",
	"sbin/unix_chkpwd": "unix_chkpwd program",
	"bin/sh":           "->dash",
	"bin/dash":         "dash program",
}

func TestActivate(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"/var/lib/secrets/alice": "$y$j9T$alicehash\n"})
	gen1 := makeToplevel(t, root, "gen1", fullSpec(), baseGen.tree, swTree)
	var log []string
	a := Activator{Log: func(f string, args ...any) { log = append(log, f) }}
	if err := a.Activate(root, gen1, Boot); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct{ name, target string }{
		{"/run/current-system", gen1}, {"/run/booted-system", gen1},
		{"/usr", "/run/current-system/sw"}, {"/bin", "usr/bin"}, {"/sbin", "usr/sbin"},
		{"/lib", "usr/lib"}, {"/lib64", "usr/lib64"}, {"/etc/static", gen1 + "/etc"},
	} {
		if got := readLink(t, root, l.name); got != l.target {
			t.Errorf("%s -> %q, want %q", l.name, got, l.target)
		}
	}
	wantMode(t, root, "/tmp", os.ModeDir|os.ModeSticky|0o777, 0, 0)
	wantMode(t, root, "/root", os.ModeDir|0o700, 0, 0)
	wantMode(t, root, "/etc/machine-id", 0o444, 0, 0)
	if got := readFile(t, root, "/etc/machine-id"); got != "" {
		t.Errorf("/etc/machine-id = %q, want empty", got)
	}
	// The shell resolves through /usr, the current system and sw.
	if got := readFile(t, root, mustRel(t, root, mustResolve(t, root, "/bin/sh"))); got != "dash program" {
		t.Errorf("/bin/sh reads %q", got)
	}
	wantMode(t, root, "/run/wrappers/bin/su", os.ModeSetuid|0o755, 0, 0)
	wantMode(t, root, "/run/wrappers/bin/unix_chkpwd", os.ModeSetgid|0o755, 0, 42)
	if got := readFile(t, root, "/run/wrappers/bin/su"); got != "su program" {
		t.Errorf("su wrapper = %q", got)
	}
	checkEtc(t, root, baseGen)
	wantLine(t, root, "/etc/shadow", "alice:$y$j9T$alicehash:::::::")

	// Re-activating the same generation rewrites no wrapper.
	before, _ := filepath.Glob(under(root, "/run/wrappers/wrappers.*"))
	if err := Activate(root, gen1, Boot); err != nil {
		t.Fatal(err)
	}
	if after, _ := filepath.Glob(under(root, "/run/wrappers/wrappers.*")); len(before) != 1 || len(after) != 1 || before[0] != after[0] {
		t.Errorf("re-activation replaced the wrappers: %v, then %v", before, after)
	}

	// A switch to a second generation without motd and su.
	spec2 := fullSpec()
	spec2.Etc = without(baseGen, "motd").entries
	spec2.Wrappers = spec2.Wrappers[1:]
	gen2 := makeToplevel(t, root, "gen2", spec2, without(baseGen, "motd").tree, swTree)
	oldWrappers, _ := filepath.Glob(under(root, "/run/wrappers/wrappers.*"))
	if err := Activate(root, gen2, SwitchPhase); err != nil {
		t.Fatal(err)
	}
	if got := readLink(t, root, "/run/booted-system"); got != gen1 {
		t.Errorf("booted-system -> %s after a switch, want %s", got, gen1)
	}
	if got := readLink(t, root, "/run/current-system"); got != gen2 {
		t.Errorf("current-system -> %s, want %s", got, gen2)
	}
	if exists(under(root, "/etc/motd")) || exists(under(root, "/run/wrappers/bin/su")) {
		t.Errorf("stale /etc/motd or su wrapper left after the switch")
	}
	for _, o := range oldWrappers {
		if exists(o) {
			t.Errorf("old wrappers directory %s left", o)
		}
	}
	checkEtc(t, root, without(baseGen, "motd"))
	if len(log) == 0 {
		t.Errorf("activation logged nothing")
	}
}

func TestActivateLeavesRealDirectories(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"/usr/bin/su": "host su", "/lib/x": "host lib"})
	top := makeToplevel(t, root, "gen1", &toplevel.ActivationSpec{Version: 1}, nil, swTree)
	var log []string
	a := Activator{Log: func(f string, args ...any) { log = append(log, strings.TrimSpace(f)) }}
	if err := a.Activate(root, top, Boot); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, root, "/usr/bin/su"); got != "host su" {
		t.Errorf("/usr/bin/su = %q, want the host's", got)
	}
	if got := readLink(t, root, "/bin"); got != "usr/bin" {
		t.Errorf("/bin -> %q", got)
	}
	if !strings.Contains(strings.Join(log, "\n"), "is not a symlink; left alone") {
		t.Errorf("no warning about /usr and /lib in %q", log)
	}
}

func TestActivateBadSpec(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"/kiln/store/x-toplevel/activation.json": `{"version":9}`})
	err := Activate(root, "/kiln/store/x-toplevel", Boot)
	if err == nil || !strings.Contains(err.Error(), "activation.json") || !strings.Contains(err.Error(), "version 9") {
		t.Errorf("got %v, want an error naming the file and version", err)
	}
	if got := readLink(t, root, "/run/current-system"); got != "/kiln/store/x-toplevel" {
		t.Errorf("without a spec, /run/current-system -> %q; want the layout made anyway", got)
	}
}

func TestPhaseString(t *testing.T) {
	for p, want := range map[Phase]string{Boot: "boot", SwitchPhase: "switch", Phase(7): "Phase(7)"} {
		if got := p.String(); got != want {
			t.Errorf("Phase(%d) = %q, want %q", int(p), got, want)
		}
	}
}

func mustRel(t *testing.T, root, host string) string {
	t.Helper()
	r, err := filepath.Rel(root, host)
	if err != nil {
		t.Fatal(err)
	}
	return "/" + r
}

func TestActivateFixesTmpMode(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(under(root, "/tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	top := makeToplevel(t, root, "gen1", &toplevel.ActivationSpec{Version: 1}, nil, nil)
	if err := Activate(root, top, Boot); err != nil {
		t.Fatal(err)
	}
	wantMode(t, root, "/tmp", os.ModeDir|os.ModeSticky|0o777, 0, 0)
}

// A switch sets the running host name (the kernel's, under root) to the
// generation's; a root without a running kernel is left alone.
func TestActivateSetsHostname(t *testing.T) {
	for _, tc := range []struct {
		name, running, want, after, plan string
	}{
		{"changed", "a", "b", "b", "host name: a -> b\n"},
		{"unchanged", "b", "b", "b", "host name: b (unchanged)\n"},
		{"not set", "a", "", "a", "host name: not set by this generation\n"},
		{"no kernel", "", "b", "", "host name: b (no running kernel under this root)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			kernel := under(root, kernelHostname)
			if tc.running != "" {
				if err := os.MkdirAll(filepath.Dir(kernel), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(kernel, []byte(tc.running+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			spec := &toplevel.ActivationSpec{Version: toplevel.ActivationVersion, HostName: tc.want}
			plan, err := PlanHostname(root, spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := plan.String(); got != tc.plan {
				t.Errorf("plan %q, want %q", got, tc.plan)
			}
			top := makeToplevel(t, root, "gen1", spec, nil, nil)
			if err := Activate(root, top, SwitchPhase); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(kernel)
			if tc.running == "" {
				if err == nil {
					t.Errorf("activation made %s in a root without it", kernelHostname)
				}
				return
			}
			if strings.TrimSpace(string(got)) != tc.after {
				t.Errorf("running host name %q after activation, want %q", got, tc.after)
			}
		})
	}
}
