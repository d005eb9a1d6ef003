package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/store"
)

type fetchFlags struct{ config string }

func init() {
	register(&command{
		name:    "fetch",
		summary: "download, verify and unpack every package of kiln.lock into the store",
		usage: `kiln fetch [-c host.hcl] [--json]

Reads kiln.lock beside the host file, downloads the .debs the cache lacks
(in parallel, into $XDG_CACHE_HOME/kiln/debs), checks each one's size and
sha256 against the lock, and unpacks each into its own store path. Prints
NAME STORE-PATH for every locked package. Never resolves again and never
fetches a version the lock does not pin.`,
		flags: func(fs *flag.FlagSet) any {
			f := &fetchFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` whose kiln.lock to fetch (default: ./kiln.lock)")
			return f
		},
		run: runFetch,
	})
}

func runFetch(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*fetchFlags)
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	l, err := readLockFor(r, f.config)
	if err != nil {
		return err
	}
	st, err := store.Open(r.storeDir())
	if err != nil {
		return err
	}
	mirror, merr := r.mirrorOrNone()
	start := time.Now()
	bar := newBar(r, "fetch")
	paths, err := debian.Realize(ctx, st, l, debian.FetchOptions{
		Mirror:   mirror,
		Client:   &http.Client{Timeout: 10 * time.Minute},
		CacheDir: r.cacheDir(),
		Progress: bar.fetch,
	})
	bar.done()
	if err != nil {
		if merr != nil {
			return fmt.Errorf("%w (no mirror: %v)", err, merr)
		}
		return err
	}
	r.Logf("realized %d packages in %s", len(paths), time.Since(start).Round(time.Millisecond))
	names := make([]string, 0, len(paths))
	for n := range paths {
		names = append(names, n)
	}
	sort.Strings(names)
	if r.JSON {
		type pkg struct {
			Name      string `json:"name"`
			StorePath string `json:"store_path"`
		}
		out := make([]pkg, len(names))
		for i, n := range names {
			out[i] = pkg{n, paths[n].String()}
		}
		return r.printJSON(struct {
			Version  int   `json:"version"`
			Packages []pkg `json:"packages"`
		}{1, out})
	}
	for _, n := range names {
		r.Printf("%-32s %s\n", n, paths[n])
	}
	return nil
}

// mirrorOrNone is the run's mirror, or, when there is none (merr says
// why), one that serves nothing: a mirror is needed only for what the
// cache and the store lack.
func (r *Run) mirrorOrNone() (m *debian.Mirror, merr error) {
	m, merr = debian.FindMirror(r.Mirror, r.Getenv, aptDir)
	if merr != nil {
		m = &debian.Mirror{Default: "file:///nonexistent"}
	}
	return m, merr
}

func readLockFor(r *Run, config string) (*debian.Lock, error) {
	file := r.lockFor(config)
	l, err := debian.ReadLock(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no %s: run 'kiln lock%s' first", file, configFlag(config))
	}
	return l, err
}
