package system

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAudit(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"mawk":                            {".kiln/control/postinst=#!/bin/sh\nupdate-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5\n"},
		"newthing":                        {".kiln/control/postinst=#!/bin/sh\nsetcap cap_net_raw+ep /usr/bin/x\nadduser --system x\n"},
		"linux-image-6.1.0-9-cloud-amd64": {".kiln/control/postinst=#!/bin/sh\ndepmod -a 6.1.0-9\n"},
		"noscript":                        {"usr/bin/x"},
	})
	got, err := Audit(pk)
	if err != nil {
		t.Fatal(err)
	}
	want := []AuditEntry{
		{Package: "linux-image-6.1.0-9-cloud-amd64", Actions: []string{"depmod"}, Handled: "modules.dep (kernel-modules, depmod at build time); kernel/initrd links not needed"},
		{Package: "mawk", Actions: []string{"update-alternatives"}, Handled: auditHandled["mawk"]},
		{Package: "newthing", Actions: []string{"adduser", "setcap"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("audit (-want +got):\n%s", d)
	}
}
