package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kiln-os/kiln/cache"
	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/fleet"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/store"
)

// The binary cache verbs: kiln key generate, kiln cache push|gc. Each is
// one call into package cache; this file only parses and prints.

type keyOpts struct{ dir string }

type cachePushOpts struct {
	key    string
	jobs   int
	locks  stringList
	fleets stringList
}

type cacheGCOpts struct {
	keep   stringList
	dryRun bool
	grace  time.Duration
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func init() {
	register(&command{
		name:    "key",
		summary: "make a signing key pair for a binary cache: key generate NAME",
		usage: `kiln key generate [-o DIR] NAME

generate writes NAME.secret (mode 0600) and NAME.public in DIR (default:
the working directory), in the format of nix-store
--generate-binary-cache-key: NAME:base64 of an ed25519 key. NAME is how
machines tell keys apart, e.g. cache.example.org-1 (raise the number to
rotate). 'kiln cache push --key NAME.secret' signs with it; machines
trust NAME.public through trusted_public_keys. An existing NAME.secret is
never replaced.`,
		flags: func(fs *flag.FlagSet) any {
			o := &keyOpts{}
			fs.StringVar(&o.dir, "o", "", "write the key files into `DIR`")
			return o
		},
		run: runKey,
	})
	register(&command{
		name:    "cache",
		summary: "a signed binary cache: cache push URL [PATH...], cache gc URL --keep ...",
		usage: `kiln cache push --key NAME.secret [--lock kiln.lock]... [--fleet fleet.hcl]... [--jobs N] URL [PATH...]
kiln cache gc --keep PATH|LINK|LOCK [--keep ...] [--dry-run] [--grace 1h] URL

URL is file:///dir, s3://bucket/prefix?endpoint=HOST:PORT&region=R&scheme=http
(credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the AWS
credentials file, or the instance's role), or, for reading only,
http(s)://host/path of any static web server serving such a directory.

push uploads the closure of each PATH (a store path or a link to one,
such as ./result): per path its NAR, zstd-compressed, and a narinfo
signed with the key. What the cache has already is skipped. --lock also
uploads the .deb files the lock pins (fetched first when missing), keyed
by their sha256, so machines without a Debian mirror can realize it.
--fleet builds every host of a fleet file (as kiln deploy does) and
pushes each one's system and its lock's .debs.

gc deletes from the cache every path no --keep reaches, then the NARs and
.debs nothing kept names. --keep takes a store path or a link to one (a
result link, a profile's system-N-link: its closure stays) or a kiln.lock
(its packages and their .debs stay). Objects younger than --grace stay,
so a push running meanwhile loses nothing.`,
		flags: func(fs *flag.FlagSet) any {
			// push and gc share the flag set; each rejects the other's flags.
			o := &struct {
				push cachePushOpts
				gc   cacheGCOpts
			}{}
			fs.StringVar(&o.push.key, "key", "", "push: the secret key `FILE` that signs (from kiln key generate)")
			fs.IntVar(&o.push.jobs, "jobs", 4, "push: paths compressed and uploaded at once")
			fs.Var(&o.push.locks, "lock", "push: also upload the .debs of this kiln.lock `FILE` (repeatable)")
			fs.Var(&o.push.fleets, "fleet", "push: build and upload every host of this fleet `FILE` (repeatable)")
			fs.Var(&o.gc.keep, "keep", "gc: keep this store path, link or kiln.lock (repeatable)")
			fs.BoolVar(&o.gc.dryRun, "dry-run", false, "gc: only print what would be deleted")
			fs.DurationVar(&o.gc.grace, "grace", time.Hour, "gc: keep objects younger than this")
			return o
		},
		run: runCache,
	})
}

func runKey(_ context.Context, r *Run, opts any, args []string) error {
	o := opts.(*keyOpts)
	if len(args) != 2 || args[0] != "generate" {
		return usageErrorf("want 'kiln key generate NAME'")
	}
	k, err := cache.GenerateKey(args[1], rand.Reader)
	if err != nil {
		return usageErrorf("%v", err)
	}
	dir := r.Dir
	if o.dir != "" {
		dir = r.Path(o.dir)
	}
	secret, public, err := cache.WriteKeyPair(dir, k)
	if err != nil {
		return err
	}
	r.Printf("wrote %s (keep it secret: it signs what machines run)\nwrote %s: %s\n", secret, public, k.Public())
	return nil
}

func runCache(ctx context.Context, r *Run, opts any, args []string) error {
	all := opts.(*struct {
		push cachePushOpts
		gc   cacheGCOpts
	})
	if len(args) < 2 || args[0] != "push" && args[0] != "gc" {
		return usageErrorf("want 'kiln cache push URL [PATH...]' or 'kiln cache gc URL --keep ...'")
	}
	sub, url, rest := args[0], args[1], args[2:]
	c, err := cache.Open(url, cache.Options{Getenv: r.Getenv})
	if err != nil {
		return usageErrorf("%v", err)
	}
	if sub == "push" {
		if len(all.gc.keep) > 0 || all.gc.dryRun {
			return usageErrorf("--keep and --dry-run are flags of cache gc")
		}
		st, err := store.Open(r.storeDir())
		if err != nil {
			return err
		}
		return cachePush(ctx, r, c, st, all.push, rest)
	}
	if all.push.key != "" || len(all.push.locks) > 0 || len(all.push.fleets) > 0 {
		return usageErrorf("--key, --lock and --fleet are flags of cache push")
	}
	if len(rest) > 0 {
		return usageErrorf("cache gc takes one URL; give what to keep with --keep")
	}
	// Only to resolve links into the store: gc never opens (or makes) it.
	dir, err := filepath.Abs(r.storeDir())
	if err != nil {
		return err
	}
	return cacheGC(ctx, r, c, &store.Store{Dir: dir}, all.gc)
}

func cachePush(ctx context.Context, r *Run, c *cache.Cache, st *store.Store, o cachePushOpts, args []string) error {
	if o.key == "" {
		return usageErrorf("cache push needs --key NAME.secret (kiln key generate makes one)")
	}
	if len(args) == 0 && len(o.locks) == 0 && len(o.fleets) == 0 {
		return usageErrorf("cache push: name the store paths (or result links) to push, or --lock or --fleet")
	}
	key, err := cache.ReadSecretKeyFile(r.Path(o.key))
	if err != nil {
		return err
	}
	var paths []store.Path
	for _, a := range args {
		p, err := st.PathOf(r.Path(a))
		if err != nil {
			return err
		}
		paths = append(paths, p)
	}
	locks := append([]string(nil), o.locks...)
	for _, ff := range o.fleets {
		tops, lockFiles, err := buildFleet(ctx, r, st, r.Path(ff))
		if err != nil {
			return err
		}
		paths, locks = append(paths, tops...), append(locks, lockFiles...)
	}
	var debs []cache.Deb
	for _, lf := range locks {
		d, err := lockDebs(ctx, r, r.Path(lf))
		if err != nil {
			return err
		}
		debs = append(debs, d...)
	}
	start := time.Now()
	res, err := c.Push(ctx, st, paths, cache.PushOptions{Key: key, Jobs: o.jobs, Progress: func(p cache.Progress) {
		r.Logf("pushed %s (%d/%d, %s compressed)", p.Path, p.Done, p.Total, store.FormatBytes(p.Bytes))
	}})
	if err != nil {
		return err
	}
	var dr cache.DebsResult
	if len(debs) > 0 {
		if dr, err = c.PushDebs(ctx, debs, o.jobs); err != nil {
			return err
		}
	}
	if r.JSON {
		return r.printJSON(struct {
			Version   int          `json:"version"`
			Uploaded  []store.Path `json:"uploaded"`
			Present   int          `json:"present"`
			NarBytes  int64        `json:"nar_bytes"`
			FileBytes int64        `json:"file_bytes"`
			Debs      int          `json:"debs_uploaded"`
			DebsThere int          `json:"debs_present"`
		}{1, append([]store.Path{}, res.Uploaded...), len(res.Present), res.NarBytes, res.FileBytes, dr.Uploaded, dr.Present})
	}
	r.Printf("pushed %d paths to %s (%s of NAR as %s), %d already there", len(res.Uploaded), c.URL, store.FormatBytes(res.NarBytes), store.FormatBytes(res.FileBytes), len(res.Present))
	if len(debs) > 0 {
		r.Printf("; %d .debs (%s), %d already there", dr.Uploaded, store.FormatBytes(dr.Bytes), dr.Present)
	}
	r.Printf(" in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// lockDebs returns the .debs a lock pins, fetching those the download
// cache lacks.
func lockDebs(ctx context.Context, r *Run, file string) ([]cache.Deb, error) {
	l, err := debian.ReadLock(file)
	if err != nil {
		return nil, err
	}
	opts := debian.FetchOptions{CacheDir: r.cacheDir()}
	if mirror, err := debian.FindMirror(r.Mirror, r.Getenv, aptDir); err == nil {
		opts.Mirror = mirror
	}
	if err := debian.Fetch(ctx, l.Packages, opts); err != nil {
		return nil, fmt.Errorf("fetch the .debs of %s: %w", file, err)
	}
	debs := make([]cache.Deb, 0, len(l.Packages))
	for _, p := range l.Packages {
		debs = append(debs, cache.Deb{SHA256: p.SHA256, File: opts.DebFile(p)})
	}
	return debs, nil
}

func cacheGC(ctx context.Context, r *Run, c *cache.Cache, st *store.Store, o cacheGCOpts) error {
	if len(o.keep) == 0 {
		return usageErrorf("cache gc needs --keep (a store path, a link to one, or a kiln.lock): without it, it would delete everything")
	}
	opts := cache.GCOptions{DryRun: o.dryRun, Grace: o.grace}
	if o.grace == 0 {
		opts.Grace = -1 // no grace period asked for
	}
	for _, k := range o.keep {
		paths, debs, err := keepArg(st, r.Path(k))
		if err != nil {
			return err
		}
		opts.Keep = append(opts.Keep, paths...)
		opts.KeepDebs = append(opts.KeepDebs, debs...)
	}
	res, err := c.GC(ctx, opts)
	if err != nil {
		return err
	}
	if r.JSON {
		return r.printJSON(struct {
			Version int          `json:"version"`
			DryRun  bool         `json:"dry_run"`
			Deleted []store.Path `json:"deleted"`
			NARs    int          `json:"deleted_nars"`
			Debs    int          `json:"deleted_debs"`
			Freed   int64        `json:"freed_bytes"`
			Kept    int          `json:"kept"`
			Absent  []store.Path `json:"absent"`
		}{1, o.dryRun, append([]store.Path{}, res.Deleted...), res.DeletedNARs, res.DeletedDebs, res.Freed, res.Kept, append([]store.Path{}, res.Absent...)})
	}
	verb, did := "deleting", "freed"
	if o.dryRun {
		verb, did = "would delete", "would free"
	}
	for _, p := range res.Deleted {
		r.Printf("%s %s\n", verb, p)
	}
	for _, p := range res.Absent {
		fmt.Fprintf(r.Stderr, "kept %s is not in the cache\n", p)
	}
	r.Printf("%d paths (%d NARs) and %d .debs from %s, %s %s; %d paths kept\n", len(res.Deleted), res.DeletedNARs, res.DeletedDebs, c.URL, store.FormatBytes(res.Freed), did, res.Kept)
	return nil
}

// keepArg reads one --keep: a store path or a link to one, else a lock
// (its package paths and .debs).
func keepArg(st *store.Store, arg string) ([]store.Path, []string, error) {
	if p, err := st.PathOf(arg); err == nil {
		return []store.Path{p}, nil, nil
	}
	l, err := debian.ReadLock(arg)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("--keep %s: no such file, and not a store path", arg)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("--keep %s: neither a store path, a link to one, nor a kiln.lock: %w", filepath.Base(arg), err)
	}
	var paths []store.Path
	var debs []string
	for _, p := range l.Packages {
		main, err := p.StorePath()
		if err != nil {
			return nil, nil, err
		}
		doc, err := p.DocStorePath()
		if err != nil {
			return nil, nil, err
		}
		paths = append(paths, main, doc)
		debs = append(debs, p.SHA256)
	}
	return paths, debs, nil
}

// buildFleet builds every configuration of a fleet file into st and
// returns their toplevels and locks.
func buildFleet(ctx context.Context, r *Run, st *store.Store, file string) (tops []store.Path, locks []string, err error) {
	fl, diags := fleet.Load(file)
	if diags.HasErrors() {
		fmt.Fprint(r.Stderr, modules.DiagnosticText(diags, 0))
		return nil, nil, fmt.Errorf("fleet file %s does not load", file)
	}
	seen := map[string]bool{}
	for _, h := range fl.Hosts {
		if seen[h.Config] {
			continue
		}
		seen[h.Config] = true
		res, err := r.build(ctx, st, h.Config, false)
		if err != nil {
			return nil, nil, fmt.Errorf("host %s: %w", h.Name, err)
		}
		tops = append(tops, res.Toplevel)
		if lf := r.lockFor(h.Config); !slices.Contains(locks, lf) {
			locks = append(locks, lf)
		}
	}
	return tops, locks, nil
}
