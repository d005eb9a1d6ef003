package debian

import (
	"fmt"
	"sort"
)

// Universe is the set of candidates: one per package name, the highest
// version across the suites loaded.
type Universe struct {
	pkgs     map[string]*Package
	provides map[string][]provider // virtual name → candidates providing it
	rels     map[*Package]*pkgRelations
}

type provider struct {
	pkg     *Package
	version string // the provided version, "" when unversioned
}

type pkgRelations struct {
	depends    []relation // Pre-Depends then Depends
	recommends []relation
	conflicts  []relation // Conflicts then Breaks
}

func newUniverse() *Universe {
	return &Universe{pkgs: map[string]*Package{}, rels: map[*Package]*pkgRelations{}}
}

// NewUniverse builds a universe from index entries (tests, tools).
func NewUniverse(pkgs []*Package) *Universe {
	u := newUniverse()
	u.add(pkgs)
	return u
}

func (u *Universe) add(pkgs []*Package) {
	for _, p := range pkgs {
		if old, ok := u.pkgs[p.Name]; ok && compareVersions(p.Version, old.Version) <= 0 {
			continue
		}
		u.pkgs[p.Name] = p
	}
	u.provides = nil
}

// Candidate returns the candidate for name.
func (u *Universe) Candidate(name string) (*Package, bool) {
	p, ok := u.pkgs[name]
	return p, ok
}

// Len returns the number of candidates.
func (u *Universe) Len() int { return len(u.pkgs) }

func (u *Universe) index() {
	if u.provides != nil {
		return
	}
	u.provides = map[string][]provider{}
	names := make([]string, 0, len(u.pkgs))
	for n := range u.pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := u.pkgs[n]
		if p.Provides == "" {
			continue
		}
		rels, err := parseRelations(p.Provides)
		if err != nil {
			continue // a broken Provides only hides a virtual name
		}
		for _, r := range rels {
			for _, a := range r {
				u.provides[a.name] = append(u.provides[a.name], provider{pkg: p, version: a.ver})
			}
		}
	}
}

func (u *Universe) relations(p *Package) (*pkgRelations, error) {
	if r, ok := u.rels[p]; ok {
		return r, nil
	}
	r := &pkgRelations{}
	for _, f := range []struct {
		name, text string
		dst        *[]relation
	}{
		{"Pre-Depends", p.PreDepends, &r.depends},
		{"Depends", p.Depends, &r.depends},
		{"Recommends", p.Recommends, &r.recommends},
		{"Conflicts", p.Conflicts, &r.conflicts},
		{"Breaks", p.Breaks, &r.conflicts},
	} {
		rels, err := parseRelations(f.text)
		if err != nil {
			return nil, fmt.Errorf("%s of %s %s: %w", f.name, p.Name, p.Version, err)
		}
		*f.dst = append(*f.dst, rels...)
	}
	u.rels[p] = r
	return r, nil
}

// satisfiers returns the candidates that satisfy a, real package first,
// then providers sorted by name.
func (u *Universe) satisfiers(a alt) []*Package {
	u.index()
	var out []*Package
	if p, ok := u.pkgs[a.name]; ok && a.satisfiedBy(p.Version) {
		out = append(out, p)
	}
	for _, pr := range u.provides[a.name] {
		if a.satisfiedBy(pr.version) && (len(out) == 0 || out[0] != pr.pkg) {
			out = append(out, pr.pkg)
		}
	}
	return out
}
