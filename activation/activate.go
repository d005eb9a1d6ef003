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

// Activate makes the machine under root match toplevel (a logical store
// path): /run/current-system (and /run/booted-system at boot), the FHS
// links, users and groups, /etc, setuid wrappers and an empty
// /etc/machine-id. It is Activator{}.Activate.
func Activate(root, top string, phase Phase) error {
	return Activator{}.Activate(root, top, phase)
}

// Activate: see the package function. Every step runs even when an
// earlier one failed (a half-activated machine that boots beats one that
// does not); the errors are joined.
func (a Activator) Activate(root, top string, phase Phase) error {
	logf := a.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var errs []error
	step := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	// The layout comes first and needs no spec: with /run/current-system
	// and /usr in place, systemd still starts when the rest fails.
	step("file system layout", a.layout(root, top, phase))
	step("machine-id", ensureMachineID(root))
	spec, err := toplevel.ReadActivationSpec(under(root, path.Join(top, toplevel.ActivationFile)))
	if err != nil {
		errs = append(errs, err)
		return fmt.Errorf("activate %s: %w", top, errors.Join(errs...))
	}

	if up, err := PlanUsers(root, spec); err != nil {
		step("users", err)
	} else {
		logLines(logf, up.String())
		step("users", ApplyUsers(root, up))
	}
	if ep, err := PlanEtc(root, spec, path.Join(top, "etc")); err != nil {
		step("etc", err)
	} else {
		logLines(logf, ep.String())
		step("etc", ApplyEtc(root, ep))
	}
	if hp, err := PlanHostname(root, spec); err != nil {
		step("host name", err)
	} else {
		step("host name", ApplyHostname(root, hp))
	}
	if wp, err := PlanWrappers(root, spec); err != nil {
		step("wrappers", err)
	} else {
		step("wrappers", ApplyWrappers(root, wp))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("activate %s: %w", top, err)
	}
	return nil
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
	p := under(root, "/etc/machine-id")
	if exists(p) {
		return nil
	}
	if err := os.WriteFile(p, nil, 0o444); err != nil {
		return fmt.Errorf("create /etc/machine-id: %w", err)
	}
	return nil
}
