package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/internal/sshtest"
	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/machine"
	"github.com/kiln-os/kiln/store"
)

// sshTarget is an in-process SSH server standing for a kiln machine: exec
// requests naming a .../bin/kiln run the real CLI in-process against the
// machine's temp store, root and activation engine; anything else exits
// 127, as a shell would for a missing program.
type sshTarget struct {
	*sshtest.Server
	m   *testMachine
	env map[string]string // the target's environment (S3 credentials); set before use
	// the confirmed switch's dead-man switch and health checks
	deadMan *recordDeadMan
	failing string // a health check that fails, with this output
	slow    bool   // the checks pass after 10 s, or fail when their context ends first
}

// recordDeadMan records the dead-man switches armed and disarmed.
type recordDeadMan struct {
	mu    sync.Mutex
	armed map[string][]string
	log   []string
}

func (d *recordDeadMan) Arm(_ context.Context, unit string, w time.Duration, cmd []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed[unit] = cmd
	d.log = append(d.log, "arm "+unit+" "+w.String())
	return nil
}

func (d *recordDeadMan) Disarm(_ context.Context, unit string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.armed, unit)
	d.log = append(d.log, "disarm "+unit)
	return false, nil
}

func (s *sshTarget) checks(ctx context.Context) ([]machine.CheckResult, error) {
	if s.slow {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
		}
	}
	if s.failing == "" {
		return []machine.CheckResult{{Name: "no failed units", OK: true}}, nil
	}
	r := machine.CheckResult{Name: "kiln-check-web.service", Output: s.failing}
	return []machine.CheckResult{r}, &machine.HealthError{Failed: []machine.CheckResult{r}}
}

func startSSHTarget(t testing.TB, m *testMachine) *sshTarget {
	t.Helper()
	s := &sshTarget{m: m, deadMan: &recordDeadMan{armed: map[string][]string{}}}
	s.Server = sshtest.Start(t, s.exec)
	return s
}

// exec runs a command line the way the target's shell would run kiln.
func (s *sshTarget) exec(line string, stdin io.Reader, stdout, stderr io.Writer) int {
	argv, err := sshtest.ShellSplit(line)
	if err != nil || len(argv) == 0 || !strings.HasSuffix(argv[0], "/bin/kiln") || argv[0] == "/usr/bin/kiln" {
		fmt.Fprintf(stderr, "sh: %s: not found\n", line)
		return 127
	}
	args := append([]string{"--store", s.m.st.Dir}, argv[1:]...)
	if slices.Contains(argv, "switch") || slices.Contains(argv, "confirm") {
		args = append(args, "--root", s.m.root)
	}
	r := &Run{Env: Env{Argv0: argv[0], Args: args, Stdin: stdin, Stdout: stdout, Stderr: stderr,
		Getenv: func(k string) string { return s.env[k] }, Dir: s.m.root}, engine: s.m.engine,
		deadMan: s.deadMan, checks: s.checks}
	return r.main(context.Background())
}

func (s *sshTarget) client(t *testing.T, local *store.Store, args ...string) (int, string, string) {
	t.Helper()
	return runCLIWith(t, nil, map[string]string{"HOME": s.Home},
		append([]string{"--store", local.Dir}, append(args, "--target-host", "root@"+s.Addr, "-i", s.KeyFile)...)...)
}

// realPackages realizes a few packages of the repository's kiln.lock into
// st (from the kiln cache, else the mirror of the machine's apt sources).
func realPackages(t testing.TB, st *store.Store, names ...string) []store.Path {
	t.Helper()
	lock, err := debian.ReadLock(filepath.Join("..", "..", "kiln.lock"))
	if err != nil {
		testenv.SkipOrFail(t, "no kiln.lock at the top of the tree: %v", err)
	}
	sub := *lock
	sub.Packages = nil
	for _, n := range names {
		p, ok := lock.Package(n)
		if !ok {
			t.Fatalf("kiln.lock has no %s", n)
		}
		sub.Packages = append(sub.Packages, p)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		testenv.SkipOrFail(t, "%v", err)
	}
	mirror, _ := debian.FindMirror("", os.Getenv, "/etc/apt")
	paths, err := debian.Realize(context.Background(), st, &sub, debian.FetchOptions{Mirror: mirror, CacheDir: filepath.Join(cache, "kiln")})
	if err != nil {
		testenv.SkipOrFail(t, "cannot realize %v (no cache, no mirror?): %v", names, err)
	}
	var out []store.Path
	for _, n := range names {
		out = append(out, paths[n])
	}
	return out
}

