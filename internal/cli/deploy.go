package cli

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kiln-os/kiln/fleet"
	"github.com/kiln-os/kiln/machine"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/store"
)

type deployFlags struct {
	file       string
	on         string
	parallel   int
	rolling    int
	dryRun     bool
	substitute bool
	identity   string
	acceptNew  bool
	// confirmed switches, as kiln switch --target-host
	confirmTimeout time.Duration
	noConfirm      bool
}

func init() {
	register(&command{
		name:    "deploy",
		summary: "build and switch many hosts from a fleet file, in parallel or rolling",
		usage: `kiln deploy [-f fleet.hcl] [--on @TAG|NAME,...] [--parallel N] [--rolling BATCH] [--dry-run] [--substitute] [-i KEY] [--confirm-timeout 60s | --no-confirm]

deploy reads the fleet file, one block per machine:

  hosts "web1" {
    target = "root@web1"      # USER@HOST[:PORT], reached over SSH
    config = "web1.hcl"       # relative to the fleet file; kiln.lock beside it
    tags   = ["web", "eu"]
  }

and builds every selected host (--on: names and @tags, comma-separated;
default all) into one store, so what hosts share is built once. Then it
copies each host's missing paths over SSH and switches it, as kiln switch
--target-host does, --parallel hosts at once, and prints a status table
(--json: a list of objects). One host failing does not stop the others;
with --rolling, hosts go BATCH at a time and the deploy stops after a
batch where a host failed to build, copy or switch, skipping the rest.

Each switch is confirmed, as kiln switch --target-host's: the target arms
a dead-man switch and activates; kiln confirms over a new SSH connection
once the target's health checks pass, within --confirm-timeout; otherwise
the target rolls itself back and the host is failed. A failed health
check is what stops a rolling deploy. --no-confirm switches without it
(a switch then fails only when units failed).

--substitute sends each target only the names of the paths it lacks: the
target takes them from its configuration's substituters itself (checking
signatures and hashes), and only what no cache has is copied over SSH.
--dry-run plans every build and switches nothing. deploy exits 1 unless
every host switched.`,
		flags: func(fs *flag.FlagSet) any {
			f := &deployFlags{}
			fs.StringVar(&f.file, "f", fleet.DefaultFile, "fleet `FILE`")
			fs.StringVar(&f.on, "on", "", "deploy only these hosts: `NAME,@TAG,...`")
			fs.IntVar(&f.parallel, "parallel", 8, "hosts copied and switched at once")
			fs.IntVar(&f.rolling, "rolling", 0, "deploy `BATCH` hosts at a time; stop after a batch with a failure")
			fs.BoolVar(&f.dryRun, "dry-run", false, "plan the builds, switch nothing")
			fs.BoolVar(&f.substitute, "substitute", false, "targets take paths from their substituters themselves")
			fs.StringVar(&f.identity, "i", "", "SSH private key `FILE` (else ssh-agent)")
			fs.BoolVar(&f.acceptNew, "accept-new-host-key", false, "trust and record unknown host keys")
			fs.DurationVar(&f.confirmTimeout, "confirm-timeout", machine.DefaultConfirmTimeout, "each target rolls back unless confirmed within this `DURATION`")
			fs.BoolVar(&f.noConfirm, "no-confirm", false, "switch without the confirmation and its rollback")
			return f
		},
		run: runDeploy,
	})
}

func runDeploy(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*deployFlags)
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	if !f.noConfirm && f.confirmTimeout <= 0 {
		return usageErrorf("--confirm-timeout wants a positive duration")
	}
	if f.rolling < 0 || f.parallel < 1 {
		return usageErrorf("--parallel is at least 1 and --rolling not negative")
	}
	file := r.Path(f.file)
	fl, diags := fleet.Load(file)
	if diags.HasErrors() {
		fmt.Fprint(r.Stderr, modules.DiagnosticText(diags, 0))
		return fmt.Errorf("fleet file %s does not load", f.file)
	}
	hosts, err := fl.Select(f.on)
	if err != nil {
		return usageErrorf("%v", err)
	}
	st, err := store.Open(r.storeDir())
	if err != nil {
		return err
	}
	defer st.Close()
	d := &deployer{r: r, f: f, st: st}
	res := fleet.Deploy(ctx, hosts, fleet.Options{
		Parallel: f.parallel, Rolling: f.rolling, DryRun: f.dryRun,
		Build:  d.build,
		Switch: d.switchHost,
		Done: func(h fleet.HostResult) {
			r.Logf("%s: %s", h.Host.Name, h.Status)
		},
	})
	if r.JSON {
		if err := storeJSON(r, deployJSON{Version: 1, Hosts: fleet.JSON(res)}); err != nil {
			return err
		}
	} else {
		r.Printf("%s", fleet.Table(res))
	}
	if !fleet.AllSwitched(res) {
		return exitStatus(ExitFailure)
	}
	return nil
}

