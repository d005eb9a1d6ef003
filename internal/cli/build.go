package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
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
		usage: `kiln build [-c host.hcl] [-o result] [--dry-run] [--json]

Builds every part of the system (sw, etc, units, kernel modules, initrd,
toplevel) into the store, fetching and unpacking the locked packages the
store lacks first, links -o to the toplevel and prints its path.

--dry-run changes nothing: when packages are missing from the store it
lists what would be fetched (downloaded, or taken from the .deb cache)
with sizes, since the parts' paths depend on the unpacked packages; when
all are there it prints every part's store path and whether it would be
built or is already valid.

EXAMPLES
  kiln build -c web1.hcl
  kiln build -c web1.hcl --dry-run
  kiln build -c web1.hcl --json`,
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
	// What the build protected is rooted by the result link, or garbage.
	defer st.Close()
	res, err := r.build(ctx, st, f.config, f.dryRun)
	if err != nil {
		return err
	}
	if f.dryRun {
		return printDryBuild(r, st, res)
	}
	if f.out != "" {
		if err := st.AddRoot(r.Path(f.out), res.Toplevel); err != nil {
			return fmt.Errorf("link %s: %w", f.out, err)
		}
	}
	if r.JSON {
		return r.printJSON(buildJSON{Version: 1, Toplevel: res.Toplevel.String(), Built: nonNil(res.Built), InitrdBytes: res.InitrdSize, Kernel: res.Kernel})
	}
	r.Printf("%s\n", res.Toplevel)
	return nil
}

// buildJSON is kiln build --json (docs/json.md).
type buildJSON struct {
	Version     int      `json:"version"`
	Toplevel    string   `json:"toplevel"`
	Built       []string `json:"built"` // parts built now; the others were valid
	InitrdBytes int64    `json:"initrd_bytes"`
	Kernel      string   `json:"kernel"`
}

// dryBuildJSON is kiln build --dry-run --json (docs/json.md).
type dryBuildJSON struct {
	Version int            `json:"version"`
	Fetch   []dryFetchJSON `json:"fetch"` // packages the store lacks
	// DownloadBytes and CachedBytes split the fetch's .debs.
	DownloadBytes int64         `json:"download_bytes"`
	CachedBytes   int64         `json:"cached_bytes"`
	Parts         []dryPartJSON `json:"parts"` // empty while packages are missing
}

type dryFetchJSON struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Bytes    int64  `json:"bytes"`
	Download bool   `json:"download"`
}

type dryPartJSON struct {
	Part  string `json:"part"`
	Path  string `json:"path"`
	Valid bool   `json:"valid"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// printDryBuild prints a dry build: what would be fetched, or each part
// with whether it is valid or would be built.
func printDryBuild(r *Run, st *store.Store, res *system.Result) error {
	out := dryBuildJSON{Version: 1, Fetch: []dryFetchJSON{}, Parts: []dryPartJSON{}}
	if rp := res.Fetch; rp != nil {
		out.DownloadBytes, out.CachedBytes = rp.DownloadBytes, rp.CachedBytes
		for i, p := range rp.Missing {
			out.Fetch = append(out.Fetch, dryFetchJSON{Name: p.Name, Version: p.Version, Bytes: p.Size, Download: rp.Download[i]})
		}
	} else {
		for _, line := range strings.Split(strings.TrimRight(res.Plan.String(), "\n"), "\n") {
			fields := strings.Fields(line)
			if len(fields) != 2 {
				continue
			}
			p, err := store.ParsePath(fields[1])
			out.Parts = append(out.Parts, dryPartJSON{Part: fields[0], Path: fields[1], Valid: err == nil && st.Valid(p)})
		}
	}
	if r.JSON {
		return r.printJSON(out)
	}
	if len(out.Fetch) > 0 {
		downloads := 0
		for _, f := range out.Fetch {
			how := "cached"
			if f.Download {
				how, downloads = "download", downloads+1
			}
			r.Printf("fetch  %-32s %-24s %10s  (%s)\n", f.Name, f.Version, mib(f.Bytes), how)
		}
		r.Printf("\n%d package%s would be fetched: %d downloaded (%s), %d from the .deb cache (%s), then unpacked into the store.\n",
			len(out.Fetch), plural(len(out.Fetch)), downloads, mib(out.DownloadBytes), len(out.Fetch)-downloads, mib(out.CachedBytes))
		r.Printf("The parts' store paths follow from the unpacked packages: run 'kiln fetch' (it builds nothing), then 'kiln build --dry-run' again.\n")
		return nil
	}
	build := 0
	for _, p := range out.Parts {
		state := "valid"
		if !p.Valid {
			state, build = "build", build+1
		}
		r.Printf("%-15s %s  (%s)\n", p.Part, p.Path, state)
	}
	r.Printf("\n%d part%s would be built, %d %s valid.\n", build, plural(build), len(out.Parts)-build, map[bool]string{true: "is", false: "are"}[len(out.Parts)-build == 1])
	return nil
}

// build runs system.Build for the host file ("" for the default system)
// into st, drawing the fetch and logging the parts; it prints the
// warnings and a configuration's diagnostics.
func (r *Run) build(ctx context.Context, st *store.Store, hostFile string, planOnly bool) (*system.Result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the kiln binary: %w", err)
	}
	if hostFile != "" {
		if _, err := os.Stat(r.Path(hostFile)); err != nil {
			return nil, fmt.Errorf("host file: %w", err)
		}
	}
	mirror, noMirror := debian.FindMirror(r.Mirror, r.Getenv, aptDir)
	bar, built := newBar(r, "fetch"), newBar(r, "build")
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
			built.count(int64(parts), 0, "parts", e.Part)
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
	built.done()
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
