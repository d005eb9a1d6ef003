package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/machine"
)

// The whole local flow on a real configuration: build the default system
// from the repository's kiln.lock into a temp machine, switch --boot,
// change the host name, switch again, roll back; bootctl reads the ESP.
func TestSwitchBuildsConfiguration(t *testing.T) {
	testenv.Slow(t, "builds a whole system")
	lock, host := defaultSystemFiles(t)
	m := newTestMachine(t)
	m.useFakeEngine()
	cfg := t.TempDir()
	os.WriteFile(filepath.Join(cfg, "kiln.lock"), lock, 0o644)
	hostFile := filepath.Join(cfg, "host.hcl")
	os.WriteFile(hostFile, host, 0o644)
	cache, _ := os.UserCacheDir()
	env := map[string]string{"XDG_CACHE_HOME": cache}
	run := func(args ...string) string {
		t.Helper()
		code, out, errs := m.runWith(t, nil, env, append([]string{"--store", m.st.Dir}, append(args, "--root", m.root)...)...)
		if code != ExitOK {
			t.Fatalf("%v: code %d\n%s%s", args, code, out, errs)
		}
		return out
	}
	esp := filepath.Join(m.root, "boot")

	// The first build runs as on a kiln machine: the store bound
	// read-only, so the build happens in a private mount namespace.
	if os.Geteuid() == 0 {
		out, errs, err := onReadOnlyStore(t, m.st.Dir, "", "--store", m.st.Dir, "switch", "--boot", "-c", hostFile, "--root", m.root)
		if err != nil {
			t.Fatalf("switch on a read-only store: %v\n%s%s", err, out, errs)
		}
		if !strings.Contains(out, "generation 1 is ") {
			t.Errorf("switch on a read-only store printed %q", out)
		}
		if ro, _, _ := machine.ReadOnlyMount(m.st.Dir); ro {
			t.Fatal("the store became read-only here")
		}
		if left, _ := filepath.Glob(filepath.Join(m.st.StateDir, "gcroots", "kiln-switch-*")); len(left) > 0 {
			t.Errorf("the build's temporary root is left: %v", left)
		}
	} else {
		run("switch", "--boot", "-c", hostFile)
	}
	gen1 := dirSize(esp)
	os.WriteFile(hostFile, []byte(strings.Replace(string(host), `host_name = "kiln"`, `host_name = "kiln2"`, 1)), 0o644)
	run("switch", "--boot", "-c", hostFile)
	gen2 := dirSize(esp) - gen1
	t.Logf("ESP: %d bytes for the first generation, %d more for a host name change", gen1, gen2)
	if gen2 > 4096 {
		t.Errorf("a host name change added %d bytes to the ESP, want only an entry", gen2)
	}
	// boot counting: the new generation's entry counts its tries
	for _, f := range []string{"EFI/BOOT/BOOTX64.EFI", "EFI/systemd/systemd-bootx64.efi", "loader/entries/kiln-generation-2+3.conf"} {
		if _, err := os.Stat(filepath.Join(esp, f)); err != nil {
			t.Error(err)
		}
	}
	if out := run("generations"); !regexp.MustCompile(`(?m)^ +2 .* 6\.1\.0-[0-9]+-cloud-amd64 +pending +current$`).MatchString(out) {
		t.Errorf("generations:\n%s", out)
	}
	run("rollback", "--boot")
	list := testenv.BootctlList(t, esp)
	for _, want := range []string{"id: kiln-generation-1.conf", "id: kiln-generation-2.conf", "(default)"} {
		if !strings.Contains(list, want) {
			t.Errorf("bootctl list lacks %q:\n%s", want, list)
		}
	}
	// bootctl agrees with loader.conf's glob: the default is generation 1
	// (its entry counted: bootctl shows the id without the counter)
	if _, after, _ := strings.Cut(list, "(default)"); !strings.HasPrefix(strings.TrimSpace(strings.SplitN(after, "\n", 3)[1]), "id: kiln-generation-1.conf") {
		t.Errorf("bootctl list: generation 1 is not the default:\n%s", list)
	}
	if !strings.Contains(list, "tries: 3 left") {
		t.Errorf("bootctl list shows no boot counting:\n%s", list)
	}
	if strings.Contains(list, "No such file") {
		t.Errorf("bootctl list reports missing files:\n%s", list)
	}
}

// defaultSystemFiles returns the repository's kiln.lock and the default
// system's host file (examples/default.hcl), which the tests that build
// a whole real system start from.
func defaultSystemFiles(t *testing.T) (lock, host []byte) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join("..", "..", "kiln.lock"))
	if err != nil {
		testenv.SkipOrFail(t, "no kiln.lock: %v", err)
	}
	host, err = os.ReadFile(filepath.Join("..", "..", "examples", "default.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	return lock, host
}
