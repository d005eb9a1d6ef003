package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Temporary roots keep what a running process built (or found valid) from
// being collected before the process roots it for good, as Nix's temproots
// do. Each Store writes the paths to StateDir/temproots/<pid>-<random> and
// holds an exclusive flock on that file while it lives; the collector
// takes a file's paths as roots while its lock is held and deletes the file
// once its owner is gone. Build adds its root while holding the shared
// collector lock and checks validity only afterwards, so a collection sees
// the root or has already finished.

type tempRoots struct {
	mu    sync.Mutex
	f     *os.File
	paths map[Path]bool
}

func (s *Store) tempRootDir() string { return filepath.Join(s.StateDir, "temproots") }

// Protect makes paths temporary roots of this Store, valid or not, until
// the process exits or calls Close. A process that reads store paths it
// did not build (a build reading its packages, or reusing parts that are
// valid already) protects them first and checks their validity only
// afterwards: a collection then either ran before, and the check finds
// them missing, or it keeps them and their closures. Protect waits for a
// running collection.
func (s *Store) Protect(ctx context.Context, paths ...Path) error {
	gc, err := s.lockGC(ctx, false)
	if err != nil {
		return fmt.Errorf("protect: %w", err)
	}
	defer gc.unlock()
	return s.addTempRoot(paths...)
}

// addTempRoot records paths as temporary roots in one write; the caller
// holds the shared collector lock.
func (s *Store) addTempRoot(paths ...Path) error {
	t := &s.temp
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, p := range paths {
		if !p.IsZero() && !t.paths[p] {
			b.WriteString(p.Base() + "\n")
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if t.f == nil {
		if err := os.MkdirAll(s.tempRootDir(), 0o755); err != nil {
			return fmt.Errorf("add temporary root: %w", err)
		}
		name := filepath.Join(s.tempRootDir(), strconv.Itoa(os.Getpid())+"-"+randSuffix())
		l, err := tryLockFile(name, true)
		if err != nil || l == nil {
			return fmt.Errorf("add temporary root: lock %s: %v", name, err)
		}
		t.f, t.paths = l.f, map[Path]bool{}
	}
	// No fsync: the roots matter only while this process lives.
	if _, err := t.f.WriteString(b.String()); err != nil {
		return fmt.Errorf("add temporary roots: %w", err)
	}
	for _, p := range paths {
		t.paths[p] = true
	}
	return nil
}

// Close drops the temporary roots of this Store (everything it built or
// found valid). Paths that are not otherwise rooted become collectable.
// The Store stays usable; a later Build roots again.
func (s *Store) Close() error {
	t := &s.temp
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return nil
	}
	name := t.f.Name()
	err := os.Remove(name)
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	t.f, t.paths = nil, nil
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// liveTempRoots returns the temporary roots of live processes and removes
// (unless dryRun) the files of dead ones. The caller holds the exclusive
// collector lock.
func (s *Store) liveTempRoots(dryRun bool) ([]Path, error) {
	ents, err := os.ReadDir(s.tempRootDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read temporary roots: %w", err)
	}
	var out []Path
	for _, e := range ents {
		name := filepath.Join(s.tempRootDir(), e.Name())
		l, err := tryLockFile(name, true)
		if err != nil {
			return nil, err
		}
		if l != nil { // its owner is gone
			if !dryRun {
				os.Remove(name)
			}
			l.unlock()
			continue
		}
		paths, err := readTempRoots(name)
		if err != nil {
			return nil, err
		}
		out = append(out, paths...)
	}
	return out, nil
}

func readTempRoots(name string) ([]Path, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read temporary roots: %w", err)
	}
	defer f.Close()
	var out []Path
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, err := ParsePath(sc.Text()); err == nil {
			out = append(out, p)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read temporary roots %s: %w", name, err)
	}
	return out, nil
}
