package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// Profiles, as in NixOS: StateDir/profiles/<profile>-<N>-link -> toplevel
// for every generation N, and StateDir/profiles/<profile> -> the current
// <profile>-<N>-link (a relative link). Every generation link is a GC root.
//
// Physical or logical targets: AddGeneration (like AddRoot) writes links
// to the physical path (s.Physical), which work on the machine running
// kiln; WriteProfileLinks writes logical targets (/kiln/store/...) for a
// root file system being assembled, e.g. an image. On a kiln machine the
// two coincide. Readers (Generations, Roots) accept both.

// Generation is one generation of a profile.
type Generation struct {
	N       int
	Path    Path
	Created time.Time
	Current bool
}

// ProfileDir is StateDir/profiles.
func (s *Store) ProfileDir() string { return filepath.Join(s.StateDir, "profiles") }

// AddGeneration makes toplevel the current generation of profile. When it
// already is, nothing changes (created is false); otherwise it writes
// generation max+1 and points the profile at it, each link by an atomic
// rename.
func (s *Store) AddGeneration(profile string, toplevel Path) (n int, created bool, err error) {
	if err := checkProfile(profile); err != nil {
		return 0, false, err
	}
	gc, err := s.lockGC(context.Background(), false)
	if err != nil {
		return 0, false, fmt.Errorf("add generation of %s: %w", profile, err)
	}
	defer gc.unlock()
	if !s.Valid(toplevel) {
		return 0, false, fmt.Errorf("add generation of %s: %s: %w", profile, toplevel, ErrNotValid)
	}
	lock, err := lockFile(context.Background(), filepath.Join(s.lockDir(), "profile-"+profile+".lock"), true)
	if err != nil {
		return 0, false, fmt.Errorf("add generation of %s: %w", profile, err)
	}
	defer lock.unlock()
	gens, err := s.Generations(profile)
	if err != nil {
		return 0, false, err
	}
	last := 0
	for _, g := range gens {
		if g.Current && g.Path == toplevel {
			return g.N, false, nil
		}
		last = max(last, g.N)
	}
	n = last + 1
	if err := writeProfileLinks(s.ProfileDir(), profile, n, s.Physical(toplevel)); err != nil {
		return 0, false, fmt.Errorf("add generation of %s: %w", profile, err)
	}
	return n, true, nil
}

// WriteProfileLinks writes generation n of profile into profilesDir with
// the LOGICAL target toplevel.String() and makes it current: for a target
// root (an image being assembled), not for the running machine's store.
func WriteProfileLinks(profilesDir, profile string, n int, toplevel Path) error {
	if err := checkProfile(profile); err != nil {
		return err
	}
	if n < 1 || toplevel.IsZero() {
		return fmt.Errorf("write profile %s: generation %d of %q is not valid", profile, n, toplevel)
	}
	if err := os.MkdirAll(profilesDir, 0o755); err != nil {
		return fmt.Errorf("write profile %s: %w", profile, err)
	}
	if err := writeProfileLinks(profilesDir, profile, n, toplevel.String()); err != nil {
		return fmt.Errorf("write profile %s: %w", profile, err)
	}
	return nil
}

func writeProfileLinks(dir, profile string, n int, target string) error {
	gen := GenerationLink(profile, n)
	if err := fsutil.Symlink(target, filepath.Join(dir, gen)); err != nil {
		return err
	}
	return fsutil.Symlink(gen, filepath.Join(dir, profile))
}

// GenerationLink is the name of generation n's link in the profiles
// directory: PROFILE-N-link.
func GenerationLink(profile string, n int) string { return profile + "-" + strconv.Itoa(n) + "-link" }

// Generations lists profile's generations, oldest first.
func (s *Store) Generations(profile string) ([]Generation, error) {
	if err := checkProfile(profile); err != nil {
		return nil, err
	}
	dir := s.ProfileDir()
	current, err := os.Readlink(filepath.Join(dir, profile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("generations of %s: %w", profile, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("generations of %s: %w", profile, err)
	}
	var out []Generation
	for _, e := range ents {
		num, ok := strings.CutPrefix(e.Name(), profile+"-")
		num, ok2 := strings.CutSuffix(num, "-link")
		n, err := strconv.Atoi(num)
		if !ok || !ok2 || err != nil || n < 1 || e.Name() != GenerationLink(profile, n) {
			continue
		}
		link := filepath.Join(dir, e.Name())
		target, err := os.Readlink(link)
		if err != nil {
			return nil, fmt.Errorf("generations of %s: %w", profile, err)
		}
		p, ok := s.storePathOf(target)
		if !ok {
			return nil, fmt.Errorf("generations of %s: %s points to %s, not a store path", profile, link, target)
		}
		st, err := os.Lstat(link)
		if err != nil {
			return nil, fmt.Errorf("generations of %s: %w", profile, err)
		}
		out = append(out, Generation{N: n, Path: p, Created: st.ModTime(), Current: e.Name() == current})
	}
	slices.SortFunc(out, func(a, b Generation) int { return a.N - b.N })
	return out, nil
}

// SetCurrent points profile at its existing generation n (a rollback).
func (s *Store) SetCurrent(profile string, n int) error {
	if err := checkProfile(profile); err != nil {
		return err
	}
	gen := GenerationLink(profile, n)
	if _, err := os.Lstat(filepath.Join(s.ProfileDir(), gen)); err != nil {
		return fmt.Errorf("set %s to generation %d: %w", profile, n, err)
	}
	if err := fsutil.Symlink(gen, filepath.Join(s.ProfileDir(), profile)); err != nil {
		return fmt.Errorf("set %s to generation %d: %w", profile, n, err)
	}
	return nil
}

// ErrCurrentGeneration is returned when deleting a profile's current
// generation.
var ErrCurrentGeneration = errors.New("the current generation")

// DeleteGeneration removes generation n of profile (its link: its store
// paths stay until a collection). The current generation is refused; a
// generation that is not there is not an error.
func (s *Store) DeleteGeneration(profile string, n int) error {
	if err := checkProfile(profile); err != nil {
		return err
	}
	gen := GenerationLink(profile, n)
	if cur, err := os.Readlink(filepath.Join(s.ProfileDir(), profile)); err == nil && cur == gen {
		return fmt.Errorf("delete generation %d of %s: %w", n, profile, ErrCurrentGeneration)
	}
	if err := os.Remove(filepath.Join(s.ProfileDir(), gen)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete generation %d of %s: %w", n, profile, err)
	}
	return nil
}

// RevertGeneration undoes AddGeneration's generation n: the profile points
// at prev again (no generation at all when prev is 0) and n's link goes.
func (s *Store) RevertGeneration(profile string, n, prev int) error {
	if err := checkProfile(profile); err != nil {
		return err
	}
	if prev > 0 {
		if err := s.SetCurrent(profile, prev); err != nil {
			return err
		}
	} else if err := os.Remove(filepath.Join(s.ProfileDir(), profile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("revert %s: %w", profile, err)
	}
	return s.DeleteGeneration(profile, n)
}

func checkProfile(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") || name[0] == '.' || strings.HasSuffix(name, "-link") {
		return fmt.Errorf("bad profile name %q", name)
	}
	return nil
}
