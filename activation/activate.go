// Package activation makes a machine match a toplevel: stage 2 (the init a
// kernel or stage 1 execs from a toplevel), /etc through /etc/static, users
// and groups, setuid wrappers, the running host name, and the units of a
// switch, driven over systemd's D-Bus API. Every step is planned first
// (PlanActivation, PlanSwitch: values that print as text) and the plan is
// what is applied (ApplyActivation, Switch, whose journal records it),
// always under an explicit root directory, so tests use a temporary
// directory as the machine.
//
// It does not build anything: the system builder writes activation.json
// (toplevel.ActivationSpec) into each toplevel, and this package only
// reads it. Generations, boot entries and the order of a switch's steps
// belong to package machine.
package activation

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/toplevel"
)

// Phase says why activation runs.
type Phase int

const (
	// Boot: stage 2, before systemd starts.
	Boot Phase = iota
	// SwitchPhase: a running machine moves to another generation (named so
	// because Switch is the function that switches).
	SwitchPhase
)

func (p Phase) String() string {
	switch p {
	case Boot:
		return "boot"
	case SwitchPhase:
		return "switch"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Activator runs activation; Log (may be nil) receives the plans and
// warnings, one line per call.
type Activator struct {
	Log func(format string, a ...any)
}

// ActivationPlan is what activating a toplevel changes on the machine
// besides its units: accounts, /etc, the running host name and the setuid
// wrappers, each planned (PlanUsers, PlanEtc, PlanHostname, PlanWrappers)
// and applied (ApplyActivation) as a whole. It records as JSON what it
// changes, never a password hash; a plan read back from JSON cannot be
// applied (the accounts it read are not in it).
type ActivationPlan struct {
	Toplevel string       `json:"toplevel"`
	Users    UsersPlan    `json:"users"`
	Etc      EtcPlan      `json:"etc"`
	Hostname HostnamePlan `json:"host_name"`
	Wrappers WrappersPlan `json:"wrappers"`
	Secrets  SecretsPlan  `json:"secrets,omitzero"`
	// unplanned names the steps that could not be planned (PlanActivation
	// returned their errors): applying leaves them out.
	unplanned map[string]bool
}

// PlanActivation plans activating top (a logical store path) on the
// machine under root, reading its activation spec and the machine's
// accounts, /etc and host name; wrapper sources are resolved in top as
// the machine will see them once top is current. It changes nothing. A
// step that cannot be planned is left out of the plan and its error
// joined to the others; the plan of every other step is returned.
func PlanActivation(root, top string) (*ActivationPlan, error) {
	p := &ActivationPlan{Toplevel: top, unplanned: map[string]bool{}}
	spec, err := toplevel.ReadActivationSpec(under(root, path.Join(top, toplevel.ActivationFile)))
	if err != nil {
		for _, s := range []string{"secrets", "users", "etc", "host name", "wrappers"} {
			p.unplanned[s] = true
		}
		return p, err
	}
	var errs []error
	step := func(name string, err error) {
		if err != nil {
			p.unplanned[name] = true
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	p.Users, err = PlanUsers(root, spec)
	step("users", err)
	// Secrets are owned by the accounts as they will be, and written
	// before them (a password hash may be one).
	ids := &idLookup{p.Users.passwd, p.Users.group}
	if p.unplanned["users"] {
		if ids, err = readIDLookup(root); err != nil {
			ids = &idLookup{&table{name: "passwd"}, &table{name: "group"}}
		}
	}
	p.Secrets, err = PlanSecrets(root, spec, ids)
	step("secrets", err)
	p.Etc, err = PlanEtc(root, spec, path.Join(top, "etc"))
	step("etc", err)
	p.Hostname, err = PlanHostname(root, spec)
	step("host name", err)
	p.Wrappers, err = PlanWrappers(root, spec, top)
	step("wrappers", err)
	return p, errors.Join(errs...)
}

// Activate makes the machine under root match toplevel (a logical store
// path): /run/current-system (and /run/booted-system at boot), the FHS
// links, users and groups, /etc, setuid wrappers and an empty
// /etc/machine-id. It is Activator{}.Activate.
func Activate(root, top string, phase Phase) error {
	return Activator{}.Activate(root, top, phase)
}

// Activate: see the package function. The layout comes first, then the
// plan (PlanActivation) is made and applied (ApplyActivation). Every step
// runs even when an earlier one failed (a half-activated machine that
// boots beats one that does not); the errors are joined.
func (a Activator) Activate(root, top string, phase Phase) error {
	// The layout needs no spec: with /run/current-system and /usr in
	// place, systemd still starts when the rest fails.
	errs := a.prepare(root, top, phase)
	p, err := PlanActivation(root, top)
	if err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, a.applySteps(root, p))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("activate %s: %w", top, err)
	}
	return nil
}

// ApplyActivation carries out p on the machine under root: the layout
// and /etc/machine-id, then p's users, /etc, host name and wrappers, each
// step even when an earlier one failed (the errors are joined).
func (a Activator) ApplyActivation(root string, p *ActivationPlan, phase Phase) error {
	errs := a.prepare(root, p.Toplevel, phase)
	errs = append(errs, a.applySteps(root, p))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("activate %s: %w", p.Toplevel, err)
	}
	return nil
}

// prepare makes the file system layout and the machine-id.
func (a Activator) prepare(root, top string, phase Phase) []error {
	var errs []error
	if err := a.layout(root, top, phase); err != nil {
		errs = append(errs, fmt.Errorf("file system layout: %w", err))
	}
	// An ephemeral root's persisted paths come before anything reads them
	// (machine-id below, the host key that opens the secrets).
	if spec, err := toplevel.ReadActivationSpec(under(root, path.Join(top, toplevel.ActivationFile))); err == nil {
		if err := ApplyPersist(root, spec.Persist); err != nil {
			errs = append(errs, err)
		}
	}
	if err := ensureMachineID(root); err != nil {
		errs = append(errs, fmt.Errorf("machine-id: %w", err))
	}
	return errs
}

// applySteps applies the planned steps of p, in order.
func (a Activator) applySteps(root string, p *ActivationPlan) error {
	logf := a.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var errs []error
	for _, s := range []struct {
		name  string
		text  func() string // logged before applying; nil: nothing
		apply func() error
	}{
		{"secrets", nil, func() error { return ApplySecrets(root, p.Secrets) }},
		{"users", p.Users.String, func() error { return ApplyUsers(root, p.Users) }},
		{"etc", p.Etc.String, func() error { return ApplyEtc(root, p.Etc) }},
		{"host name", nil, func() error { return ApplyHostname(root, p.Hostname) }},
		{"wrappers", nil, func() error { return ApplyWrappers(root, p.Wrappers) }},
	} {
		if p.unplanned[s.name] {
			continue
		}
		if s.text != nil {
			logLines(logf, s.text())
		}
		if err := s.apply(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

func logLines(logf func(string, ...any), text string) {
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		logf("%s", l)
	}
}

// fhsLinks make a merged-/usr Debian layout from the current system's sw
// forest.
var fhsLinks = []struct{ name, target string }{
	{"/usr", "/run/current-system/sw"},
	{"/bin", "usr/bin"},
	{"/sbin", "usr/sbin"},
	{"/lib", "usr/lib"},
	{"/lib64", "usr/lib64"},
}

func (a Activator) layout(root, top string, phase Phase) error {
	var errs []error
	for _, d := range toplevel.RootDirs {
		p := under(root, d.Name)
		if fi, err := os.Lstat(p); err == nil {
			if d.Enforce && fi.IsDir() && fi.Mode()&(os.ModePerm|os.ModeSticky) != d.Mode {
				errs = append(errs, os.Chmod(p, d.Mode))
			}
			continue
		}
		if err := os.Mkdir(p, d.Mode); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, os.Chmod(p, d.Mode)) // past the umask
	}
	links := []struct{ name, target string }{{"/run/current-system", top}}
	if phase == Boot {
		links = append(links, struct{ name, target string }{"/run/booted-system", top})
	}
	for _, l := range append(links, fhsLinks...) {
		p := under(root, l.name)
		fi, err := os.Lstat(p)
		switch {
		case err == nil && fi.Mode()&os.ModeSymlink == 0:
			if a.Log != nil {
				a.Log("warning: %s is not a symlink; left alone", l.name)
			}
			continue
		case err == nil:
			if t, _ := os.Readlink(p); t == l.target {
				continue
			}
		}
		errs = append(errs, fsutil.Symlink(l.target, p))
	}
	return errors.Join(errs...)
}

// ensureMachineID creates an empty /etc/machine-id when there is none: a
// missing one makes systemd treat the boot as the first and start an
// interactive systemd-firstboot on the console.
func ensureMachineID(root string) error {
	p, err := resolveIn(root, "/etc/machine-id") // an ephemeral root's links to its persisted one
	if err != nil {
		return fmt.Errorf("machine-id: %w", err)
	}
	if exists(p) {
		return nil
	}
	if err := os.WriteFile(p, nil, 0o444); err != nil {
		return fmt.Errorf("create /etc/machine-id: %w", err)
	}
	return nil
}
