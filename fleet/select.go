package fleet

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-os/kiln/internal/suggest"
)

// Select returns the hosts that on names, in file order: on is a comma-
// separated list of host names and @TAGs (empty: every host). A name no
// host has, or a tag no host carries, is an error (all of them, with a
// near name when there is one): a deploy never quietly does less than
// asked.
func (f *Fleet) Select(on string) ([]*Host, error) {
	if strings.TrimSpace(on) == "" {
		return f.Hosts, nil
	}
	chosen := map[*Host]bool{}
	var errs []error
	for _, item := range strings.Split(on, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if tag, ok := strings.CutPrefix(item, "@"); ok {
			n := 0
			for _, h := range f.Hosts {
				if h.hasTag(tag) {
					chosen[h] = true
					n++
				}
			}
			if n == 0 {
				errs = append(errs, f.noTag(tag))
			}
			continue
		}
		h := f.Host(item)
		if h == nil {
			errs = append(errs, f.noHost(item))
			continue
		}
		chosen[h] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var out []*Host
	for _, h := range f.Hosts {
		if chosen[h] {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--on %q selects no host", on)
	}
	return out, nil
}

// Host returns the host named name, or nil.
func (f *Fleet) Host(name string) *Host {
	for _, h := range f.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

func (h *Host) hasTag(tag string) bool {
	for _, t := range h.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

func (f *Fleet) noHost(name string) error {
	names := make([]string, len(f.Hosts))
	for i, h := range f.Hosts {
		names[i] = h.Name
	}
	msg := fmt.Sprintf("--on %s: %s declares no host %q", name, f.File, name)
	if c := suggest.Closest(name, names, near(name)); c != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", c)
	} else if c := suggest.Closest(name, f.Tags(), near(name)); c != "" {
		msg += fmt.Sprintf(" (did you mean the tag @%s?)", c)
	}
	return errors.New(msg)
}

func (f *Fleet) noTag(tag string) error {
	msg := fmt.Sprintf("--on @%s: no host of %s has the tag %q", tag, f.File, tag)
	tags := f.Tags()
	switch c := suggest.Closest(tag, tags, near(tag)); {
	case c != "":
		msg += fmt.Sprintf(" (did you mean @%s?)", c)
	case len(tags) > 0:
		msg += " (its tags: " + strings.Join(tags, ", ") + ")"
	default:
		msg += " (its hosts have no tags)"
	}
	return errors.New(msg)
}

// near is how far a name may be from a suggestion: one edit for short
// names (two-letter tags are all two edits apart), two for longer ones.
func near(name string) int {
	if len(name) <= 4 {
		return 1
	}
	return 2
}
