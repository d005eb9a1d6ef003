package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kiln-os/kiln/machine"
	"github.com/kiln-os/kiln/store"
)

type switchFlags struct {
	config    string
	toplevel  string
	boot      bool
	noBoot    bool
	upgrade   bool
	dryRun    bool
	target    string
	identity  string
	acceptNew bool
	root      string
	// confirmed switches
	noConfirm      bool
	confirmTimeout time.Duration
	confirmWithin  time.Duration // the target side
}

// hidden reports whether fs is the one Main parses, not the one help
// prints: internal flags are declared only there.
func hidden(fs *flag.FlagSet) bool { return strings.HasPrefix(fs.Name(), "kiln ") }

func init() {
	register(&command{
		name:    "switch",
		summary: "build a configuration and make it the running system and the default boot entry",
		usage: `kiln switch [-c host.hcl] [--toplevel P] [--boot|--no-boot] [--upgrade] [--dry-run [--json]] [--target-host [USER@]HOST[:PORT] [-i KEY] [--confirm-timeout 60s | --no-confirm]]

switch builds the configuration (or takes the toplevel P already in the
store), adds it as a new generation of the system profile, rewrites the
boot entries on the ESP (/boot) with it as the default and its own boot
loader settings, and activates it: /etc, users, setuid wrappers, the host
name and systemd units change to the new generation's, and only the units
that changed are restarted. It exits 1 when units failed. A configuration
that does not build changes nothing.

--boot only makes it the default for the next boot. --no-boot activates it
and adds no generation and no boot entry, so the next boot comes back to
the default entry (nixos-rebuild test). --upgrade resolves the lock again
first (kiln lock --update). --dry-run prints what
activating would do, the plan a switch then applies, and changes nothing
on the machine.

--target-host builds here, copies the store paths the target lacks over
SSH (hashes checked on arrival) and runs the target's kiln to switch it,
relaying its output and exit status (with --dry-run too: the target needs
the new toplevel to plan). The user is root unless given, and HOST may
be an alias of ~/.ssh/config (HostName, User, Port, IdentityFile). Keys
come from -i, the config's IdentityFile, ~/.ssh/id_ed25519, id_ecdsa,
id_rsa (unencrypted) and ssh-agent;
the host key must be in ~/.ssh/known_hosts, or is recorded there with
--accept-new-host-key.

A switch over SSH is confirmed (unless --no-confirm, --boot or --dry-run):
the target arms a dead-man switch (a transient systemd timer, which
survives the SSH connection dropping) before it activates, and keeps its
previous generation the default boot entry; kiln then opens a new SSH
connection and runs the target's health checks (kiln health) over it.
Only when they pass within --confirm-timeout is the new generation
confirmed and made the default. Otherwise the target rolls back by itself
(activates the previous generation, moves the default entry back) and
kiln exits 1 naming what failed: no new connection, or which check. A
reset of the target during the window boots the previous generation.
--confirm-within D is that target side (what --target-host runs there).`,
		flags: func(fs *flag.FlagSet) any {
			f := &switchFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` (default: the built-in default system)")
			fs.StringVar(&f.toplevel, "toplevel", "", "switch to this toplevel store `PATH` instead of building")
			fs.BoolVar(&f.boot, "boot", false, "only make it the default boot entry; do not activate")
			fs.BoolVar(&f.noBoot, "no-boot", false, "activate only: no generation, no boot entry (the next boot is the default one)")
			fs.BoolVar(&f.upgrade, "upgrade", false, "resolve the lock again first, as kiln lock --update does")
			fs.BoolVar(&f.dryRun, "dry-run", false, "print the switch plan, change nothing")
			fs.StringVar(&f.target, "target-host", "", "switch the machine `[USER@]HOST[:PORT]` over SSH (user root by default; ~/.ssh/config aliases)")
			fs.StringVar(&f.identity, "i", "", "SSH private key `FILE` for --target-host (else ssh-agent)")
			fs.BoolVar(&f.acceptNew, "accept-new-host-key", false, "trust and record an unknown target host key")
			fs.BoolVar(&f.noConfirm, "no-confirm", false, "with --target-host: switch without a confirmation (no dead-man switch)")
			fs.DurationVar(&f.confirmTimeout, "confirm-timeout", machine.DefaultConfirmTimeout, "with --target-host: confirm within `D` or the target rolls back")
			fs.DurationVar(&f.confirmWithin, "confirm-within", 0, "on the target: roll back after `D` unless 'kiln confirm' runs first")
			f.root = "/"
			if hidden(fs) {
				fs.StringVar(&f.root, "root", "/", "machine root `DIR` (tests)")
				// Kilns before bootspec version 2 sent the building side's
				// boot loader settings; the toplevel carries them now.
				fs.Func("loader", "ignored", func(string) error { return nil })
			}
			return f
		},
		run: runSwitch,
	})
}

func runSwitch(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*switchFlags)
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	if f.config != "" && f.toplevel != "" {
		return usageErrorf("-c and --toplevel exclude each other")
	}
	if f.boot && f.dryRun {
		return usageErrorf("--boot and --dry-run exclude each other")
	}
	if f.boot && f.noBoot {
		return usageErrorf("--boot and --no-boot exclude each other")
	}
	if f.upgrade {
		if f.toplevel != "" {
			return usageErrorf("--upgrade and --toplevel exclude each other")
		}
		if err := runLock(ctx, r, &lockFlags{config: f.config, update: true}, nil); err != nil {
			return err
		}
	}
	if r.JSON && !f.dryRun {
		return usageErrorf("--json goes with --dry-run")
	}
	if f.target != "" {
		if r.JSON {
			return usageErrorf("--json is not relayed from --target-host yet")
		}
		return switchRemote(ctx, r, f)
	}
	if f.identity != "" || f.acceptNew || f.noConfirm || f.confirmTimeout != machine.DefaultConfirmTimeout {
		return usageErrorf("-i, --accept-new-host-key, --no-confirm and --confirm-timeout go with --target-host")
	}
	if f.confirmWithin < 0 || f.confirmWithin > 0 && (f.boot || f.dryRun) {
		return usageErrorf("--confirm-within wants a positive duration, and neither --boot nor --dry-run")
	}
	m, err := r.openMachine(f.root)
	if err != nil {
		return err
	}
	defer m.Close()
	top, err := r.toplevel(ctx, m, f)
	if err != nil {
		return err
	}
	if f.dryRun {
		plan, err := m.Plan(ctx, top)
		if err != nil {
			return err
		}
		if r.JSON {
			return r.printJSON(switchPlanJSON{Version: 1, Toplevel: top.String(), Plan: strings.Split(strings.TrimSuffix(plan, "\n"), "\n")})
		}
		r.printSwitchDiff(m, top)
		r.Printf("%s", strings.TrimSuffix(plan, "\n")+"\n")
		return nil
	}
	if f.noBoot {
		res, err := m.Test(ctx, top)
		if res != nil {
			r.Printf("activated %s; no generation added, the boot entries are unchanged\n", res.Toplevel)
		}
		return r.activated(res, err)
	}
	var res *machine.Result
	if f.confirmWithin > 0 {
		res, err = m.SwitchPending(ctx, top, f.confirmWithin)
	} else {
		res, err = m.Switch(ctx, top, f.boot)
	}
	if res != nil && f.confirmWithin > 0 {
		r.Printf("generation %d is %s, active; it rolls back in %s unless confirmed\n", res.Generation, res.Toplevel, f.confirmWithin)
	} else if res != nil {
		what := "is"
		if !res.Created {
			what = "was already"
		}
		r.Printf("generation %d %s %s, the default boot entry\n", res.Generation, what, res.Toplevel)
	}
	return r.activated(res, err)
}

// switchPlanJSON is kiln switch --dry-run --json (docs/json.md).
type switchPlanJSON struct {
	Version  int      `json:"version"`
	Toplevel string   `json:"toplevel"`
	Plan     []string `json:"plan"` // the plan's lines, as printed without --json
}

// machineOnly opens the machine at root for a verb that takes no
// arguments.
func (r *Run) machineOnly(root string, args []string) (*machine.Machine, error) {
	if len(args) > 0 {
		return nil, usageErrorf("unexpected argument %q", args[0])
	}
	return r.openMachine(root)
}

// openMachine opens the machine at root (--root in tests) with its store
// (--store, else root/kiln/store), and points r.Store at that store.
func (r *Run) openMachine(root string) (*machine.Machine, error) {
	root = r.Path(root)
	dir := r.Store
	if dir == "" {
		dir = filepath.Join(root, "kiln", "store")
	}
	r.Store = r.Path(dir)
	m, err := machine.Open(root, r.Store)
	if err != nil {
		return nil, err
	}
	m.Engine, m.Log = r.engine, r.Logf
	m.DeadMan, m.Checks = r.deadMan, r.checks
	if r.Getenv("KILN_TEST_FAULTS") == "1" {
		// a test's fault point: kiln dies there as kill -9 would kill it
		m.CrashAt, m.OnCrash = r.Getenv("KILN_TEST_CRASH_AT"), func(string) { killSelf() }
	}
	return m, nil
}

// activated prints what a switch or rollback's activation did and returns
// its error.
func (r *Run) activated(res *machine.Result, err error) error {
	if res != nil && res.Activation != nil {
		if sum := res.Activation.Summary; sum != "" {
			r.Printf("%s", strings.TrimSuffix(sum, "\n")+"\n")
		}
		if err == nil || len(res.Activation.Errors) == 0 && len(res.Activation.Failed) > 0 {
			r.Logf("activated %s in %s", res.Toplevel, res.Activation.Took.Round(time.Millisecond))
		}
	}
	return err
}

// killSelf dies as kill -9 would kill kiln (fault injection in tests).
func killSelf() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// toplevel returns the toplevel to switch to: --toplevel, or the
// configuration built into the machine's store.
func (r *Run) toplevel(ctx context.Context, m *machine.Machine, f *switchFlags) (store.Path, error) {
	if f.toplevel != "" {
		top, err := m.Store.PathOf(f.toplevel)
		if err != nil {
			return store.Path{}, err
		}
		if !m.Store.Valid(top) {
			return store.Path{}, fmt.Errorf("toplevel %s is not in the store %s: copy it first (kiln switch --target-host does)", top, m.Store.Dir)
		}
		return top, nil
	}
	ro, _, err := machine.ReadOnlyMount(m.Store.Dir)
	if err != nil {
		return store.Path{}, err
	}
	if ro && r.Getenv(privateNSEnv) != "1" {
		return r.buildInChild(ctx, m, f.config)
	}
	res, err := r.build(ctx, m.Store, f.config, false)
	if err != nil {
		return store.Path{}, err
	}
	return res.Toplevel, nil
}

// buildInChild builds on a read-only store: `kiln build` in a private
// mount namespace builds and roots the result; activation happens here,
// in the machine's own namespace.
func (r *Run) buildInChild(ctx context.Context, m *machine.Machine, config string) (store.Path, error) {
	link := filepath.Join(m.Store.StateDir, "gcroots", "kiln-switch-"+strconv.Itoa(os.Getpid()))
	defer os.Remove(link)
	args := []string{"--store", m.Store.Dir}
	for _, g := range []struct{ flag, v string }{{"--mirror", r.Mirror}, {"--keyring", r.Keyring}} {
		if g.v != "" {
			args = append(args, g.flag, g.v)
		}
	}
	if r.Verbose {
		args = append(args, "-v")
	}
	args = append(args, "build", "-o", link)
	if config != "" {
		args = append(args, "-c", r.Path(config))
	}
	var out strings.Builder
	child := *r
	child.Args, child.Stdout = args, &out
	if _, err := child.inPrivateMountNS(ctx, m.Store.Dir); err != nil {
		return store.Path{}, err
	}
	top, err := store.ParsePath(strings.TrimSpace(out.String()))
	if err != nil {
		return store.Path{}, fmt.Errorf("build in a private mount namespace: %w", err)
	}
	// Root the toplevel in this process before the child's link goes.
	if err := m.Store.Build(ctx, top, nil, nil); err != nil {
		return store.Path{}, err
	}
	return top, nil
}

// switchRemote builds here and switches the target over SSH
// (machine.Remote.Deploy).
func switchRemote(ctx context.Context, r *Run, f *switchFlags) error {
	home := r.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	t, identities, err := machine.ResolveTarget(f.target, filepath.Join(home, ".ssh", "config"))
	if err != nil {
		return usageErrorf("%v", err)
	}
	st, err := store.Open(r.storeDir())
	if err != nil {
		return err
	}
	var top store.Path
	if f.toplevel != "" {
		if top, err = st.PathOf(r.Path(f.toplevel)); err != nil {
			return err
		}
	} else {
		res, err := r.build(ctx, st, f.config, false)
		if err != nil {
			return err
		}
		top = res.Toplevel
	}
	identity := ""
	if f.identity != "" {
		identity = r.Path(f.identity)
	}
	sshOpts := machine.SSHOptions{
		Identity: identity, Identities: append(identities, machine.DefaultIdentities(home)...), AgentSocket: r.Getenv("SSH_AUTH_SOCK"), AcceptNew: f.acceptNew,
		KnownHosts: filepath.Join(home, ".ssh", "known_hosts"),
		Notice:     func(s string) { fmt.Fprintln(r.Stderr, s) },
		Log:        r.Logf,
	}
	if !f.noConfirm && !f.dryRun && !f.boot && !f.noBoot {
		if f.confirmTimeout <= 0 {
			return usageErrorf("--confirm-timeout wants a positive duration")
		}
		res, err := machine.ConfirmedSwitch(ctx, t, st, top, machine.ConfirmOptions{
			SSH: sshOpts, Timeout: f.confirmTimeout, Verbose: r.Verbose, Stdout: r.Stdout, Stderr: r.Stderr,
			Copied: func(c machine.CopyStats) {
				fmt.Fprintf(r.Stderr, "copied %s to %s (%d of %d closure paths were missing)\n", c.TransferStats, t, c.Missing, c.Closure)
			},
		})
		if err != nil {
			return err
		}
		r.Printf("%s confirmed %s (switch %s, confirmation %s)\n", t, top, res.Switch.Round(time.Millisecond), res.Confirm.Round(time.Millisecond))
		return nil
	}
	remote, err := machine.Dial(ctx, t, sshOpts)
	if err != nil {
		return err
	}
	defer remote.Close()
	code, err := remote.Deploy(ctx, st, top, machine.DeployOptions{
		DryRun: f.dryRun, Boot: f.boot, NoBoot: f.noBoot, Verbose: r.Verbose, Stdout: r.Stdout, Stderr: r.Stderr,
		Copied: func(c machine.CopyStats) {
			fmt.Fprintf(r.Stderr, "copied %s to %s (%d of %d closure paths were missing)\n", c.TransferStats, t, c.Missing, c.Closure)
		},
	})
	if err != nil {
		return err
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

// printSwitchDiff prints on stderr what a switch to top changes besides
// the units (kiln diff: packages, bytes, reboot, the ESP after
// installing), when the machine has a current generation.
func (r *Run) printSwitchDiff(m *machine.Machine, top store.Path) {
	gens, err := m.Generations()
	if err != nil {
		return
	}
	for _, g := range gens {
		if !g.Current || g.Toplevel == top {
			continue
		}
		d, err := machine.DiffToplevels(m.Store, g.Toplevel, top)
		if err != nil {
			r.Logf("diff: %v", err)
			return
		}
		if fi, err := os.Stat(filepath.Join(m.ESP(), "loader")); err == nil && fi.IsDir() {
			d.ESP, _ = m.PlanESPUse(top)
		}
		fmt.Fprint(r.Stderr, d.String())
	}
}
