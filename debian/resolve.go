package debian

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/internal/suggest"
)

// ErrUnknownPackage reports a wanted name no suite carries.
var ErrUnknownPackage = errors.New("unknown package")

// ErrUnsatisfiable reports a dependency no candidate meets.
var ErrUnsatisfiable = errors.New("unsatisfiable dependency")

// ErrConflict reports two chosen packages that conflict or break.
var ErrConflict = errors.New("conflicting packages")

// DefaultPrefer settles virtual packages and OR groups the way a minimal
// Debian system wants them (DESIGN.md §9): a key is a name that would be
// picked, its value the package picked instead when that package
// satisfies the same relation.
var DefaultPrefer = map[string]string{
	"usrmerge":                 "usr-is-merged", // usrmerge drags perl in
	"awk":                      "mawk",
	"dbus-session-bus":         "dbus-user-session",
	"default-dbus-session-bus": "dbus-user-session",
	"dbus-system-bus":          "dbus",
	"default-dbus-system-bus":  "dbus",
}

// kernelImage matches versioned kernel image packages, whose dependencies
// only serve their maintainer scripts (initramfs-tools, linux-base).
var kernelImage = regexp.MustCompile(`^linux-image-[0-9]`)

// Request is what to resolve.
type Request struct {
	Packages []string          // wanted names (real or virtual)
	Prefer   map[string]string // nil: DefaultPrefer
	// Recommends follows Recommends too, as apt does unless told
	// --no-install-recommends: a recommended package that cannot be had
	// (no candidate, several providers, or a conflict with a package
	// already chosen) is left out, not an error.
	Recommends bool
}

// Resolution is a closed set of packages with, for each, why it is there.
type Resolution struct {
	Packages map[string]*Resolved
	Roots    []string // the wanted names as chosen, then Essential ones
}

// Resolved is one chosen package.
type Resolved struct {
	*Package
	// Parent is the package whose relation pulled this one in, "" for
	// roots; Reason is that relation, or "wanted" or "essential".
	Parent string
	Reason string
	// Depends are the chosen packages satisfying its relations, sorted;
	// Recommended those of them only its Recommends pulled in.
	Depends     []string
	Recommended []string
}

// Chain returns the names from a root to name, each pulled in by the one
// before it.
func (r *Resolution) Chain(name string) []string {
	var chain []string
	for n := name; n != ""; {
		chain = append([]string{n}, chain...)
		p, ok := r.Packages[n]
		if !ok || len(chain) > len(r.Packages) {
			break
		}
		n = p.Parent
	}
	return chain
}

