package activation

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/kiln-os/kiln/toplevel"
)

// etcGen is one generation's /etc: the spec entries and the etc tree.
type etcGen struct {
	entries []toplevel.EtcEntry
	tree    map[string]string
}

var baseGen = etcGen{
	entries: []toplevel.EtcEntry{
		{Path: "hostname", Kind: toplevel.EtcLink},
		{Path: "motd", Kind: toplevel.EtcLink},
		{Path: "ssh/sshd_config", Kind: toplevel.EtcLink},
		{Path: "sudoers", Kind: toplevel.EtcCopy, Mode: "0440"},
		{Path: "security/opasswd", Kind: toplevel.EtcCopy, Mode: "0600", Group: "shadow"},
		{Path: "systemd/system/default.target", Kind: toplevel.EtcSymlink, Target: "/usr/lib/systemd/system/multi-user.target"},
	},
	tree: map[string]string{
		"hostname":                      "kiln\n",
		"motd":                          "welcome\n",
		"ssh/sshd_config":               "PermitRootLogin no\n",
		"sudoers":                       "root ALL=(ALL) ALL\n",
		"security/opasswd":              "",
		"systemd/system/default.target": "->/usr/lib/systemd/system/multi-user.target",
	},
}

func without(g etcGen, path string) etcGen {
	var out etcGen
	out.tree = map[string]string{}
	for _, e := range g.entries {
		if e.Path != path {
			out.entries = append(out.entries, e)
		}
	}
	for p, c := range g.tree {
		if p != path {
			out.tree[p] = c
		}
	}
	return out
}

func with(g etcGen, e toplevel.EtcEntry, content string) etcGen {
	out := without(g, e.Path)
	out.entries = append(out.entries, e)
	out.tree[e.Path] = content
	return out
}

func TestPlanEtc(t *testing.T) {
	tests := []struct {
		name   string
		same   bool              // the first activation is of the same generation
		before *etcGen           // activated first, nil for a fresh machine
		mutate map[string]string // machine files changed between the two activations
		after  etcGen            // planned
		check  func(t *testing.T, root string)
	}{
		{name: "fresh", after: baseGen},
		{name: "reactivate", same: true, before: &baseGen, after: baseGen},
		{name: "remove-entry", before: &baseGen, after: without(baseGen, "motd"),
			mutate: map[string]string{"/etc/local.conf": "mine\n"},
			check: func(t *testing.T, root string) {
				if exists(under(root, "/etc/motd")) {
					t.Errorf("stale /etc/motd still exists")
				}
				if got := readFile(t, root, "/etc/local.conf"); got != "mine\n" {
					t.Errorf("/etc/local.conf = %q, want it untouched", got)
				}
			}},
		{name: "remove-changed", before: &baseGen, after: without(baseGen, "motd"),
			mutate: map[string]string{"/etc/motd": "edited by hand\n"},
			check: func(t *testing.T, root string) {
				if got := readFile(t, root, "/etc/motd"); got != "edited by hand\n" {
					t.Errorf("/etc/motd = %q, want the hand edit kept", got)
				}
			}},
		{name: "unowned-in-the-way", after: baseGen,
			mutate: map[string]string{"/etc/hostname": "old-host\n"},
			check: func(t *testing.T, root string) {
				if got := readFile(t, root, "/etc/hostname"+backupSuffix); got != "old-host\n" {
					t.Errorf("backup = %q, want the old file", got)
				}
				if got := readLink(t, root, "/etc/hostname"); got != "/etc/static/hostname" {
					t.Errorf("/etc/hostname -> %q", got)
				}
			}},
		{name: "change-copy-and-target", before: &baseGen,
			after: with(with(baseGen, toplevel.EtcEntry{Path: "sudoers", Kind: toplevel.EtcCopy, Mode: "0400"}, "root ALL=(ALL:ALL) ALL\n"),
				toplevel.EtcEntry{Path: "systemd/system/default.target", Kind: toplevel.EtcSymlink, Target: "/usr/lib/systemd/system/graphical.target"}, "->/usr/lib/systemd/system/graphical.target"),
			check: func(t *testing.T, root string) {
				if got := readFile(t, root, "/etc/sudoers"); got != "root ALL=(ALL:ALL) ALL\n" {
					t.Errorf("/etc/sudoers = %q", got)
				}
				fi, _ := os.Stat(under(root, "/etc/sudoers"))
				if fi.Mode().Perm() != 0o400 {
					t.Errorf("/etc/sudoers mode %v, want 0400", fi.Mode())
				}
			}},
		{name: "adopt-identical", after: baseGen,
			mutate: map[string]string{"/etc/hostname": "->/etc/static/hostname"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, map[string]string{
				"/etc/group":  "root:x:0:\nshadow:x:42:\n",
				"/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
			})
			if tc.before != nil {
				gen := "gen1"
				if tc.same {
					gen = "gen2"
				}
				activateEtc(t, root, gen, *tc.before)
			}
			writeFiles(t, root, tc.mutate)
			top := makeToplevel(t, root, "gen2", &toplevel.ActivationSpec{Version: 1, Etc: tc.after.entries}, tc.after.tree, nil)
			spec, err := toplevel.ReadActivationSpec(under(root, top+"/"+toplevel.ActivationFile))
			if err != nil {
				t.Fatal(err)
			}
			plan, err := PlanEtc(root, spec, top+"/etc")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "etc-"+tc.name, plan.String())
			if err := ApplyEtc(root, plan); err != nil {
				t.Fatal(err)
			}
			checkEtc(t, root, tc.after)
			if tc.check != nil {
				tc.check(t, root)
			}
			again, err := PlanEtc(root, spec, top+"/etc")
			if err != nil {
				t.Fatal(err)
			}
			if !again.Empty() {
				t.Errorf("second plan is not empty:\n%s", again)
			}
		})
	}
}

