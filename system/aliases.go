package system

import (
	"fmt"
	"strings"

	"github.com/kiln-os/kiln/debian/maintscript"
)

// newaliasesUnit rebuilds the mail aliases database on the machine: the
// mail-aliases cache (newaliases in postfix's postinst, postalias). The
// database is Berkeley DB, written where the MTA reads it
// (alias_database, /etc/aliases.db), so it is made on the machine, not
// in the store: at boot before the MTA, and again by a switch that
// changes /etc/aliases (the unit's X-Restart-Triggers names its hash, so
// activation restarts the unit, as it does for the units kiln's modules
// generate).
const newaliasesUnit = "kiln-newaliases.service"

// mailAliases is kiln-newaliases.service (and its enable link) when a
// package's scripts run newaliases and the closure has it, unless
// units."kiln-newaliases.service" turns it off or replaces it; etc is
// the generation's /etc by path.
func (p *BuildPlan) mailAliases(etc map[string]EtcEntry) ([]EtcEntry, error) {
	if !p.scripts.declaresCache("mail-aliases") {
		return nil, nil
	}
	if c, ok := p.sys.Units[newaliasesUnit]; ok && (c.Text != nil || c.Enable != nil && !*c.Enable) {
		return nil, nil
	}
	var tool string
	for _, c := range []string{"usr/bin/newaliases", "usr/sbin/newaliases"} {
		if _, _, ok := find(p.pk, c); ok {
			tool = "/" + c
			break
		}
	}
	if _, ok := etc["aliases"]; !ok || tool == "" {
		return nil, nil
	}
	h, err := etcHash("aliases", etc)
	if err != nil {
		return nil, err
	}
	var from []string
	var before []string
	for _, an := range p.scripts.an {
		asks := false
		for _, c := range an.Caches {
			if c.Name == "mail-aliases" {
				asks = true
				from = append(from, oneLineSource(c.From))
				break
			}
		}
		if !asks {
			continue
		}
		for _, u := range an.Units {
			if u.Op == maintscript.Enable && !u.UserUnit && strings.HasSuffix(u.Name, ".service") {
				before = appendUnique(before, u.Name)
			}
		}
	}
	var b strings.Builder
	for _, f := range from {
		fmt.Fprintf(&b, "# %s\n", f)
	}
	b.WriteString("[Unit]\nDescription=kiln: the mail aliases database (newaliases)\n")
	b.WriteString("After=local-fs.target systemd-tmpfiles-setup.service\nConditionPathExists=/etc/aliases\n")
	for _, u := range before {
		fmt.Fprintf(&b, "Before=%s\n", u)
	}
	fmt.Fprintf(&b, "X-Restart-Triggers=aliases=%s\n", h)
	fmt.Fprintf(&b, "\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=%s\n", tool)
	b.WriteString("\n[Install]\nWantedBy=multi-user.target\n")
	return enabledUnit(newaliasesUnit, b.String()), nil
}
