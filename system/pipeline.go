package system

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/kiln-os/kiln/cache"
	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/store"
)

// Options says what Build builds and how.
type Options struct {
	PlanOptions
	Store *store.Store
	// HostFile is the configuration ("" for the built-in default system),
	// LockFile the kiln.lock beside it.
	HostFile, LockFile string
	// Fetch is how the locked packages missing from the store are
	// realized; NoMirror, when set, is why Fetch has no mirror (a fetch
	// failure says so).
	Fetch    debian.FetchOptions
	NoMirror error
	// PlanOnly stops after planning and the audit: nothing is built, and
	// nothing is fetched (Result.Fetch says what would be).
	PlanOnly bool
	// Progress, when set, hears of each part as it is reused or built.
	Progress func(Event)
	// Cache says how the configuration's substituters are opened (the
	// environment S3 credentials come from); NoSubstitute ignores them.
	// SubstituteJobs is how many paths download at once (0: cache's
	// default).
	Cache          cache.Options
	NoSubstitute   bool
	SubstituteJobs int
}

// Result is what Build made (or, with PlanOnly, would make).
type Result struct {
	Config *modules.Config
	// Fetch, set only by a PlanOnly build whose packages are not all in
	// the store, is what realizing them would fetch; Plan is then nil.
	Fetch      *debian.RealizePlan
	Plan       *BuildPlan
	Toplevel   store.Path
	Parts      map[string]store.Path
	Built      []string // parts that were built (the others were reused)
	InitrdSize int64    // bytes of the compressed initrd (0 when reused and unreadable)
	Kernel     string   // kernel version
	// Substituted are the paths taken from the configuration's
	// substituters, SubstitutedBytes what was downloaded for them.
	Substituted      []store.Path
	SubstitutedBytes int64
	// Warnings are what the build found that did not stop it.
	Warnings []Warning
}

// Warning is something a build found worth saying that did not stop it.
type Warning struct {
	Text string
}

func (w Warning) String() string { return w.Text }

// NoLockError is a configuration without a kiln.lock (kiln lock makes
// one).
type NoLockError struct {
	Lock string
}

func (e *NoLockError) Error() string {
	return fmt.Sprintf("no %s beside the configuration", filepath.Base(e.Lock))
}

func (e *NoLockError) Unwrap() error { return fs.ErrNotExist }

// StaleLockError is a lock that does not cover the configuration: it
// neither locks nor was resolved for the Missing packages (kiln lock
// resolves them).
type StaleLockError struct {
	Lock    string
	Missing []string
}

func (e *StaleLockError) Error() string {
	return fmt.Sprintf("%s is stale: it does not lock %s", e.Lock, strings.Join(e.Missing, ", "))
}

// ConfigError is a configuration that does not load; its Diagnostics say
// where and why.
type ConfigError struct {
	Diagnostics hcl.Diagnostics
}

