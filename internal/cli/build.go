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

	"github.com/kiln-os/kiln/cache"
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
	// A kiln machine's store is mounted read-only (privns.go); kiln
	// switch -c builds through this verb there too.
	if done, err := r.inPrivateMountNS(ctx, r.storeDir()); done || err != nil {
		return err
	}
	st, err := store.Open(r.storeDir())
	if err != nil {
		return err
	}
	res, err := r.build(ctx, st, f.config, f.dryRun)
	if err != nil {
		return err
	}
	if f.dryRun {
		for _, line := range strings.Split(strings.TrimRight(res.Plan.String(), "\n"), "\n") {
			state := "build"
			if fields := strings.Fields(line); len(fields) == 2 {
				if p, err := store.ParsePath(fields[1]); err == nil && st.Valid(p) {
					state = "valid"
				}
			}
			r.Printf("%s  (%s)\n", line, state)
		}
		return nil
	}
	if f.out != "" {
		if err := st.AddRoot(r.Path(f.out), res.Toplevel); err != nil {
			return fmt.Errorf("link %s: %w", f.out, err)
		}
	}
	r.Printf("%s\n", res.Toplevel)
	return nil
}

// lockFor returns the kiln.lock beside the host file (or in the working
// directory for the default system).
func (r *Run) lockFor(hostFile string) string {
	if hostFile == "" {
		return r.Path(debian.LockFile)
	}
	return filepath.Join(filepath.Dir(r.Path(hostFile)), debian.LockFile)
}

// build runs system.Build for the host file ("" for the default system)
// into st, drawing the fetch and logging the parts; it prints the
// warnings and a configuration's diagnostics.
func (r *Run) build(ctx context.Context, st *store.Store, hostFile string, planOnly bool) (*system.Result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the kiln binary: %w", err)
	}
	mirror, noMirror := debian.FindMirror(r.Mirror, r.Getenv, aptDir)
	bar := newBar(r, "fetch")
	start, parts := time.Now(), 0
	res, err := system.Build(ctx, system.Options{
		PlanOptions: system.PlanOptions{KilnBinary: exe, Version: Version},
		Store:       st, HostFile: r.Path(hostFile), LockFile: r.lockFor(hostFile), PlanOnly: planOnly,
		Fetch: debian.FetchOptions{Mirror: mirror, CacheDir: r.cacheDir(),
			Progress: bar.fetch},
		NoMirror: noMirror,
		Cache:    cache.Options{Getenv: r.Getenv},
		Progress: func(e system.Event) {
			parts++
			bar.done()
			what := "built"
			if e.Reused {
				what = "reused"
			}
			if e.Err == nil {
				r.Logf("%-15s %s %s", e.Part, what, e.Path)
			}
		},
	})
	bar.done()
	if res != nil {
		for _, w := range res.Warnings {
			fmt.Fprintf(r.Stderr, "kiln: warning: %s\n", w)
		}
	}
	var cerr *system.ConfigError
	if errors.As(err, &cerr) {
		fmt.Fprint(r.Stderr, modules.DiagnosticText(cerr.Diagnostics, 0))
	}
	var nolock *system.NoLockError
	var stale *system.StaleLockError
	switch {
	case errors.As(err, &nolock):
		return nil, fmt.Errorf("%w: run 'kiln lock%s' first", err, configFlag(hostFile))
	case errors.As(err, &stale):
		return nil, fmt.Errorf("%w; run 'kiln lock%s'", err, configFlag(hostFile))
	case err != nil:
		return nil, err
	}
	if n := len(res.Substituted); n > 0 {
		fmt.Fprintf(r.Stderr, "substituted %d paths (%s) from %s\n", n, store.FormatBytes(res.SubstitutedBytes), strings.Join(res.Config.System.Substituters, ", "))
	}
	if !planOnly {
		r.Logf("built %d of %d parts in %s; initrd %d KiB", len(res.Built), parts, time.Since(start).Round(time.Millisecond), res.InitrdSize>>10)
	}
	return res, nil
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
	at    time.Time // when last drawn
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
	if b.drawn && (pct == b.last && item == b.item || done < total && time.Since(b.at) < 100*time.Millisecond) {
		return
	}
	b.last, b.item, b.at = pct, item, time.Now()
	const width = 30
	n := int(done * width / total)
	if len(item) > 50 {
		item = item[:50]
	}
	fmt.Fprintf(b.r.Stderr, "\r%-6s [%s%s] %3d%% %-50s", b.what, strings.Repeat("#", n), strings.Repeat(".", width-n), pct, item)
	b.drawn = true
}

// fetch draws a fetch's progress: packages done, MiB downloaded.
func (b *bar) fetch(p debian.Progress) {
	item := fmt.Sprintf("%d/%d %s", p.Done, p.Total, p.Package)
	if p.BytesTotal > 0 {
		item = fmt.Sprintf("%d/%d, %.1f/%.1f MiB %s", p.Done, p.Total, float64(p.BytesDone)/(1<<20), float64(p.BytesTotal)/(1<<20), p.Package)
	}
	b.set(int64(p.Done), int64(p.Total), item)
}

func (b *bar) done() {
	if b.drawn {
		fmt.Fprintln(b.r.Stderr)
		b.drawn = false
	}
}
