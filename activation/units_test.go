package activation

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadUnits(t *testing.T) {
	root := t.TempDir()
	// The machine's current /usr belongs to another generation: links in
	// the toplevel must resolve into the toplevel's own sw.
	writeFiles(t, root, map[string]string{
		"/usr/lib/systemd/system/ssh.service": "[Service]\nExecStart=/WRONG\n",
		"/etc/systemd/system/a.service":       "[Service]\nExecStart=/WRONG\n",
	})
	_, units := unitsToplevel(t, root, "a", map[string]string{
		"sw:ssh.service":                        "[Service]\nExecStart=/usr/sbin/sshd -D\n",
		"sw:sshd.service":                       "->ssh.service",
		"sw:getty@.service":                     "[Service]\nExecStart=/sbin/agetty %I\n",
		"sw:getty@.service.d/tmpl.conf":         "[Service]\nNice=1\n",
		"getty@tty1.service.d/z-own.conf":       "[Service]\nNice=2\n",
		"getty.target.wants/getty@tty1.service": "->/usr/lib/systemd/system/getty@.service",
		"multi-user.target.wants/ssh.service":   "->/usr/lib/systemd/system/ssh.service",
		"multi-user.target.wants/a.service":     "->/etc/systemd/system/a.service",
		"a.service":                             "[Service]\nExecStart=/bin/a\n",
		"gone.service":                          "->/usr/lib/systemd/system/nothing-there.service",
		"serial-getty@hvc0.service":             "->/dev/null",
		"fstab":                                 "LABEL=kiln-root / ext4 rw 0 1\n/dev/disk/by-label/ESP /boot vfat umask=0077,nofail 0 2\n/dev/vdb /var/lib/my-data ext4 noauto 0 0\n/swapfile none swap sw 0 0\n",
	})
	var got []string
	for _, n := range sortedKeys(units) {
		u := units[n]
		line := n
		if u.Masked {
			line += " masked"
		}
		if v, ok := u.Get("Service", "ExecStart"); ok {
			line += " exec=" + v
		}
		if v, ok := u.Get("Service", "Nice"); ok {
			line += " nice=" + v
		}
		if v, ok := u.Get("Mount", "What"); ok {
			line += " what=" + v
		}
		if len(u.WantedBy) > 0 {
			line += " by=" + strings.Join(u.WantedBy, ",")
		}
		got = append(got, line)
	}
	want := []string{
		"-.mount what=/dev/disk/by-label/kiln-root by=local-fs.target",
		"a.service exec=/bin/a by=multi-user.target",
		"boot.mount what=/dev/disk/by-label/ESP by=local-fs.target",
		"getty@.service exec=/sbin/agetty %I nice=1",
		"getty@tty1.service exec=/sbin/agetty %I nice=2 by=getty.target",
		"serial-getty@hvc0.service masked",
		"ssh.service exec=/usr/sbin/sshd -D by=multi-user.target",
		"sshd.service exec=/usr/sbin/sshd -D",
		"swapfile.swap by=swap.target",
		`var-lib-my\x2ddata.mount what=/dev/vdb`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("units differ (-want +got):\n%s", diff)
	}
}

func TestEscapeUnitPath(t *testing.T) {
	for in, want := range map[string]string{
		"/": "-", "/boot": "boot", "/var/lib/x": "var-lib-x", "/a-b": `a\x2db`,
		"/new disk": `new\x20disk`, "/.hidden": `\x2ehidden`, "/a.b/": "a.b",
	} {
		if got := escapeUnitPath(in); got != want {
			t.Errorf("escapeUnitPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSysVUnits: an init script without a native unit that a start link
// in /etc/rc2-5.d names is the unit systemd-sysv-generator makes of it
// (exim4.service), wanted by multi-user.target: a switch that adds it
// starts it, one that changes the script restarts it. An init script with
// a native unit, or with only stop links, adds nothing.
func TestSysVUnits(t *testing.T) {
	root := t.TempDir()
	etcOf := func(name string) string { return "/kiln/store/" + strings.Repeat("e", 32-len(name)) + name + "-etc" }
	files := func(name, script string) map[string]string {
		e := etcOf(name)
		return map[string]string{
			e + "/init.d/exim4":     script,
			e + "/rc2.d/S01exim4":   "->../init.d/exim4",
			e + "/rc0.d/K01exim4":   "->../init.d/exim4",
			e + "/init.d/ssh":       "#!/bin/sh\n",
			e + "/rc2.d/S01ssh":     "->../init.d/ssh",
			e + "/init.d/stopped":   "#!/bin/sh\n",
			e + "/rc1.d/K01stopped": "->../init.d/stopped",
			"sw:ssh.service":        "[Service]\nExecStart=/usr/sbin/sshd -D\n",
		}
	}
	_, old := unitsToplevel(t, root, "old", map[string]string{"sw:ssh.service": "[Service]\nExecStart=/usr/sbin/sshd -D\n"})
	_, added := unitsToplevel(t, root, "new", files("new", "#!/bin/sh\n# exim4\n"))
	u := added["exim4.service"]
	if u == nil || strings.Join(u.WantedBy, ",") != "multi-user.target" || u.Path != etcOf("new")[:len("/kiln/store/")]+strings.Repeat("u", 29)+"new-system/etc/init.d/exim4" {
		t.Fatalf("exim4.service: %+v", u)
	}
	if _, ok := added["stopped.service"]; ok {
		t.Errorf("an init script with only stop links became a unit")
	}
	if v, _ := added["ssh.service"].Get("Service", "ExecStart"); v != "/usr/sbin/sshd -D" {
		t.Errorf("the native ssh.service was replaced: %q", v)
	}
	observed := map[string]UnitState{"multi-user.target": {Active: "active"}, "ssh.service": {Active: "active"}}
	if p := PlanUnits(old, added, observed); !hasAction(p.Start, "exim4.service") {
		t.Errorf("a switch adding exim4 does not start it: %s", p)
	}
	_, changed := unitsToplevel(t, root, "chg", files("chg", "#!/bin/sh\n# exim4, changed\n"))
	observed["exim4.service"] = UnitState{Active: "active"}
	// (a changed service is stopped before activation and started after,
	// as NixOS's stopIfChanged)
	if p := PlanUnits(added, changed, observed); !hasAction(p.Restart, "exim4.service") && !(hasAction(p.Stop, "exim4.service") && hasAction(p.Start, "exim4.service")) {
		t.Errorf("a changed init script does not restart exim4: %s", p)
	}
}

func hasAction(list []UnitAction, unit string) bool {
	for _, a := range list {
		if a.Unit == unit {
			return true
		}
	}
	return false
}