func activateEtc(t *testing.T, root, name string, g etcGen) {
	t.Helper()
	top := makeToplevel(t, root, name, &toplevel.ActivationSpec{Version: 1, Etc: g.entries}, g.tree, nil)
	plan, err := PlanEtc(root, &toplevel.ActivationSpec{Version: 1, Etc: g.entries}, top+"/etc")
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyEtc(root, plan); err != nil {
		t.Fatal(err)
	}
}

// checkEtc verifies /etc on disk against the generation.
func checkEtc(t *testing.T, root string, g etcGen) {
	t.Helper()
	ledger, err := ReadLedger(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger.Files) != len(g.entries) {
		t.Errorf("ledger has %d files, want %d", len(ledger.Files), len(g.entries))
	}
	for _, e := range g.entries {
		p := "/etc/" + e.Path
		switch e.Kind {
		case toplevel.EtcLink:
			if got := readLink(t, root, p); got != "/etc/static/"+e.Path {
				t.Errorf("%s -> %q, want /etc/static/%s", p, got, e.Path)
			}
			// Through /etc/static, the link reaches the tree's content.
			if got, err := os.ReadFile(mustResolve(t, root, p)); err != nil || string(got) != g.tree[e.Path] {
				t.Errorf("%s reads %q, %v; want %q", p, got, err, g.tree[e.Path])
			}
		case toplevel.EtcSymlink:
			if got := readLink(t, root, p); got != e.Target {
				t.Errorf("%s -> %q, want %q", p, got, e.Target)
			}
		case toplevel.EtcCopy:
			fi, err := os.Lstat(under(root, p))
			if err != nil {
				t.Fatal(err)
			}
			mode, user, group := copyAttrs(e)
			want, _ := toplevel.ParseMode(mode)
			if fi.Mode() != want {
				t.Errorf("%s mode %v, want %v", p, fi.Mode(), want)
			}
			ids, _ := readIDLookup(root)
			uid, _ := ids.uid(user)
			gid, _ := ids.gid(group)
			st := fi.Sys().(*syscall.Stat_t)
			if int(st.Uid) != uid || int(st.Gid) != gid {
				t.Errorf("%s owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
			}
			if got := readFile(t, root, p); got != g.tree[e.Path] {
				t.Errorf("%s = %q, want %q", p, got, g.tree[e.Path])
			}
		}
	}
}

func mustResolve(t testing.TB, root, p string) string {
	t.Helper()
	h, err := resolveIn(root, p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"/run/current-system":       "->/kiln/store/x-toplevel",
		"/kiln/store/x-toplevel/sw": "->/kiln/store/y-sw",
		"/kiln/store/y-sw/bin/su":   "su binary",
		"/kiln/store/y-sw/bin/sh":   "->dash",
		"/kiln/store/y-sw/bin/dash": "dash binary",
		"/usr":                      "->/run/current-system/sw",
		"/loop":                     "->/loop",
		"/escape":                   "->../../../../etc/passwd",
	})
	tests := []struct{ in, want string }{
		{"/usr/bin/su", "/kiln/store/y-sw/bin/su"},
		{"/usr/bin/sh", "/kiln/store/y-sw/bin/dash"},
		{"/usr/bin/missing", "/kiln/store/y-sw/bin/missing"},
		{"/escape", "/etc/passwd"},
	}
	for _, tc := range tests {
		got, err := resolveIn(root, tc.in)
		if err != nil || got != under(root, tc.want) {
			t.Errorf("resolveIn(%s) = %s, %v; want %s", tc.in, got, err, under(root, tc.want))
		}
	}
	if _, err := resolveIn(root, "/loop/x"); err == nil || !strings.Contains(err.Error(), "too many levels") {
		t.Errorf("loop: got %v", err)
	}
}

