package fleet

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kiln-os/kiln/internal/parallel"
	"github.com/kiln-os/kiln/store"
)

// Built is what building a host's configuration made.
type Built struct {
	Toplevel store.Path
	// Substituters and TrustedKeys are the configuration's: where the
	// target may take paths from itself (Options.Substitute).
	Substituters, TrustedKeys []string
}

// Outcome is how copying and switching one host went.
type Outcome struct {
	Closure     int   // paths in the toplevel's closure
	Copied      int   // paths the deployer sent over SSH
	Substituted int   // paths the target took from a cache itself
	Sent        int64 // bytes the deployer wrote to the host's SSH connection
	ExitCode    int   // the target's switch's exit status (0: switched)
	Err         error // the copy or the connection failed
}

// Status is where a host ended.
type Status string

const (
	Switched    Status = "switched"
	Failed      Status = "failed"       // the copy or the switch failed
	BuildFailed Status = "build-failed" // its configuration did not build
	Skipped     Status = "skipped"      // a rolling deploy stopped before it
	Planned     Status = "planned"      // dry run: built (planned) only
)

// HostResult is one host's line of the status table.
type HostResult struct {
	Host     *Host
	Status   Status
	Batch    int // 1-based; 0 when it never ran
	Toplevel store.Path
	Outcome
	BuildErr error
	Took     time.Duration // the copy and switch
}

// Err is the reason a host did not switch (nil when it did).
func (r HostResult) Err() error {
	switch {
	case r.BuildErr != nil:
		return r.BuildErr
	case r.Outcome.Err != nil:
		return r.Outcome.Err
	case r.Status == Failed:
		return fmt.Errorf("the switch on %s exited %d", r.Host.Target, r.ExitCode)
	case r.Status == Skipped:
		return fmt.Errorf("not deployed: an earlier batch failed")
	}
	return nil
}

// Options say how Deploy runs.
type Options struct {
	// Parallel is how many hosts are copied and switched at once (< 1:
	// one at a time).
	Parallel int
	// Rolling, when > 0, deploys Rolling hosts at a time and stops after
	// a batch where a host failed (its build, its copy, or its switch,
	// whose health checks fail it): the later hosts are Skipped. Without
	// it every host is tried, whatever the others did.
	Rolling int
	// DryRun builds (the caller's Build plans only) and switches nothing.
	DryRun bool
	// Build builds a host's configuration into the deploy's one store.
	// Hosts with the same configuration file are built once.
	Build func(ctx context.Context, h *Host) (Built, error)
	// Switch copies the built system to the host and switches it: the
	// one per-host step (internal/cli: machine.Remote.Deploy over SSH).
	Switch func(ctx context.Context, h *Host, b Built) Outcome
	// Done, when set, hears of each host as it ends (one call at a time).
	Done func(HostResult)
}

// Deploy builds every host, then copies and switches them, and returns a
// result per host in the order given. A host that fails does not stop
// the others unless Rolling.
func Deploy(ctx context.Context, hosts []*Host, o Options) []HostResult {
	res := make([]HostResult, len(hosts))
	built := map[string]Built{}
	buildErr := map[string]error{}
	for i, h := range hosts {
		res[i].Host = h
		if _, done := built[h.Config]; !done && buildErr[h.Config] == nil {
			b, err := o.Build(ctx, h)
			if err != nil {
				buildErr[h.Config] = err
			} else {
				built[h.Config] = b
			}
		}
		res[i].Toplevel = built[h.Config].Toplevel
		if err := buildErr[h.Config]; err != nil {
			res[i].Status, res[i].BuildErr = BuildFailed, fmt.Errorf("build %s: %w", h.Config, err)
		}
	}
	var mu sync.Mutex
	done := func(i int) {
		if o.Done != nil {
			mu.Lock()
			defer mu.Unlock()
			o.Done(res[i])
		}
	}
	for bi, batch := range batches(len(hosts), o.Rolling) {
		parallel.Do(len(batch), o.Parallel, func(j int) error {
			i := batch[j]
			res[i].Batch = bi + 1
			switch {
			case res[i].Status == BuildFailed:
			case o.DryRun:
				res[i].Status = Planned
			case ctx.Err() != nil:
				res[i].Status, res[i].Outcome.Err = Failed, ctx.Err()
			default:
				start := time.Now()
				out := o.Switch(ctx, hosts[i], built[hosts[i].Config])
				res[i].Outcome, res[i].Took = out, time.Since(start)
				res[i].Status = Switched
				if out.Err != nil || out.ExitCode != 0 {
					res[i].Status = Failed
				}
			}
			done(i)
			return nil
		})
		if o.Rolling > 0 && failed(res, batch) {
			for _, rest := range batches(len(hosts), o.Rolling)[bi+1:] {
				for _, i := range rest {
					res[i].Status = Skipped
					done(i)
				}
			}
			break
		}
	}
	return res
}

// batches splits n hosts into runs of size (size < 1: one run of all).
func batches(n, size int) [][]int {
	if size < 1 {
		size = max(n, 1)
	}
	var out [][]int
	for start := 0; start < n; start += size {
		var b []int
		for i := start; i < min(start+size, n); i++ {
			b = append(b, i)
		}
		out = append(out, b)
	}
	return out
}

func failed(res []HostResult, batch []int) bool {
	for _, i := range batch {
		if s := res[i].Status; s == Failed || s == BuildFailed {
			return true
		}
	}
	return false
}

// AllSwitched reports whether every host switched (or, in a dry run,
// was planned).
func AllSwitched(res []HostResult) bool {
	for _, r := range res {
		if r.Status != Switched && r.Status != Planned {
			return false
		}
	}
	return true
}
