package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// GCReport says what a collection deleted (or, dry, would delete).
type GCReport struct {
	Deleted []Path
	Freed   int64 // bytes of disk space (allocated blocks)
}

// Closure returns roots and every path they refer to, directly or not,
// sorted. Every path in it must be valid.
func (s *Store) Closure(roots ...Path) ([]Path, error) {
	seen := map[Path]bool{}
	todo := append([]Path(nil), roots...)
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[p] {
			continue
		}
		seen[p] = true
		info, err := s.Info(p)
		if err != nil {
			return nil, fmt.Errorf("closure: %w", err)
		}
		todo = append(todo, info.Refs...)
	}
	out := make([]Path, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	return sortPaths(out), nil
}

// AddRoot points the symlink link at p's physical path (replacing it
// atomically, like Nix's ./result) and registers link as an indirect GC
// root: StateDir/gcroots/auto/<hash of link's path> -> link. Removing link
// later lets the collector take p.
func (s *Store) AddRoot(link string, p Path) error {
	gc, err := s.lockGC(context.Background(), false)
	if err != nil {
		return fmt.Errorf("add root %s: %w", link, err)
	}
	defer gc.unlock()
	if !s.Valid(p) {
		return fmt.Errorf("add root %s: %s: %w", link, p, ErrNotValid)
	}
	abs, err := filepath.Abs(link)
	if err != nil {
		return fmt.Errorf("add root %s: %w", link, err)
	}
	// Only a symlink (or nothing) is replaced: -o / or -o a file is
	// refused before any root is registered.
	if fi, err := os.Lstat(abs); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("add root %s: %s exists and is not a symlink", link, abs)
	}
	sum := sha256.Sum256([]byte(abs))
	auto := filepath.Join(s.StateDir, "gcroots", "auto", nix32(fold(sum[:], 20)))
	_, err = os.Lstat(auto)
	had := err == nil
	if err := fsutil.Symlink(abs, auto); err != nil {
		return fmt.Errorf("add root %s: %w", link, err)
	}
	if err := fsutil.Symlink(s.Physical(p), abs); err != nil {
		if !had {
			os.Remove(auto) // no root for a link that was never made
		}
		return fmt.Errorf("add root: %w", err)
	}
	return nil
}

// Roots returns the live GC roots, sorted: targets of indirect roots
// (gcroots/auto) whose link still points into the store, of every link
// under StateDir/profiles, and of direct links under StateDir/gcroots.
// Links may use physical or logical (/kiln/store) targets.
func (s *Store) Roots() ([]Path, error) {
	roots, _, err := s.roots()
	return roots, err
}

