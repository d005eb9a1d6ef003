package maintscript

import (
	"strings"
)

// leadingOptions splits the options before a command's first operand
// off args, and reports whether one of them is among flags.
func leadingOptions(args []value, flags ...string) ([]value, bool) {
	has := false
	for len(args) > 0 && args[0].known && strings.HasPrefix(args[0].s, "-") {
		for _, f := range flags {
			has = has || args[0].s == f
		}
		args = args[1:]
	}
	return args, has
}

func (cl *call) unit(name string, op UnitOp, user, sysv bool) {
	u := Unit{Name: name, Op: op, UserUnit: user, SysV: sysv, IfEnabled: op == Start && cl.name == "deb-systemd-invoke", From: cl.source()}
	if cl.in.once(u) {
		cl.in.an.Units = append(cl.in.an.Units, u)
	}
}

// unitArgs are the unit names among args (options skipped); ok is false
// when one cannot be resolved.
func (cl *call) unitArgs(args []value) ([]string, bool) {
	var out []string
	for _, a := range args {
		if a.known && strings.HasPrefix(a.s, "-") {
			continue
		}
		if !a.known {
			cl.unhandled("a unit name the analysis cannot resolve: " + a.s)
			return nil, false
		}
		out = append(out, a.s)
	}
	return out, true
}

// debSystemdHelper is init-system-helpers' deb-systemd-helper, as
// dh_installsystemd's snippets use it. On a fresh install was-enabled is
// true (no state yet: "new installations run enable") and
// debian-installed false, so the --no-enable form never enables.
func debSystemdHelper(cl *call) tri {
	args, user := leadingOptions(cl.args, "--user")
	if len(args) == 0 || !args[0].known {
		cl.unhandled("deb-systemd-helper without a command")
		return maybe
	}
	verb := args[0].s
	units, ok := cl.unitArgs(args[1:])
	if !ok {
		return maybe
	}
	switch verb {
	case "was-enabled":
		return cl.wasEnabled(units)
	case "debian-installed", "is-enabled":
		return cl.enabledHere(units, verb)
	case "enable":
		for _, u := range units {
			cl.unit(u, Enable, user, false)
		}
	case "update-state":
		for _, u := range units {
			if !cl.enabled(u) {
				cl.unit(u, NoEnable, user, false)
			} else {
				cl.ignore("records the enablement state of " + u + " for purge")
			}
		}
	case "unmask":
		cl.ignore("removes a mask a removal left: a fresh system has none")
	case "purge":
		if cl.in.phase == Install {
			cl.ignore("forgets the enablement state of a unit an older version had: a fresh system has none")
			return yes
		}
		cl.ignore("deb-systemd-helper purge on removal: the units go with the package's generation")
	case "mask", "disable":
		if cl.in.phase == Install {
			for _, u := range units {
				cl.unit(u, Disable, user, false)
			}
			return yes
		}
		cl.ignore("deb-systemd-helper " + verb + " on removal: the units go with the package's generation")
	default:
		cl.unhandled("deb-systemd-helper " + verb)
		return maybe
	}
	return yes
}

// wasEnabled: dh_installsystemd asks it before enabling; true on a fresh
// install, unless the script disabled the unit earlier.
func (cl *call) wasEnabled(units []string) tri {
	for _, u := range units {
		for _, d := range cl.in.an.Units {
			if d.Name == u && d.Op == Disable {
				return no
			}
		}
	}
	return yes
}

// enabledHere answers debian-installed and is-enabled from what the
// analysis saw: nothing was installed or enabled before a fresh install.
func (cl *call) enabledHere(units []string, verb string) tri {
	for _, u := range units {
		if verb == "debian-installed" || !cl.enabled(u) {
			return no
		}
	}
	return yes
}

func (cl *call) enabled(u string) bool {
	for _, d := range cl.in.an.Units {
		if d.Name == u && d.Op == Enable {
			return true
		}
	}
	return false
}

