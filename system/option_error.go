package system

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/internal/suggest"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

// OptionError is a build-time error about an option's value (a time zone
// the tzdata package lacks, a group no one declares, an initrd module the
// kernel does not have). Build puts the file:line that set the value in
// front of the error it returns, from the same provenance kiln eval
// --explain shows.
type OptionError struct {
	Option string // the option path, e.g. "time_zone", "users.alice.groups"
	Err    error
}

func (e *OptionError) Error() string { return e.Err.Error() }

func (e *OptionError) Unwrap() error { return e.Err }

// optionErrorf is an OptionError about option.
func optionErrorf(option string, err error) error { return &OptionError{Option: option, Err: err} }

// locate prefixes err, when it holds an OptionError, with the file:line
// of the option's winning definition in cfg that is not a default, the
// user's files before the built-in modules (a list merges both).
func locate(err error, cfg *modules.Config) error {
	var oe *OptionError
	if !errors.As(err, &oe) || cfg == nil {
		return err
	}
	defs := cfg.Explain(oe.Option)
	for _, builtin := range []bool{false, true} {
		for _, d := range defs {
			loc := d.Location()
			if d.Won && !d.Default && loc != "core" && strings.HasPrefix(loc, "builtin/") == builtin {
				return fmt.Errorf("%s: %w", loc, err)
			}
		}
	}
	return err
}

// nearGroup suggests a declared group close to name.
func nearGroup(name string, groups map[string]*toplevel.Group) string {
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	if best := suggest.Closest(name, names, 2); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// checkServiceUsers fails for an enabled service whose user is neither
// configured nor made by a package's sysusers.d: systemd would refuse to
// start it ("Failed to determine user credentials").
func (a *accounts) checkServiceUsers(sys *modules.System) error {
	names := make([]string, 0, len(sys.Services))
	for n := range sys.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	users := make([]string, 0, len(a.users))
	for u := range a.users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, n := range names {
		s := sys.Services[n]
		if _, numeric := strconv.Atoi(s.User); !s.Enable || s.User == "" || numeric == nil || a.users[s.User] != nil {
			continue
		}
		hint := ""
		if best := suggest.Closest(s.User, users, 2); best != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", best)
		}
		return optionErrorf("services."+n+".user", fmt.Errorf("service %q: user %q is not declared%s: add users %q {} or a package that makes it", n, s.User, hint, s.User))
	}
	return nil
}
