package system

import (
	"strings"
	"testing"
)

// TestAuditScripts: the recognizers run over the packages' store paths,
// in dpkg's configure order, with the closure they form: a user a
// dependency's postinst made exists for the package after it.
func TestAuditScripts(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"base": {".kiln/control/control=Package: base\nVersion: 1\n",
			".kiln/control/postinst=#!/bin/sh\nadduser --system --group svc\n"},
		"app": {".kiln/control/control=Package: app\nVersion: 2\nDepends: base (>= 1)\n",
			".kiln/control/postinst=#!/bin/sh\nif ! getent passwd svc >/dev/null; then\n\tadduser --system svc\nfi\n" +
				"mkdir -p /var/lib/app\nchown svc /var/lib/app\n[ -e /usr/bin/app ] && deb-systemd-helper enable app.service\n",
			"usr/bin/app=#!/bin/sh\n"},
	})
	ans, err := AuditScripts(pk, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ans) != 2 || ans[0].Package != "app" || ans[1].Package != "base" {
		t.Fatalf("analyses: %+v", ans)
	}
	app := ans[0].Text()
	for _, want := range []string{"package app 2\n", "tmpfiles d /var/lib/app - svc - -\n", "unit enable app.service\n"} {
		if !strings.Contains(app, want) {
			t.Errorf("app analysis lacks %q:\n%s", want, app)
		}
	}
	if strings.Contains(app, "user svc") {
		t.Errorf("app's adduser ran although base, configured first, made svc:\n%s", app)
	}
	if !strings.Contains(ans[1].Text(), "user svc system home=/nonexistent") {
		t.Errorf("base analysis:\n%s", ans[1].Text())
	}
}
