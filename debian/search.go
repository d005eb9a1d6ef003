package debian

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// ErrIndexNotCached is the error of LoadCached when an index the lock
// pins is not in the cache (kiln lock fetches it).
var ErrIndexNotCached = errors.New("index not cached")

// LoadCached returns the universe of the Packages indices l pins, read
// from cacheDir/indices with no network: each was checked against its
// signed InRelease when the lock was resolved, and the lock pins its
// sha256, which is checked again here.
func LoadCached(l *Lock, cacheDir string) (*Universe, error) {
	suites := make([]string, 0, len(l.Inputs))
	for s := range l.Inputs {
		suites = append(suites, s)
	}
	sort.Strings(suites) // merge order is immaterial: the highest version wins
	u := newUniverse()
	for _, suite := range suites {
		in := l.Inputs[suite]
		comps := make([]string, 0, len(in.Locked.PackagesSHA256))
		for c := range in.Locked.PackagesSHA256 {
			comps = append(comps, c)
		}
		sort.Strings(comps)
		for _, comp := range comps {
			sum := in.Locked.PackagesSHA256[comp]
			raw, err := os.ReadFile(filepath.Join(cacheDir, "indices", sum))
			if err != nil || sha256Hex(raw) != sum {
				return nil, fmt.Errorf("%w: Packages of %s/%s (sha256 %.12s…)", ErrIndexNotCached, suite, comp, sum)
			}
			data, err := decompress(raw, compressionOf(raw))
			if err != nil {
				return nil, fmt.Errorf("decompress Packages of %s/%s: %w", suite, comp, err)
			}
			pkgs, err := ParsePackages(data, suite)
			if err != nil {
				return nil, fmt.Errorf("parse Packages of %s/%s: %w", suite, comp, err)
			}
			u.add(pkgs)
		}
	}
	return u, nil
}

// compressionOf names raw's compression by its magic bytes.
func compressionOf(raw []byte) string {
	switch {
	case bytes.HasPrefix(raw, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return ".xz"
	case bytes.HasPrefix(raw, []byte{0x1f, 0x8b}):
		return ".gz"
	}
	return ""
}

// Search returns the candidates whose name or short description contains
// every word (case-insensitively), best first: an exact name, then names
// containing a word, then description matches, each group by name.
func (u *Universe) Search(words []string) []*Package {
	lower := make([]string, len(words))
	for i, w := range words {
		lower[i] = strings.ToLower(w)
	}
	rank := map[*Package]int{}
	var out []*Package
	for _, p := range u.pkgs {
		name, desc := strings.ToLower(p.Name), strings.ToLower(p.Description)
		r, all := 2, true
		for _, w := range lower {
			switch {
			case name == w:
				r = min(r, 0)
			case strings.Contains(name, w):
				r = min(r, 1)
			case strings.Contains(desc, w):
			default:
				all = false
			}
		}
		if all {
			rank[p] = r
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if rank[out[i]] != rank[out[j]] {
			return rank[out[i]] < rank[out[j]]
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Providers returns the names of the candidates that provide the
// virtual name, sorted.
func (u *Universe) Providers(name string) []string {
	u.index()
	var out []string
	for _, pr := range u.provides[name] {
		out = append(out, pr.pkg.Name)
	}
	sort.Strings(out)
	return out
}

// Names returns every candidate's name, sorted.
func (u *Universe) Names() []string {
	out := make([]string, 0, len(u.pkgs))
	for n := range u.pkgs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ResolveLockUpdating resolves req against a's current indices like
// ResolveLock, but keeps every package old pins at its locked version,
// except those named in update (and what they newly need): kiln lock
// --update PKG... The kept versions are read from the indices old pins,
// in a's cache.
func (a *Archive) ResolveLockUpdating(ctx context.Context, req Request, old *Lock, update []string) (*Lock, error) {
	for _, n := range update {
		if _, ok := old.Package(n); !ok {
			return nil, fmt.Errorf("%w %q: not in the lock%s", ErrUnknownPackage, n, old.nearNames(n))
		}
	}
	was, err := LoadCached(old, a.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("read the indices the lock pins: %w (kiln lock --update without names resolves everything again)", err)
	}
	u, inputs, err := a.Load(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range old.Packages {
		if slices.Contains(update, p.Name) {
			continue
		}
		if q, ok := was.Candidate(p.Name); ok && q.Version == p.Version && q.SHA256 == p.SHA256 {
			u.pkgs[p.Name] = q
		}
	}
	u.provides = nil
	res, err := Resolve(u, req)
	if err != nil {
		return nil, err
	}
	return NewLock(inputs, req, res), nil
}
