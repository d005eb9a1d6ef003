package shell

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/system"
)

// Options say which packages an environment holds and where their lock
// comes from.
type Options struct {
	Packages []string // Debian package names
	// Lock, when set, is the only lock considered: it must lock every
	// package; when it does not exist, a fresh resolution is written
	// there.
	Lock string
	// ProjectLock is the project's kiln.lock (beside the host file, or in
	// the working directory). It is used when it locks every package.
	ProjectLock string
	// RecordDir keeps the locks of fresh resolutions, one per package set
	// (RecordFile).
	RecordDir string
	// Update resolves again even when a lock would serve, and records the
	// result (in Lock when set).
	Update bool
	// Load reads the signed indices; it is called only to resolve.
	Load func(ctx context.Context) (*debian.Universe, map[string]debian.Input, error)
	// Fetch is how Realize gets the packages the store lacks.
	Fetch debian.FetchOptions
}

// Env is a prepared environment.
type Env struct {
	Usr      store.Path            // the merged /usr of the closure
	Packages map[string]store.Path // the closure, realized
	Lock     *debian.Lock          // the closure as locked
	LockFile string                // the lock it came from
	Resolved bool                  // LockFile was written now by a fresh resolution
	Built    bool                  // Usr was built now
}

// ErrBadName reports a package argument that is not a Debian package name.
var ErrBadName = errors.New("not a Debian package name")

// packageName is Debian policy's package name (§5.6.1).
var packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// Prepare finds or makes the lock of o.Packages, realizes the closure in
// st and builds (or reuses) its merged /usr.
func Prepare(ctx context.Context, st *store.Store, o Options) (*Env, error) {
	pkgs, err := cleanNames(o.Packages)
	if err != nil {
		return nil, err
	}
	o.Packages = pkgs
	env := &Env{}
	if env.Lock, env.LockFile, env.Resolved, err = o.lock(ctx); err != nil {
		return nil, err
	}
	if env.Packages, err = debian.Realize(ctx, st, env.Lock, o.Fetch); err != nil {
		return nil, err
	}
	pk := system.NewPackageSet(st.Dir, env.Packages)
	if env.Usr, env.Built, err = system.BuildEnv(ctx, st, pk, envName(pkgs)); err != nil {
		return nil, err
	}
	return env, nil
}

// cleanNames checks the names and returns them sorted, without
// duplicates.
func cleanNames(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, errors.New("no packages given")
	}
	var bad []string
	for _, n := range names {
		if !packageName.MatchString(n) {
			bad = append(bad, fmt.Sprintf("%q", n))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: %w", strings.Join(bad, ", "), ErrBadName)
	}
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// envName names the environment's store path after its packages.
func envName(pkgs []string) string {
	name := "shell-" + strings.Join(pkgs, "-")
	if len(name) > 100 || store.ValidateName(name) != nil {
		return "shell-env"
	}
	return name
}

// RecordFile is the file name under RecordDir of the lock recorded for a
// package set: the names joined by commas, or a digest of them when that
// is too long for a file name.
func RecordFile(pkgs []string) string {
	pkgs, _ = cleanNames(pkgs)
	joined := strings.Join(pkgs, ",")
	if len(joined) > 200 {
		sum := sha256.Sum256([]byte(joined))
		joined = hex.EncodeToString(sum[:16])
	}
	return joined + ".lock"
}

// lock returns the closure to realize, the file it came from, and
// whether it was resolved now.
func (o *Options) lock(ctx context.Context) (*debian.Lock, string, bool, error) {
	req := debian.Request{Packages: o.Packages}
	if o.Lock != "" {
		l, err := debian.ReadLock(o.Lock)
		switch {
		case o.Update:
		case err == nil:
			c, err := closure(l, req)
			if err != nil {
				return nil, "", false, fmt.Errorf("%s: %w (drop --lock, or add the packages to it)", o.Lock, err)
			}
			return c, o.Lock, false, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, "", false, err
		}
		l, err = o.resolve(ctx, req, o.Lock)
		return l, o.Lock, err == nil, err
	}
	if o.ProjectLock != "" && !o.Update {
		l, err := debian.ReadLock(o.ProjectLock)
		switch {
		case err == nil:
			if c, err := l.Closure(o.Packages); err == nil {
				return c, o.ProjectLock, false, nil
			}
		case !errors.Is(err, os.ErrNotExist):
			return nil, "", false, err
		}
	}
	file := filepath.Join(o.RecordDir, RecordFile(o.Packages))
	if !o.Update {
		if l, err := debian.ReadLock(file); err == nil && l.Matches(req) {
			return l, file, false, nil
		}
	}
	l, err := o.resolve(ctx, req, file)
	return l, file, err == nil, err
}

// closure is what an environment of req needs from l: all of a lock
// resolved for exactly req, else the closure of req's packages in it.
func closure(l *debian.Lock, req debian.Request) (*debian.Lock, error) {
	if l.Matches(req) {
		return l, nil
	}
	return l.Closure(req.Packages)
}

// resolve resolves req (plus Essential) against the signed indices and
// records the lock in file.
func (o *Options) resolve(ctx context.Context, req debian.Request, file string) (*debian.Lock, error) {
	if o.Load == nil {
		return nil, errors.New("resolve: no archive to resolve against")
	}
	u, inputs, err := o.Load(ctx)
	if err != nil {
		return nil, err
	}
	res, err := debian.Resolve(u, req)
	if err != nil {
		return nil, err
	}
	l := debian.NewLock(inputs, req, res)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, fmt.Errorf("record lock: %w", err)
	}
	if err := l.Write(file); err != nil {
		return nil, fmt.Errorf("record lock: %w", err)
	}
	return l, nil
}