// closurePackages are real Debian packages for the transfer: ~10 MB of
// .debs, ~40 MB unpacked.
var closurePackages = []string{"libc6", "coreutils", "bash", "perl-base", "libssl3", "libsystemd-shared", "systemd"}

// Switch a machine over SSH: the real closure is copied (hashes checked
// by the target's store receive), the target's kiln switches it, output
// and exit status are relayed.
func TestSwitchTargetHost(t *testing.T) {
	local := newTestMachine(t)
	pkgs := realPackages(t, local.st, closurePackages...)
	top1 := local.system(t, local.st, "one", "A", pkgs...)
	top2 := local.system(t, local.st, "two", "A", pkgs...)
	target := newTestMachine(t)
	eng := target.useFakeEngine()
	srv := startSSHTarget(t, target)

	// An unknown host is refused without --accept-new-host-key.
	code, _, errs := srv.client(t, local.st, "switch", "--toplevel", top1.String())
	if code != ExitFailure || !strings.Contains(errs, "--accept-new-host-key") {
		t.Fatalf("unknown host: code %d, %q", code, errs)
	}
	if len(srv.Commands()) != 0 {
		t.Fatalf("commands ran on an unverified host: %v", srv.Commands())
	}

	code, out, errs := srv.client(t, local.st, "switch", "--toplevel", top1.String(), "--accept-new-host-key")
	if code != ExitOK {
		t.Fatalf("switch over ssh: code %d\nout %s\nerr %s", code, out, errs)
	}
	t.Logf("first copy (real closure): %s", lineWith(errs, "copied"))
	closure, _ := local.st.Closure(top1)
	if !strings.Contains(errs, fmt.Sprintf("(%d of %d closure paths were missing)", len(closure), len(closure))) {
		t.Errorf("stderr %q: want every closure path copied", errs)
	}
	for _, p := range closure {
		li, _ := local.st.Info(p)
		ti, err := target.st.Info(p)
		if err != nil || ti.NarHash != li.NarHash || !slices.Equal(ti.Refs, li.Refs) {
			t.Errorf("%s on the target: %+v, %v; want %+v", p, ti, err, li)
		}
	}
	if problems, err := target.st.Verify(context.Background()); err != nil || len(problems) > 0 {
		t.Errorf("target store verify: %v %v", problems, err)
	}
	if n, p := target.current(t); n != 1 || p != top1 {
		t.Errorf("target at generation %d %s, want 1 %s", n, p, top1)
	}
	if !strings.Contains(out, "generation 1 is "+top1.String()) || !strings.Contains(out, "activated "+top1.String()) {
		t.Errorf("relayed output %q", out)
	}
	known, _ := os.ReadFile(filepath.Join(srv.Home, ".ssh", "known_hosts"))
	if !strings.Contains(string(known), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey)))) {
		t.Errorf("known_hosts %q lacks the host key", known)
	}

	// dry run: only the new toplevel travels; the plan is printed, nothing changes
	before := target.state(t)
	code, out, errs = srv.client(t, local.st, "switch", "--dry-run", "--toplevel", top2.String())
	if code != ExitOK {
		t.Fatalf("dry run over ssh: %d %s", code, errs)
	}
	if !strings.Contains(errs, "(1 of ") {
		t.Errorf("dry run copied %q, want only the new toplevel", lineWith(errs, "copied"))
	}
	if want := fmt.Sprintf("  from %s\n  to   %s\n", top1, top2); !strings.Contains(out, want) {
		t.Errorf("dry run printed %q, want the plan with %q", out, want)
	}
	if after := target.state(t); after != before {
		t.Errorf("dry run changed the target:\n%s\n%s", before, after)
	}

	// failed units on the target: the confirmed switch rolls back at
	// once, and says so
	eng.failed = []string{"broken.service"}
	code, _, errs = srv.client(t, local.st, "switch", "--toplevel", top2.String())
	if code != ExitFailure || !strings.Contains(errs, "broken.service") || !strings.Contains(errs, "rolled back to generation 1, whose activation reported") {
		t.Errorf("failed unit over ssh: code %d, %q", code, errs)
	}
	if n, p := target.current(t); n != 1 || p != top1 {
		t.Errorf("target at generation %d %s, want 1 %s", n, p, top1)
	}
	if want := []string{top1.String(), top2.String(), top1.String()}; !slices.Equal(eng.switches, want) {
		t.Errorf("target activated %v, want %v", eng.switches, want)
	}
	// --no-confirm: the failure is relayed, the generation stays
	code, _, errs = srv.client(t, local.st, "switch", "--no-confirm", "--toplevel", top2.String())
	if code != ExitFailure || !strings.Contains(errs, "broken.service") {
		t.Errorf("failed unit over ssh, --no-confirm: code %d, %q", code, errs)
	}
	if n, p := target.current(t); n != 3 || p != top2 {
		t.Errorf("target at generation %d %s, want 3 %s", n, p, top2)
	}
	if !strings.HasPrefix(srv.Commands()[0], "/run/current-system/sw/bin/kiln store missing") {
		t.Errorf("first command %q", srv.Commands()[0])
	}
}

