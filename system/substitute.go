package system

import (
	"context"
	"fmt"

	"github.com/kiln-os/kiln/cache"
	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/store"
)

// A configuration's substituters are asked twice by Build: for the locked
// packages before any .deb is downloaded (and for the .debs themselves,
// before the mirror), then for the planned parts before any is built.
// Every path taken has a narinfo signed by a trusted key and a NAR that
// matched it (cache.Substitute); a refusal fails the build, and the
// refused path does not enter the store. What no cache has is downloaded
// or built as without substituters.

// substitution is a build's use of its configuration's substituters.
type substitution struct {
	opts   cache.SubstituteOptions
	result *Result // what it took, added up
	warn   []Warning
}

// newSubstitution opens sys's substituters; nil when there are none or
// o.NoSubstitute.
func newSubstitution(sys *modules.System, o Options) (*substitution, error) {
	if o.NoSubstitute || len(sys.Substituters) == 0 {
		return nil, nil
	}
	so, err := cache.Configure(sys.Substituters, sys.TrustedPublicKeys, o.Cache)
	if err != nil {
		return nil, err
	}
	so.Jobs = o.SubstituteJobs
	return &substitution{opts: so, result: &Result{}}, nil
}

// debs is the .deb source of the substituters, asked before the mirror.
func (s *substitution) debs() debian.DebSource { return cache.DebSource{Caches: s.opts.Caches} }

// take makes the paths that the caches have valid in st.
func (s *substitution) take(ctx context.Context, st *store.Store, paths []store.Path) error {
	var want []store.Path
	for _, p := range paths {
		if !st.Valid(p) {
			want = append(want, p)
		}
	}
	if len(want) == 0 {
		return nil
	}
	plan, err := cache.PlanSubstitute(ctx, st, want, s.opts)
	if err != nil {
		return fmt.Errorf("substituters: %w", err)
	}
	for _, p := range plan.Problems {
		s.warn = append(s.warn, Warning{Text: "substituters: " + p.Error()})
	}
	res, err := plan.Apply(ctx, st)
	s.result.Substituted = append(s.result.Substituted, res.Fetched...)
	s.result.SubstitutedBytes += res.FileBytes
	if err != nil {
		return fmt.Errorf("substituters: %w", err)
	}
	return nil
}

// lockPaths are the store paths of every locked package.
func lockPaths(lock *debian.Lock) []store.Path {
	out := make([]store.Path, 0, len(lock.Packages))
	for _, p := range lock.Packages {
		if sp, err := p.StorePath(); err == nil {
			out = append(out, sp)
		}
	}
	return out
}

// partPaths are the planned parts, the toplevel first: when a cache has
// it, its closure is every other part.
func (p *BuildPlan) partPaths() []store.Path {
	out := []store.Path{p.Parts[PartToplevel]}
	for _, n := range orderedKeys(p.Parts) {
		if n != PartToplevel {
			out = append(out, p.Parts[n])
		}
	}
	return out
}
