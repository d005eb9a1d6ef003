package activation

import "strings"

// ignoredUnitKeys are [Unit] keys whose change needs no restart (as in
// NixOS's switch-to-configuration): they take effect on daemon-reload.
var ignoredUnitKeys = map[string]bool{
	"Description": true, "Documentation": true, "OnFailure": true, "OnSuccess": true,
	"OnFailureJobMode": true, "IgnoreOnIsolate": true, "StopWhenUnneeded": true,
	"RefuseManualStart": true, "RefuseManualStop": true, "AllowIsolate": true,
	"CollectMode": true, "SourcePath": true,
}

// unitChange says how two versions of a unit differ.
type unitChange int

const (
	unitSame          unitChange = iota
	unitReloadTrigger            // only X-Reload-Triggers changed
	unitMountOptions             // a mount whose Options (and triggers) changed only
	unitChanged
)

// compareUnits compares the merged options (main file and drop-ins) of
// two versions, ignoring [Install] (enablement is links, applied by
// daemon-reload), comments, layout and ignoredUnitKeys.
func compareUnits(old, new *UnitFile) unitChange {
	a, b := sectionValues(old), sectionValues(new)
	changed := map[string]bool{}
	for k, v := range a {
		if !equalStrings(v, b[k]) {
			changed[k] = true
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			changed[k] = true
		}
	}
	if len(changed) == 0 {
		return unitSame
	}
	reloadOnly, optionsOnly := true, strings.HasSuffix(new.Name, ".mount")
	for k := range changed {
		if k != "Unit.X-Reload-Triggers" {
			reloadOnly = false
			if k != "Mount.Options" {
				optionsOnly = false
			}
		}
	}
	switch {
	case reloadOnly:
		return unitReloadTrigger
	case optionsOnly:
		return unitMountOptions
	}
	return unitChanged
}

func sectionValues(u *UnitFile) map[string][]string {
	m := map[string][]string{}
	for _, o := range u.Merged() {
		if o.Section == "Install" || o.Section == "Unit" && ignoredUnitKeys[o.Name] {
			continue
		}
		k := o.Section + "." + o.Name
		m[k] = append(m[k], o.Value)
	}
	return m
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// unitsDiffer reports whether systemd must reload: a unit appeared,
// disappeared, was masked, or its options, drop-ins or links changed.
func unitsDiffer(old, new map[string]*UnitFile) bool {
	if len(old) != len(new) {
		return true
	}
	for name, o := range old {
		n := new[name]
		if n == nil || o.Masked != n.Masked || o.Package != n.Package || !equalStrings(o.WantedBy, n.WantedBy) {
			return true
		}
		if !equalStrings(flatOptions(o), flatOptions(n)) {
			return true
		}
	}
	return false
}

func flatOptions(u *UnitFile) []string {
	var out []string
	for _, o := range u.Merged() {
		out = append(out, o.Section+"\x00"+o.Name+"\x00"+o.Value)
	}
	return out
}