// Names returns the chosen package names, sorted.
func (r *Resolution) Names() []string {
	out := make([]string, 0, len(r.Packages))
	for n := range r.Packages {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Resolve computes the closure of req over u (DESIGN.md §8): seeds are the
// wanted packages and every Essential one; Pre-Depends and Depends are
// followed (Recommends only when req.Recommends); an OR group keeps an alternative already
// chosen, else takes the first with a candidate (after the prefer map);
// Conflicts and Breaks are checked once the set is closed.
func Resolve(u *Universe, req Request) (*Resolution, error) {
	prefer := req.Prefer
	if prefer == nil {
		prefer = DefaultPrefer
	}
	rs := &resolver{u: u, prefer: prefer, recommends: req.Recommends, res: &Resolution{Packages: map[string]*Resolved{}}}
	var unknown []string
	for _, name := range req.Packages {
		p, err := rs.pickWanted(name)
		if err != nil {
			var u unknownName
			if errors.As(err, &u) {
				unknown = append(unknown, string(u))
				continue
			}
			return nil, err
		}
		rs.choose(p, "", "wanted")
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w %s", ErrUnknownPackage, strings.Join(unknown, ", "))
	}
	var essential []string
	for n, p := range u.pkgs {
		if p.Essential {
			essential = append(essential, n)
		}
	}
	sort.Strings(essential)
	for _, n := range essential {
		rs.choose(u.pkgs[n], "", "essential")
	}
	for len(rs.queue) > 0 {
		p := rs.queue[0]
		rs.queue = rs.queue[1:]
		if err := rs.expand(p); err != nil {
			return nil, err
		}
	}
	if err := rs.checkConflicts(); err != nil {
		return nil, err
	}
	return rs.res, nil
}

// unknownName is a wanted name with its suggestions, collected so that
// one error reports every unknown name.
type unknownName string

func (u unknownName) Error() string { return string(u) }

type resolver struct {
	u          *Universe
	prefer     map[string]string
	recommends bool
	res        *Resolution
	queue      []*Package
}

func (rs *resolver) choose(p *Package, parent, reason string) {
	if _, ok := rs.res.Packages[p.Name]; ok {
		return
	}
	rs.res.Packages[p.Name] = &Resolved{Package: p, Parent: parent, Reason: reason}
	if parent == "" {
		rs.res.Roots = append(rs.res.Roots, p.Name)
	}
	rs.queue = append(rs.queue, p)
}

func (rs *resolver) pickWanted(name string) (*Package, error) {
	a, err := parseAlt(name)
	if err != nil {
		return nil, fmt.Errorf("wanted package %q: %w", name, err)
	}
	p, err := rs.pick(relation{a})
	if err != nil {
		if _, real := rs.u.pkgs[a.name]; !real && len(rs.u.provides[a.name]) == 0 {
			return nil, unknownName(fmt.Sprintf("%q%s", a.name, rs.nearNames(a.name)))
		}
		return nil, fmt.Errorf("wanted package %q: %w", name, err)
	}
	return p, nil
}

// expand chooses a satisfier for each of p's dependency relations.
func (rs *resolver) expand(p *Package) error {
	if kernelImage.MatchString(p.Name) {
		return nil
	}
	rels, err := rs.u.relations(p)
	if err != nil {
		return err
	}
	deps, recs := map[string]bool{}, map[string]bool{}
	for _, r := range rels.depends {
		q, err := rs.pick(r)
		if err != nil {
			return fmt.Errorf("%s: %s depends on %q: %w", strings.Join(rs.res.Chain(p.Name), " → "), p.Name, r.String(), err)
		}
		rs.choose(q, p.Name, r.String())
		if q.Name != p.Name {
			deps[q.Name] = true
		}
	}
	if rs.recommends {
		for _, r := range rels.recommends {
			q, err := rs.pick(r)
			if err != nil || rs.conflictsChosen(q) {
				continue // apt leaves out a recommendation it cannot have
			}
			rs.choose(q, p.Name, r.String()+" (recommended)")
			if q.Name != p.Name && !deps[q.Name] {
				deps[q.Name], recs[q.Name] = true, true
			}
		}
	}
	rp := rs.res.Packages[p.Name]
	for n := range deps {
		rp.Depends = append(rp.Depends, n)
		if recs[n] {
			rp.Recommended = append(rp.Recommended, n)
		}
	}
	sort.Strings(rp.Depends)
	sort.Strings(rp.Recommended)
	return nil
}

// pick returns the package that satisfies r: one already chosen, else the
// preferred one, else the first alternative's unique satisfier.
func (rs *resolver) pick(r relation) (*Package, error) {
	for _, a := range r {
		for _, q := range rs.u.satisfiers(a) {
			if _, ok := rs.res.Packages[q.Name]; ok {
				return q, nil
			}
		}
	}
	for _, a := range r {
		if want, ok := rs.prefer[a.name]; ok {
			for _, b := range r {
				for _, q := range rs.u.satisfiers(b) {
					if q.Name == want {
						return q, nil
					}
				}
			}
		}
	}
	var why []string
	for _, a := range r {
		sat := rs.u.satisfiers(a)
		switch {
		case len(sat) == 1:
			return sat[0], nil
		case len(sat) > 1:
			names := make([]string, len(sat))
			for i, q := range sat {
				names[i] = q.Name
			}
			if sat[0].Name == a.name {
				return sat[0], nil // a real package wins over providers
			}
			return nil, fmt.Errorf("%w: %s is provided by %s; choose one in the packages option (packages = [pkgs.%s])", ErrUnsatisfiable, a.name, strings.Join(names, ", "), names[0])
		}
		why = append(why, rs.whyNot(a))
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsatisfiable, strings.Join(why, "; "))
}

func (rs *resolver) whyNot(a alt) string {
	if p, ok := rs.u.pkgs[a.name]; ok {
		return fmt.Sprintf("%s has only version %s", a.name, p.Version)
	}
	if prs := rs.u.provides[a.name]; len(prs) > 0 {
		return fmt.Sprintf("no provider of %s has a matching version", a.name)
	}
	return fmt.Sprintf("no package %s", a.name)
}

// conflictsChosen says whether q, not chosen yet, conflicts with or
// breaks a chosen package, or a chosen one q.
func (rs *resolver) conflictsChosen(q *Package) bool {
	if _, ok := rs.res.Packages[q.Name]; ok {
		return false
	}
	hit := false
	if err := rs.eachConflict(q, func(_ alt, s *Package) {
		_, chosen := rs.res.Packages[s.Name]
		hit = hit || chosen
	}); err != nil || hit {
		return true
	}
	for _, r := range rs.res.Packages {
		if err := rs.eachConflict(r.Package, func(_ alt, s *Package) { hit = hit || s == q }); err != nil || hit {
			return true
		}
	}
	return false
}

// eachConflict calls f with every relation of p's Conflicts and Breaks
// and each other package that meets it.
func (rs *resolver) eachConflict(p *Package, f func(a alt, q *Package)) error {
	rels, err := rs.u.relations(p)
	if err != nil {
		return err
	}
	for _, r := range rels.conflicts {
		for _, a := range r {
			for _, q := range rs.u.satisfiers(a) {
				if q != p {
					f(a, q)
				}
			}
		}
	}
	return nil
}

// checkConflicts reports every pair of chosen packages where one
// conflicts with or breaks the other.
func (rs *resolver) checkConflicts() error {
	var errs []string
	for _, name := range rs.res.Names() {
		p := rs.res.Packages[name].Package
		err := rs.eachConflict(p, func(a alt, q *Package) {
			if _, ok := rs.res.Packages[q.Name]; ok {
				errs = append(errs, fmt.Sprintf("%s %s conflicts with or breaks %q, met by %s %s (pulled in by %s)",
					p.Name, p.Version, a.String(), q.Name, q.Version, strings.Join(rs.res.Chain(q.Name), " → ")))
			}
		})
		if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrConflict, strings.Join(errs, "; "))
	}
	return nil
}

// nearNames suggests up to five candidate names close to name.
func (rs *resolver) nearNames(name string) string {
	type near struct {
		name string
		d    int
	}
	var ns []near
	for n := range rs.u.pkgs {
		// Score: a name that extends the wanted one first, then by edit
		// distance; ties go to the shorter name.
		switch d := suggest.Distance(name, n, 3); {
		case len(name) >= 4 && strings.HasPrefix(n, name):
			ns = append(ns, near{n, 1})
		case d <= 2:
			ns = append(ns, near{n, 2 * d})
		}
	}
	if len(ns) == 0 {
		return ""
	}
	sort.Slice(ns, func(i, j int) bool {
		if ns[i].d != ns[j].d {
			return ns[i].d < ns[j].d
		}
		if len(ns[i].name) != len(ns[j].name) {
			return len(ns[i].name) < len(ns[j].name)
		}
		return ns[i].name < ns[j].name
	})
	if len(ns) > 5 {
		ns = ns[:5]
	}
	names := make([]string, len(ns))
	for i, n := range ns {
		names[i] = n.name
	}
	return " (did you mean " + strings.Join(names, ", ") + "?)"
}