// debSystemdInvoke starts units on install; restarts and stops happen on
// upgrades and removal, where kiln's switch does the same.
func debSystemdInvoke(cl *call) tri {
	args, user := leadingOptions(cl.args, "--user")
	if len(args) == 0 || !args[0].known {
		cl.unhandled("deb-systemd-invoke with an action the analysis cannot resolve")
		return maybe
	}
	units, ok := cl.unitArgs(args[1:])
	if !ok {
		return maybe
	}
	return cl.unitAction(args[0].s, units, user)
}

func (cl *call) unitAction(action string, units []string, user bool) tri {
	switch action {
	case "start":
		for _, u := range units {
			cl.unit(u, Start, user, false)
		}
	case "restart", "try-restart", "reload", "force-reload", "reload-or-restart", "try-reload-or-restart", "condrestart":
		cl.ignore(action + " of running units: kiln's switch restarts what changed")
	case "status":
		return no // nothing runs while a fresh system is configured
	case "upgrade":
		cl.ignore("upgrade of a running daemon: kiln's switch restarts what changed")
	case "stop":
		if cl.in.phase == Install {
			cl.ignore("stops units before they are configured: nothing runs on a fresh system")
		} else {
			cl.ignore("stops units on removal: the switch stops the units a generation drops")
		}
	default:
		cl.unhandled("unit action " + action)
		return maybe
	}
	return yes
}

// systemctl as scripts use it by hand.
func systemctl(cl *call) tri {
	args, user := leadingOptions(cl.args, "--user", "--global")
	if len(args) == 0 || args[0].known && (args[0].s == "list-units" || args[0].s == "list-unit-files") {
		// The units systemd knows (systemctl alone lists them, which
		// succeeds: systemd runs the machine), computed at run time.
		cl.out = &value{s: "$(systemctl " + strings.Join(cl.argStrings(), " ") + ")", origin: foundUnits}
		if len(args) == 0 {
			return yes
		}
		return maybe
	}
	if !args[0].known {
		return maybe
	}
	verb := args[0].s
	if foundUnitAction(cl, verb, args[1:]) {
		return maybe
	}
	units, ok := cl.unitArgs(args[1:])
	if !ok {
		return maybe
	}
	switch verb {
	case "daemon-reload", "daemon-reexec", "reset-failed":
		cl.ignore("systemctl " + verb + ": the switch reloads systemd")
		return yes
	case "is-active", "is-enabled", "is-failed", "is-system-running", "status", "show", "cat", "list-units", "list-unit-files":
		return maybe
	case "enable", "preset", "reenable":
		for _, u := range units {
			cl.unit(u, Enable, user, false)
		}
		return yes
	case "disable", "mask":
		if cl.in.phase != Install {
			cl.ignore("systemctl " + verb + " on removal: the units go with the package's generation")
			return yes
		}
		for _, u := range units {
			cl.unit(u, Disable, user, false)
		}
		return yes
	case "unmask":
		cl.ignore("removes a mask: a fresh system has none")
		return yes
	}
	return cl.unitAction(verb, units, user)
}

// foundUnitAction handles a start or restart of units whose names the
// script derived at run time from the units installed on the system (a
// loop over systemctl list-unit-files, as erlang-base's postinst restarts
// the services of the packages that depend on it). Each such unit belongs
// to an installed package, whose own scripts declare its enabling and its
// start, so a fresh install on kiln needs nothing more. It reports
// whether args name such units.
func foundUnitAction(cl *call, verb string, args []value) bool {
	found := false
	for _, a := range args {
		if !a.known {
			if a.origin != foundUnits {
				return false
			}
			found = true
		}
	}
	switch verb {
	case "start", "restart", "try-restart", "reload-or-restart", "force-reload", "reload":
	default:
		return false
	}
	if found {
		cl.ignore(verb + " of units the script finds installed on the system at run time (" + foundUnits + "): each belongs to an installed package, whose own scripts enable and start it")
	}
	return found
}

