package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kiln-os/kiln/store"
)

func init() {
	register(&command{
		name:    "store",
		summary: "inspect the store: 'verify' re-hashes every path and lists changed or missing ones",
		usage: `kiln store verify

verify re-hashes every registered store path and compares it with the hash
recorded when it was built. It lists each path that is missing, changed,
no longer canonical (modes, mtime) or refers to an invalid path, and exits
1 when there is any. It changes nothing.`,
		run: runStore,
	})
}

func runStore(ctx context.Context, r *Run, _ any, args []string) error {
	if len(args) != 1 || args[0] != "verify" {
		return usageErrorf("want 'kiln store verify'")
	}
	s, err := store.Open(r.storeDir())
	if err != nil {
		return err
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
			Problems []jsonProblem `json:"problems"`
		}{Problems: []jsonProblem{}}
		for _, p := range problems {
			out.Problems = append(out.Problems, jsonProblem{p.Path, problemKind(p.Err), p.Err.Error()})
		}
		if err := storeJSON(r, out); err != nil {
			return err
		}
	} else {
		for _, p := range problems {
			r.Printf("%-13s %s: %v\n", problemKind(p.Err), p.Path, p.Err)
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

func problemKind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{store.ErrMissing, "missing"},
		{store.ErrChanged, "changed"},
		{store.ErrNotCanonical, "not-canonical"},
		{store.ErrBadRecord, "bad-record"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "error"
}

func storeJSON(r *Run, v any) error {
	enc := json.NewEncoder(r.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
