package system

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

// TestPlanWrappers: the setuid and setgid files the packages ship and
// the modes their scripts set become wrappers, a script's mode winning;
// the forest links each program's /usr path (bin/, sbin/, usr/lib/…) to
// its wrapper and keeps the rest of its directory.
func TestPlanWrappers(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"exim4-daemon-light": {"usr/sbin/exim4=exim", debian.SetIDFile + "=4755\troot\troot\tusr/sbin/exim4\n"},
		"mount":              {"bin/mount=m", "bin/findmnt=f", debian.SetIDFile + "=4755\troot\troot\tbin/mount\n"},
		"openssh-client":     {"usr/lib/openssh/ssh-keysign=k", "usr/lib/openssh/agent-launch=a", debian.SetIDFile + "=4755\troot\troot\tusr/lib/openssh/ssh-keysign\n"},
		"cron":               {"usr/bin/crontab=c", "usr/sbin/cron=d"},
		"dbus":               {"usr/lib/dbus-1.0/dbus-daemon-launch-helper=h"},
		"iputils-ping":       {"bin/ping=p"},
	})
	scripts := &scriptDecls{an: []*maintscript.Analysis{
		{Package: "cron", Wrappers: []maintscript.Wrapper{{Path: "/usr/bin/crontab", Owner: "root", Group: "crontab", Mode: "2755"}}},
		// iputils-ping's postinst: setcap cap_net_raw+ep, then chmod u-s.
		{Package: "iputils-ping", Wrappers: []maintscript.Wrapper{{Path: "/bin/ping", Capabilities: "cap_net_raw+ep", Mode: "u-s"}}},
		{Package: "dbus", Wrappers: []maintscript.Wrapper{{Path: "/usr/lib/dbus-1.0/dbus-daemon-launch-helper", Owner: "root", Group: "messagebus", Mode: "4754"}}},
		// A statoverride of a shipped setuid file wins, as on Debian.
		{Package: "mount", Wrappers: []maintscript.Wrapper{{Path: "/bin/mount", Owner: "root", Group: "root", Mode: "u+s,g+s"}}},
	}}
	acc := &accounts{users: map[string]*toplevel.User{"root": {}}, groups: map[string]*toplevel.Group{"root": {}, "crontab": {}, "messagebus": {}}}
	p := &BuildPlan{sys: &modules.System{Wrappers: map[string]modules.WrapperOption{"ssh-agent": {Enable: true}}}, pk: pk, acc: acc, scripts: scripts}
	if err := p.planWrappers(); err == nil || !strings.Contains(err.Error(), `wrappers "ssh-agent": no setuid or setgid program of the closure has this name`) {
		t.Errorf("a wrapper option no program has: got %v", err)
	}
	p.sys.Wrappers = map[string]modules.WrapperOption{"newuidmap": {Enable: true}, "chfn": {Enable: false}}
	pk2 := newTreePackages(t, map[string][]string{
		"uidmap": {"usr/bin/newuidmap=n", debian.SetIDFile + "=4755\troot\troot\tusr/bin/newuidmap\n"},
		"passwd": {"usr/bin/chfn=c", debian.SetIDFile + "=4755\troot\troot\tusr/bin/chfn\n"},
	})
	p2 := &BuildPlan{sys: p.sys, pk: pk2, acc: acc}
	if err := p2.planWrappers(); err != nil || len(p2.wrappers) != 1 || p2.wrappers[0].Name != "newuidmap" {
		t.Errorf("wrappers \"chfn\" { enable = false }: got %v, %v", p2.wrappers, err)
	}
	p.sys.Wrappers = nil
	if err := p.planWrappers(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range p.wrappers {
		sp, _ := pk.Path(w.pkg)
		got = append(got, strings.TrimSpace(w.Name+" "+strings.TrimPrefix(w.Source, sp.String()+"/")+" "+w.Mode+" "+w.Owner+":"+w.Group+" "+w.Capabilities))
	}
	want := []string{
		"crontab usr/bin/crontab 2755 root:crontab",
		"dbus-daemon-launch-helper usr/lib/dbus-1.0/dbus-daemon-launch-helper 4754 root:messagebus",
		"exim4 usr/sbin/exim4 4755 root:root",
		"mount bin/mount 6755 root:root",
		"ping bin/ping 0755 root:root cap_net_raw+ep",
		"ssh-keysign usr/lib/openssh/ssh-keysign 4755 root:root",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("wrappers (-want +got):\n%s", d)
	}

	f := newForest()
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		sp, _ := pk.Path(n)
		if err := f.add(swSource{Name: n, Logical: sp.String(), Phys: d}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.redirectWrapped(f); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "sw")
	if _, err := f.write(out); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{}
	filepath.Walk(out, func(q string, fi os.FileInfo, err error) error {
		if tg, err := os.Readlink(q); err == nil {
			links[strings.TrimPrefix(q, out+"/")] = tg
		}
		return nil
	})
	for dst, w := range map[string]string{
		"sbin/exim4": "exim4", "bin/mount": "mount", "bin/crontab": "crontab", "bin/ping": "ping",
		"lib/openssh/ssh-keysign": "ssh-keysign", "lib/dbus-1.0/dbus-daemon-launch-helper": "dbus-daemon-launch-helper",
	} {
		if links[dst] != "/run/wrappers/bin/"+w {
			t.Errorf("/usr/%s -> %q, want its wrapper", dst, links[dst])
		}
	}
	sp, _ := pk.Path("openssh-client")
	if links["lib/openssh/agent-launch"] != sp.String()+"/usr/lib/openssh/agent-launch" {
		t.Errorf("/usr/lib/openssh/agent-launch -> %q: the directory of a wrapped program lost its other files", links["lib/openssh/agent-launch"])
	}
	var names []string
	for n := range links {
		names = append(names, n)
	}
	sort.Strings(names)
	if links["lib/openssh"] != "" {
		t.Errorf("/usr/lib/openssh collapsed into a link to the package: %v", names)
	}
}

