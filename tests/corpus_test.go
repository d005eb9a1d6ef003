package tests

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/testvm"
)

// The Debian server corpus (../shared/corpus/debian-servers.tsv, copied to
// testdata/debian-servers.tsv): packages, the units Debian enables for
// them, a port group (rows of one group cannot run at once) and a smoke
// check. TestDebianCorpus boots once and switches through generations,
// each holding a set of rows that can run together with
// `packages = [pkgs.X]` and nothing else, and checks, per row, that every
// listed unit is active (or skipped by a Condition=) and the check passes,
// and per generation that no unit failed.

// corpusRow is one line of the corpus.
type corpusRow struct {
	Package string
	Units   []string
	Group   string // "" when it collides with nothing
	Check   string
}

func readCorpus(t *testing.T, file string) []corpusRow {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []corpusRow
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("%s:%d: %d fields, want 4", file, n, len(f))
		}
		r := corpusRow{Package: f[0], Group: f[2], Check: f[3]}
		if f[1] != "-" {
			r.Units = strings.Fields(f[1])
		}
		if r.Group == "-" {
			r.Group = ""
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// corpusConflicts are rows Debian will not install together although
// their ports differ (besides a port group, which also separates them).
var corpusConflicts = map[[2]string]bool{
	{"exim4-daemon-light", "postfix"}: true,
	{"chrony", "ntpsec"}:              true, // both are the NTP server on port 123
}

// corpusGenerations puts each row into the first generation where its
// port group is free and nothing conflicts with it. It returns, per
// generation, the rows new in it (checked there) and all the rows it
// holds: a generation keeps the previous one's rows except those that
// collide with its new ones, so a switch adds and removes packages.
func corpusGenerations(rows []corpusRow) (added, held [][]corpusRow) {
	collide := func(a, b corpusRow) bool {
		return a.Group != "" && a.Group == b.Group ||
			corpusConflicts[[2]string{a.Package, b.Package}] || corpusConflicts[[2]string{b.Package, a.Package}]
	}
	for _, r := range rows {
		placed := false
		for i, g := range added {
			ok := true
			for _, o := range g {
				ok = ok && !collide(r, o)
			}
			if ok {
				added[i] = append(added[i], r)
				placed = true
				break
			}
		}
		if !placed {
			added = append(added, []corpusRow{r})
		}
	}
	var prev []corpusRow
	for _, g := range added {
		var cur []corpusRow
		for _, p := range prev {
			keep := true
			for _, n := range g {
				keep = keep && !collide(p, n)
			}
			if keep {
				cur = append(cur, p)
			}
		}
		cur = append(cur, g...)
		held = append(held, cur)
		prev = cur
	}
	return added, held
}

// corpusClients are the packages a check's commands come from, by
// command word.
var corpusClients = map[string]string{
	"curl":          "curl",
	"dig":           "bind9-dnsutils",
	"smbclient":     "smbclient",
	"showmount":     "nfs-common",
	"ldapsearch":    "ldap-utils",
	"mosquitto_pub": "mosquitto-clients",
	"etcdctl":       "etcd-client",
}

// corpusChoices are the packages a row needs beside it when Debian's
// resolver would ask (a virtual package with providers of equal
// standing): podman's container-network-stack is netavark or
// containernetworking-plugins, and Debian 12's podman uses netavark.
//
// And the Recommends a row needs, which apt install takes by default:
// unbound's unit reads the root trust anchor dns-root-data ships. kiln
// takes Recommends with install_recommends = true, which for the whole
// corpus adds some 460 packages (GTK, man-db, lvm2…), some of whose
// scripts kiln does not read yet; the rows name the ones they need.
var corpusChoices = map[string][]string{
	"podman":  {"netavark"},
	"unbound": {"dns-root-data"},
}

// corpusHost is one generation's host file: the rows' packages, the
// client tools their checks run, and the test plumbing (backdoor, SSH for
// kiln switch).
func corpusHost(key string, rows []corpusRow, extra string) string {
	pkgs := map[string]bool{}
	for _, r := range rows {
		pkgs[r.Package] = true
		for _, p := range corpusChoices[r.Package] {
			pkgs[p] = true
		}
		for word, p := range corpusClients {
			if strings.Contains(r.Check, word+" ") {
				pkgs[p] = true
			}
		}
	}
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, fmt.Sprintf("pkgs[%q]", n))
	}
	sort.Strings(names)
	return fmt.Sprintf(`networking {
  host_name = "corpus"
}

testing {
  backdoor = true
}

ssh {
  enable = true
}

bootloader {
  timeout = 1
}

users "root" {
  authorized_keys = [%q]
}

packages = [%s]
%s%s`, key, strings.Join(names, ", "), corpusKernel(), extra)
}

