package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kiln-os/kiln/cache"
	"github.com/kiln-os/kiln/store"
)

// kiln store substitute: the target side of a deploy that sends only the
// list of paths; the target takes them from its substituters itself.

type storeOpts struct {
	from    stringList
	trusted stringList
	dryRun  bool
	jobs    int
	// missingOK: paths no cache has are listed, not an error (a deploy
	// then copies them over SSH).
	missingOK bool
}

func storeFlags(fs *flag.FlagSet) any {
	o := &storeOpts{}
	fs.Var(&o.from, "from", "substitute: a cache `URL` to take paths from (repeatable, asked in order)")
	fs.Var(&o.trusted, "trusted-key", "substitute: a trusted public `KEY` (NAME:BASE64) or a NAME.public file (repeatable)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "substitute: print what would be fetched, fetch nothing")
	fs.IntVar(&o.jobs, "jobs", 4, "substitute: paths downloaded at once")
	fs.BoolVar(&o.missingOK, "missing-ok", false, "substitute: list the paths no cache has (\"missing PATH\") and succeed")
	return o
}

const storeSubstituteUsage = `substitute takes store paths (arguments, else stdin, one a line) and
their closures from the caches given with --from, in order, after
checking each narinfo's signature with the --trusted-key keys and each
NAR's hash and size. It prints each path it fetched, and fails listing
the paths no cache has (with --missing-ok it lists them and succeeds);
nothing that fails a check enters the store.`

func storeSubstitute(ctx context.Context, r *Run, s *store.Store, o *storeOpts, args []string) error {
	if len(o.from) == 0 {
		return usageErrorf("store substitute needs --from URL")
	}
	if len(o.trusted) == 0 {
		return usageErrorf("store substitute needs --trusted-key: no path is taken on a cache's word alone")
	}
	caches, err := cache.OpenAll(o.from, cache.Options{Getenv: r.Getenv})
	if err != nil {
		return usageErrorf("%v", err)
	}
	var keys []cache.PublicKey
	for _, t := range o.trusted {
		k, err := publicKeyArg(r, t)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	paths, err := pathArgs(r, args)
	if err != nil {
		return err
	}
	opts := cache.SubstituteOptions{Caches: caches, Trusted: keys, Jobs: o.jobs, Progress: func(p cache.Progress) {
		r.Logf("fetched %s (%d/%d, %s)", p.Path, p.Done, p.Total, store.FormatBytes(p.Bytes))
	}}
	plan, err := cache.PlanSubstitute(ctx, s, paths, opts)
	if err != nil {
		return err
	}
	for _, p := range plan.Problems {
		fmt.Fprintf(r.Stderr, "warning: %v\n", p)
	}
	res := cache.SubstituteResult{Missing: plan.Missing}
	if o.dryRun {
		for _, f := range plan.Fetch {
			res.Fetched = append(res.Fetched, f.Path)
			res.NarBytes += f.Info.NarSize
			res.FileBytes += f.Info.FileSize
		}
	} else if res, err = plan.Apply(ctx, s); err != nil {
		return err
	}
	if r.JSON {
		if err := r.printJSON(struct {
			Version   int          `json:"version"`
			DryRun    bool         `json:"dry_run"`
			Fetched   []store.Path `json:"fetched"`
			Missing   []store.Path `json:"missing"`
			FileBytes int64        `json:"file_bytes"`
			NarBytes  int64        `json:"nar_bytes"`
		}{1, o.dryRun, append([]store.Path{}, res.Fetched...), append([]store.Path{}, res.Missing...), res.FileBytes, res.NarBytes}); err != nil {
			return err
		}
	} else {
		verb := "fetched"
		if o.dryRun {
			verb = "would fetch"
		}
		for _, p := range res.Fetched {
			r.Printf("%s %s\n", verb, p)
		}
		r.Printf("%s %d paths (%s, %s of NAR)\n", verb, len(res.Fetched), store.FormatBytes(res.FileBytes), store.FormatBytes(res.NarBytes))
	}
	if len(res.Missing) > 0 && o.missingOK {
		if !r.JSON {
			for _, p := range res.Missing {
				r.Printf("missing %s\n", p)
			}
		}
		return nil
	}
	if len(res.Missing) > 0 {
		names := make([]string, len(res.Missing))
		for i, p := range res.Missing {
			names[i] = p.String()
		}
		return fmt.Errorf("%w: %s", cache.ErrNoSubstitute, strings.Join(names, ", "))
	}
	return nil
}

// publicKeyArg reads a --trusted-key: the key itself, or a file holding it.
func publicKeyArg(r *Run, arg string) (cache.PublicKey, error) {
	k, err := cache.ParsePublicKey(arg)
	if err == nil {
		return k, nil
	}
	if _, serr := os.Stat(r.Path(arg)); serr == nil {
		return cache.ReadPublicKeyFile(r.Path(arg))
	}
	return cache.PublicKey{}, usageErrorf("--trusted-key %q: %v", arg, err)
}

// pathArgs reads store paths from args, else from stdin (one a line).
func pathArgs(r *Run, args []string) ([]store.Path, error) {
	var out []store.Path
	if len(args) > 0 {
		for _, a := range args {
			p, err := store.ParsePath(a)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, nil
	}
	sc := bufio.NewScanner(r.Stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		p, err := store.ParsePath(line)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read paths: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("store substitute: no paths given (as arguments or on stdin)")
	}
	return out, nil
}