// TestPlanWrappersErrors: an owner the system lacks and two programs of
// one name are errors naming the packages.
func TestPlanWrappersErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkgs map[string][]string
		want string
	}{
		{"unknown group", map[string][]string{"a": {"usr/bin/x=x", debian.SetIDFile + "=2755\troot\tnosuch\tusr/bin/x\n"}},
			`a/usr/bin/x (shipped 2755 root:nosuch): group "nosuch" is not a group of the system`},
		{"one name twice", map[string][]string{
			"a": {"usr/bin/x=x", debian.SetIDFile + "=4755\troot\troot\tusr/bin/x\n"},
			"b": {"usr/sbin/x=x", debian.SetIDFile + "=4755\troot\troot\tusr/sbin/x\n"}},
			"setuid programs a/usr/bin/x and b/usr/sbin/x would share /run/wrappers/bin/x"},
		{"bad line", map[string][]string{"a": {debian.SetIDFile + "=0755 root root usr/bin/x\n"}},
			"is not MODE OWNER GROUP PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc := &accounts{users: map[string]*toplevel.User{"root": {}}, groups: map[string]*toplevel.Group{"root": {}}}
			p := &BuildPlan{sys: &modules.System{}, pk: newTreePackages(t, tc.pkgs), acc: acc}
			err := p.planWrappers()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestScriptMode(t *testing.T) {
	for in, want := range map[string]string{
		"4755": "4755", "04754": "4754", "u+s": "4755", "g+s": "2755", "ug+s": "6755",
		"u=rwxs,g=rx,o=": "4750", "a-x": "0644", "+s": "6755",
	} {
		if got, err := scriptMode(in); err != nil || got != want {
			t.Errorf("scriptMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"u+q", "z+s", "rwx"} {
		if _, err := scriptMode(bad); err == nil {
			t.Errorf("scriptMode(%q): no error", bad)
		}
	}
}