// corpusKernel gives the whole corpus's machine longer start timeouts:
// under TCG its first boot starts some 60 services on two emulated CPUs,
// and postfix's ExecStartPre (copying the CA directory into its chroot
// and rehashing it) took over systemd's default 90 s of wall time for
// 14 s of CPU. On hardware it takes under a second.
func corpusKernel() string {
	if corpusSelection() != "all" {
		return ""
	}
	return "kernel {\n  params = [\"systemd.default_timeout_start_sec=300\"]\n}\n"
}

// corpusDefault are the rows TestDebianCorpus runs when KILN_CORPUS is
// empty: two generations (nginx and lighttpd share port 80, dnsmasq and
// unbound port 53). dnsmasq and unbound are local DNS servers: with them
// the run proves systemd-resolved leaves them port 53 and its resolvconf
// to themselves.
var corpusDefault = []string{"nginx", "redis-server", "postgresql", "memcached", "cron", "lighttpd", "rsyslog", "prometheus-node-exporter", "dnsmasq", "unbound"}

// corpusModules is the last generation: the first one's packages, with
// the nginx, Redis and PostgreSQL modules configuring them, and the
// checks of what they configure. The PostgreSQL module's port reaches the
// cluster through conf.d, which the cluster includes because
// /etc/postgresql-common/createcluster.conf (a copy of the template with
// the postinst's sed edit) says add_include_dir.
const corpusModules = `
nginx {
  virtual_hosts "site.test" {
    root = "/etc/kiln-site"
  }
}

etc "kiln-site/index.html" {
  text = "kiln-vhost\n"
}

redis {
  enable = true
  port   = 6380
}

postgresql {
  enable = true
  port   = 5433
  roles "app" {}
  databases "appdb" { owner = "app" }
}
`

var corpusModuleChecks = []corpusRow{
	{Package: "module nginx.virtual_hosts", Units: []string{"nginx.service"},
		// The default site is asked for its Server header, not its page:
		// with KILN_CORPUS=all, apache2 (generation 2) left
		// /var/www/html/index.html behind, as `apt remove apache2` does on
		// Debian, and nginx's default site serves index.html first.
		Check: "curl -fsS -H 'Host: site.test' http://127.0.0.1/ | grep -qx kiln-vhost && curl -fsSI http://127.0.0.1/ | grep -qi '^server: nginx'"},
	{Package: "module redis.port", Units: []string{"redis-server.service"},
		Check: "redis-cli -p 6380 ping | grep -qx PONG && ! redis-cli -p 6379 ping"},
	// kiln-postgresql-setup is a oneshot that ran (inactive, result
	// success), not a unit that stays active.
	{Package: "module postgresql", Units: []string{"postgresql@15-main.service"},
		Check: "systemctl show -p Result --value kiln-postgresql-setup.service | grep -qx success && runuser -u postgres -- psql -p 5433 -d appdb -tAc 'select pg_catalog.pg_get_userbyid(datdba) from pg_database where datname = current_database()' | grep -qx app"},
}

// corpusRemoved are the rows left out of the run, with the reason (the
// printed table names them).
var corpusRemoved = [][2]string{}

// corpusResult is one row's verdict.
type corpusResult struct {
	row    corpusRow
	gen    int
	ok     bool
	reason string
}

