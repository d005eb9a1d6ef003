package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/system"
)

type buildFlags struct {
	config string
	out    string
	dryRun bool
}

func init() {
	register(&command{
		name:    "build",
		summary: "build a system's toplevel from its configuration and kiln.lock",
		usage:   "kiln build [-c host.hcl] [-o result] [--dry-run]",
		flags: func(fs *flag.FlagSet) any {
			f := &buildFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` (default: the built-in default system)")
			fs.StringVar(&f.out, "o", "result", "`LINK` to the toplevel (a GC root)")
			fs.BoolVar(&f.dryRun, "dry-run", false, "print the store paths the build would make, build nothing")
			return f
		},
		run: runBuild,
	})
}

func runBuild(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*buildFlags)
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	b, err := buildSystem(ctx, r, f.config, f.dryRun)
	if err != nil {
		return err
	}
	if f.dryRun {
		for _, line := range strings.Split(strings.TrimRight(b.plan.String(), "\n"), "\n") {
			state := "build"
			if fields := strings.Fields(line); len(fields) == 2 {
				if p, err := store.ParsePath(fields[1]); err == nil && b.st.Valid(p) {
					state = "valid"
				}
			}
			r.Printf("%s  (%s)\n", line, state)
		}
		return nil
	}
	if f.out != "" {
		if err := b.st.AddRoot(r.Path(f.out), b.res.Toplevel); err != nil {
			return fmt.Errorf("link %s: %w", f.out, err)
		}
	}
	r.Printf("%s\n", b.res.Toplevel)
	return nil
}

// built is a finished (or planned) system build.
type built struct {
	st   *store.Store
	cfg  *modules.Config
	plan *system.Plan
	res  *system.Result
}

// lockFor returns the kiln.lock beside the host file (or in the working
// directory for the default system).
func (r *Run) lockFor(hostFile string) string {
	if hostFile == "" {
		return r.Path(debian.LockFile)
	}
	return filepath.Join(filepath.Dir(r.Path(hostFile)), debian.LockFile)
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

// buildSystem loads the configuration and its lock, realizes the locked
// packages and builds (or only plans) the toplevel.
func buildSystem(ctx context.Context, r *Run, hostFile string, planOnly bool) (*built, error) {
	lockFile := r.lockFor(hostFile)
	lock, err := debian.ReadLock(lockFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no %s beside the configuration: run 'kiln lock%s' first", debian.LockFile, configFlag(hostFile))
		}
		return nil, err
	}
	cfg, diags := modules.Load(r.Path(hostFile), modules.LoadOptions{Packages: lockPackages{lock}})
	if diags.HasErrors() {
		// A package the lock lacks is an unknown pkgs.NAME: say the lock
		// is stale when the configuration loads without the lock.
		if any, adiags := modules.Load(r.Path(hostFile), modules.LoadOptions{}); !adiags.HasErrors() {
			if missing := staleLock(lock, system.WantedPackages(&any.System)); len(missing) > 0 {
				return nil, fmt.Errorf("%s is stale: it does not lock %s; run 'kiln lock%s'", lockFile, strings.Join(missing, ", "), configFlag(hostFile))
			}
		}
		fmt.Fprint(r.Stderr, modules.DiagnosticText(diags, 0))
		n := 0
		for _, d := range diags {
			if d.Severity == hcl.DiagError {
				n++
			}
		}
		return nil, fmt.Errorf("configuration has %d error%s", n, plural(n))
	}
	if missing := staleLock(lock, system.WantedPackages(&cfg.System)); len(missing) > 0 {
		return nil, fmt.Errorf("%s is stale: it does not lock %s; run 'kiln lock%s'", lockFile, strings.Join(missing, ", "), configFlag(hostFile))
	}
	st, err := store.Open(r.storeDir())
	if err != nil {
		return nil, err
	}
	mirror, merr := debian.FindMirror(r.Mirror, r.Getenv, "/etc/apt")
	bar := newBar(r, "fetch")
	paths, err := debian.Realize(ctx, st, lock, debian.FetchOptions{
		Mirror: mirror, CacheDir: r.cacheDir(), Documentation: cfg.System.Documentation.Enable,
		Progress: func(p debian.Progress) { bar.set(int64(p.Done), int64(p.Total), p.Package) },
	})
	bar.done()
	if err != nil {
		if mirror == nil && merr != nil {
			return nil, fmt.Errorf("%w (and no mirror: %v)", err, merr)
		}
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the kiln binary: %w", err)
	}
	opts := system.Options{KilnBinary: exe, Version: Version}
	pk := system.NewPackageSet(st.Dir, paths)
	plan, err := system.MakePlan(&cfg.System, pk, opts)
	if err != nil {
		return nil, err
	}
	if entries, err := system.Audit(pk); err == nil {
		var unreviewed []string
		for _, e := range entries {
			if e.Handled == "" {
				unreviewed = append(unreviewed, e.Package)
			}
		}
		if len(unreviewed) > 0 {
			fmt.Fprintf(r.Stderr, "kiln: warning: maintainer scripts kiln does not replace yet: %s (see kiln audit)\n", strings.Join(unreviewed, ", "))
		}
	}
	b := &built{st: st, cfg: cfg, plan: plan}
	if planOnly {
		return b, nil
	}
	start := time.Now()
	parts := 0
	plan.SetProgress(func(e system.Event) {
		parts++
		what := "built"
		if e.Reused {
			what = "reused"
		}
		if e.Err == nil {
			r.Logf("%-15s %s %s", e.Part, what, e.Path)
		}
	})
	if b.res, err = plan.Build(ctx, st); err != nil {
		return nil, err
	}
	r.Logf("built %d of %d parts in %s; initrd %d KiB", len(b.res.Built), parts, time.Since(start).Round(time.Millisecond), b.res.InitrdSize>>10)
	return b, nil
}

// staleLock lists the wanted packages a lock neither locks nor was
// resolved for.
func staleLock(l *debian.Lock, wanted []string) []string {
	roots := map[string]bool{}
	for _, n := range l.Roots.Packages {
		roots[n] = true
	}
	var missing []string
	for _, w := range wanted {
		if _, ok := l.Package(w); !ok && !roots[w] {
			missing = append(missing, w)
		}
	}
	return missing
}

func configFlag(hostFile string) string {
	if hostFile == "" {
		return ""
	}
	return " -c " + hostFile
}

// bar draws a one-line progress bar on stderr.
type bar struct {
	r     *Run
	what  string
	drawn bool
	last  int64 // percent last drawn
	item  string
	off   bool
}

// newBar returns a bar that draws only when stderr is a terminal.
func newBar(r *Run, what string) *bar { return &bar{r: r, what: what, off: !isTerminal(r.Stderr)} }

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (b *bar) set(done, total int64, item string) {
	if total <= 0 || b.off {
		return
	}
	pct := done * 100 / total
	if b.drawn && pct == b.last && item == b.item {
		return
	}
	b.last, b.item = pct, item
	const width = 30
	n := int(done * width / total)
	if len(item) > 30 {
		item = item[:30]
	}
	fmt.Fprintf(b.r.Stderr, "\r%-6s [%s%s] %3d%% %-30s", b.what, strings.Repeat("#", n), strings.Repeat(".", width-n), pct, item)
	b.drawn = true
}

func (b *bar) done() {
	if b.drawn {
		fmt.Fprintln(b.r.Stderr)
	}
}
