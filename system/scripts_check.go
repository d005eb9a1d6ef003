package system

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/modules"
)

// UnhandledScriptsError is a build whose packages' maintainer scripts do
// something at install no recognizer turns into a declaration (kiln never
// runs the scripts, so the package would half-work), or whose
// package_scripts.NAME.ignore names an action that is not there.
type UnhandledScriptsError struct {
	Actions []maintscript.Note // unhandled, not ignored, in package order
	Stale   []string           // ignore entries that match no unhandled action: "PKG SCRIPT:LINE"
}

func (e *UnhandledScriptsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "maintainer scripts: %d action(s) no recognizer handles", len(e.Actions))
	if len(e.Stale) > 0 {
		fmt.Fprintf(&b, ", %d stale ignore entr(y/ies)", len(e.Stale))
	}
	for _, n := range e.Actions {
		s := n.From
		fmt.Fprintf(&b, "\n%s %s line %d: %s\n  %s (kiln never runs maintainer scripts; on Debian this runs at install).", s.Package, s.Script, s.Line, s.Command, n.Reason)
		fmt.Fprintf(&b, "\n  If the package works without it, say so:  package_scripts %q { ignore = [%q] }", s.Package, ignoreKey(s))
		fmt.Fprintf(&b, "\n  or take nothing from this package's scripts:  package_scripts %q { enable = false }", s.Package)
	}
	for _, st := range e.Stale {
		pkg, entry, _ := strings.Cut(st, " ")
		fmt.Fprintf(&b, "\npackage_scripts %q: ignore entry %q matches no unhandled action of the package's scripts (remove it)", pkg, entry)
	}
	return b.String()
}

// ignoreKey is the package_scripts ignore entry of one action: the
// script (the helper file's base name for a sourced helper) and line.
func ignoreKey(s maintscript.Source) string {
	return s.Script + ":" + strconv.Itoa(s.Line)
}

// checkUnhandled fails with an *UnhandledScriptsError when an install or
// trigger action of a package's scripts has no recognizer and
// package_scripts does not ignore it, or an ignore entry is stale.
func checkUnhandled(sys *modules.System, d *scriptDecls) error {
	e := &UnhandledScriptsError{}
	used := map[string]bool{}
	for _, an := range d.an {
		ignore := map[string]bool{}
		for _, i := range sys.PackageScripts[an.Package].Ignore {
			ignore[i] = true
		}
		for _, n := range an.Unhandled {
			if n.From.Phase == maintscript.Remove {
				continue
			}
			k, all := ignoreKey(n.From), n.From.Script+":*"
			switch {
			case ignore[k]:
				used[an.Package+" "+k] = true
			case ignore[all]:
				used[an.Package+" "+all] = true
			default:
				e.Actions = append(e.Actions, n)
			}
		}
	}
	for _, pkg := range sortedNames(sys.PackageScripts) {
		if !sys.PackageScripts[pkg].Enable {
			continue
		}
		for _, i := range sys.PackageScripts[pkg].Ignore {
			if !used[pkg+" "+i] {
				e.Stale = append(e.Stale, pkg+" "+i)
			}
		}
	}
	sort.Strings(e.Stale)
	if len(e.Actions) == 0 && len(e.Stale) == 0 {
		return nil
	}
	return e
}
