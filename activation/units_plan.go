package activation

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// UnitState is what systemd reports about one loaded unit.
type UnitState struct {
	Active  string // active, inactive, failed, activating, deactivating, reloading
	Sub     string // running, exited, listening, mounted...
	MainPID uint32 // services only; 0 when none or not known
}

// running reports whether a switch must consider the unit: NixOS looks at
// active and activating units only, so failed and inactive ones are left
// alone.
func (s UnitState) running() bool {
	return s.Active == "active" || s.Active == "activating" || s.Active == "reloading"
}

// UnitAction is one job on one unit and why.
type UnitAction struct {
	Unit   string `json:"unit"`
	Reason string `json:"reason"`
}

// UnitsPlan is what a switch does to units: Stop before activation, then a
// daemon-reload, then Reload, Restart and Start, in that order. Skipped
// units changed but are left running with their old unit.
type UnitsPlan struct {
	Stop, Start, Restart, Reload, Skipped []UnitAction
	// DaemonReload: some unit file, drop-in or enablement link changed.
	DaemonReload bool
}

// Empty reports whether the plan does nothing.
func (p UnitsPlan) Empty() bool {
	return !p.DaemonReload && len(p.Stop)+len(p.Start)+len(p.Restart)+len(p.Reload)+len(p.Skipped) == 0
}

// String prints the plan in the order it is applied (golden-tested).
func (p UnitsPlan) String() string {
	var b strings.Builder
	line := func(verb string, as []UnitAction) {
		for _, a := range as {
			fmt.Fprintf(&b, "%-8s %s (%s)\n", verb, a.Unit, a.Reason)
		}
	}
	line("stop", p.Stop)
	if p.DaemonReload {
		b.WriteString("daemon-reload\n")
	}
	line("reload", p.Reload)
	line("restart", p.Restart)
	line("start", p.Start)
	line("skip", p.Skipped)
	if b.Len() == 0 {
		return "units: no changes\n"
	}
	return b.String()
}

// lookup finds a unit or, for an instance, its template.
func lookup(units map[string]*UnitFile, name string) *UnitFile {
	if u := units[name]; u != nil {
		return u
	}
	if t := templateOf(name); t != "" {
		return units[t]
	}
	return nil
}

// neverStopped are mounts a switch must not unmount: the root, the store
// and what holds it.
func neverStopped(name string, u *UnitFile) bool {
	if name == "-.mount" || name == "kiln.mount" || name == "kiln-store.mount" {
		return true
	}
	if w, ok := u.Get("Mount", "Where"); ok {
		switch path.Clean(w) {
		case "/", "/kiln", "/kiln/store":
			return true
		}
	}
	return false
}

// planner accumulates actions keyed by unit (a unit gets each verb once).
type planner struct {
	old, new                           map[string]*UnitFile
	observed                           map[string]UnitState
	what                               map[string]string // why a unit counts as changed, when not its text
	stop, start, restart, reload, skip map[string]string
}

