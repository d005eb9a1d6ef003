package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// Build makes p unless it is valid already. fill creates p's content at
// tmp, which does not exist yet: a directory, a regular file or a symlink
// (like Nix's $out). Contents refer to other paths by their logical names
// (/kiln/store/...), whatever s.Dir is.
//
// Build then canonicalizes the tree (owner root when running as root,
// files 0444 or 0555, directories 0555, no setuid/setgid/sticky, no
// xattrs, mtime 1), computes its NAR hash and size, flushes it to disk,
// renames it into place and registers p with refs. refs must be valid or
// p itself. Builders of one path in any number of processes take turns:
// the second waits and then finds p valid. When fill fails, panics or the
// process dies, p stays invalid and its temp dir is removed (by Build, or
// after a kill by the next Open or GC).
//
// Build, even of a path already valid, makes p a temporary GC root until
// the process exits or calls Close, so that a collection running between
// two builds or before AddRoot does not take it. Valid alone does not.
func (s *Store) Build(ctx context.Context, p Path, refs []Path, fill func(tmp string) error) error {
	if err := s.build(ctx, p, refs, fill); err != nil {
		return fmt.Errorf("build %s: %w", p, err)
	}
	return nil
}

func (s *Store) build(ctx context.Context, p Path, refs []Path, fill func(string) error) error {
	if p.IsZero() {
		return errors.New("zero store path")
	}
	gc, err := s.lockGC(ctx, false)
	if err != nil {
		return err
	}
	defer gc.unlock()
	// Root p before looking at it: from here no collection can take it
	// while this process lives (see temproots.go).
	if err := s.addTempRoot(p); err != nil {
		return err
	}
	if s.Valid(p) {
		return nil
	}
	refs, err = s.checkRefs(p, refs)
	if err != nil {
		return err
	}
	lock, err := lockFile(ctx, s.pathLock(p), true)
	if err != nil {
		return err
	}
	defer lock.unlock()
	if s.Valid(p) {
		return nil // built by whoever held the lock before us
	}
	dst := s.Physical(p)
	if _, err := os.Lstat(dst); err == nil {
		// Renamed into place but never registered: a builder died.
		if err := removeTree(dst); err != nil {
			return err
		}
	}
	if err := os.Mkdir(s.tmpDir(), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("store %s is not writable: %w", s.Dir, err)
	}
	work, err := os.MkdirTemp(s.tmpDir(), p.Base()+".")
	if err != nil {
		return fmt.Errorf("make temp dir: %w", err)
	}
	defer removeTree(work)
	tmp := filepath.Join(work, "out")
	if err := runFill(fill, tmp); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	info, err := s.seal(tmp, dst)
	if err != nil {
		removeTree(dst)
		return err
	}
	info.Path, info.Refs = p, refs
	if err := s.register(info); err != nil {
		removeTree(dst)
		return fmt.Errorf("register: %w", err)
	}
	return nil
}

// checkRefs returns refs sorted and deduplicated, or an error naming the
// first one that is not valid. A path may refer to itself.
func (s *Store) checkRefs(p Path, refs []Path) ([]Path, error) {
	out := sortPaths(append([]Path(nil), refs...))
	for _, r := range out {
		if r != p && !s.Valid(r) {
			return nil, fmt.Errorf("reference %s: %w", r, ErrNotValid)
		}
	}
	if out == nil {
		out = []Path{}
	}
	return out, nil
}

// runFill calls fill, turning a panic into an error and checking that
// fill made something at tmp.
func runFill(fill func(string) error, tmp string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("fill panicked: %v", r)
		}
	}()
	if err := fill(tmp); err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	if _, err := os.Lstat(tmp); err != nil {
		return fmt.Errorf("fill made nothing: %w", err)
	}
	return nil
}

// seal canonicalizes and hashes tmp, flushes it and renames it to dst.
func (s *Store) seal(tmp, dst string) (Info, error) {
	w := newWalker(true)
	narHash, narSize, err := w.hashTree(tmp)
	if err != nil {
		return Info{}, fmt.Errorf("canonicalize: %w", err)
	}
	if err := syncTree(tmp, w.files); err != nil {
		return Info{}, err
	}
	st, err := os.Lstat(tmp)
	if err != nil {
		return Info{}, err
	}
	if st.IsDir() {
		// Moving a directory to another parent rewrites its "..", which
		// needs write permission on it when not running as root.
		if err := os.Chmod(tmp, 0o755); err != nil {
			return Info{}, err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return Info{}, fmt.Errorf("move into store: %w", err)
	}
	if st.IsDir() {
		if err := os.Chmod(dst, 0o555); err != nil {
			return Info{}, err
		}
		ts := []unix.Timespec{canonMtime, canonMtime}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return Info{}, fmt.Errorf("set mtime of %s: %w", dst, err)
		}
	}
	if err := fsutil.SyncDir(s.Dir); err != nil {
		return Info{}, err
	}
	return Info{NarHash: narHash, NarSize: narSize, Registered: time.Now().UTC().Truncate(time.Millisecond)}, nil
}

// syncTree makes a freshly written tree durable. Small trees get an fsync
// per entry; big ones one syncfs(2) of the file system, which costs about
// one journal commit instead of one per file.
func syncTree(root string, entries int) error {
	if entries > 16 {
		f, err := os.Open(root)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := unix.Syncfs(int(f.Fd())); err != nil {
			return fmt.Errorf("sync %s: %w", root, err)
		}
		return nil
	}
	return filepath.WalkDir(root, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sync %s: %w", name, err)
		}
		return nil
	})
}

// randSuffix makes temp names unique. Not crypto/rand: getrandom can
// block early in boot, when activation may already use the store.
func randSuffix() string { return strconv.FormatUint(rand.Uint64(), 36) }