func TestPlanEtcCopyOwnerChange(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"/etc/group": "root:x:0:\nshadow:x:42:\n", "/etc/passwd": "root:x:0:0::/root:/bin/sh\n"})
	g1 := etcGen{entries: []toplevel.EtcEntry{{Path: "secret", Kind: toplevel.EtcCopy, Mode: "0640"}}, tree: map[string]string{"secret": "s\n"}}
	activateEtc(t, root, "gen1", g1)
	g2 := etcGen{entries: []toplevel.EtcEntry{{Path: "secret", Kind: toplevel.EtcCopy, Mode: "0640", Group: "shadow"}}, tree: g1.tree}
	top := makeToplevel(t, root, "gen2", &toplevel.ActivationSpec{Version: 1, Etc: g2.entries}, g2.tree, nil)
	plan, err := PlanEtc(root, &toplevel.ActivationSpec{Version: 1, Etc: g2.entries}, top+"/etc")
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Actions) != 1 || plan.Actions[0].Op != EtcReplace {
		t.Fatalf("plan:\n%s\nwant one replace", plan)
	}
	if err := ApplyEtc(root, plan); err != nil {
		t.Fatal(err)
	}
	wantMode(t, root, "/etc/secret", 0o640, 0, 42)
}

func TestPlanEtcMissingFromTree(t *testing.T) {
	root := t.TempDir()
	entries := []toplevel.EtcEntry{{Path: "hostname", Kind: toplevel.EtcLink}, {Path: "ghost", Kind: toplevel.EtcLink}}
	top := makeToplevel(t, root, "gen1", &toplevel.ActivationSpec{Version: 1, Etc: entries}, map[string]string{"hostname": "h\n"}, nil)
	plan, err := PlanEtc(root, &toplevel.ActivationSpec{Version: 1, Etc: entries}, top+"/etc")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "etc-missing-from-tree", plan.String())
	if err := ApplyEtc(root, plan); err != nil {
		t.Fatal(err)
	}
	if exists(under(root, "/etc/ghost")) {
		t.Errorf("/etc/ghost was linked to nothing")
	}
}

// An entry that is a symlink in the etc tree is linked even when its
// target does not resolve yet: it may point at what the same activation
// creates (etc/rmt -> /usr/sbin/rmt -> /etc/alternatives/rmt) or at what
// the running machine provides.
func TestPlanEtcLinksDanglingTreeSymlink(t *testing.T) {
	root := t.TempDir()
	entries := []toplevel.EtcEntry{{Path: "rmt", Kind: toplevel.EtcLink}, {Path: "alternatives/rmt", Kind: toplevel.EtcLink}}
	top := makeToplevel(t, root, "gen1", &toplevel.ActivationSpec{Version: 1, Etc: entries},
		map[string]string{"rmt": "->/usr/sbin/rmt", "alternatives/rmt": "->/usr/sbin/rmt-tar"}, nil)
	plan, err := PlanEtc(root, &toplevel.ActivationSpec{Version: 1, Etc: entries}, top+"/etc")
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Warnings) != 0 {
		t.Errorf("warnings %q, want none:\n%s", plan.Warnings, plan)
	}
	if err := ApplyEtc(root, plan); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(under(root, "/etc/rmt")); got != "/etc/static/rmt" {
		t.Errorf("/etc/rmt -> %q, want /etc/static/rmt", got)
	}
}
