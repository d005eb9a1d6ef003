package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/system"
)

// aptDir is where the machine's apt sources are read from.
const aptDir = "/etc/apt"

type lockFlags struct {
	config   string
	update   bool
	packages string
}

func init() {
	register(&command{
		name:    "lock",
		summary: "resolve the Debian packages a configuration needs and pin them in kiln.lock",
		usage: `kiln lock [-c host.hcl] [--update [PKG...]] [--packages a,b,c]

Fetches InRelease of bookworm, bookworm-updates and bookworm-security from
the mirror (--mirror, else $KILN_MIRROR, else the machine's apt sources),
checks its signature against the Debian archive keyring (--keyring), checks
each Packages index against it, resolves the wanted packages plus every
Essential one and writes HOST.lock beside the host file HOST.hcl (./kiln.lock for the
default system; --lock FILE to choose). A directory's kiln.lock from
before per-host locks is read until the host has its own lock, and a lock
written for another host file is never overwritten. An existing lock
resolved for the same packages is kept unless --update is given. After a
resolution it prints what changed ("no package changed") and the date of
each suite's InRelease. --update PKG... updates only those packages (and
what their new versions need): every other package keeps its version.

EXAMPLES
  kiln lock -c web1.hcl
  kiln lock -c web1.hcl --update
  kiln lock -c web1.hcl --update openssl libssl3

--mirror takes a URL, or URL,SUITE=URL,... when a suite lives at another
archive root. With a plain URL whose path has a "debian" segment,
bookworm-security comes from the "debian-security" sibling (this also fits
snapshot mirrors: .../debian/<time> and .../debian-security/<time>).`,
		flags: func(fs *flag.FlagSet) any {
			f := &lockFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` (default: the built-in default system)")
			fs.BoolVar(&f.update, "update", false, "resolve again even when the lock matches the configuration; with PKG arguments, update only those")
			fs.StringVar(&f.packages, "packages", "", "resolve this comma-separated `LIST` instead of what the configuration wants")
			return f
		},
		run: runLock,
	})
}

func runLock(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*lockFlags)
	if len(args) > 0 && !f.update {
		return usageErrorf("unexpected argument %q (package names go with --update: kiln lock --update %s)", args[0], strings.Join(args, " "))
	}
	req, err := lockRequest(r, f)
	if err != nil {
		return err
	}
	file, target := r.lockFor(f.config), r.lockTarget(f.config)
	if err := checkLockOwner(target, f.config); err != nil {
		return err
	}
	old, err := debian.ReadLock(file)
	switch {
	case err == nil && !f.update && old.Matches(req):
		if r.JSON {
			return r.printJSON(lockResult(old, nil, file, true))
		}
		r.Printf("%s is up to date: %d packages (use --update to resolve again)\n", displayPath(r, file), len(old.Packages))
		return nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		if !f.update {
			return fmt.Errorf("%w (use --update to replace it)", err)
		}
		old = nil
	}
	a, err := r.archive()
	if err != nil {
		return err
	}
	start := time.Now()
	var l *debian.Lock
	if len(args) > 0 {
		if old == nil {
			return fmt.Errorf("no lock %s to update %s in: run 'kiln lock%s' first", displayPath(r, file), strings.Join(args, " "), configFlag(f.config))
		}
		l, err = a.ResolveLockUpdating(ctx, req, old, args)
	} else {
		l, err = a.ResolveLock(ctx, req)
	}
	if err != nil {
		return err
	}
	if f.config != "" {
		l.Host = filepath.Base(f.config)
	}
	if err := l.Write(target); err != nil {
		return err
	}
	var size int64
	for _, p := range l.Packages {
		size += p.Size
	}
	r.Logf("resolved from %s in %s", a.Mirror, time.Since(start).Round(time.Millisecond))
	if r.JSON {
		return r.printJSON(lockResult(l, old, target, false))
	}
	if old != nil {
		changes := l.Changes(old)
		for _, c := range changes {
			r.Printf("%s\n", c)
		}
		if len(changes) == 0 {
			r.Printf("no package changed\n")
		}
	}
	r.Printf("locked %d packages (%.1f MiB of .debs) in %s\n", len(l.Packages), float64(size)/(1<<20), displayPath(r, target))
	r.Printf("indices: %s\n", indexDates(l))
	if file != target {
		r.Printf("(%s is no longer read for %s)\n", displayPath(r, file), f.config)
	}
	return nil
}

// lockJSON is kiln lock --json (docs/json.md).
type lockJSON struct {
	Version   int               `json:"version"`
	LockFile  string            `json:"lock_file"`
	UpToDate  bool              `json:"up_to_date"` // nothing was resolved
	Packages  int               `json:"packages"`
	DebsBytes int64             `json:"debs_bytes"`
	Indices   map[string]string `json:"indices"` // suite → InRelease date
	Changes   []lockChangeJSON  `json:"changes"` // against the previous lock
}

type lockChangeJSON struct {
	Name string  `json:"name"`
	From *string `json:"from"` // null: added
	To   *string `json:"to"`   // null: removed
}

func lockResult(l, old *debian.Lock, file string, upToDate bool) lockJSON {
	out := lockJSON{Version: 1, LockFile: file, UpToDate: upToDate, Packages: len(l.Packages), Indices: map[string]string{}, Changes: []lockChangeJSON{}}
	for _, p := range l.Packages {
		out.DebsBytes += p.Size
	}
	for s, in := range l.Inputs {
		out.Indices[s] = in.Locked.Date
	}
	if old == nil {
		return out
	}
	for _, p := range l.Packages {
		if o, ok := old.Package(p.Name); !ok {
			out.Changes = append(out.Changes, lockChangeJSON{Name: p.Name, To: &p.Version})
		} else if o.Version != p.Version {
			out.Changes = append(out.Changes, lockChangeJSON{Name: p.Name, From: &o.Version, To: &p.Version})
		}
	}
	for _, o := range old.Packages {
		if _, ok := l.Package(o.Name); !ok {
			out.Changes = append(out.Changes, lockChangeJSON{Name: o.Name, From: &o.Version})
		}
	}
	sort.Slice(out.Changes, func(i, j int) bool { return out.Changes[i].Name < out.Changes[j].Name })
	return out
}

// indexDates lists each suite's InRelease date, sorted by suite.
func indexDates(l *debian.Lock) string {
	suites := make([]string, 0, len(l.Inputs))
	for s := range l.Inputs {
		suites = append(suites, s)
	}
	sort.Strings(suites)
	parts := make([]string, len(suites))
	for i, s := range suites {
		parts[i] = s + " " + l.Inputs[s].Locked.Date
	}
	return strings.Join(parts, ", ")
}

// lockRequest is what to resolve: --packages, else what the configuration
// wants, with the default prefer map.
func lockRequest(r *Run, f *lockFlags) (debian.Request, error) {
	if f.packages != "" {
		var names []string
		for _, n := range strings.Split(f.packages, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		return debian.Request{Packages: names}, nil
	}
	cfg, err := loadConfig(r, f.config)
	if err != nil {
		return debian.Request{}, err
	}
	return debian.Request{Packages: system.WantedPackages(&cfg.System), Recommends: cfg.System.InstallRecommends}, nil
}

// archive is the verified-index reader for this run's mirror and keyring.
func (r *Run) archive() (*debian.Archive, error) {
	m, err := debian.FindMirror(r.Mirror, r.Getenv, aptDir)
	if err != nil {
		return nil, err
	}
	keyring := debian.DefaultKeyring
	if r.Keyring != "" {
		keyring = r.Path(r.Keyring)
	}
	kr, err := debian.ReadKeyring(keyring)
	if err != nil {
		return nil, err
	}
	return &debian.Archive{
		Mirror:   m,
		Keyring:  kr,
		Client:   &http.Client{Timeout: 10 * time.Minute},
		CacheDir: r.cacheDir(),
		Warnf:    func(format string, a ...any) { fmt.Fprintf(r.Stderr, "warning: "+format+"\n", a...) },
	}, nil
}
