package system

import (
	"strings"
	"testing"

	"github.com/kiln-os/kiln/modules"
)

// scriptPackages: a daemon whose postinst makes its user, a directory it
// owns and enables its unit, as dh_installsystemd does; a firewall whose
// unit is registered with --no-enable; alternatives of two priorities.
func scriptPackages(t *testing.T) Packages {
	return newTreePackages(t, map[string][]string{
		"daemon": {".kiln/control/control=Package: daemon\nVersion: 1\n",
			".kiln/control/postinst=#!/bin/sh\nset -e\nadduser --system --group --home /var/lib/daemon daemon\n" +
				"mkdir -p /var/lib/daemon\nchown daemon:daemon /var/lib/daemon\nchmod 0750 /var/lib/daemon\n" +
				"update-alternatives --install /usr/bin/editor editor /usr/bin/daemon-edit 50\n" +
				"if deb-systemd-helper debian-installed 'daemon.service'; then :; fi\n" +
				"deb-systemd-helper unmask 'daemon.service' >/dev/null || true\n" +
				"if deb-systemd-helper --quiet was-enabled 'daemon.service'; then\n\tdeb-systemd-helper enable 'daemon.service' >/dev/null || true\nelse\n\tdeb-systemd-helper update-state 'daemon.service' >/dev/null || true\nfi\n",
			"usr/bin/daemon-edit=#!/bin/sh\n", "usr/lib/systemd/system/getty@.service=[Service]\nExecStart=/bin/true\n",
			"usr/lib/systemd/system/daemon.service=[Service]\nExecStart=/usr/bin/daemon-edit\nUser=daemon\n[Install]\nWantedBy=multi-user.target\n"},
		"firewall": {".kiln/control/control=Package: firewall\nVersion: 1\n",
			".kiln/control/postinst=#!/bin/sh\nset -e\n" +
				"update-alternatives --install /usr/bin/editor editor /usr/bin/fw-edit 80\n" +
				"deb-systemd-helper unmask 'firewall.service' >/dev/null || true\n" +
				"if deb-systemd-helper --quiet was-enabled 'firewall.service'; then\n\tdeb-systemd-helper update-state 'firewall.service' >/dev/null || true\nfi\n",
			"usr/bin/fw-edit=#!/bin/sh\n",
			"usr/lib/systemd/system/firewall.service=[Service]\nExecStart=/usr/bin/fw-edit\n[Install]\nWantedBy=multi-user.target\n"},
	})
}

func TestScriptDeclarations(t *testing.T) {
	f := false
	tru := true
	for _, tc := range []struct {
		name       string
		sys        modules.System
		wantLinks  []string // enablement links present
		noLinks    []string // absent
		wantEditor string
	}{
		{name: "as Debian", wantLinks: []string{"multi-user.target.wants/daemon.service"},
			noLinks: []string{"multi-user.target.wants/firewall.service"}, wantEditor: "/usr/bin/fw-edit"},
		{name: "unit disabled", sys: modules.System{Units: map[string]modules.Unit{"daemon.service": {Enable: &f}}},
			noLinks: []string{"multi-user.target.wants/daemon.service"}, wantEditor: "/usr/bin/fw-edit"},
		{name: "no-enable unit enabled", sys: modules.System{Units: map[string]modules.Unit{"firewall.service": {Enable: &tru}}},
			wantLinks: []string{"multi-user.target.wants/daemon.service", "multi-user.target.wants/firewall.service"}, wantEditor: "/usr/bin/fw-edit"},
		{name: "alternative chosen", sys: modules.System{Alternatives: map[string]modules.Alternative{"editor": {Path: "/usr/bin/daemon-edit"}}},
			wantLinks: []string{"multi-user.target.wants/daemon.service"}, wantEditor: "/usr/bin/daemon-edit"},
		{name: "package scripts off", sys: modules.System{PackageScripts: map[string]modules.PackageScripts{"daemon": {Enable: false}}},
			noLinks: []string{"multi-user.target.wants/daemon.service"}, wantEditor: "/usr/bin/fw-edit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pk := scriptPackages(t)
			d, err := analyzeScripts(&tc.sys, pk)
			if err != nil {
				t.Fatal(err)
			}
			acc, err := planAccounts(&tc.sys, pk, d)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := generateEtc(&tc.sys, pk, d)
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, e := range entries {
				have[strings.TrimPrefix(e.Path, etcUnitPath+"/")] = true
			}
			for _, l := range tc.wantLinks {
				if !have[l] {
					t.Errorf("no %s", l)
				}
			}
			for _, l := range tc.noLinks {
				if have[l] {
					t.Errorf("%s, want none", l)
				}
			}
			alts, err := d.alternatives(&tc.sys, pk)
			if err != nil {
				t.Fatal(err)
			}
			var editor string
			for _, a := range alts {
				if a.Name == "editor" {
					editor = a.Target
				}
			}
			if editor != tc.wantEditor {
				t.Errorf("editor -> %q, want %q", editor, tc.wantEditor)
			}
			text, _, err := d.tmpfiles(pk, acc, nil)
			if err != nil {
				t.Fatal(err)
			}
			u := acc.users["daemon"]
			if tc.name == "package scripts off" {
				if u != nil || strings.Contains(string(text), "daemon") {
					t.Errorf("package_scripts enable=false: user %+v, tmpfiles:\n%s", u, text)
				}
				return
			}
			if u == nil || u.Home != "/var/lib/daemon" || u.Group != "daemon" || !u.System {
				t.Errorf("user daemon = %+v", u)
			}
			if !strings.Contains(string(text), "d /var/lib/daemon 0750 daemon daemon -\n") {
				t.Errorf("tmpfiles:\n%s", text)
			}
		})
	}
}

func TestScriptAlternativeNotACandidate(t *testing.T) {
	sys := modules.System{Alternatives: map[string]modules.Alternative{"editor": {Path: "/usr/bin/nano"}}}
	pk := scriptPackages(t)
	d, err := analyzeScripts(&sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.alternatives(&sys, pk)
	want := `alternatives "editor": path "/usr/bin/nano" is not a candidate of any locked package`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
