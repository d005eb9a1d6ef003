package system

import (
	"strings"
	"testing"

	"github.com/kiln-os/kiln/modules"
)

// TestMailAliasesUnit: a package whose postinst runs newaliases gets
// kiln-newaliases.service, enabled, before the MTA it enables, with the
// hash of /etc/aliases as a restart trigger (a changed aliases file
// changes the unit, so a switch runs it again); the configuration turns
// it off.
func TestMailAliasesUnit(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"mta": {".kiln/control/control=Package: mta\nVersion: 1\n",
			".kiln/control/postinst=#!/bin/sh\nset -e\nnewaliases\n" +
				"deb-systemd-helper unmask 'mta.service' >/dev/null || true\n" +
				"if deb-systemd-helper --quiet was-enabled 'mta.service'; then\n\tdeb-systemd-helper enable 'mta.service' >/dev/null || true\nelse\n\tdeb-systemd-helper update-state 'mta.service' >/dev/null || true\nfi\n",
			"usr/bin/newaliases=#!/bin/sh\n",
			"usr/lib/systemd/system/mta.service=[Service]\nExecStart=/usr/bin/newaliases\n[Install]\nWantedBy=multi-user.target\n"},
	})
	sys := modules.System{}
	d, err := analyzeScripts(&sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	unit := func(sys modules.System, aliases string) string {
		t.Helper()
		p := &BuildPlan{sys: &sys, pk: pk, scripts: d}
		etc, err := p.mailAliases(map[string]EtcEntry{"aliases": {Path: "aliases", Data: []byte(aliases)}})
		if err != nil {
			t.Fatal(err)
		}
		var text, link string
		for _, e := range etc {
			switch e.Path {
			case "systemd/system/kiln-newaliases.service":
				text = string(e.Data)
			case "systemd/system/multi-user.target.wants/kiln-newaliases.service":
				link = e.Target
			}
		}
		if text != "" && link != "/etc/systemd/system/kiln-newaliases.service" {
			t.Errorf("enable link: %q", link)
		}
		return text
	}
	a := unit(sys, "postmaster: root\n")
	for _, want := range []string{"Before=mta.service\n", "ExecStart=/usr/bin/newaliases\n", "ConditionPathExists=/etc/aliases\n", "X-Restart-Triggers=aliases="} {
		if !strings.Contains(a, want) {
			t.Errorf("unit lacks %q:\n%s", want, a)
		}
	}
	if b := unit(sys, "postmaster: root\nroot: alice\n"); b == a || b == "" {
		t.Errorf("a changed /etc/aliases leaves the unit as it was")
	}
	off := false
	sys.Units = map[string]modules.Unit{newaliasesUnit: {Enable: &off}}
	if c := unit(sys, "postmaster: root\n"); c != "" {
		t.Errorf("units.%q.enable = false still generates it:\n%s", newaliasesUnit, c)
	}
}
