package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/internal/suggest"
)

type searchFlags struct{ config string }

func init() {
	register(&command{
		name:    "search",
		summary: "find Debian packages by name and description",
		usage: `kiln search [-c host.hcl] WORD... [--json]

Lists the packages whose name or short description contains every WORD
(case-insensitively), exact names first, with version, suite, whether the
lock pins it, and the description. Reads the signed Packages indices the
lock pins from the cache, with no network; with no lock yet, it fetches
and verifies them as 'kiln lock' does.

EXAMPLES
  kiln search htop
  kiln search web server --json`,
		flags: func(fs *flag.FlagSet) any {
			f := &searchFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` whose lock names the indices (default: ./kiln.lock)")
			return f
		},
		run: runSearch,
	})
	register(&command{
		name:    "show",
		summary: "show a Debian package: version, suite, size, depends, provides, description, whether it is locked",
		usage: `kiln show [-c host.hcl] PKG [--json]

Reads the same indices as 'kiln search'. A virtual name lists the packages
that provide it; an unknown name suggests near ones.

EXAMPLES
  kiln show htop
  kiln show -c web1.hcl curl --json`,
		flags: func(fs *flag.FlagSet) any {
			f := &searchFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` whose lock names the indices (default: ./kiln.lock)")
			return f
		},
		run: runShow,
	})
}

// indices is the universe kiln search and show read, and the lock (nil
// when there is none) it came from.
func (r *Run) indices(ctx context.Context, config string) (*debian.Universe, *debian.Lock, error) {
	file := r.lockFor(config)
	l, err := debian.ReadLock(file)
	switch {
	case err == nil:
		u, err := debian.LoadCached(l, r.cacheDir())
		if err == nil {
			return u, l, nil
		}
		if !errors.Is(err, debian.ErrIndexNotCached) {
			return nil, nil, err
		}
		r.Logf("%v: fetching the current indices", err)
	case !errors.Is(err, os.ErrNotExist):
		return nil, nil, err
	default:
		l = nil
	}
	a, err := r.archive()
	if err != nil {
		return nil, nil, fmt.Errorf("%w (no lock to read cached indices from)", err)
	}
	u, _, err := a.Load(ctx)
	return u, l, err
}

// searchJSON is one package in kiln search's and show's --json.
type searchJSON struct {
	Name          string   `json:"name"`
	Version       string   `json:"version"`
	Suite         string   `json:"suite"`
	Section       string   `json:"section,omitempty"`
	Description   string   `json:"description"`
	Locked        *string  `json:"locked_version"` // null: not locked
	Size          int64    `json:"size_bytes,omitempty"`
	InstalledSize int64    `json:"installed_size_kib,omitempty"`
	Depends       []string `json:"depends,omitempty"`
	Provides      []string `json:"provides,omitempty"`
}

func describe(p *debian.Package, l *debian.Lock, full bool) searchJSON {
	j := searchJSON{Name: p.Name, Version: p.Version, Suite: p.Suite, Section: p.Section, Description: p.Description}
	if l != nil {
		if lp, ok := l.Package(p.Name); ok {
			j.Locked = &lp.Version
		}
	}
	if full {
		j.Size, j.InstalledSize = p.Size, p.InstalledSize
		j.Depends = splitRelations(p.PreDepends, p.Depends)
		j.Provides = splitRelations(p.Provides)
	}
	return j
}

func splitRelations(fields ...string) []string {
	var out []string
	for _, f := range fields {
		for _, s := range strings.Split(f, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func runSearch(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*searchFlags)
	if len(args) == 0 {
		return usageErrorf("want at least one WORD")
	}
	u, l, err := r.indices(ctx, f.config)
	if err != nil {
		return err
	}
	found := u.Search(args)
	if r.JSON {
		out := make([]searchJSON, len(found))
		for i, p := range found {
			out[i] = describe(p, l, false)
		}
		return r.printJSON(struct {
			Version  int          `json:"version"`
			Packages []searchJSON `json:"packages"`
		}{1, out})
	}
	if len(found) == 0 {
		return fmt.Errorf("no package matches %q%s", strings.Join(args, " "), nearPackage(u, args[0]))
	}
	for _, p := range found {
		mark := " "
		if l != nil {
			if _, ok := l.Package(p.Name); ok {
				mark = "*"
			}
		}
		line := fmt.Sprintf("%s %s %s (%s)  %s", mark, p.Name, p.Version, p.Suite, p.Description)
		r.Printf("%s\n", clip(line, 100))
	}
	if l != nil {
		r.Printf("\n%d package%s; * = in the lock\n", len(found), plural(len(found)))
	} else {
		r.Printf("\n%d package%s\n", len(found), plural(len(found)))
	}
	return nil
}

func nearPackage(u *debian.Universe, name string) string {
	if best := suggest.Closest(name, u.Names(), 2); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func runShow(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*searchFlags)
	if len(args) != 1 {
		return usageErrorf("want one package name")
	}
	u, l, err := r.indices(ctx, f.config)
	if err != nil {
		return err
	}
	name := args[0]
	p, ok := u.Candidate(name)
	if !ok {
		if prov := u.Providers(name); len(prov) > 0 {
			return fmt.Errorf("%s is a virtual package, provided by %s: choose one in the packages option (packages = [pkgs.%s])", name, strings.Join(prov, ", "), prov[0])
		}
		return fmt.Errorf("no package %q%s", name, nearPackage(u, name))
	}
	j := describe(p, l, true)
	if r.JSON {
		return r.printJSON(struct {
			Version int        `json:"version"`
			Package searchJSON `json:"package"`
		}{1, j})
	}
	locked := "no (add pkgs." + name + " to a host file and run 'kiln lock" + configFlag(f.config) + "')"
	if l == nil {
		locked = "no (there is no lock yet)"
	} else if j.Locked != nil {
		locked = *j.Locked + " in " + displayPath(r, r.lockFor(f.config))
	}
	rows := [][2]string{
		{"package", p.Name},
		{"version", p.Version},
		{"suite", p.Suite},
		{"section", p.Section},
		{"size", fmt.Sprintf("%s .deb, %s installed", mib(p.Size), mib(p.InstalledSize*1024))},
		{"depends", strings.Join(j.Depends, ", ")},
		{"provides", strings.Join(j.Provides, ", ")},
		{"description", p.Description},
		{"locked", locked},
	}
	for _, row := range rows {
		if row[1] == "" {
			row[1] = "-"
		}
		r.Printf("%-12s %s\n", row[0]+":", row[1])
	}
	return nil
}

// mib formats a byte count as MiB with one decimal (KiB under 1 MiB).
func mib(n int64) string {
	if n < 1<<10 {
		return fmt.Sprintf("%d B", n)
	}
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
