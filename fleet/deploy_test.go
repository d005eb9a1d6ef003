package fleet

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/machine"
	"github.com/kiln-os/kiln/store"
)

// testHosts are n hosts; host i uses configuration c<i%configs>.
func testHosts(n, configs int) []*Host {
	var out []*Host
	for i := range n {
		t, _ := machine.ParseTarget(fmt.Sprintf("root@h%d", i))
		out = append(out, &Host{Name: fmt.Sprintf("h%d", i), Target: t, Config: fmt.Sprintf("c%d.hcl", i%configs)})
	}
	return out
}

func topOf(config string) store.Path {
	p, err := store.NewKey("fleet-test").Add("c", config).Path("system-" + strings.TrimSuffix(config, ".hcl"))
	if err != nil {
		panic(err)
	}
	return p
}

// The deploy's order as (hosts, what fails) → each host's status: one
// host failing never stops the others unless rolling, and a rolling
// deploy stops after the batch where one failed.
func TestDeployOrder(t *testing.T) {
	cases := []struct {
		name        string
		hosts       int
		configs     int
		rolling     int
		dryRun      bool
		buildFails  string // configuration
		switchFails string // host: exits 1 (its health checks failed)
		copyFails   string // host: the connection breaks
		want        string
		builds      int
	}{
		{name: "all switch", hosts: 5, configs: 2, want: "switched switched switched switched switched", builds: 2},
		{name: "one build fails, the others deploy", hosts: 4, configs: 2, buildFails: "c1.hcl",
			want: "switched build-failed switched build-failed", builds: 2},
		{name: "one switch fails, the others deploy", hosts: 4, configs: 1, switchFails: "h1",
			want: "switched failed switched switched", builds: 1},
		{name: "one copy fails, the others deploy", hosts: 3, configs: 1, copyFails: "h0",
			want: "failed switched switched", builds: 1},
		{name: "rolling stops after the failed batch", hosts: 7, configs: 1, rolling: 2, switchFails: "h2",
			want: "switched switched failed switched skipped skipped skipped", builds: 1},
		{name: "rolling: a build failure fails its batch", hosts: 4, configs: 4, rolling: 2, buildFails: "c1.hcl",
			want: "switched build-failed skipped skipped", builds: 4},
		{name: "rolling: failure in the last batch", hosts: 4, configs: 1, rolling: 2, switchFails: "h3",
			want: "switched switched switched failed", builds: 1},
		{name: "rolling, all healthy", hosts: 5, configs: 1, rolling: 2, want: "switched switched switched switched switched", builds: 1},
		{name: "dry run switches nothing", hosts: 3, configs: 3, dryRun: true, want: "planned planned planned", builds: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hosts := testHosts(tc.hosts, tc.configs)
			var builds, switches atomic.Int32
			var mu sync.Mutex
			var order []string
			res := Deploy(context.Background(), hosts, Options{
				Parallel: 3, Rolling: tc.rolling, DryRun: tc.dryRun,
				Build: func(_ context.Context, h *Host) (Built, error) {
					builds.Add(1)
					if h.Config == tc.buildFails {
						return Built{}, errors.New("does not build")
					}
					return Built{Toplevel: topOf(h.Config)}, nil
				},
				Switch: func(_ context.Context, h *Host, b Built) Outcome {
					switches.Add(1)
					if b.Toplevel != topOf(h.Config) {
						t.Errorf("%s got %s", h.Name, b.Toplevel)
					}
					mu.Lock()
					order = append(order, h.Name)
					mu.Unlock()
					switch h.Name {
					case tc.copyFails:
						return Outcome{Err: errors.New("connection lost")}
					case tc.switchFails:
						return Outcome{Closure: 10, Copied: 10, ExitCode: 1}
					}
					return Outcome{Closure: 10, Copied: 10}
				},
			})
			var got []string
			for _, r := range res {
				got = append(got, string(r.Status))
				if (r.Err() == nil) != (r.Status == Switched || r.Status == Planned) {
					t.Errorf("%s: status %s, Err %v", r.Host.Name, r.Status, r.Err())
				}
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("statuses %q, want %q", g, tc.want)
			}
			if int(builds.Load()) != tc.builds {
				t.Errorf("%d builds, want %d (one per configuration)", builds.Load(), tc.builds)
			}
			if tc.dryRun && switches.Load() != 0 {
				t.Errorf("a dry run switched %d hosts", switches.Load())
			}
			if AllSwitched(res) != !strings.ContainsAny(tc.want, "fk") {
				t.Errorf("AllSwitched = %v", AllSwitched(res))
			}
		})
	}
}

// At most Parallel hosts are switched at once, and a rolling batch ends
// before the next begins.
func TestDeployParallelism(t *testing.T) {
	for _, tc := range []struct{ parallel, rolling, want int }{{1, 0, 1}, {4, 0, 4}, {8, 3, 3}} {
		hosts := testHosts(12, 1)
		var now, peak atomic.Int32
		var batchOf sync.Map
		var running sync.Map
		res := Deploy(context.Background(), hosts, Options{
			Parallel: tc.parallel, Rolling: tc.rolling,
			Build: func(context.Context, *Host) (Built, error) { return Built{Toplevel: topOf("c0.hcl")}, nil },
			Switch: func(_ context.Context, h *Host, _ Built) Outcome {
				n := now.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				running.Store(h.Name, true)
				time.Sleep(20 * time.Millisecond)
				running.Delete(h.Name)
				now.Add(-1)
				return Outcome{}
			},
			Done: func(r HostResult) { batchOf.Store(r.Host.Name, r.Batch) },
		})
		if int(peak.Load()) != tc.want {
			t.Errorf("parallel %d rolling %d: peak %d at once, want %d", tc.parallel, tc.rolling, peak.Load(), tc.want)
		}
		for i, r := range res {
			want := 1
			if tc.rolling > 0 {
				want = i/tc.rolling + 1
			}
			if r.Batch != want {
				t.Errorf("parallel %d rolling %d: %s in batch %d, want %d", tc.parallel, tc.rolling, r.Host.Name, r.Batch, want)
			}
		}
	}
}

// The status table, golden.
func TestTable(t *testing.T) {
	hosts := testHosts(4, 2)
	hosts[0].Tags = []string{"web"}
	res := []HostResult{
		{Host: hosts[0], Status: Switched, Batch: 1, Toplevel: topOf("c0.hcl"), Took: 3200 * time.Millisecond,
			Outcome: Outcome{Closure: 130, Copied: 2, Substituted: 128, Sent: 48 << 10}},
		{Host: hosts[1], Status: Failed, Batch: 1, Toplevel: topOf("c1.hcl"), Took: 12 * time.Second,
			Outcome: Outcome{Closure: 130, Copied: 130, Sent: 210 << 20, ExitCode: 1}},
		{Host: hosts[2], Status: BuildFailed, BuildErr: errors.New("build c0.hcl: configuration has 1 error")},
		{Host: hosts[3], Status: Skipped, Toplevel: topOf("c1.hcl")},
	}
	golden.Check(t, filepath.Join("testdata", "table.golden"), []byte(Table(res)))
}
