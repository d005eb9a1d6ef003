package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/cache"
	"github.com/kiln-os/kiln/fleet"
	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/store"
)

// testFleet is n kiln machines, each its own root and store behind its own
// in-process SSH server running the real CLI, all accepting one
// deployer key; hosts tN carry the tag "even" or "odd".
type testFleet struct {
	hosts    []*fleet.Host
	machines []*testMachine
	engines  []*fakeEngine
	servers  []*sshTarget
	home     string
	key      string
}

func newTestFleet(t testing.TB, n int) *testFleet {
	t.Helper()
	tf := &testFleet{}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "host.hcl"), []byte("# built by the test\n"), 0o644)
	var src strings.Builder
	for i := range n {
		m := newTestMachine(t)
		tf.machines = append(tf.machines, m)
		tf.engines = append(tf.engines, m.useFakeEngine())
		s := startSSHTarget(t, m)
		if i == 0 {
			tf.home, tf.key = s.Home, s.KeyFile
		} else {
			s.Authorize(tf.servers[0].ClientKey)
		}
		tf.servers = append(tf.servers, s)
		tag := []string{"even", "odd"}[i%2]
		fmt.Fprintf(&src, "hosts \"t%d\" {\n  target = \"root@%s\"\n  config = \"host.hcl\"\n  tags = [%q]\n}\n", i, s.Addr, tag)
	}
	file := filepath.Join(dir, "fleet.hcl")
	fl, diags := fleet.Parse(file, []byte(src.String()))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	tf.hosts = fl.Hosts
	return tf
}

// deploy runs the per-host step of kiln deploy (deployer.switchHost) on
// every host with b as the built system; stderr is what the hosts said.
func (tf *testFleet) deploy(t testing.TB, local *store.Store, b fleet.Built, f deployFlags) ([]fleet.HostResult, string) {
	t.Helper()
	var out, errb bytes.Buffer
	f.acceptNew, f.identity = true, tf.key
	if f.parallel == 0 {
		f.parallel = 8
	}
	r := &Run{Env: Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		return map[string]string{"HOME": tf.home}[k]
	}, Dir: t.TempDir()}}
	d := &deployer{r: r, f: &f, st: local}
	res := fleet.Deploy(context.Background(), tf.hosts, fleet.Options{
		Parallel: f.parallel, Rolling: f.rolling,
		Build:  func(context.Context, *fleet.Host) (fleet.Built, error) { return b, nil },
		Switch: d.switchHost,
	})
	return res, errb.String()
}

func statuses(res []fleet.HostResult) string {
	var s []string
	for _, r := range res {
		s = append(s, string(r.Status))
	}
	return strings.Join(s, " ")
}