func TestDebianCorpus(t *testing.T) {
	testenv.NeedVM(t)
	rows := readCorpus(t, filepath.Join(repoRoot(t), "tests", "testdata", "debian-servers.tsv"))
	// The rows beyond the corpus run by default and with "all" too.
	extra := readCorpus(t, filepath.Join(repoRoot(t), "tests", "testdata", "debian-extra.tsv"))
	rows = append(rows, extra...)
	if sel := corpusSelection(); sel != "all" {
		want := map[string]bool{}
		names := corpusDefault
		for _, r := range extra {
			names = append(names[:len(names):len(names)], r.Package)
		}
		if sel == "extra" {
			names = names[len(corpusDefault):]
		} else if sel != "" {
			names = strings.Split(sel, ",")
		}
		for _, p := range names {
			want[p] = true
		}
		var sel []corpusRow
		for _, r := range rows {
			if want[r.Package] {
				sel = append(sel, r)
			}
		}
		rows = sel
	}
	added, held := corpusGenerations(rows)
	modules := corpusSelection() == "" || corpusSelection() == "all"
	if modules {
		// The modules generation holds the first one's rows, configured.
		added = append(added, corpusModuleChecks)
		held = append(held, held[0])
	}
	key, keyFile := sshKey(t)
	bin := kilnBinary(t)
	dir := t.TempDir()
	storeDir := filepath.Join(t.TempDir(), "store")
	home := t.TempDir()
	lockDir := filepath.Join(repoRoot(t), "tests", "testdata", "corpus")
	// KILN_CORPUS_RELOCK=1 locks the default rows' generations again (a
	// mirror is needed) and rewrites their committed locks.
	relock := corpusSelection() == "" && os.Getenv("KILN_CORPUS_RELOCK") != ""
	var tops []string
	for i, g := range held {
		sub := filepath.Join(dir, fmt.Sprintf("gen%d", i+1))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		extra, lockGen := "", i+1
		if modules && i == len(held)-1 {
			extra, lockGen = corpusModules, 1
		}
		if err := os.WriteFile(filepath.Join(sub, "host.hcl"), []byte(corpusHost(key, g, extra)), 0o644); err != nil {
			t.Fatal(err)
		}
		// A committed lock per generation of the default rows; the whole
		// corpus is locked from the repository's lock when it runs.
		lock := filepath.Join(lockDir, fmt.Sprintf("gen%d.lock", lockGen))
		if corpusSelection() != "" {
			lock = filepath.Join(repoRoot(t), "kiln.lock")
		}
		b, err := os.ReadFile(lock)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "kiln.lock"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if corpusSelection() != "" || relock {
			kiln(t, bin, sub, "lock", "-c", "host.hcl")
		}
		if relock && lockGen == i+1 {
			b, err := os.ReadFile(filepath.Join(sub, "host.lock")) // kiln lock's for host.hcl
			if err == nil {
				err = os.WriteFile(lock, b, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		tops = append(tops, kiln(t, bin, sub, "--store", storeDir, "build", "-c", "host.hcl"))
	}
	img := filepath.Join(dir, "disk.img")
	kiln(t, bin, filepath.Join(dir, "gen1"), "--store", storeDir, "image", "-c", "host.hcl", "-o", img, "--size", "8G")

	start := time.Now()
	m := testvm.Start(t, testvm.WithDisk(img), testvm.WithFreeHostPort(22), testvm.WithMemory(corpusMemory()), testvm.WithCPUs(corpusCPUs()), testvm.WithTimeout(corpusTimeout()))
	g := guest{t, m}
	m.WaitForUnit("multi-user.target")
	t.Logf("booted generation 1 in %s", time.Since(start).Round(time.Second))
	target := fmt.Sprintf("root@127.0.0.1:%d", m.ForwardedPort(22))
	env := []string{"HOME=" + home, "SSH_AUTH_SOCK="}

	var results []corpusResult
	var switchErr string
	for i, rows := range added {
		if i > 0 {
			// A confirmed switch (the default over SSH): the target's
			// health checks, no failed unit among them, confirm it. Its
			// window covers the activation too, which under TCG starts
			// PostgreSQL and more in well over the default minute.
			sw := kilnRun(t, bin, filepath.Join(dir, fmt.Sprintf("gen%d", i+1)), env, "--store", storeDir, "switch",
				"--target-host", target, "-i", keyFile, "--accept-new-host-key", "--confirm-timeout", "10m", "-c", "host.hcl")
			if sw.code != 0 {
				t.Errorf("switch to generation %d: exit %d\n%s%s", i+1, sw.code, sw.stdout, sw.stderr)
				switchErr = switchSummary(sw.stdout + sw.stderr)
			}
		}
		g.expect(fmt.Sprintf("generation %d", i+1), [][3]string{{"current system", "readlink /run/current-system", tops[i]}})
		// A switch that rolled back leaves an older generation running,
		// whose services would answer these rows' checks.
		stayed := strings.TrimSpace(g.out("readlink /run/current-system")) == tops[i]
		if !stayed {
			// The units its health check found failed have recovered
			// with the rollback, but their journals say why.
			for _, u := range switchFailedUnits(switchErr) {
				out, _ := m.Execute("journalctl -b --no-pager -n 40 -u " + shellQuote(u))
				t.Logf("generation %d rolled back; journal of %s:\n%s", i+1, u, out)
			}
		}
		// Let the starts settle: running or degraded, not starting.
		settle, _ := m.Execute("timeout 600 systemctl is-system-running --wait")
		t.Logf("generation %d: system %s", i+1, strings.TrimSpace(settle))
		failed := strings.TrimSpace(g.out("systemctl list-units --failed --no-legend --plain --full"))
		for _, r := range rows {
			if !stayed {
				results = append(results, corpusResult{row: r, gen: i + 1, reason: fmt.Sprintf("generation %d did not stay (%s)", i+1, switchErr)})
				continue
			}
			results = append(results, checkCorpusRow(g, r, i+1, failed))
		}
		switchErr = ""
		if failed != "" {
			t.Errorf("generation %d: failed units:\n%s", i+1, failed)
			for _, l := range strings.Split(failed, "\n") {
				if f := strings.Fields(l); len(f) > 0 {
					out, _ := m.Execute("journalctl -b --no-pager -n 30 -u " + f[0])
					t.Logf("journal of %s:\n%s", f[0], out)
				}
			}
		}
	}
	pass := 0
	var b strings.Builder
	fmt.Fprintf(&b, "%-26s %-4s %-6s %s\n", "package", "gen", "result", "reason")
	for _, r := range results {
		verdict := "pass"
		if r.ok {
			pass++
		} else {
			verdict = "FAIL"
			t.Errorf("%s (generation %d): %s", r.row.Package, r.gen, r.reason)
		}
		fmt.Fprintf(&b, "%-26s %-4d %-6s %s\n", r.row.Package, r.gen, verdict, r.reason)
	}
	for _, r := range corpusRemoved {
		fmt.Fprintf(&b, "%-26s %-4s %-6s %s\n", r[0], "-", "left out", r[1])
	}
	fmt.Fprintf(&b, "%d of %d rows pass (%.0f %%), %d left out, %d generations, one boot, %s\n", pass, len(results),
		100*float64(pass)/float64(max(len(results), 1)), len(corpusRemoved), len(held), time.Since(start).Round(time.Second))
	t.Logf("Debian corpus:\n%s", b.String())
}

// switchSummary is what a failed switch said went wrong: its error and
// health-check lines, on one line.
func switchSummary(out string) string {
	var why []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "error: ") || strings.HasPrefix(l, "kiln confirm: ") {
			why = append(why, l)
		}
	}
	if len(why) == 0 {
		return "the switch failed"
	}
	return strings.Join(why, "; ")
}

// switchFailedUnits are the units a rolled-back switch could not start
// ("error: start a.service: job failed") or its health check named
// ("failed: a.service b.service").
func switchFailedUnits(summary string) []string {
	var out []string
	for _, part := range strings.Split(summary, "; ") {
		if rest, ok := strings.CutPrefix(part, "error: start "); ok {
			if u, _, ok := strings.Cut(rest, ":"); ok && !slices.Contains(out, u) {
				out = append(out, u)
			}
			continue
		}
		if _, list, ok := strings.Cut(part, "failed: "); ok {
			for _, u := range strings.Fields(list) {
				if strings.Contains(u, ".") && !slices.Contains(out, u) {
					out = append(out, u)
				}
			}
		}
	}
	return out
}

// corpusSelection is KILN_CORPUS: "" runs corpusDefault and the extra
// rows (debian-extra.tsv) from the committed locks, "all" every row,
// "extra" the extra rows, and a comma-separated list of packages those
// rows; all but the first lock from the repository's lock.
func corpusSelection() string {
	return os.Getenv("KILN_CORPUS")
}

// corpusMemory is the machine's memory: the default rows fit in 2 GiB;
// the whole corpus runs two JVMs (tomcat10, the Erlang VM of rabbitmq),
// prometheus, influxdb, samba, slapd... at once.
func corpusMemory() int {
	if os.Getenv("KILN_CORPUS") == "all" {
		return 8192
	}
	return 2048
}

// corpusCPUs: the whole corpus's first boot starts some 60 services, and
// under TCG squid's cache setup alone takes a minute of CPU: two virtual
// CPUs (QEMU's multi-threaded TCG) use both of the host's cores.
func corpusCPUs() int {
	if os.Getenv("KILN_CORPUS") == "all" {
		return 2
	}
	return 1
}

// corpusTimeout bounds each wait on the machine: under TCG the whole
// corpus's first boot starts some 60 services on one virtual CPU.
func corpusTimeout() time.Duration {
	if os.Getenv("KILN_CORPUS") == "all" {
		return 20 * time.Minute
	}
	return testvm.DefaultTimeout
}

// checkCorpusRow checks a row's units and its smoke check.
func checkCorpusRow(g guest, r corpusRow, gen int, failed string) corpusResult {
	res := corpusResult{row: r, gen: gen, ok: true}
	var reasons []string
	// The check first: a socket-activated service that exits when idle
	// (libvirtd's --timeout 120, on Debian too) is started by it.
	// A Type=simple service (lighttpd) is active once forked, before it
	// has read its configuration and bound its port: under TCG that can
	// take seconds, so a failing check is tried again for a while.
	var out string
	var code int
	for try, deadline := 1, time.Now().Add(45*time.Second); ; try++ {
		out, code = g.m.Execute("timeout 60 bash -c " + shellQuote(r.Check) + " 2>&1")
		if code == 0 {
			if try > 1 {
				g.t.Logf("%s: check passed on try %d", r.Package, try)
			}
			break
		}
		if time.Now().After(deadline) {
			reasons = append(reasons, fmt.Sprintf("check exit %d after %d tries: %s", code, try, oneLine(out)))
			break
		}
		time.Sleep(3 * time.Second)
	}
	for _, u := range r.Units {
		out, _ := g.m.Execute("systemctl show -p ActiveState,ConditionResult --value " + u)
		f := strings.Fields(out)
		switch {
		case len(f) == 2 && f[0] == "active":
		case len(f) == 2 && f[1] == "no":
			// skipped by a Condition=: not a failure
		default:
			reasons = append(reasons, fmt.Sprintf("%s is %s", u, strings.Join(f, "/")))
		}
		if strings.Contains(failed, u) {
			reasons = append(reasons, u+" failed")
		}
	}
	if len(reasons) > 0 {
		res.ok, res.reason = false, strings.Join(reasons, "; ")
		for _, u := range r.Units {
			out, _ := g.m.Execute("journalctl -b --no-pager -n 25 -u " + u + "; systemctl status --no-pager -l " + u + " | head -20")
			g.t.Logf("%s: journal and status of %s:\n%s", r.Package, u, out)
		}
		// A daemon logging to its own file says why there, not in the
		// journal (lighttpd's server.errorlog).
		name := r.Package
		if strings.HasPrefix(name, "module ") && len(r.Units) > 0 {
			name = strings.TrimSuffix(r.Units[0], ".service") // a module's row: its daemon's logs
		}
		out, _ := g.m.Execute("ss -ltnp; for f in /var/log/" + name + "/*.log /var/log/" + strings.TrimSuffix(name, "-server") + "/*.log; do [ -f \"$f\" ] && { ls -l \"$f\"; tail -n 15 \"$f\"; }; done; ls -ld /var/log/" + name)
		g.t.Logf("%s: listening sockets and its logs:\n%s", r.Package, out)
	}
	return res
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// TestSwitchFailedUnits reads the units out of what a rolled-back
// switch said (the whole corpus's generation 2, 2026-12-04).
func TestSwitchFailedUnits(t *testing.T) {
	out := "generation 2 is /kiln/store/x, active\nFAILED no failed units\n" +
		"kiln confirm: health check no failed units failed: failed: unbound-resolvconf.service user@0.service; rolled back to generation 1\n" +
		"kiln confirm: health check no failed units failed: failed: unbound-resolvconf.service user@0.service; rolled back to generation 1\n"
	got := switchFailedUnits(switchSummary(out))
	if !slices.Equal(got, []string{"unbound-resolvconf.service", "user@0.service"}) {
		t.Errorf("got %q", got)
	}
	if got := switchFailedUnits(switchSummary("error: start dnsmasq.service: job failed\nfailed units: dnsmasq.service\n")); !slices.Equal(got, []string{"dnsmasq.service"}) {
		t.Errorf("a unit the switch could not start: %q", got)
	}
}