func TestHostKeyMismatchRefused(t *testing.T) {
	local := newTestMachine(t)
	top := local.system(t, local.st, "one", "A")
	target := newTestMachine(t)
	target.useFakeEngine()
	srv := startSSHTarget(t, target)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(other)
	host, port, _ := net.SplitHostPort(srv.Addr)
	line := fmt.Sprintf("[%s]:%s %s", host, port, ssh.MarshalAuthorizedKey(otherSigner.PublicKey()))
	os.MkdirAll(filepath.Join(srv.Home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(srv.Home, ".ssh", "known_hosts"), []byte(line), 0o600)
	code, _, errs := srv.client(t, local.st, "switch", "--toplevel", top.String(), "--accept-new-host-key")
	if code != ExitFailure || !strings.Contains(errs, "does not match") {
		t.Fatalf("changed host key: code %d, %q", code, errs)
	}
	if len(srv.Commands()) != 0 {
		t.Errorf("commands ran: %v", srv.Commands())
	}
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// BenchmarkSSHCopyClosure copies the real closure to an empty target
// store over loopback SSH: store missing, then store receive.
func BenchmarkSSHCopyClosure(b *testing.B) {
	local := newTestMachine(b)
	closure, err := local.st.Closure(realPackages(b, local.st, closurePackages...)...)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, p := range closure {
		i, _ := local.st.Info(p)
		size += i.NarSize
	}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		target := newTestMachine(b)
		srv := startSSHTarget(b, target)
		tgt, _ := machine.ParseTarget("root@" + srv.Addr)
		b.StartTimer()
		c, err := machine.Dial(context.Background(), tgt, machine.SSHOptions{Identity: srv.KeyFile, AcceptNew: true, KnownHosts: filepath.Join(srv.Home, "known_hosts")})
		if err != nil {
			b.Fatal(err)
		}
		kiln, missing, err := c.Missing(closure)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Receive(kiln, local.st, missing); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.ReportMetric(float64(len(closure)), "paths")
}

// Without -i the key comes from ssh-agent ($SSH_AUTH_SOCK).
func TestSwitchTargetHostWithAgent(t *testing.T) {
	local := newTestMachine(t)
	top := local.system(t, local.st, "agent", "A")
	target := newTestMachine(t)
	eng := target.useFakeEngine()
	srv := startSSHTarget(t, target)
	keyPEM, err := os.ReadFile(srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ssh.ParseRawPrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	env := map[string]string{"HOME": srv.Home}
	args := []string{"--store", local.st.Dir, "switch", "--toplevel", top.String(), "--target-host", "root@" + srv.Addr, "--accept-new-host-key"}
	if code, _, errs := runCLIWith(t, nil, env, args...); code != ExitFailure || !strings.Contains(errs, "no ssh key") {
		t.Fatalf("without key or agent: code %d, %q", code, errs)
	}
	env["SSH_AUTH_SOCK"] = sock
	if code, _, errs := runCLIWith(t, nil, env, args...); code != ExitOK {
		t.Fatalf("with the agent: code %d, %q", code, errs)
	}
	if n, p := target.current(t); n != 1 || p != top || len(eng.switches) != 1 {
		t.Errorf("target at %d %s (activations %v), want 1 %s", n, p, eng.switches, top)
	}
}

// Switching to what the target has already copies nothing.
func TestSwitchTargetHostNothingMissing(t *testing.T) {
	local := newTestMachine(t)
	top := local.system(t, local.st, "same", "A")
	target := newTestMachine(t)
	target.useFakeEngine()
	srv := startSSHTarget(t, target)
	for i, want := range []string{"copied 3 paths", "copied 0 paths"} {
		code, _, errs := srv.client(t, local.st, "switch", "--toplevel", top.String(), "--accept-new-host-key")
		if code != ExitOK || !strings.Contains(errs, want) {
			t.Fatalf("switch %d: code %d, %q; want %q", i, code, errs, want)
		}
	}
	receives := 0
	for _, c := range srv.Commands() {
		if strings.HasSuffix(c, "store receive") {
			receives++
		}
	}
	if receives != 1 {
		t.Errorf("%d store receive sessions, want 1: %v", receives, srv.Commands())
	}
}

// A confirmed switch: the target arms its dead-man switch before it
// activates and keeps the previous default; a new connection confirms
// after the checks pass. A failing check rolls back at once, and the
// deployer exits 1 with the check's output.
func TestConfirmedSwitchTargetHost(t *testing.T) {
	local := newTestMachine(t)
	top1 := local.system(t, local.st, "one", "A")
	top2 := local.system(t, local.st, "two", "A")
	top3 := local.system(t, local.st, "three", "A")
	target := newTestMachine(t)
	eng := target.useFakeEngine()
	srv := startSSHTarget(t, target)
	code, _, errs := srv.client(t, local.st, "switch", "--toplevel", top1.String(), "--accept-new-host-key")
	if code != ExitOK {
		t.Fatalf("first switch: %d %s", code, errs)
	}
	code, out, errs := srv.client(t, local.st, "switch", "--toplevel", top2.String(), "--confirm-timeout", "45s")
	if code != ExitOK || !strings.Contains(out, "confirmed "+top2.String()) {
		t.Fatalf("confirmed switch: %d\n%s\n%s", code, out, errs)
	}
	if got, want := strings.Join(srv.deadMan.log, "; "), "arm kiln-confirm-2 45s; disarm kiln-confirm-2"; got != want {
		t.Errorf("dead-man switch: %s, want %s", got, want)
	}
	cmds := srv.Commands()
	if last := cmds[len(cmds)-1]; last != top2.String()+"/bin/kiln confirm --deployer-stdin "+top2.String() {
		t.Errorf("last command %q, want the confirmation", last)
	}
	if n, p := target.current(t); n != 2 || p != top2 {
		t.Errorf("target at generation %d %s, want 2", n, p)
	}

	srv.failing = "curl: (7) Failed to connect to localhost port 80"
	code, _, errs = srv.client(t, local.st, "switch", "--toplevel", top3.String())
	if code != ExitFailure || !strings.Contains(errs, "not confirmed: ") || !strings.Contains(errs, "kiln-check-web.service failed: curl: (7)") ||
		!strings.Contains(errs, "rolled back to generation 2") || strings.Contains(errs, "confirmed "+top3.String()) {
		t.Errorf("failing check: code %d, %q", code, errs)
	}
	if n, p := target.current(t); n != 2 || p != top2 {
		t.Errorf("after the failing check: generation %d %s, want 2", n, p)
	}
	if want := []string{top1.String(), top2.String(), top3.String(), top2.String()}; !slices.Equal(eng.switches, want) {
		t.Errorf("target activated %v, want %v", eng.switches, want)
	}

	// The deployer goes away during the checks: the confirmation's stdin
	// (its SSH channel) ends, and the target rolls back rather than
	// confirming a switch nobody hears about.
	srv.failing, srv.slow = "", true
	var sout, serr strings.Builder
	if code := srv.exec(top3.String()+"/bin/kiln switch --toplevel "+top3.String()+" --confirm-within 1m", strings.NewReader(""), &sout, &serr); code != 0 {
		t.Fatalf("target switch: %d %s", code, serr.String())
	}
	serr.Reset()
	start := time.Now()
	code = srv.exec(top3.String()+"/bin/kiln confirm --deployer-stdin "+top3.String(), strings.NewReader(""), &sout, &serr)
	if code != ExitFailure || !strings.Contains(serr.String(), "the deployer went away") || !strings.Contains(serr.String(), "rolled back to generation 2") ||
		time.Since(start) > 5*time.Second {
		t.Errorf("confirm with the deployer gone: code %d after %s, %q", code, time.Since(start), serr.String())
	}
	if n, p := target.current(t); n != 2 || p != top2 {
		t.Errorf("after the deployer went away: generation %d %s, want 2", n, p)
	}
}