func (e *ConfigError) Error() string {
	n := 0
	for _, d := range e.Diagnostics {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("configuration has %d error%s", n, s)
}

// Build is the one build pipeline of every verb that needs a system: it
// reads the lock beside the configuration, loads the configuration with
// the lock's packages, checks that the lock covers it, realizes the locked
// packages into the store, plans every part (PlanBuild), audits the
// packages' maintainer scripts, and builds the parts whose store paths are
// not yet valid (ApplyBuild). A rebuild with nothing changed only plans.
//
// Its errors are a *NoLockError, a *StaleLockError, a *ConfigError, or
// what fetching, planning or building met. When planning succeeded and
// building failed, the Result (with its Warnings) comes with the error.
func Build(ctx context.Context, o Options) (*Result, error) {
	lock, err := debian.ReadLock(o.LockFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &NoLockError{Lock: o.LockFile}
	}
	if err != nil {
		return nil, err
	}
	cfg, diags := modules.Load(o.HostFile, modules.LoadOptions{Packages: lockPackages{lock}})
	if diags.HasErrors() {
		// A package the lock lacks is an unknown pkgs.NAME: say the lock
		// is stale when the configuration loads without the lock.
		if all, adiags := modules.Load(o.HostFile, modules.LoadOptions{}); !adiags.HasErrors() {
			if err := checkLock(lock, &all.System, o.LockFile); err != nil {
				return nil, err
			}
		}
		return nil, &ConfigError{Diagnostics: diags}
	}
	if err := checkLock(lock, &cfg.System, o.LockFile); err != nil {
		return nil, err
	}
	fetch := o.Fetch
	fetch.Documentation = fetch.Documentation || cfg.System.Documentation.Enable
	sub, err := newSubstitution(&cfg.System, o)
	if err != nil {
		return nil, err
	}
	if o.PlanOnly {
		// A dry run changes nothing: with packages missing from the store
		// it says what would be fetched (the parts' paths depend on the
		// unpacked packages).
		rp, err := debian.PlanRealize(o.Store, lock, fetch)
		if err != nil {
			return nil, err
		}
		if len(rp.Missing) > 0 {
			return &Result{Config: cfg, Fetch: rp}, nil
		}
	} else if sub != nil {
		if err := sub.take(ctx, o.Store, lockPaths(lock)); err != nil {
			return nil, err
		}
		if fetch.Debs == nil {
			fetch.Debs = sub.debs()
		}
	}
	paths, err := debian.Realize(ctx, o.Store, lock, fetch)
	if err != nil {
		if fetch.Mirror == nil && o.NoMirror != nil {
			return nil, fmt.Errorf("%w (and no mirror: %v)", err, o.NoMirror)
		}
		return nil, err
	}
	pk := NewPackageSet(o.Store.Dir, paths)
	popts := o.PlanOptions
	if popts.ScriptCache == "" {
		popts.ScriptCache = filepath.Join(o.Store.StateDir, "maintscripts")
	}
	plan, err := PlanBuild(&cfg.System, pk, popts)
	if err != nil {
		return nil, locate(err, cfg)
	}
	warnings := plan.warnings
	if sub != nil && !o.PlanOnly {
		err := sub.take(ctx, o.Store, plan.partPaths())
		warnings = append(warnings, sub.warn...)
		if err != nil {
			res := plan.result()
			res.Config, res.Warnings = cfg, warnings
			return res, err
		}
	}
	if o.PlanOnly {
		res := plan.result()
		res.Config, res.Warnings = cfg, warnings
		return res, nil
	}
	res, err := ApplyBuild(ctx, o.Store, plan, o.Progress)
	if err != nil {
		res = plan.result()
	}
	res.Config, res.Warnings = cfg, warnings
	if sub != nil {
		res.Substituted, res.SubstitutedBytes = sub.result.Substituted, sub.result.SubstitutedBytes
	}
	return res, locate(err, cfg)
}

// result is the Result of a plan before anything is built.
func (p *BuildPlan) result() *Result {
	return &Result{Toplevel: p.Parts[PartToplevel], Parts: p.Parts, Kernel: p.Kernel.Version, Plan: p}
}

// checkLock fails with a StaleLockError when lock lacks a package sys
// wants.
func checkLock(lock *debian.Lock, sys *modules.System, lockFile string) error {
	roots := map[string]bool{}
	for _, n := range lock.Roots.Packages {
		roots[n] = true
	}
	var missing []string
	for _, w := range WantedPackages(sys) {
		if _, ok := lock.Package(w); !ok && !roots[w] {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		return &StaleLockError{Lock: lockFile, Missing: missing}
	}
	return nil
}

// LoadConfig loads a host file ("" for the default system) for reading:
// pkgs.NAME is the store path lockFile pins, or a placeholder path when
// the lock does not pin it or there is no lock (kiln eval and kiln lock
// work before the lock knows a new package). Diagnostics come as a
// *ConfigError.
func LoadConfig(hostFile, lockFile string) (*modules.Config, error) {
	cfg, _, err := LoadConfigUnlocked(hostFile, lockFile)
	return cfg, err
}

// LoadConfigUnlocked is LoadConfig that also returns the names of the
// packages the configuration refers to (pkgs.NAME) that lockFile does not
// pin, sorted: each got a placeholder path.
func LoadConfigUnlocked(hostFile, lockFile string) (*modules.Config, []string, error) {
	pkgs := evalPackages{unlocked: map[string]bool{}}
	lock, err := debian.ReadLock(lockFile)
	switch {
	case err == nil:
		pkgs.lock = lock
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, err
	}
	cfg, diags := modules.Load(hostFile, modules.LoadOptions{Packages: pkgs})
	if diags.HasErrors() {
		return nil, nil, &ConfigError{Diagnostics: diags}
	}
	unlocked := make([]string, 0, len(pkgs.unlocked))
	for n := range pkgs.unlocked {
		unlocked = append(unlocked, n)
	}
	sort.Strings(unlocked)
	return cfg, unlocked, nil
}

// AuditLock realizes the packages of lockFile into st (fetch says from
// where) and reads their maintainer scripts as data (AuditScripts, with
// hostName as the machine's host name and the configuration's debconf
// answers, as a build reads them).
func AuditLock(ctx context.Context, st *store.Store, lockFile, hostName string, answers map[string]string, fetch debian.FetchOptions) ([]*maintscript.Analysis, error) {
	lock, err := debian.ReadLock(lockFile)
	if err != nil {
		return nil, err
	}
	paths, err := debian.Realize(ctx, st, lock, fetch)
	if err != nil {
		return nil, err
	}
	return auditScripts(NewPackageSet(st.Dir, paths), hostName, answers)
}

// lockPackages answers pkgs.NAME from a lock.
type lockPackages struct{ l *debian.Lock }

func (lp lockPackages) Path(name string) (string, bool) {
	p, ok := lp.l.StorePath(name)
	if !ok {
		return "", false
	}
	return p.String(), true
}

func (lp lockPackages) Names() []string {
	out := make([]string, 0, len(lp.l.Packages))
	for _, p := range lp.l.Packages {
		out = append(out, p.Name)
	}
	return out
}

// evalPackages answers pkgs.NAME from the lock when it pins the package,
// else with the placeholder path.
type evalPackages struct {
	lock     *debian.Lock
	unlocked map[string]bool // names answered with the placeholder
}

func (p evalPackages) Path(name string) (string, bool) {
	if p.lock != nil {
		if s, ok := (lockPackages{p.lock}).Path(name); ok {
			return s, true
		}
	}
	p.unlocked[name] = true
	return store.LogicalDir + "/" + modules.PlaceholderHash + "-" + name, true
}

func (p evalPackages) Names() []string {
	if p.lock == nil {
		return nil
	}
	return lockPackages{p.lock}.Names()
}