// updateRCD is update-rc.d: links an init script into the runlevels.
// Where the package also ships a native unit, systemd ignores the script
// and its dh_installsystemd snippet decides; otherwise
// systemd-sysv-generator makes a unit of it, enabled by these links.
func updateRCD(cl *call) tri {
	args, _ := leadingOptions(cl.args)
	if len(args) < 2 || !args[0].known || !args[1].known {
		cl.unhandled("update-rc.d with arguments the analysis cannot resolve")
		return maybe
	}
	name, verb := args[0].s, args[1].s
	switch verb {
	case "remove":
		cl.ignore("removes an init script's links on removal")
		return yes
	case "defaults", "defaults-disabled", "enable", "disable", "start", "stop":
	default:
		cl.unhandled("update-rc.d " + verb)
		return maybe
	}
	if native := cl.nativeUnit(name); native != "" {
		cl.ignore("init script links: " + cl.nativeReason(native))
		return yes
	}
	switch verb {
	case "defaults", "enable", "start":
		cl.unit(name+".service", Enable, false, true)
	default:
		cl.unit(name+".service", Disable, false, true)
	}
	return yes
}

// invokeRCD is invoke-rc.d: runs an init script's action, or skips it
// (--skip-systemd-native) when systemd has a native unit.
func invokeRCD(cl *call) tri {
	args, skipNative := leadingOptions(cl.args, "--skip-systemd-native")
	if len(args) < 2 || !args[0].known || !args[1].known {
		cl.unhandled("invoke-rc.d with arguments the analysis cannot resolve")
		return maybe
	}
	name, action := args[0].s, args[1].s
	native := cl.nativeUnit(name)
	if native != "" && skipNative {
		cl.ignore("skipped: systemd has the native " + native)
		return yes
	}
	if native == "" {
		native = name + ".service"
	}
	if action == "start" {
		cl.unit(native, Start, false, cl.nativeUnit(name) == "")
		return yes
	}
	return cl.unitAction(action, []string{native}, false)
}

// service is the service(8) wrapper: the same as invoke-rc.d.
func service(cl *call) tri {
	if len(cl.args) >= 2 && cl.args[0].known && cl.args[1].known {
		return cl.unitAction(cl.args[1].s, []string{unitName(cl.args[0].s)}, false)
	}
	cl.unhandled("service with arguments the analysis cannot resolve")
	return maybe
}

func unitName(s string) string {
	if strings.Contains(s, ".") {
		return s
	}
	return s + ".service"
}

// nativeUnit is the systemd unit the closure ships for init script name,
// or "" (systemd-sysv-generator then makes name.service of the script).
// As the generator does, a trailing ".sh" is dropped (hwclock.sh is
// hwclock.service) and a masked unit (a link to /dev/null: systemd's
// hwclock.service) counts.
func (cl *call) nativeUnit(name string) string {
	unit := strings.TrimSuffix(name, ".sh") + ".service"
	for _, dir := range []string{"/usr/lib/systemd/system/", "/lib/systemd/system/", "/etc/systemd/system/"} {
		if cl.in.facts.test("-e", dir+unit) == yes || cl.in.facts.test("-L", dir+unit) == yes {
			return unit
		}
	}
	return ""
}

// nativeReason says what systemd does with a native unit in place of an
// init script: runs it, or nothing when the unit is masked.
func (cl *call) nativeReason(unit string) string {
	for _, dir := range []string{"/usr/lib/systemd/system/", "/lib/systemd/system/", "/etc/systemd/system/"} {
		if k, target := cl.in.facts.kind(dir + unit); k == 'l' && target == "/dev/null" {
			return "systemd has " + unit + " masked: the init script never runs"
		}
	}
	return "systemd runs the native " + unit + " instead"
}
