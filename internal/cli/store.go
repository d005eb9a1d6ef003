package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kiln-os/kiln/store"
)

func init() {
	register(&command{
		name:    "store",
		summary: "inspect the store: verify (re-hash every path), info PATH..., roots, missing, receive, substitute",
		usage: `kiln store verify | info PATH... | roots | missing | receive
kiln store substitute --from URL... --trusted-key KEY... [--dry-run] [PATH...]

verify re-hashes every registered store path and compares it with the hash
recorded when it was built. It lists each path that is missing, changed,
no longer canonical (modes, mtime) or refers to an invalid path, and each
path in the store that has no record (unregistered: kiln gc deletes it),
and exits 1 when there is any. It changes nothing.

A store's state (database, roots, profiles) is its parent's var directory,
which records the store it belongs to: two stores in one parent are
refused, so give each store a parent of its own.

info prints what the store records about each PATH (a store path, or a
link to one such as ./result): NAR hash and size, references, and the
number of paths and bytes in its closure.

roots lists the live GC roots: result links, profile generations and
links under var/gcroots.

missing reads store paths from stdin, one a line, and prints those that
are not valid here. receive reads a stream of paths (as kiln switch
--target-host sends them) from stdin and adds them to the store, checking
each NAR's hash before registering it.

` + storeSubstituteUsage,
		flags: storeFlags,
		run:   runStore,
	})
}

func runStore(ctx context.Context, r *Run, opts any, args []string) error {
	if len(args) == 0 {
		return usageErrorf("want 'kiln store verify', 'info PATH...', 'roots', 'missing', 'receive' or 'substitute'")
	}
	sub, args := args[0], args[1:]
	if so := opts.(*storeOpts); sub != "substitute" && (len(so.from) > 0 || len(so.trusted) > 0 || so.dryRun || so.missingOK) {
		return usageErrorf("--from, --trusted-key, --dry-run and --missing-ok are flags of 'kiln store substitute'")
	}
	switch {
	case sub == "verify" && len(args) == 0:
	case sub == "roots" && len(args) == 0:
	case sub == "info" && len(args) > 0:
	case sub == "missing" && len(args) == 0:
	case sub == "receive" && len(args) == 0, sub == "substitute" && !opts.(*storeOpts).dryRun:
		// the store of a kiln machine is mounted read-only (privns.go)
		if done, err := r.inPrivateMountNS(ctx, r.storeDir()); done {
			return err
		}
	case sub == "substitute":
	default:
		return usageErrorf("want 'kiln store verify', 'info PATH...', 'roots', 'missing', 'receive' or 'substitute'")
	}
	s, err := store.Open(r.storeDir())
	if err != nil {
		return err
	}
	switch sub {
	case "roots":
		return storeRoots(r, s)
	case "info":
		return storeInfo(r, s, args)
	case "missing":
		return s.WriteMissing(r.Stdout, r.Stdin)
	case "receive":
		st, err := s.ReceiveStream(ctx, r.Stdin, func(p store.Path) { r.Logf("received %s", p) })
		if err != nil {
			return err
		}
		fmt.Fprintf(r.Stderr, "received %s\n", st)
		return nil
	case "substitute":
		return storeSubstitute(ctx, r, s, opts.(*storeOpts), args)
	}
	problems, err := s.Verify(ctx)
	if err != nil {
		return err
	}
	if r.JSON {
		type jsonProblem struct {
			Path  store.Path `json:"path"`
			Kind  string     `json:"kind"`
			Error string     `json:"error"`
		}
		out := struct {
			Version  int           `json:"version"`
			Problems []jsonProblem `json:"problems"`
		}{Version: 1, Problems: []jsonProblem{}}
		for _, p := range problems {
			out.Problems = append(out.Problems, jsonProblem{p.Path, p.Kind(), p.Err.Error()})
		}
		if err := storeJSON(r, out); err != nil {
			return err
		}
	} else {
		for _, p := range problems {
			r.Printf("%-13s %s: %v\n", p.Kind(), p.Path, p.Err)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d damaged store path(s) in %s", len(problems), s.Dir)
	}
	if !r.JSON {
		r.Printf("store %s verified: no problems\n", s.Dir)
	}
	return nil
}

func storeJSON(r *Run, v any) error {
	enc := json.NewEncoder(r.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func storeRoots(r *Run, s *store.Store) error {
	roots, err := s.Roots()
	if err != nil {
		return err
	}
	if r.JSON {
		return r.printJSON(struct {
			Version int          `json:"version"`
			Roots   []store.Path `json:"roots"`
		}{1, append([]store.Path{}, roots...)})
	}
	for _, p := range roots {
		r.Printf("%s\n", p)
	}
	return nil
}

// storeInfoJSON is one path of kiln store info --json (docs/json.md).
type storeInfoJSON struct {
	Path         store.Path   `json:"path"`
	Refs         []store.Path `json:"refs"`
	NarHash      string       `json:"nar_hash"`
	NarSize      int64        `json:"nar_bytes"`
	Registered   string       `json:"registered"` // RFC 3339, UTC
	ClosurePaths int          `json:"closure_paths"`
	ClosureSize  int64        `json:"closure_nar_bytes"`
	registered   time.Time
}

func storeInfo(r *Run, s *store.Store, args []string) error {
	var out []storeInfoJSON
	for _, a := range args {
		p, err := s.PathOf(r.Path(a))
		if err != nil {
			return err
		}
		info, err := s.Info(p)
		if err != nil {
			return err
		}
		j := storeInfoJSON{Path: info.Path, Refs: append([]store.Path{}, info.Refs...), NarHash: info.NarHash, NarSize: info.NarSize,
			Registered: info.Registered.UTC().Format(time.RFC3339), registered: info.Registered}
		if j.ClosurePaths, j.ClosureSize, err = s.ClosureSize(p); err != nil {
			return err
		}
		out = append(out, j)
	}
	if r.JSON {
		return r.printJSON(struct {
			Version int             `json:"version"`
			Paths   []storeInfoJSON `json:"paths"`
		}{1, out})
	}
	for _, j := range out {
		r.Printf("%s\n  nar:        %s, %s\n  closure:    %d paths, %s\n  registered: %s\n",
			j.Path, j.NarHash, store.FormatBytes(j.NarSize), j.ClosurePaths, store.FormatBytes(j.ClosureSize), j.registered.Format("2006-01-02 15:04:05 MST"))
		for _, ref := range j.Refs {
			r.Printf("  ref:        %s\n", ref)
		}
	}
	return nil
}