// roots also returns the indirect roots whose link is gone or points
// elsewhere, for the collector to remove.
func (s *Store) roots() (roots []Path, stale []string, err error) {
	seen := map[Path]bool{}
	add := func(target string) {
		if p, ok := s.storePathOf(target); ok && !seen[p] {
			seen[p] = true
			roots = append(roots, p)
		}
	}
	gcroots := filepath.Join(s.StateDir, "gcroots")
	autoDir := filepath.Join(gcroots, "auto")
	ents, err := os.ReadDir(autoDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("read roots: %w", err)
	}
	for _, e := range ents {
		auto := filepath.Join(autoDir, e.Name())
		link, err := os.Readlink(auto)
		if err != nil {
			continue
		}
		target, err := os.Readlink(link)
		if _, ok := s.storePathOf(target); err != nil || !ok {
			stale = append(stale, auto)
			continue
		}
		add(target)
	}
	for _, dir := range []string{gcroots, s.ProfileDir()} {
		err := filepath.WalkDir(dir, func(name string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			case name == autoDir:
				return filepath.SkipDir
			case d.Type()&fs.ModeSymlink != 0:
				if target, err := os.Readlink(name); err == nil {
					add(target)
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("read roots: %w", err)
		}
	}
	return sortPaths(roots), stale, nil
}

// storePathOf returns the store path that target (a physical or logical
// absolute path, possibly inside a store path) names.
func (s *Store) storePathOf(target string) (Path, bool) {
	for _, dir := range []string{s.Dir, LogicalDir} {
		rest, ok := strings.CutPrefix(target, dir+"/")
		if !ok {
			continue
		}
		base, _, _ := strings.Cut(rest, "/")
		if p, err := ParsePath(base); err == nil {
			return p, true
		}
	}
	return Path{}, false
}

// GC deletes every store path not reachable from Roots or from the
// temporary roots of live processes (what they built, see Build),
// registered or not (leftovers of dead builders), with its record, and
// stale indirect roots. With dryRun it only reports. Collection excludes
// builds: it waits for running builds and new builds wait for it.
func (s *Store) GC(ctx context.Context, dryRun bool) (GCReport, error) {
	lock, err := s.lockGC(ctx, true)
	if err != nil {
		return GCReport{}, fmt.Errorf("gc: %w", err)
	}
	defer lock.unlock()
	rep, err := s.collect(ctx, dryRun)
	if err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
	return rep, nil
}

func (s *Store) collect(ctx context.Context, dryRun bool) (GCReport, error) {
	roots, stale, err := s.roots()
	if err != nil {
		return GCReport{}, err
	}
	temp, err := s.liveTempRoots(dryRun)
	if err != nil {
		return GCReport{}, err
	}
	roots = append(roots, temp...)
	live := map[Path]bool{}
	for _, r := range roots {
		if !s.Valid(r) {
			continue // a root to a missing path keeps nothing; verify reports it
		}
		closure, err := s.Closure(r)
		if err != nil {
			return GCReport{}, err
		}
		for _, p := range closure {
			live[p] = true
		}
	}
	dead := map[Path]bool{}
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return GCReport{}, err
	}
	for _, e := range ents {
		if p, err := ParsePath(e.Name()); err == nil && !live[p] {
			dead[p] = true
		}
	}
	registered, err := s.registered()
	if err != nil {
		return GCReport{}, err
	}
	for _, p := range registered {
		if !live[p] {
			dead[p] = true
		}
	}
	var rep GCReport
	for p := range dead {
		rep.Deleted = append(rep.Deleted, p)
	}
	sortPaths(rep.Deleted)
	if dryRun {
		for _, p := range rep.Deleted {
			rep.Freed += diskUsage(s.Physical(p))
		}
		return rep, nil
	}
	// Unregister everything first, durably and in one directory sync: an
	// interruption then leaves invalid leftovers, never a valid path with
	// missing content.
	for _, p := range rep.Deleted {
		if err := os.Remove(s.recordFile(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return GCReport{}, fmt.Errorf("unregister %s: %w", p, err)
		}
	}
	if err := fsutil.SyncDir(s.dbDir()); err != nil {
		return GCReport{}, err
	}
	for _, p := range rep.Deleted {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Freed += diskUsage(s.Physical(p))
		if err := s.remove(p); err != nil {
			return rep, err
		}
	}
	for _, auto := range stale {
		os.Remove(auto)
	}
	// No builder runs now, so no temp dir or lock file is in use.
	if err := removeTree(s.tmpDir()); err != nil {
		return rep, err
	}
	if err := os.MkdirAll(s.tmpDir(), 0o755); err != nil {
		return rep, err
	}
	locks, _ := os.ReadDir(s.lockDir())
	for _, l := range locks {
		base, _ := strings.CutSuffix(l.Name(), ".lock")
		if p, err := ParsePath(base); err == nil && !s.Valid(p) {
			os.Remove(filepath.Join(s.lockDir(), l.Name()))
		}
	}
	return rep, nil
}

// remove moves an unregistered path out of the store in one rename and
// deletes it.
func (s *Store) remove(p Path) error {
	phys := s.Physical(p)
	st, err := os.Lstat(phys)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	trash := filepath.Join(s.tmpDir(), "gc-"+p.Base())
	if st.IsDir() {
		os.Chmod(phys, 0o755) // see seal: moving a dir needs write permission on it
	}
	if err := os.Rename(phys, trash); err != nil {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	return removeTree(trash)
}

// diskUsage is the space name's tree takes (hard links counted each time).
func diskUsage(name string) int64 {
	var n int64
	filepath.WalkDir(name, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}

func sortPaths(ps []Path) []Path {
	slices.SortFunc(ps, func(a, b Path) int { return strings.Compare(a.Base(), b.Base()) })
	return slices.Compact(ps)
}