// PlanUnits computes the unit actions that move a machine running old (as
// observed: systemd's view of the loaded units) to new, with the rules of
// NixOS's switch-to-configuration:
//   - only active (or activating) units that old provides are considered;
//     failed, inactive, transient and generated units are left alone;
//   - a unit new no longer provides (or masks) is stopped, unless it says
//     X-StopOnRemoval=false; / and the store are never unmounted; so is
//     one old enabled (linked into some .wants/.requires) that new still
//     provides but links from nowhere (a package's unit, disabled);
//   - a changed target is started (unless RefuseManualStart= or
//     X-OnlyManualStart=), and stopped first with X-StopOnReconfiguration=;
//   - changes to [Install], comments and cosmetic [Unit] keys are ignored;
//     drop-ins count; only X-Reload-Triggers changed: reload;
//   - a changed mount is reloaded (remounted) when only Options= changed,
//     else restarted; / is only ever remounted (a new Type= for / waits
//     for the next boot, as does a new mount of the device the running /
//     is on: an ephemeral root's persist volume);
//   - .slice and .path changes take effect on daemon-reload;
//   - a changed socket is stopped with the service it activates and
//     started again (NixOS ignores changed sockets);
//   - other changed units: X-ReloadIfChanged=true: reload;
//     X-RestartIfChanged=false, RefuseManualStop= or X-OnlyManualStart=:
//     skipped, with the reason; a service with X-StopIfChanged=false and
//     any non-service: restart; else the service is stopped before
//     activation and started after, and when its socket is active it is
//     restarted through the socket (socket and service stopped, socket
//     started: NixOS issue 74899);
//   - a unit that is not running and that new newly links into the
//     .wants/.requires of an active (or started) target is started.
func PlanUnits(old, new map[string]*UnitFile, observed map[string]UnitState) UnitsPlan {
	p := &planner{old: old, new: new, observed: observed,
		stop: map[string]string{}, start: map[string]string{}, restart: map[string]string{},
		reload: map[string]string{}, skip: map[string]string{}, what: map[string]string{}}
	for _, name := range sortedKeys(observed) {
		if observed[name].running() {
			p.planRunning(name)
		}
	}
	p.planRequirers()
	p.planNew()
	return UnitsPlan{
		Stop:         actions(p.stop, stopOrder),
		Start:        actions(p.start, startOrder),
		Restart:      actions(p.restart, startOrder),
		Reload:       actions(p.reload, startOrder),
		Skipped:      actions(p.skip, startOrder),
		DaemonReload: unitsDiffer(old, new),
	}
}

func (p *planner) planRunning(name string) {
	ou := lookup(p.old, name)
	if ou == nil || ou.Masked {
		return // not from the old generation: transient, generated or runtime
	}
	nu := lookup(p.new, name)
	if nu == nil || nu.Masked {
		why := "removed"
		if nu != nil {
			why = "masked"
		}
		switch {
		case neverStopped(name, ou):
			p.skip[name] = why + ", but / and the store are never unmounted"
		case !ou.Bool("Unit", "X-StopOnRemoval", true):
			p.skip[name] = why + ", but X-StopOnRemoval=false"
		default:
			p.stop[name] = why
		}
		return
	}
	if len(ou.WantedBy) > 0 && len(nu.WantedBy) == 0 && !strings.HasSuffix(name, ".target") && !neverStopped(name, ou) {
		// Disabled, its unit file still there (a package's): nothing
		// starts it any more, so it stops, as a removed unit does.
		if !ou.Bool("Unit", "X-StopOnRemoval", true) {
			p.skip[name] = "no longer enabled, but X-StopOnRemoval=false"
		} else {
			p.stop[name] = "no longer enabled: nothing wants it"
		}
		return
	}
	change := compareUnits(ou, nu)
	if change == unitSame && !ou.Package.IsZero() && !nu.Package.IsZero() && ou.Package != nu.Package {
		change = unitChanged
		p.what[name] = "package changed: " + ou.Package.Name() + " -> " + nu.Package.Name()
	}
	if strings.HasSuffix(name, ".target") {
		if change == unitSame {
			return
		}
		if nu.Bool("Unit", "RefuseManualStart", false) || nu.Bool("Unit", "X-OnlyManualStart", false) {
			p.skip[name] = "changed target, but it refuses manual start"
			return
		}
		if nu.Bool("Unit", "X-StopOnReconfiguration", false) {
			p.stop[name] = "changed target with X-StopOnReconfiguration=true"
		}
		p.start[name] = "changed target"
		return
	}
	switch change {
	case unitReloadTrigger:
		if _, ok := p.restart[name]; !ok {
			p.reload[name] = "X-Reload-Triggers changed" + triggersChanged(ou, nu)
		}
	case unitMountOptions:
		p.reload[name] = "mount options changed: remount"
	case unitChanged:
		p.planChanged(name, nu)
	}
}