// testCache is a file:// cache with a signing key; substituters and keys
// as a configuration would name them.
func testCache(t testing.TB) (c *cache.Cache, dir string, key cache.SecretKey) {
	t.Helper()
	dir = t.TempDir()
	c, err := cache.Open("file://"+dir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err = cache.GenerateKey("fleet-test-1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c, dir, key
}

// A fleet of real targets: every host is copied and switched in
// parallel; one whose units fail does not stop the others; with
// --substitute the targets take the closure from the cache and the
// deployer sends a small fraction of it; a tampered NAR is refused by
// every target, and none of them switches to it.
func TestDeployFleet(t *testing.T) {
	local := newTestMachine(t)
	pkgs := realPackages(t, local.st, "libc6", "bash", "coreutils")
	tf := newTestFleet(t, 3)
	top1 := local.system(t, local.st, "one", "A", pkgs...)
	closure, _ := local.st.Closure(top1)

	res, errs := tf.deploy(t, local.st, fleet.Built{Toplevel: top1}, deployFlags{})
	if got := statuses(res); got != "switched switched switched" {
		t.Fatalf("statuses %q\n%s\n%s", got, fleet.Table(res), errs)
	}
	copySent := res[0].Sent
	for i, r := range res {
		if r.Copied != len(closure) || r.Closure != len(closure) {
			t.Errorf("%s copied %d of %d, want the whole closure of %d", r.Host.Name, r.Copied, r.Closure, len(closure))
		}
		if n, p := tf.machines[i].current(t); n != 1 || p != top1 {
			t.Errorf("%s at generation %d %s", r.Host.Name, n, p)
		}
	}
	if !strings.Contains(errs, "t1| generation 1 is "+top1.String()) {
		t.Errorf("relayed output %q lacks t1's, prefixed", errs)
	}

	// t1's units fail: t1 fails, t0 and t2 switch.
	tf.engines[1].failed = []string{"broken.service"}
	top2 := local.system(t, local.st, "two", "A", pkgs...)
	res, _ = tf.deploy(t, local.st, fleet.Built{Toplevel: top2}, deployFlags{})
	if got := statuses(res); got != "switched failed switched" {
		t.Errorf("statuses %q, want t1 alone failed\n%s", got, fleet.Table(res))
	}
	if res[0].Copied != 1 {
		t.Errorf("second deploy copied %d paths, want only the new toplevel", res[0].Copied)
	}
	tf.engines[1].failed = nil

	// --rolling 1: t0 fails its health checks, t1 and t2 are not touched.
	tf.engines[0].failed = []string{"broken.service"}
	topR := local.system(t, local.st, "rolling", "A", pkgs...)
	res, _ = tf.deploy(t, local.st, fleet.Built{Toplevel: topR}, deployFlags{rolling: 1})
	if got := statuses(res); got != "failed skipped skipped" {
		t.Errorf("rolling: statuses %q, want the deploy stopped after t0\n%s", got, fleet.Table(res))
	}
	for i := 1; i < 3; i++ {
		if tf.machines[i].st.Valid(topR) {
			t.Errorf("rolling: t%d was copied to after t0's batch failed", i)
		}
	}
	tf.engines[0].failed = nil

	// --substitute: the targets fetch from the cache.
	c, dir, key := testCache(t)
	top3 := local.systemWith(t, local.st, "three", "B", map[string]string{"big": strings.Repeat("x", 1<<20)}, pkgs...)
	if _, err := c.Push(context.Background(), local.st, []store.Path{top3}, cache.PushOptions{Key: key}); err != nil {
		t.Fatal(err)
	}
	built := fleet.Built{Toplevel: top3, Substituters: []string{"file://" + dir}, TrustedKeys: []string{key.Public().String() + "\n"}}
	res, errs = tf.deploy(t, local.st, built, deployFlags{substitute: true})
	if got := statuses(res); got != "switched switched switched" {
		t.Fatalf("substitute: statuses %q\n%s\n%s", got, fleet.Table(res), errs)
	}
	for i, r := range res {
		if r.Substituted == 0 || r.Copied != 0 {
			t.Errorf("%s: substituted %d, copied %d; want everything from the cache", r.Host.Name, r.Substituted, r.Copied)
		}
		if !tf.machines[i].st.Valid(top3) {
			t.Errorf("%s lacks %s", r.Host.Name, top3)
		}
		if r.Sent > 64<<10 {
			t.Errorf("%s: the deployer sent %d bytes with --substitute", r.Host.Name, r.Sent)
		}
	}
	t.Logf("egress per host: %d bytes copying the closure, %d with --substitute (a 1 MiB new toplevel)", copySent, res[0].Sent)

	// A tampered NAR: refused on every target, nobody switches.
	top4 := local.systemWith(t, local.st, "four", "B", map[string]string{"big": strings.Repeat("y", 1<<20)}, pkgs...)
	if _, err := c.Push(context.Background(), local.st, []store.Path{top4}, cache.PushOptions{Key: key}); err != nil {
		t.Fatal(err)
	}
	tamperNAR(t, dir, top4)
	built.Toplevel = top4
	res, _ = tf.deploy(t, local.st, built, deployFlags{substitute: true})
	if got := statuses(res); got != "failed failed failed" {
		t.Fatalf("tampered: statuses %q\n%s", got, fleet.Table(res))
	}
	for i, r := range res {
		if msg := r.Err().Error(); !strings.Contains(msg, "substitute on") || !strings.Contains(msg, top4.String()) {
			t.Errorf("%s: %v; want the refusal naming %s", r.Host.Name, msg, top4)
		}
		if tf.machines[i].st.Valid(top4) {
			t.Errorf("%s: the tampered path entered the store", r.Host.Name)
		}
		if n, p := tf.machines[i].current(t); p != top3 {
			t.Errorf("%s at generation %d %s, want still %s", r.Host.Name, n, p, top3)
		}
	}
	if strings.Contains(fleet.Table(res), "switched") {
		t.Errorf("table:\n%s", fleet.Table(res))
	}

	// A NAR swapped for another valid one (top3's, same size class): it
	// decodes, and the signed hash refuses it.
	top5 := local.systemWith(t, local.st, "five", "B", map[string]string{"big": strings.Repeat("x", 1<<20)}, pkgs...)
	if _, err := c.Push(context.Background(), local.st, []store.Path{top5}, cache.PushOptions{Key: key}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(narFile(t, dir, top5), mustRead(t, narFile(t, dir, top3)), 0o644)
	built.Toplevel = top5
	res, _ = tf.deploy(t, local.st, built, deployFlags{substitute: true})
	if got := statuses(res); got != "failed failed failed" {
		t.Fatalf("swapped NAR: statuses %q\n%s", got, fleet.Table(res))
	}
	t.Logf("swapped NAR refused: %v", res[0].Err())
	for i, r := range res {
		if !strings.Contains(r.Err().Error(), top5.String()) || tf.machines[i].st.Valid(top5) {
			t.Errorf("%s: %v; want the refusal naming %s, and the path not in the store", r.Host.Name, r.Err(), top5)
		}
	}
}

// narFile is the file of p's NAR in a file:// cache.
func narFile(t testing.TB, dir string, p store.Path) string {
	t.Helper()
	for _, line := range strings.Split(string(mustRead(t, filepath.Join(dir, p.Hash()+".narinfo"))), "\n") {
		if v, ok := strings.CutPrefix(line, "URL: "); ok {
			return filepath.Join(dir, v)
		}
	}
	t.Fatalf("%s's narinfo has no URL", p)
	return ""
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tamperNAR flips a byte in the middle of p's compressed NAR in a file://
// cache.
func tamperNAR(t testing.TB, dir string, p store.Path) {
	t.Helper()
	info, err := os.ReadFile(filepath.Join(dir, p.Hash()+".narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "URL: "); ok {
			nar := filepath.Join(dir, v)
			b, err := os.ReadFile(nar)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0xff
			if err := os.WriteFile(nar, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("%s's narinfo has no URL", p)
}

// kiln deploy's own errors: a fleet file that does not load (with its
// diagnostics), --on naming what the fleet lacks; and a dry run of a real
// configuration shared by two hosts prints the table (and --json) and
// switches nothing.
func TestDeployVerb(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.hcl"), []byte("hosts \"a\" {\n  target = \"root@a\"\n  config = \"nosuch.hcl\"\n}\n"), 0o644)
	code, _, errs := runCLI(t, nil, "deploy", "-f", filepath.Join(dir, "bad.hcl"))
	if code != ExitFailure || !strings.Contains(errs, "Missing configuration") || !strings.Contains(errs, "bad.hcl line 3") {
		t.Errorf("bad fleet: %d %q", code, errs)
	}
	lock, err := os.ReadFile(filepath.Join("..", "..", "kiln.lock"))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.ReadFile(filepath.Join("..", "..", "examples", "default.hcl"))
	os.WriteFile(filepath.Join(dir, "kiln.lock"), lock, 0o644)
	os.WriteFile(filepath.Join(dir, "web.hcl"), host, 0o644)
	fleetFile := filepath.Join(dir, "fleet.hcl")
	os.WriteFile(fleetFile, []byte(`
hosts "web1" {
  target = "root@127.0.0.1:1"
  config = "web.hcl"
  tags   = ["web"]
}
hosts "web2" {
  target = "root@127.0.0.1:2"
  config = "web.hcl"
  tags   = ["web"]
}
`), 0o644)
	code, _, errs = runCLI(t, nil, "deploy", "-f", fleetFile, "--on", "web3,@db")
	if code != ExitUsage || !strings.Contains(errs, `declares no host "web3" (did you mean "web1"?)`) || !strings.Contains(errs, `has the tag "db" (its tags: web)`) {
		t.Errorf("--on: %d %q", code, errs)
	}
	testenv.Slow(t, "plans a whole system")
	userCache, _ := os.UserCacheDir()
	st := filepath.Join(t.TempDir(), "store")
	// The packages in the store first: a dry run with packages missing
	// says what it would fetch and plans no toplevel yet.
	if code, _, errs := runCLIWith(t, nil, map[string]string{"XDG_CACHE_HOME": userCache}, "--store", st, "fetch", "-c", filepath.Join(dir, "web.hcl")); code != ExitOK {
		t.Fatalf("fetch: %d\n%s", code, errs)
	}
	code, out, errs := runCLIWith(t, nil, map[string]string{"XDG_CACHE_HOME": userCache}, "--store", st, "--json", "deploy", "-f", fleetFile, "--dry-run")
	if code != ExitOK {
		t.Fatalf("dry run: %d\n%s", code, errs)
	}
	var doc deployJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Version != 1 {
		t.Fatalf("--json: %v, version %d\n%s", err, doc.Version, out)
	}
	got := doc.Hosts
	if len(got) != 2 || got[0].Status != fleet.Planned || got[1].Status != fleet.Planned || got[0].Toplevel.IsZero() || got[0].Toplevel != got[1].Toplevel {
		t.Errorf("dry run results %+v: want both planned, one toplevel", got)
	}
}
