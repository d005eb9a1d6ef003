package cli

import (
	"context"
	"flag"

	"github.com/kiln-os/kiln/store"
)

type gcOpts struct{ dryRun bool }

func init() {
	register(&command{
		name:    "gc",
		summary: "delete store paths no GC root (result link, profile generation) reaches",
		usage: `kiln gc [--dry-run]

gc deletes every store path that is not reachable from a GC root: result
links made by builds, profile generations (var/profiles) and links under
var/gcroots. It prints each deleted path and the disk space freed.`,
		flags: func(fs *flag.FlagSet) any {
			o := &gcOpts{}
			fs.BoolVar(&o.dryRun, "dry-run", false, "only print what would be deleted")
			return o
		},
		run: runGC,
	})
}

func runGC(ctx context.Context, r *Run, opts any, args []string) error {
	o := opts.(*gcOpts)
	if len(args) != 0 {
		return usageErrorf("gc takes no arguments")
	}
	if !o.dryRun {
		// a kiln machine's store is mounted read-only (privns.go)
		if done, err := r.inPrivateMountNS(ctx, r.storeDir()); done {
			return err
		}
	}
	s, err := store.Open(r.storeDir())
	if err != nil {
		return err
	}
	rep, err := s.GC(ctx, o.dryRun)
	if err != nil {
		return err
	}
	if r.JSON {
		return r.printJSON(struct {
			Version    int          `json:"version"`
			DryRun     bool         `json:"dry_run"`
			Deleted    []store.Path `json:"deleted"`
			FreedBytes int64        `json:"freed_bytes"`
		}{1, o.dryRun, append([]store.Path{}, rep.Deleted...), rep.Freed})
	}
	verb, did := "deleting", "freed"
	if o.dryRun {
		verb, did = "would delete", "would free"
	}
	for _, p := range rep.Deleted {
		r.Printf("%s %s\n", verb, p)
	}
	r.Printf("%d store paths, %s %s\n", len(rep.Deleted), store.FormatBytes(rep.Freed), did)
	return nil
}