// triggersChanged names the files whose X-Reload-Triggers changed, for
// triggers written PATH=HASH (kiln's generator writes them so): ": a, b".
func triggersChanged(ou, nu *UnitFile) string {
	values := func(u *UnitFile) map[string]string {
		m := map[string]string{}
		for _, v := range u.Values("Unit", "X-Reload-Triggers") {
			if k, h, ok := strings.Cut(v, "="); ok {
				m[k] = h
			}
		}
		return m
	}
	a, b := values(ou), values(nu)
	var names []string
	for k, h := range b {
		if a[k] != h {
			names = append(names, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return ": " + strings.Join(names, ", ")
}

func (p *planner) planChanged(name string, nu *UnitFile) {
	kind, what := path.Ext(name), p.changed(name)
	switch {
	case kind == ".slice" || kind == ".path":
		// Applied by daemon-reload.
	case kind == ".mount":
		if neverStopped(name, nu) && p.typeChanged(name, nu) {
			// An ephemeral root makes / a tmpfs: no remount does that
			// (ext4 refuses tmpfs's options), stage 1 does it at the
			// next boot.
			p.skip[name] = what + ", but / and the store are never unmounted: the new file system type applies at the next boot"
		} else if neverStopped(name, nu) {
			p.reload[name] = what + ", remounted: / and the store are never unmounted"
		} else {
			p.restart[name] = what + " mount"
		}
	case name == "dbus.service":
		// Restarting the system bus cuts every client off (Debian's dbus
		// only reloads on upgrade; NixOS reloads it too).
		p.reload[name] = what + "; the system bus is reloaded, never restarted"
	case name == "dbus.socket":
		p.skip[name] = what + ", but the system bus is never restarted"
	case kind == ".socket":
		p.planChangedSocket(name, nu)
	case nu.marker("X-ReloadIfChanged", false) && !has(p.restart, name) && !has(p.stop, name):
		p.reload[name] = what + ", reload_if_changed"
	case !nu.marker("X-RestartIfChanged", true):
		p.skip[name] = what + ", but restart_if_changed = false: keeps running its old unit"
	case nu.Bool("Unit", "RefuseManualStop", false):
		p.skip[name] = what + ", but RefuseManualStop=yes: keeps running its old unit"
	case nu.Bool("Unit", "X-OnlyManualStart", false):
		p.skip[name] = what + ", but X-OnlyManualStart=yes: keeps running its old unit"
	case kind != ".service":
		p.restart[name] = what
		delete(p.reload, name)
	case !nu.marker("X-StopIfChanged", true):
		p.restart[name] = what + ", X-StopIfChanged=false"
		delete(p.reload, name)
	default:
		p.planChangedService(name, nu)
	}
}

// planChangedService stops a changed service before activation so the new
// unit never runs in the old environment, and starts it after — through
// its socket when it is socket-activated.
func (p *planner) planChangedService(name string, nu *UnitFile) {
	what := p.changed(name)
	sockets := nu.Values("Service", "Sockets")
	if len(sockets) == 0 {
		sockets = []string{strings.TrimSuffix(name, ".service") + ".socket"}
	}
	var through []string
	for _, s := range sockets {
		if !p.observed[s].running() {
			continue
		}
		p.stop[s] = "socket of changed " + name
		if su := p.new[s]; su != nil && !su.Masked {
			p.start[s] = "restarts changed " + name + " through its socket"
			through = append(through, s)
		}
	}
	if len(through) == 0 {
		p.start[name] = what
		p.stop[name] = what + ", started again after activation"
	} else {
		p.stop[name] = what + ", started again through " + strings.Join(through, " ")
	}
	delete(p.reload, name)
}

// planChangedSocket restarts a changed socket with the service it
// activates stopped, so the next connection starts the new service.
func (p *planner) planChangedSocket(name string, nu *UnitFile) {
	p.stop[name] = "changed socket"
	p.start[name] = "changed socket"
	if nu.Bool("Socket", "Accept", false) {
		return
	}
	svc, ok := nu.Get("Socket", "Service")
	if !ok {
		svc = strings.TrimSuffix(name, ".socket") + ".service"
	}
	if p.observed[svc].running() {
		p.stop[svc] = "its socket " + name + " changed; started again through it"
		delete(p.start, svc)
		delete(p.restart, svc)
		delete(p.reload, svc)
	}
}

// planNew starts units that are not running and that new newly links
// into the wants of a target that is active or being started.
func (p *planner) planNew() {
	for _, name := range sortedKeys(p.new) {
		nu := p.new[name]
		if nu.Masked || p.observed[name].running() || has(p.start, name) || has(p.stop, name) {
			continue
		}
		ou := lookup(p.old, name)
		if p.holdsRunningRoot(name, nu) {
			p.skip[name] = "new, but it mounts the device the running / is on: stage 1 mounts it at the next boot"
			continue
		}
		var by []string
		for _, owner := range nu.WantedBy {
			if !strings.HasSuffix(owner, ".target") {
				continue
			}
			if !p.observed[owner].running() && !has(p.start, owner) {
				continue
			}
			if ou != nil && !ou.Masked && contains(ou.WantedBy, owner) {
				continue // wanted before and still not running: left alone
			}
			by = append(by, owner)
		}
		if len(by) == 0 {
			continue
		}
		if ou == nil || ou.Masked {
			p.start[name] = "new, wanted by " + strings.Join(by, " ")
		} else {
			p.start[name] = "now wanted by " + strings.Join(by, " ")
		}
	}
}

// planRequirers starts again the running units systemd stops along with a
// unit the plan stops and starts again: those that require it (its
// [Install] RequiredBy=, their Requires= or BindsTo=). Without it, a
// changed kiln-sshd-keygen.service (RequiredBy=ssh.service) took sshd down
// for good on a switch.
func (p *planner) planRequirers() {
	for _, name := range sortedKeys(p.stop) {
		if !has(p.start, name) {
			continue
		}
		var by []string
		if ou := lookup(p.old, name); ou != nil {
			by = strings.Fields(strings.Join(ou.Values("Install", "RequiredBy"), " "))
		}
		for _, r := range sortedKeys(p.observed) {
			if ru := lookup(p.old, r); ru != nil && contains(strings.Fields(strings.Join(append(ru.Values("Unit", "Requires"), ru.Values("Unit", "BindsTo")...), " ")), name) {
				by = append(by, r)
			}
		}
		for _, r := range by {
			if !p.observed[r].running() || has(p.stop, r) || has(p.start, r) || has(p.restart, r) {
				continue
			}
			p.start[r] = "stopped with " + name + ", which it requires"
		}
	}
}

// typeChanged reports whether the mount nu changes its Type= from the old
// generation's.
func (p *planner) typeChanged(name string, nu *UnitFile) bool {
	ou := lookup(p.old, name)
	if ou == nil {
		return false
	}
	ot, _ := ou.Get("Mount", "Type")
	nt, _ := nu.Get("Mount", "Type")
	return ot != nt
}

// holdsRunningRoot reports whether nu is a mount (not of /) of the device
// the old generation mounts on /: the persist volume of a switch that
// enables an ephemeral root. Mounted now, it would be the running root a
// second time, and the next activation would take /persist for a
// persisted tree.
func (p *planner) holdsRunningRoot(name string, nu *UnitFile) bool {
	if !strings.HasSuffix(name, ".mount") || neverStopped(name, nu) {
		return false
	}
	root := lookup(p.old, "-.mount")
	if root == nil {
		return false
	}
	rw, ok1 := root.Get("Mount", "What")
	w, ok2 := nu.Get("Mount", "What")
	return ok1 && ok2 && rw == w && rw != "tmpfs"
}

func has(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// stopOrder stops sockets first, so they do not start a service being
// stopped again; startOrder starts targets last.
func stopOrder(name string) int {
	if strings.HasSuffix(name, ".socket") {
		return 0
	}
	return 1
}

func startOrder(name string) int {
	if strings.HasSuffix(name, ".target") {
		return 1
	}
	return 0
}

func actions(m map[string]string, order func(string) int) []UnitAction {
	out := make([]UnitAction, 0, len(m))
	for _, n := range sortedKeys(m) {
		out = append(out, UnitAction{Unit: n, Reason: m[n]})
	}
	sort.SliceStable(out, func(i, j int) bool { return order(out[i].Unit) < order(out[j].Unit) })
	if len(out) == 0 {
		return nil
	}
	return out
}

// changed says how a unit changed, for the reasons printed.
func (p *planner) changed(name string) string {
	if w, ok := p.what[name]; ok {
		return w
	}
	return "changed"
}