// deployer is one kiln deploy: its store, and the output of hosts that
// finish at the same time kept apart.
type deployer struct {
	r  *Run
	f  *deployFlags
	st *store.Store
	mu sync.Mutex // r.Stderr
}

func (d *deployer) build(ctx context.Context, h *fleet.Host) (fleet.Built, error) {
	d.r.Logf("build %s (%s)", h.Name, h.Config)
	res, err := d.r.build(ctx, d.st, h.Config, d.f.dryRun)
	if err != nil {
		return fleet.Built{}, err
	}
	return fleet.Built{Toplevel: res.Toplevel, Substituters: res.Config.System.Substituters,
		TrustedKeys: res.Config.System.TrustedPublicKeys}, nil
}

// switchHost is the one per-host step of a deploy: it copies the closure
// (or, with --substitute, its names) to the host and switches it, with
// machine.Remote.Deploy over SSH. A confirmed switch (health checks and
// automatic rollback) plugs in here.
func (d *deployer) switchHost(ctx context.Context, h *fleet.Host, b fleet.Built) fleet.Outcome {
	var out fleet.Outcome
	var sub *machine.Substitute
	if d.f.substitute {
		if len(b.Substituters) == 0 {
			out.Err = fmt.Errorf("--substitute: %s sets no substituters", h.Config)
			return out
		}
		sub = &machine.Substitute{From: b.Substituters, TrustedKeys: b.TrustedKeys}
	}
	home := d.r.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	identity := ""
	if d.f.identity != "" {
		identity = d.r.Path(d.f.identity)
	}
	var log lockedBuffer // the session writes stdout and stderr from two goroutines
	sshOpts := machine.SSHOptions{
		Identity: identity, Identities: machine.DefaultIdentities(home), AgentSocket: d.r.Getenv("SSH_AUTH_SOCK"), AcceptNew: d.f.acceptNew,
		KnownHosts: filepath.Join(home, ".ssh", "known_hosts"),
		Notice:     func(s string) { fmt.Fprintln(&log, s) },
	}
	copied := func(c machine.CopyStats) {
		out.Closure, out.Copied, out.Substituted = c.Closure, c.Missing, c.Substituted
	}
	if !d.f.noConfirm {
		// Both connections' egress counts: the switch's and the
		// confirmation's.
		var remotes []*machine.Remote
		dial := func(ctx context.Context, t machine.Target, o machine.SSHOptions) (*machine.Remote, error) {
			r, err := machine.Dial(ctx, t, o)
			if err == nil {
				remotes = append(remotes, r)
			}
			return r, err
		}
		_, err := machine.ConfirmedSwitch(ctx, h.Target, d.st, b.Toplevel, machine.ConfirmOptions{
			SSH: sshOpts, Timeout: d.f.confirmTimeout, Verbose: d.r.Verbose, Stdout: &log, Stderr: &log,
			Copied: copied, Substitute: sub, Dial: dial,
		})
		for _, r := range remotes {
			out.Sent += r.Sent()
		}
		out.Err = err
		d.relay(h.Name, log.Bytes())
		return out
	}
	remote, err := machine.Dial(ctx, h.Target, sshOpts)
	if err != nil {
		out.Err = err
		return out
	}
	defer remote.Close()
	code, err := remote.Deploy(ctx, d.st, b.Toplevel, machine.DeployOptions{
		Verbose: d.r.Verbose, Stdout: &log, Stderr: &log, Substitute: sub, Copied: copied,
	})
	out.Sent, out.ExitCode, out.Err = remote.Sent(), code, err
	d.relay(h.Name, log.Bytes())
	return out
}

// deployJSON is kiln deploy --json (docs/json.md).
type deployJSON struct {
	Version int                `json:"version"`
	Hosts   []fleet.JSONResult `json:"hosts"`
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Bytes()
}

// relay prints a host's output, each line prefixed with its name.
func (d *deployer) relay(name string, b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if line := strings.TrimRight(sc.Text(), " "); line != "" {
			fmt.Fprintf(d.r.Stderr, "%s| %s\n", name, line)
		}
	}
}
