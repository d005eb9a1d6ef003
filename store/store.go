package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/internal/versioned"
)

// dbVersion is the version of the validity records this code writes.
// Readers accept every version up to it (see readRecord).
const dbVersion = 1

// ErrNotValid reports a store path that is not registered or not present.
var ErrNotValid = errors.New("not a valid store path")

// Store is a store directory with its state directory.
type Store struct {
	Dir      string // physical directory holding the store paths
	StateDir string // db, locks, gcroots, profiles: Dir/../var, which names Dir (identity.go)

	temp tempRoots
}

// Info is what the validity database records about a path.
type Info struct {
	Path       Path      `json:"path"`
	Refs       []Path    `json:"refs"`
	NarHash    string    `json:"narHash"` // "sha256:<nix32>" of the NAR serialization
	NarSize    int64     `json:"narSize"`
	Registered time.Time `json:"registered"`
}

// record is one validity record on disk: StateDir/db/paths/<base>.json.
type record struct {
	Version int `json:"version"`
	Info
}

// Open opens the store at dir, creating it and its state directory
// (filepath.Dir(dir)/var) when missing, and removes what interrupted
// builds and collections left in the temp directory.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{Dir: abs, StateDir: filepath.Join(filepath.Dir(abs), "var")}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// A kiln machine mounts its store read-only: reading (Valid, Info,
	// Closure, Verify) works then, Build fails on the missing temp dir.
	if err := os.Mkdir(s.tmpDir(), 0o755); err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, syscall.EROFS) {
		return nil, fmt.Errorf("open store: %w", err)
	}
	for _, d := range []string{s.dbDir(), s.lockDir(), filepath.Join(s.StateDir, "gcroots", "auto"), s.ProfileDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	if err := s.checkIdentity(); err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	if err := s.cleanTemp(); err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	return s, nil
}

func (s *Store) tmpDir() string  { return filepath.Join(s.Dir, ".tmp") }
func (s *Store) dbDir() string   { return filepath.Join(s.StateDir, "db", "paths") }
func (s *Store) lockDir() string { return filepath.Join(s.StateDir, "locks") }
func (s *Store) gcLock() string  { return filepath.Join(s.StateDir, "gc.lock") }

func (s *Store) recordFile(p Path) string { return filepath.Join(s.dbDir(), p.Base()+".json") }
func (s *Store) pathLock(p Path) string   { return filepath.Join(s.lockDir(), p.Base()+".lock") }

// Physical returns where p is kept on this machine: Dir/<hash>-<name>.
// It equals p.String() only when Dir is LogicalDir.
func (s *Store) Physical(p Path) string { return filepath.Join(s.Dir, p.Base()) }

// Valid reports whether p is registered in the database and present.
func (s *Store) Valid(p Path) bool {
	if p.IsZero() {
		return false
	}
	if _, err := os.Lstat(s.recordFile(p)); err != nil {
		return false
	}
	_, err := os.Lstat(s.Physical(p))
	return err == nil
}

// Info returns the database record of a valid path.
func (s *Store) Info(p Path) (Info, error) {
	if !s.Valid(p) {
		return Info{}, fmt.Errorf("info %s: %w", p, ErrNotValid)
	}
	r, err := s.readRecord(p)
	if err != nil {
		return Info{}, fmt.Errorf("info %s: %w", p, err)
	}
	return r.Info, nil
}

// readRecord reads and checks p's record (internal/versioned's policy).
// Version 1 is the only version so far; a later version adds its upgrade
// here.
func (s *Store) readRecord(p Path) (record, error) {
	name := s.recordFile(p)
	b, err := os.ReadFile(name)
	if err != nil {
		return record{}, err
	}
	var r record
	if _, err := versioned.Decode(b, dbVersion, &r); err != nil {
		return record{}, fmt.Errorf("parse %s: %w", name, err)
	}
	if r.Path != p {
		return record{}, fmt.Errorf("%s: records %s, want %s", name, r.Path, p)
	}
	return r, nil
}

// register writes p's record: temp file, fsync, rename, fsync of the
// directory. The rename is the moment p becomes valid.
func (s *Store) register(info Info) error {
	b, err := json.MarshalIndent(record{Version: dbVersion, Info: info}, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFile(s.recordFile(info.Path), append(b, '\n'), 0o644)
}

// registered lists every path with a record, valid or not.
func (s *Store) registered() ([]Path, error) {
	ents, err := os.ReadDir(s.dbDir())
	if err != nil {
		return nil, err
	}
	var out []Path
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if p, err := ParsePath(base); err == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// cleanTemp removes what dead builders and collectors left under Dir/.tmp.
// A build's temp dir is named <base>.<random>; its builder holds <base>'s
// path lock, so a dir whose lock is free belongs to nobody. Collector
// leftovers (gc-*) are only removed when no collection runs.
func (s *Store) cleanTemp() error {
	ents, err := os.ReadDir(s.tmpDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil || len(ents) == 0 {
		return err
	}
	gc, err := tryLockFile(s.gcLock(), false)
	if err != nil || gc == nil {
		return err // a collection runs; it cleans up itself
	}
	defer gc.unlock()
	for _, e := range ents {
		name := filepath.Join(s.tmpDir(), e.Name())
		if strings.HasPrefix(e.Name(), "gc-") {
			if err := removeTree(name); err != nil {
				return err
			}
			continue
		}
		i := strings.LastIndexByte(e.Name(), '.')
		p, perr := ParsePath(e.Name()[:max(i, 0)])
		if perr != nil {
			continue // not ours
		}
		l, err := tryLockFile(s.pathLock(p), true)
		if err != nil {
			return err
		}
		if l == nil {
			continue // its builder is alive
		}
		err = removeTree(name)
		l.unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// removeTree deletes a tree whose directories may be read-only (0555).
func removeTree(name string) error {
	err := os.RemoveAll(name)
	if err == nil {
		return nil
	}
	filepath.WalkDir(name, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(name); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// lockGC takes the collector lock: shared for builders, exclusive for GC.
func (s *Store) lockGC(ctx context.Context, exclusive bool) (*fileLock, error) {
	return lockFile(ctx, s.gcLock(), exclusive)
}

// ExportRecords writes the validity records of paths into another state
// directory (targetStateDir/db/paths), e.g. the /kiln/var of an image
// whose /kiln/store receives those paths, so that the store there knows
// them as valid with their hashes and references. Every path must be
// valid here. The exported records carry ExportedRegistration as their
// registration time, as store files carry mtime 1: an image made from two
// stores that built the same paths at different times is the same image.
func (s *Store) ExportRecords(targetStateDir string, paths ...Path) error {
	dir := filepath.Join(targetStateDir, "db", "paths")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export records: %w", err)
	}
	for _, p := range paths {
		if !s.Valid(p) {
			return fmt.Errorf("export record of %s: %w", p, ErrNotValid)
		}
		r, err := s.readRecord(p)
		if err != nil {
			return fmt.Errorf("export record of %s: %w", p, err)
		}
		r.Version, r.Registered = dbVersion, ExportedRegistration
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return fmt.Errorf("export record of %s: %w", p, err)
		}
		// A staging tree, not a live store: atomic but not fsynced.
		name := filepath.Join(dir, p.Base()+".json")
		if err := os.WriteFile(name+".tmp", append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("export record of %s: %w", p, err)
		}
		if err := os.Rename(name+".tmp", name); err != nil {
			return fmt.Errorf("export record of %s: %w", p, err)
		}
	}
	return nil
}

// ExportedRegistration is the registration time of exported records.
var ExportedRegistration = time.Unix(1, 0).UTC()
