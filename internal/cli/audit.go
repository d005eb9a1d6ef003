package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/system"
)

type auditFlags struct{ config string }

func init() {
	register(&command{
		name:    "audit",
		summary: "list the locked packages' maintainer-script actions and flag those kiln does not replace",
		usage:   "kiln audit [-c host.hcl] [--json]",
		flags: func(fs *flag.FlagSet) any {
			f := &auditFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` whose kiln.lock is audited (default: ./kiln.lock)")
			return f
		},
		run: runAudit,
	})
}

func runAudit(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*auditFlags)
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	st, err := store.Open(r.storeDir())
	if err != nil {
		return err
	}
	mirror, _ := debian.FindMirror(r.Mirror, r.Getenv, aptDir)
	entries, err := system.AuditLock(ctx, st, r.lockFor(f.config), debian.FetchOptions{Mirror: mirror, CacheDir: r.cacheDir()})
	if err != nil {
		return err
	}
	var unhandled []string
	for _, e := range entries {
		if e.Handled == "" {
			unhandled = append(unhandled, e.Package)
		}
	}
	if r.JSON {
		b, err := json.MarshalIndent(entries, "", "  ")
		if err != nil {
			return err
		}
		r.Printf("%s\n", b)
	} else {
		for _, e := range entries {
			h := e.Handled
			if h == "" {
				h = "NOT HANDLED"
			}
			r.Printf("%-28s %-60s %s\n", e.Package, strings.Join(e.Actions, " "), h)
		}
	}
	if len(unhandled) > 0 {
		return fmt.Errorf("%d package%s with maintainer-script actions kiln does not replace yet: %s", len(unhandled), plural(len(unhandled)), strings.Join(unhandled, ", "))
	}
	return nil
}
