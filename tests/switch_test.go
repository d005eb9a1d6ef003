package tests

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/testvm"
)

// switchHost is the issue 5 scenario system. Generation 1 and 2 differ by:
// "changed" (its environment), "same" (unchanged), "removed" (only in 1),
// "added" (only in 2), the socket-activated "sockd" (its environment),
// the user bob (only in 2), hello on PATH (only in 2) and
// /etc/kiln-test/gen and the host name. Generation 3 is generation 2 with one service
// changed, for the timing of a one-service switch.
func switchHost(key string, gen int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
networking {
  host_name = "%s"
}

testing {
  backdoor = true
}

ssh {
  enable = true
}

bootloader {
  timeout = 1
  boot_counting {
    tries = 0
  }
}

users "root" {
  authorized_keys = [%q]
}

users "alice" {}

services "same" {
  exec_start = "/bin/sleep infinity"
}

services "changed" {
  exec_start  = "/bin/sleep infinity"
  environment = {
    MARK = "%d"
  }
}

services "sockd" {
  exec_start  = "/bin/sh -c 'echo $MARK > /run/sockd-mark; exec /bin/sleep infinity'"
  wanted_by   = []
  environment = {
    MARK = "%d"
  }
}

units "sockd.socket" {
  text = "[Socket]\nListenStream=127.0.0.1:7070\n\n[Install]\nWantedBy=sockets.target\n"
}

etc "kiln-test/gen" {
  text = "generation %d\n"
}
`, hostName(gen), key, gen, min(gen, 2), min(gen, 2))
	if gen == 1 {
		b.WriteString(`
services "removed" {
  exec_start = "/bin/sleep infinity"
}
`)
	} else {
		b.WriteString(`
services "added" {
  exec_start = "/bin/sleep infinity"
}

users "bob" {}

packages = [pkgs.hello]
`)
	}
	return b.String()
}

// writeHost writes dir/name/host.hcl and its kiln.lock.
func writeHost(t *testing.T, dir, name string, lock []byte, host string) {
	t.Helper()
	sub := filepath.Join(dir, name)
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "kiln.lock"), lock, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "host.hcl"), []byte(host), 0o644); err != nil {
		t.Fatal(err)
	}
}

// safeHosts are generation 2 changed for the safe-deploy checks (issue
// 13): sshd stopped, a failing, a slow and a passing health
// check; with boot counting (2 tries), a good one and one whose check
// fails at boot; sshd moved to another port.
func safeHosts(key string) map[string]string {
	base := switchHost(key, 2)
	counting := strings.Replace(base, "    tries = 0\n", "    tries = 2\n", 1)
	mark := func(h, m string) string { return h + "\netc \"kiln-test/" + m + "\" {\n  text = \"" + m + "\\n\"\n}\n" }
	check := func(h, name, cmd string) string {
		return h + "\nhealth_checks \"" + name + "\" {\n  command = \"" + cmd + "\"\n  timeout = \"60s\"\n}\n"
	}
	return map[string]string{
		// Not "port = 2222": a switch does not restart sshd for a changed
		// sshd_config (its unit is unchanged), so the port would move only
		// at the next boot.
		"sshoff":    strings.Replace(base, "ssh {\n  enable = true\n}", "ssh {\n  enable = false\n}", 1),
		"checkfail": check(mark(base, "checkfail"), "web", "echo web is down; exit 1"),
		"slow":      check(mark(base, "slow"), "slow", "sleep 25"),
		"good":      check(mark(base, "good"), "web", "test -e /etc/kiln-test/good"),
		"countgood": mark(counting, "countgood"),
		"countfail": check(mark(counting, "countfail"), "web", "echo web is down; exit 1"),
		// Only sshd_config changes: the switch reloads sshd onto the port.
		"sshport": strings.Replace(base, "ssh {\n  enable = true\n}", "ssh {\n  enable = true\n  port = 2222\n}", 1),
	}
}

// hostName is generation gen's host name: a switch and a rollback set the
// running one.
func hostName(gen int) string {
	if gen == 1 {
		return "kilnswitch"
	}
	return "kilnswitch2"
}

// sshKey makes an ed25519 key: its authorized_keys line and its private
// key file (OpenSSH format) for kiln switch -i.
func sshKey(t *testing.T) (string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "kiln test")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), file
}

// kilnResult is one run of the kiln binary on the host.
type kilnResult struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// kilnRun runs kiln in dir with extra environment and returns what it
// printed and its exit code (it fails the test only when kiln cannot run).
func kilnRun(t *testing.T, bin, dir string, env []string, args ...string) kilnResult {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	res := kilnResult{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("kiln %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("kiln %s: exit %d in %s", strings.Join(args, " "), res.code, res.took.Round(time.Millisecond))
	return res
}

// storeHash matches the hash part of a store path.
var storeHash = regexp.MustCompile(`/kiln/store/[0-9a-z]{20,}-`)

// normalizePlan replaces store hashes, which change with any input, so
// that the golden plan holds only what the switch does.
func normalizePlan(s string) string {
	return storeHash.ReplaceAllString(s, "/kiln/store/HASH-")
}

// guest is a booted scenario machine with the checks the scenarios share.
type guest struct {
	t *testing.T
	m *testvm.Machine
}

func (g guest) out(cmd string) string { return strings.TrimSpace(g.m.Succeed(cmd)) }

// expect runs a table of (name, command, want) checks.
func (g guest) expect(what string, checks [][3]string) {
	g.t.Helper()
	for _, c := range checks {
		out, _ := g.m.Execute(c[1])
		if got := strings.TrimSpace(out); got != c[2] {
			g.t.Errorf("%s: %s: `%s` = %q, want %q", what, c[0], c[1], got, c[2])
		}
	}
}

func (g guest) pid(unit string) string {
	return g.out("systemctl show -p MainPID --value " + unit)
}

// noFailedUnits checks that systemd lists no failed unit.
func (g guest) noFailedUnits(what string) {
	g.t.Helper()
	if out := g.out("systemctl --failed --no-legend --plain"); out != "" {
		g.t.Errorf("%s: failed units:\n%s", what, out)
	}
}

// sw runs kiln on the guest as root and returns its output and exit code.
func (g guest) kiln(env, args string) (string, int) {
	g.t.Helper()
	start := time.Now()
	out, code := g.m.Execute(env + " kiln " + args + " 2>&1")
	g.t.Logf("guest: %s kiln %s: exit %d in %s", env, args, code, time.Since(start).Round(time.Millisecond))
	return out, code
}

// mustKiln is kiln on the guest that must succeed.
func (g guest) mustKiln(args string) string {
	g.t.Helper()
	out, code := g.kiln("", args)
	if code != 0 {
		g.t.Fatalf("guest: kiln %s: exit %d\n%s", args, code, out)
	}
	return out
}

// crash runs kiln switch on the guest with a fault injected at point: kiln
// kills itself there with SIGKILL, as kill -9 would.
func (g guest) crash(point, top string) {
	g.t.Helper()
	out, code := g.kiln("KILN_TEST_FAULTS=1 KILN_TEST_CRASH_AT="+point, "switch --toplevel "+top)
	if code != 128+9 {
		g.t.Fatalf("kiln switch crashing at %s: exit %d, want %d (killed)\n%s", point, code, 128+9, out)
	}
}

// gen1Checks and gen2Checks are what each generation's running system
// shows: units, users, PATH and etc.
func gen1Checks(top string) [][3]string {
	return [][3]string{
		{"current system", "readlink /run/current-system", top},
		{"removed runs", "systemctl is-active removed.service", "active"},
		{"added absent", "systemctl is-active added.service", "inactive"},
		{"same runs", "systemctl is-active same.service", "active"},
		{"changed runs its generation-1 unit", "systemctl show -p Environment --value changed.service", "MARK=1"},
		{"socket listens", "systemctl is-active sockd.socket", "active"},
		{"bob not a login user", "getent passwd bob | cut -d: -f7 | grep -v nologin", ""},
		{"no hello on PATH", "command -v hello", ""},
		{"etc", "cat /etc/kiln-test/gen", "generation 1"},
		{"host name", "hostname", hostName(1)},
	}
}

func gen2Checks(top string) [][3]string {
	return [][3]string{
		{"current system", "readlink /run/current-system", top},
		{"removed stopped", "systemctl is-active removed.service", "inactive"},
		{"added runs", "systemctl is-active added.service", "active"},
		{"same runs", "systemctl is-active same.service", "active"},
		{"changed runs its generation-2 unit", "systemctl show -p Environment --value changed.service", "MARK=2"},
		{"socket listens", "systemctl is-active sockd.socket", "active"},
		{"bob", "getent passwd bob | cut -d: -f1,7", "bob:/bin/bash"},
		{"hello on PATH", "hello", "Hello, world!"},
		{"etc", "cat /etc/kiln-test/gen", "generation 2"},
		{"host name", "hostname", hostName(2)},
	}
}

// touchSocket connects to sockd's socket, which starts sockd.service, and
// waits for it to run.
func (g guest) touchSocket() {
	g.m.Succeed("bash -c 'exec 3<>/dev/tcp/127.0.0.1/7070'")
	g.m.WaitUntilSucceeds("systemctl is-active sockd.service && test -s /run/sockd-mark")
}

// espUsed is the bytes used on the ESP.
func (g guest) espUsed() int64 {
	n, err := strconv.ParseInt(g.out("df -B1 --output=used /boot | tail -1 | tr -d ' '"), 10, 64)
	if err != nil {
		g.t.Fatalf("df /boot: %v", err)
	}
	return n
}

// espState is the ESP's loader.conf and entries, byte for byte.
func (g guest) espState() string {
	return g.out("cd /boot/loader && cat loader.conf && for e in entries/*; do echo \"== $e\"; cat \"$e\"; done")
}

// TestSwitchGenerations is issue 5's scenario on one machine booted four
// times: a switch over SSH (after a golden dry run), the boot menu,
// rollback without a reboot, kill -9 of kiln switch at several points, a
// full ESP and a bad configuration.
func TestSwitchGenerations(t *testing.T) {
	testenv.NeedVM(t)
	key, keyFile := sshKey(t)
	bin := kilnBinary(t)
	dir := hostDir(t, switchHost(key, 1))
	// Generations 2 and 3 lock the repository's packages plus hello, the
	// package on PATH that generation 2 adds (sw holds every locked
	// package), in gen2/ and gen3/ beside their host files.
	lock, err := os.ReadFile(filepath.Join(repoRoot(t), "tests", "testdata", "switch.lock"))
	if err != nil {
		t.Fatal(err)
	}
	for gen := 2; gen <= 3; gen++ {
		writeHost(t, dir, fmt.Sprintf("gen%d", gen), lock, switchHost(key, gen))
	}
	for name, host := range safeHosts(key) {
		writeHost(t, dir, name, lock, host)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.hcl"), []byte("services \"x\" {\n  no_such_option = 1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	storeDir := filepath.Join(t.TempDir(), "store")
	home := t.TempDir() // known_hosts
	top1 := kiln(t, bin, dir, "--store", storeDir, "build", "-c", "host.hcl")
	top2 := kiln(t, bin, dir, "--store", storeDir, "build", "-c", "gen2/host.hcl")
	img := filepath.Join(dir, "disk.img")
	kiln(t, bin, dir, "--store", storeDir, "image", "-c", "host.hcl", "-o", img)

	m := testvm.Start(t, testvm.WithDisk(img), testvm.WithFreeHostPort(22))
	g := guest{t, m}
	m.WaitForUnit("multi-user.target")
	target := fmt.Sprintf("root@127.0.0.1:%d", m.ForwardedPort(22))
	env := []string{"HOME=" + home, "SSH_AUTH_SOCK="}
	remote := func(args ...string) kilnResult {
		return kilnRun(t, bin, dir, env, append([]string{"--store", storeDir, "switch", "--target-host", target,
			"-i", keyFile, "--accept-new-host-key"}, args...)...)
	}

	// Generation 1 as booted; sockd started through its socket.
	g.touchSocket()
	g.expect("generation 1 booted", gen1Checks(top1))
	g.noFailedUnits("generation 1 booted")
	if got := g.out("cat /run/sockd-mark"); got != "1" {
		t.Errorf("sockd of generation 1 wrote %q, want 1", got)
	}
	pids := map[string]string{}
	for _, u := range []string{"same", "changed", "sockd"} {
		pids[u] = g.pid(u + ".service")
	}
	gensBefore := g.mustKiln("generations")
	espBefore := g.espUsed()

	t.Run("switch", func(t *testing.T) {
		g := guest{t, m}
		// The dry run copies the closure and prints the plan, nothing else.
		dry := remote("-c", "gen2/host.hcl", "--dry-run")
		if dry.code != 0 {
			t.Fatalf("dry run: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
		}
		t.Logf("dry run over SSH (build cached, closure copied, plan): %s\n%s", dry.took.Round(time.Millisecond), dry.stderr)
		golden.Check(t, filepath.Join(repoRoot(t), "tests", "testdata", "switch-plan.golden"), []byte(normalizePlan(dry.stdout)))
		if got := g.mustKiln("generations"); got != gensBefore {
			t.Errorf("the dry run changed the generations:\n%s\nwas\n%s", got, gensBefore)
		}
		g.expect("after the dry run", gen1Checks(top1))

		sw := remote("-c", "gen2/host.hcl")
		if sw.code != 0 {
			t.Fatalf("switch: exit %d\n%s%s", sw.code, sw.stdout, sw.stderr)
		}
		t.Logf("switch over SSH: %s\n%s%s", sw.took.Round(time.Millisecond), sw.stdout, sw.stderr)
		g.expect("switched to generation 2", gen2Checks(top2))
		g.expect("switched to generation 2", [][3]string{
			{"booted system", "readlink /run/booted-system", top1},
			{"removed unit file gone", "test -e /etc/systemd/system/removed.service && echo there", ""},
			{"sockd stopped with its socket", "systemctl is-active sockd.service", "inactive"},
			{"default entry", "grep '^default' /boot/loader/loader.conf", "default kiln-generation-2.conf"},
		})
		if got := g.pid("same.service"); got != pids["same"] {
			t.Errorf("same.service: PID %s, was %s: restarted though unchanged", got, pids["same"])
		}
		if got := g.pid("changed.service"); got == pids["changed"] || got == "0" {
			t.Errorf("changed.service: PID %s, was %s: not restarted", got, pids["changed"])
		}
		g.touchSocket()
		if got := g.out("cat /run/sockd-mark"); got != "2" {
			t.Errorf("sockd started through its socket wrote %q, want 2", got)
		}
		if got := g.pid("sockd.service"); got == pids["sockd"] {
			t.Errorf("sockd.service: PID %s unchanged", got)
		}
		g.noFailedUnits("switched to generation 2")
		after := g.espUsed()
		t.Logf("ESP used: %d bytes with generation 1, %d with 1 and 2 (+%d)", espBefore, after, after-espBefore)
	})
	if t.Failed() {
		return
	}

	t.Run("boot menu", func(t *testing.T) {
		g := guest{t, m}
		m.Reboot()
		g.touchSocket()
		g.expect("generation 2 booted by default", gen2Checks(top2))
		g.expect("generation 2 booted by default", [][3]string{
			{"booted system", "readlink /run/booted-system", top2},
			{"sockd", "cat /run/sockd-mark", "2"},
		})
		g.noFailedUnits("generation 2 booted")
		list := g.out("bootctl --no-pager list")
		for _, e := range []string{"kiln-generation-1.conf", "kiln-generation-2.conf"} {
			if !strings.Contains(list, e) {
				t.Errorf("bootctl list does not show %s:\n%s", e, list)
			}
		}
		t.Logf("bootctl list:\n%s", list)

		m.SelectGeneration(1)
		m.Reboot()
		g.touchSocket()
		g.expect("generation 1 from the menu", gen1Checks(top1))
		g.expect("generation 1 from the menu", [][3]string{
			{"booted system", "readlink /run/booted-system", top1},
			{"sockd", "cat /run/sockd-mark", "1"},
			{"still the default", "grep '^default' /boot/loader/loader.conf", "default kiln-generation-2.conf"},
		})
		g.noFailedUnits("generation 1 booted from the menu")
	})
	if t.Failed() {
		return
	}

	t.Run("rollback", func(t *testing.T) {
		g := guest{t, m}
		// Running generation 1 from the menu: make 2 the running system
		// again, then roll back to 1 without a reboot.
		g.mustKiln("switch --toplevel " + top2)
		g.expect("generation 2 again", gen2Checks(top2))
		out := g.mustKiln("rollback --to 1")
		t.Logf("rollback:\n%s", out)
		g.expect("rolled back to 1", gen1Checks(top1))
		g.expect("rolled back to 1", [][3]string{
			{"default entry", "grep '^default' /boot/loader/loader.conf", "default kiln-generation-1.conf"},
			{"bootctl default", "bootctl --no-pager list | grep -A4 'default' | grep -o 'kiln-generation-[0-9]*.conf' | head -1", "kiln-generation-1.conf"},
		})
		g.noFailedUnits("rolled back to 1")
	})
	if t.Failed() {
		return
	}

	t.Run("faults", func(t *testing.T) {
		g := guest{t, m}
		// Killed after the profile link: the running system and the ESP
		// are still generation 1's; the next switch finishes.
		g.crash("after-profile", top2)
		g.expect("killed after the profile link", [][3]string{
			{"current system", "readlink /run/current-system", top1},
			{"default entry", "grep '^default' /boot/loader/loader.conf", "default kiln-generation-1.conf"},
		})
		g.mustKiln("switch --toplevel " + top2)
		g.expect("finished after the profile link", gen2Checks(top2))
		g.noFailedUnits("finished after the profile link")

		// Killed among the unit stops: a journal is left; the next switch
		// completes it.
		g.crash("after-stop-1", top1)
		g.expect("killed during the stops", [][3]string{{"journal left", "test -f /kiln/var/lib/switch-journal.json && echo yes", "yes"}})
		g.mustKiln("switch --toplevel " + top1)
		g.expect("finished after the stops", gen1Checks(top1))
		g.expect("finished after the stops", [][3]string{{"journal gone", "test -e /kiln/var/lib/switch-journal.json && echo there", ""}})
		g.noFailedUnits("finished after the stops")

		// Killed among the starts, then the machine reboots: it boots the
		// default entry, a whole generation 2, and a next switch finishes.
		g.crash("after-start-1", top2)
		m.Reboot()
		g.touchSocket()
		g.expect("booted after a kill during the starts", gen2Checks(top2))
		g.expect("booted after a kill during the starts", [][3]string{{"booted system", "readlink /run/booted-system", top2}})
		g.noFailedUnits("booted after a kill during the starts")
		g.mustKiln("switch --toplevel " + top2)
		g.expect("switched after the reboot", gen2Checks(top2))
		g.noFailedUnits("switched after the reboot")
	})
	if t.Failed() {
		return
	}

	t.Run("full ESP", func(t *testing.T) {
		g := guest{t, m}
		esp, gens := g.espState(), g.mustKiln("generations")
		g.m.Succeed("dd if=/dev/zero of=/boot/fill bs=64k 2>/dev/null; sync; true")
		out, code := g.kiln("", "switch --toplevel "+top1)
		g.m.Succeed("rm -f /boot/fill")
		if code == 0 {
			t.Fatalf("switch onto a full ESP succeeded:\n%s", out)
		}
		t.Logf("switch onto a full ESP (exit %d):\n%s", code, out)
		if got := g.espState(); got != esp {
			t.Errorf("the ESP changed:\n%s", cmp.Diff(esp, got))
		}
		if got := g.mustKiln("generations"); got != gens {
			t.Errorf("the generations changed:\n%s", cmp.Diff(gens, got))
		}
		// Every entry still names files the ESP has.
		g.m.Succeed("for f in $(awk '$1 == \"linux\" || $1 == \"initrd\" {print $2}' /boot/loader/entries/*.conf); do test -s /boot$f || { echo missing $f; exit 1; }; done")
		g.expect("after a full ESP", gen2Checks(top2))
	})

	t.Run("bad config", func(t *testing.T) {
		g := guest{t, m}
		esp, gens := g.espState(), g.mustKiln("generations")
		if res := remote("-c", "bad.hcl"); res.code == 0 {
			t.Errorf("switch --target-host with a bad configuration succeeded")
		}
		g.m.Succeed("printf 'services \"x\" {\\n  no_such_option = 1\\n}\\n' > /root/bad.hcl")
		if out, code := g.kiln("", "switch -c /root/bad.hcl"); code == 0 {
			t.Errorf("kiln switch -c bad.hcl on the machine succeeded:\n%s", out)
		}
		if got := g.espState(); got != esp {
			t.Errorf("the ESP changed:\n%s", cmp.Diff(esp, got))
		}
		if got := g.mustKiln("generations"); got != gens {
			t.Errorf("the generations changed:\n%s", cmp.Diff(gens, got))
		}
		g.expect("after a bad configuration", gen2Checks(top2))
	})

	t.Run("one-service switch", func(t *testing.T) {
		g := guest{t, m}
		espBefore := g.espUsed()
		dry := remote("-c", "gen3/host.hcl", "--dry-run")
		if dry.code != 0 {
			t.Fatalf("dry run: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
		}
		t.Logf("one-service change, plan:\n%s%s", dry.stdout, dry.stderr)
		top3 := kiln(t, bin, dir, "--store", storeDir, "build", "-c", "gen3/host.hcl")
		same := g.pid("same.service")
		start := time.Now()
		out := g.mustKiln("-v switch --toplevel " + top3)
		t.Logf("one-service switch on the machine (build skipped: profile, ESP, plan, apply): %s\n%s", time.Since(start).Round(time.Millisecond), out)
		g.expect("generation 3", [][3]string{
			{"current system", "readlink /run/current-system", top3},
			{"changed", "systemctl show -p Environment --value changed.service", "MARK=3"},
			{"same", "systemctl show -p MainPID --value same.service", same},
		})
		after := g.espUsed()
		t.Logf("ESP used: %d bytes before generation 3, %d after (+%d)", espBefore, after, after-espBefore)
	})

	if t.Failed() {
		return
	}

	t.Run("confirmed switch", func(t *testing.T) {
		g := guest{t, m}
		cur := g.out("readlink /run/current-system")
		def := g.out("grep '^default' /boot/loader/loader.conf")
		back := func(what string, since time.Time) {
			t.Helper()
			m.WaitUntilSucceeds("test \"$(readlink /run/current-system)\" = " + cur + " && test ! -e /kiln/var/lib/confirm-pending.json")
			t.Logf("%s: the target is back at its previous generation %s after the switch began", what, time.Since(since).Round(time.Second))
			g.expect(what, [][3]string{
				{"current system", "readlink /run/current-system", cur},
				{"default entry", "grep '^default' /boot/loader/loader.conf", def},
				{"sshd", "systemctl is-active ssh.service", "active"},
				{"sshd on port 22", "grep -c '^Port 22$' /etc/ssh/sshd_config", "1"},
			})
			if dry := remote("-c", "gen2/host.hcl", "--dry-run"); dry.code != 0 {
				t.Errorf("%s: SSH does not work again: exit %d\n%s", what, dry.code, dry.stderr)
			}
		}

		// sshd is stopped: no new connection can confirm.
		start := time.Now()
		res := remote("-c", "sshoff/host.hcl", "--confirm-timeout", "45s")
		t.Logf("sshd stopped: exit %d after %s\n%s%s", res.code, res.took.Round(time.Second), res.stdout, res.stderr)
		if res.code == 0 || !strings.Contains(res.stderr, "no new SSH connection within the confirmation window") {
			t.Fatalf("sshd stopped: exit %d, want 1 naming the connection", res.code)
		}
		back("sshd stopped", start)

		// A health check fails: rolled back at once, the deployer says which.
		start = time.Now()
		res = remote("-c", "checkfail/host.hcl")
		if res.code == 0 || !strings.Contains(res.stderr, "kiln-check-web.service failed") || !strings.Contains(res.stderr, "web is down") ||
			!strings.Contains(res.stderr, "rolled back to generation") || strings.Contains(res.stdout, " confirmed ") {
			t.Errorf("failing check: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
		back("failing check", start)

		// The deployer is killed mid-window (the check takes 25 s).
		kill := exec.Command(bin, "--store", storeDir, "switch", "--target-host", target, "-i", keyFile, "-c", "slow/host.hcl", "--confirm-timeout", "50s")
		kill.Dir, kill.Env = dir, append(os.Environ(), env...)
		if err := kill.Start(); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		m.WaitUntilSucceeds("test -e /kiln/var/lib/confirm-pending.json && test -e /etc/kiln-test/slow")
		kill.Process.Kill()
		kill.Wait()
		t.Logf("deployer killed %s into the switch", time.Since(start).Round(time.Second))
		back("deployer killed", start)

		// A good one is confirmed and stays.
		top := kiln(t, bin, dir, "--store", storeDir, "build", "-c", "good/host.hcl")
		res = remote("-c", "good/host.hcl")
		if res.code != 0 || !strings.Contains(res.stdout, "confirmed "+top) {
			t.Fatalf("good generation: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
		t.Logf("confirmed switch: %s in all\n%s", res.took.Round(time.Millisecond), res.stdout)
		g.expect("confirmed", [][3]string{
			{"current system", "readlink /run/current-system", top},
			{"no pending switch", "test -e /kiln/var/lib/confirm-pending.json && echo there", ""},
			{"no dead-man timer", "systemctl list-timers --all --no-legend 'kiln-confirm-*' | wc -l", "0"},
		})
		if got := g.out("grep '^default' /boot/loader/loader.conf"); got == def {
			t.Errorf("the confirmed generation is not the default: %s", got)
		}
		noConfirm := remote("-c", "gen2/host.hcl", "--no-confirm")
		t.Logf("the same kind of switch with --no-confirm (back to generation 2): %s", noConfirm.took.Round(time.Millisecond))
	})
	if t.Failed() {
		return
	}

	t.Run("boot counting", func(t *testing.T) {
		g := guest{t, m}
		// A good generation: its entry is counted, then blessed by its first boot.
		good := kiln(t, bin, dir, "--store", storeDir, "build", "-c", "countgood/host.hcl")
		if res := remote("-c", "countgood/host.hcl", "--boot"); res.code != 0 {
			t.Fatalf("switch --boot: exit %d\n%s", res.code, res.stderr)
		}
		n := g.out("readlink /kiln/var/profiles/system | grep -o '[0-9]*'")
		if got := g.out("ls /boot/loader/entries | grep '^kiln-generation-" + n + "[+.]'"); got != "kiln-generation-"+n+"+2.conf" {
			t.Errorf("the new entry is %q, want it counted", got)
		}
		m.Reboot()
		m.WaitUntilSucceeds("systemctl is-active systemd-bless-boot.service")
		g.expect("a good generation booted", [][3]string{
			{"booted system", "readlink /run/booted-system", good},
			{"entry blessed", "ls /boot/loader/entries | grep '^kiln-generation-" + n + "[+.]'", "kiln-generation-" + n + ".conf"},
			{"generations", "kiln generations | awk '$1 == " + n + " {print $6}'", "good"},
		})
		t.Logf("bootctl list:\n%s", g.out("bootctl --no-pager list"))

		// A generation whose check fails at boot: it reboots, and after its
		// 2 tries systemd-boot boots the good one, which becomes current.
		kiln(t, bin, dir, "--store", storeDir, "build", "-c", "countfail/host.hcl")
		if res := remote("-c", "countfail/host.hcl", "--boot"); res.code != 0 {
			t.Fatalf("switch --boot: exit %d\n%s", res.code, res.stderr)
		}
		bad := g.out("readlink /kiln/var/profiles/system | grep -o '[0-9]*'")
		m.Reboot() // try 1
		tried := time.Now()
		m.ExpectGuestReboot()
		m.WaitForGuestReboot() // try 2
		m.ExpectGuestReboot()
		m.WaitForGuestReboot() // the fallback
		t.Logf("from the first failing boot to the fallback's shell: %s (2 failed boots)", time.Since(tried).Round(time.Second))
		m.WaitUntilSucceeds("systemctl is-active kiln-boot-fallback.service")
		g.expect("fell back", [][3]string{
			{"booted system", "readlink /run/booted-system", good},
			{"current system", "readlink /run/current-system", good},
			{"profile", "readlink /kiln/var/profiles/system | grep -o '[0-9]*'", n},
			{"default entry", "grep '^default' /boot/loader/loader.conf", "default kiln-generation-" + n + ".conf"},
			{"bad entry", "ls /boot/loader/entries | grep '^kiln-generation-" + bad + "[+.]'", "kiln-generation-" + bad + "+0-2.conf"},
			{"generations", "kiln generations | awk '$1 == " + bad + " {print $6}'", "bad"},
			{"bootctl default", "bootctl --no-pager list | grep -A2 '(default)' | grep -o 'id: kiln-generation-[0-9]*'", "id: kiln-generation-" + n},
		})
		t.Logf("kiln generations:\n%s", g.mustKiln("generations"))
		t.Logf("bootctl list:\n%s", g.out("bootctl --no-pager list"))
		g.noFailedUnits("fell back")
	})
	// Last (SSH on port 22 ends here): a switch that changes only
	// sshd_config reloads sshd, which then listens on the new port.
	t.Run("sshd_config reload", func(t *testing.T) {
		g := guest{t, m}
		pid := g.pid("ssh.service")
		dry := remote("-c", "sshport/host.hcl", "--dry-run")
		if !strings.Contains(dry.stdout, "reload   ssh.service (X-Reload-Triggers changed: ssh/sshd_config)\n") {
			t.Errorf("the plan does not reload ssh.service for sshd_config: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
		}
		res := remote("-c", "sshport/host.hcl", "--no-confirm")
		if res.code != 0 {
			t.Fatalf("switch moving sshd's port: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
		m.WaitUntilSucceeds("ss -Htln 'sport = :2222' | grep -q .")
		g.expect("sshd moved", [][3]string{
			{"sshd reloaded, not restarted", "systemctl show -p MainPID --value ssh.service", pid},
			{"nothing on port 22", "ss -Htln 'sport = :22' | wc -l", "0"},
		})
	})
}
