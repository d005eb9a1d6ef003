package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Problem kinds, for errors.Is on Problem.Err.
var (
	ErrMissing      = errors.New("missing")
	ErrChanged      = errors.New("content changed")
	ErrNotCanonical = errors.New("not canonical")
	ErrBadRecord    = errors.New("bad database record")
	ErrUnregistered = errors.New("unregistered")
)

// Problem is one thing Verify found wrong with a registered path.
type Problem struct {
	Path Path
	Err  error
}

func (p Problem) Error() string { return p.Path.String() + ": " + p.Err.Error() }

// Kind names the problem: "missing", "changed", "not-canonical",
// "bad-record", "unregistered", or "error".
func (p Problem) Kind() string {
	for _, k := range []struct {
		err  error
		name string
	}{{ErrMissing, "missing"}, {ErrChanged, "changed"}, {ErrNotCanonical, "not-canonical"}, {ErrBadRecord, "bad-record"}, {ErrUnregistered, "unregistered"}} {
		if errors.Is(p.Err, k.err) {
			return k.name
		}
	}
	return "error"
}

// Verify re-hashes every registered path and reports the ones that are
// missing, whose content no longer matches their recorded hash, whose
// metadata is no longer canonical, whose record cannot be read, or whose
// references are not valid; and it reports the paths in the store that
// have no record (and no builder), which no kiln command can use and
// kiln gc deletes. It changes nothing.
func (s *Store) Verify(ctx context.Context) ([]Problem, error) {
	gc, err := s.lockGC(ctx, false) // no collection deletes under our feet
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer gc.unlock()
	paths, err := s.registered()
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	sortPaths(paths)
	var out []Problem
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("verify: %w", err)
		}
		if err := s.verifyPath(p); err != nil {
			out = append(out, Problem{Path: p, Err: err})
		}
	}
	un, err := s.unregistered(paths)
	if err != nil {
		return out, fmt.Errorf("verify: %w", err)
	}
	return append(out, un...), nil
}

// unregistered lists the store paths in Dir without a record whose
// builder is not at work (it holds the path's lock from before it
// renames the path into place until it has registered it).
func (s *Store) unregistered(registered []Path) ([]Problem, error) {
	known := make(map[Path]bool, len(registered))
	for _, p := range registered {
		known[p] = true
	}
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, err
	}
	var out []Problem
	for _, e := range ents {
		p, err := ParsePath(e.Name())
		if err != nil || known[p] {
			continue
		}
		if _, err := os.Lstat(s.recordFile(p)); err == nil {
			continue // registered since we listed the records
		}
		l, err := tryLockFile(s.pathLock(p), true)
		if err != nil {
			return nil, err
		}
		if l == nil {
			continue // being built
		}
		l.unlock()
		out = append(out, Problem{Path: p, Err: fmt.Errorf("%w: %s has no record in %s (kiln gc deletes it)", ErrUnregistered, s.Physical(p), s.dbDir())})
	}
	return out, nil
}

func (s *Store) verifyPath(p Path) error {
	r, err := s.readRecord(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // collected since we listed it
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if _, err := os.Lstat(s.Physical(p)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrMissing, s.Physical(p))
	}
	w := newWalker(false)
	narHash, narSize, err := w.hashTree(s.Physical(p))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrChanged, err)
	}
	if narHash != r.NarHash || narSize != r.NarSize {
		return fmt.Errorf("%w: hash %s size %d, recorded %s size %d", ErrChanged, narHash, narSize, r.NarHash, r.NarSize)
	}
	if len(w.issues) > 0 {
		more := ""
		if len(w.issues) > 3 {
			more = fmt.Sprintf(" (and %d more)", len(w.issues)-3)
		}
		return fmt.Errorf("%w: %s%s", ErrNotCanonical, strings.Join(w.issues[:min(3, len(w.issues))], "; "), more)
	}
	for _, ref := range r.Refs {
		if ref != p && !s.Valid(ref) {
			return fmt.Errorf("%w: reference %s is not valid", ErrMissing, ref)
		}
	}
	return nil
}
