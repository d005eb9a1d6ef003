package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/kiln-os/kiln/cache"
	"github.com/kiln-os/kiln/fleet"
	"github.com/kiln-os/kiln/internal/s3test"
	"github.com/kiln-os/kiln/store"
)

// The scale of kiln deploy without VMs: 5 and 50 targets, each its own
// root and store behind its own in-process SSH server running the real
// CLI, deployed 16 at a time with a closure of real packages (libc6,
// bash, coreutils and a toplevel), copying over SSH or with
// --substitute from a real S3 server (SeaweedFS; the push is not timed:
// it happens once per release, not per host). ns/op is the deploy's wall
// time; egress-MB/op the bytes the deployer wrote to all SSH connections.
// bench/fleet-deploy prints the figures and their growth.
func BenchmarkDeployFleet(b *testing.B) {
	local := newTestMachine(b)
	pkgs := realPackages(b, local.st, "libc6", "bash", "coreutils")
	srv := s3test.Start(b)
	srv.MakeBucket(b, "fleet-bench")
	env := map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey}
	url := srv.URL("fleet-bench", "bench")
	c, err := cache.Open(url, cache.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		b.Fatal(err)
	}
	key, err := cache.GenerateKey("fleet-bench-1", rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	round := 0
	for _, n := range []int{5, 50} {
		for _, mode := range []string{"copy", "substitute"} {
			b.Run(fmt.Sprintf("targets=%d/%s", n, mode), func(b *testing.B) {
				var sent, narBytes int64
				for range b.N {
					b.StopTimer()
					round++
					tf := newTestFleet(b, n)
					for _, s := range tf.servers {
						s.env = env
					}
					top := local.systemWith(b, local.st, fmt.Sprintf("bench-%d", round), "A", map[string]string{"round": fmt.Sprint(round)}, pkgs...)
					built := fleet.Built{Toplevel: top}
					if mode == "substitute" {
						if _, err := c.Push(context.Background(), local.st, []store.Path{top}, cache.PushOptions{Key: key}); err != nil {
							b.Fatal(err)
						}
						built.Substituters, built.TrustedKeys = []string{url}, []string{key.Public().String()}
					}
					_, narBytes, _ = local.st.ClosureSize(top)
					b.StartTimer()
					res, errs := tf.deploy(b, local.st, built, deployFlags{substitute: mode == "substitute", parallel: 16})
					b.StopTimer()
					if !fleet.AllSwitched(res) {
						b.Fatalf("not every host switched:\n%s\n%s", fleet.Table(res), errs)
					}
					for _, r := range res {
						sent += r.Sent
						if mode == "substitute" && r.Copied != 0 {
							b.Fatalf("%s: %d paths copied with --substitute", r.Host.Name, r.Copied)
						}
					}
				}
				b.ReportMetric(float64(sent)/float64(b.N)/1e6, "egress-MB/op")
				b.ReportMetric(float64(narBytes)/1e6, "closure-MB")
			})
		}
	}
}
