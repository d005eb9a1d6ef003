package cli

import (
	"context"
	"flag"
	"strings"
)

type whyFlags struct{ config string }

func init() {
	register(&command{
		name:    "why",
		summary: "show why kiln.lock contains a package: the chain from a root to it",
		usage: `kiln why [-c host.hcl] [--json] PKG

Prints a shortest chain of dependencies from a wanted (or Essential)
package to PKG, read from kiln.lock: "systemd → libc6 → libgcc-s1".`,
		flags: func(fs *flag.FlagSet) any {
			f := &whyFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` whose kiln.lock to read (default: ./kiln.lock)")
			return f
		},
		run: runWhy,
	})
}

func runWhy(_ context.Context, r *Run, opts any, args []string) error {
	f := opts.(*whyFlags)
	if len(args) != 1 {
		return usageErrorf("want one package name, got %d arguments", len(args))
	}
	l, err := readLockFor(r, f.config)
	if err != nil {
		return err
	}
	chain, err := l.Why(args[0])
	if err != nil {
		return err
	}
	if r.JSON {
		type hop struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		}
		out := make([]hop, len(chain))
		for i, n := range chain {
			p, _ := l.Package(n)
			out[i] = hop{n, p.Version}
		}
		return r.printJSON(struct {
			Version int    `json:"version"`
			Package string `json:"package"`
			Chain   []hop  `json:"chain"` // from a root (wanted or Essential) to the package
		}{1, args[0], out})
	}
	root, _ := l.Package(chain[0])
	why := "wanted"
	if root.Essential && !contains(l.Roots.Packages, root.Name) {
		why = "Essential"
	}
	for i := 0; i+1 < len(chain); i++ {
		if p, _ := l.Package(chain[i]); contains(p.Recommended, chain[i+1]) {
			why += "; " + chain[i] + " recommends " + chain[i+1]
		}
	}
	r.Printf("%s (%s)\n", strings.Join(chain, " → "), why)
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
