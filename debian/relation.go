package debian

import (
	"fmt"
	"strings"

	"pault.ag/go/debian/version"
)

// alt is one alternative of a relation: a name with an optional version
// constraint. Architecture qualifiers (:any, :native, :amd64) are dropped:
// kiln resolves one architecture.
type alt struct {
	name string
	op   string // "", "<<", "<=", "=", ">=", ">>"
	ver  string
}

func (a alt) String() string {
	if a.op == "" {
		return a.name
	}
	return fmt.Sprintf("%s (%s %s)", a.name, a.op, a.ver)
}

// relation is an OR group: any one alternative satisfies it.
type relation []alt

func (r relation) String() string {
	s := make([]string, len(r))
	for i, a := range r {
		s[i] = a.String()
	}
	return strings.Join(s, " | ")
}

// parseRelations parses a Depends-style field: "a (>= 1), b | c:any".
// Architecture restrictions ([amd64]) and build profiles (<!nocheck>) are
// ignored; they do not occur in binary package indices.
func parseRelations(field string) ([]relation, error) {
	if strings.TrimSpace(field) == "" {
		return nil, nil
	}
	var out []relation
	for _, group := range strings.Split(field, ",") {
		var rel relation
		for _, s := range strings.Split(group, "|") {
			a, err := parseAlt(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("relation %q: %w", strings.TrimSpace(group), err)
			}
			rel = append(rel, a)
		}
		out = append(out, rel)
	}
	return out, nil
}

func parseAlt(s string) (alt, error) {
	end := strings.IndexAny(s, " (:[<")
	if end < 0 {
		end = len(s)
	}
	a := alt{name: s[:end]}
	if a.name == "" {
		return alt{}, fmt.Errorf("empty package name in %q", s)
	}
	rest := s[end:]
	if i := strings.IndexByte(rest, '('); i >= 0 {
		j := strings.IndexByte(rest, ')')
		if j < i {
			return alt{}, fmt.Errorf("unclosed version in %q", s)
		}
		c := strings.TrimSpace(rest[i+1 : j])
		n := 0
		for n < len(c) && strings.IndexByte("<=>", c[n]) >= 0 {
			n++
		}
		a.op, a.ver = c[:n], strings.TrimSpace(c[n:])
		switch a.op {
		case "<":
			a.op = "<="
		case ">":
			a.op = ">="
		case "<<", "<=", "=", ">=", ">>":
		default:
			return alt{}, fmt.Errorf("bad version operator in %q", s)
		}
		if a.ver == "" {
			return alt{}, fmt.Errorf("empty version in %q", s)
		}
	}
	return a, nil
}

// satisfiedBy reports whether version v meets the alternative's constraint.
func (a alt) satisfiedBy(v string) bool {
	if a.op == "" {
		return true
	}
	if v == "" {
		return false // an unversioned Provides satisfies no versioned relation
	}
	c := compareVersions(v, a.ver)
	switch a.op {
	case "<<":
		return c < 0
	case "<=":
		return c <= 0
	case "=":
		return c == 0
	case ">=":
		return c >= 0
	case ">>":
		return c > 0
	}
	return false
}

// compareVersions compares Debian versions; unparsable ones compare as text.
func compareVersions(a, b string) int {
	va, errA := version.Parse(a)
	vb, errB := version.Parse(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return version.Compare(va, vb)
}
