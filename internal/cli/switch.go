package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/store"
)

type switchFlags struct {
	config    string
	toplevel  string
	boot      bool
	dryRun    bool
	target    string
	identity  string
	acceptNew bool
	root      string
	// hidden: what the building side tells the target
	loader    loaderSettings
	loaderSet bool
	buildOnly string // hidden: build, root the result at this link, print it
}

// hidden reports whether fs is the one Main parses, not the one help
// prints: internal flags are declared only there.
func hidden(fs *flag.FlagSet) bool { return strings.HasPrefix(fs.Name(), "kiln ") }

func init() {
	register(&command{
		name:    "switch",
		summary: "build a configuration and make it the running system and the default boot entry",
		usage: `kiln switch [-c host.hcl] [--toplevel P] [--boot] [--dry-run] [--target-host USER@HOST[:PORT] [-i KEY]]

switch builds the configuration (or takes the toplevel P already in the
store), adds it as a new generation of the system profile, rewrites the
boot entries on the ESP (/boot) with it as the default, and activates it:
/etc, users, setuid wrappers and systemd units change to the new
generation's, and only the units that changed are restarted. It exits 1
when units failed. A configuration that does not build changes nothing.

--boot only makes it the default for the next boot. --dry-run prints what
activating would do and changes nothing on the machine.

--target-host builds here, copies the store paths the target lacks over
SSH (hashes checked on arrival) and runs the target's kiln to switch it,
relaying its output and exit status (with --dry-run too: the target needs
the new toplevel to plan). The key comes from -i or ssh-agent;
the host key must be in ~/.ssh/known_hosts, or is recorded there with
--accept-new-host-key.`,
		flags: func(fs *flag.FlagSet) any {
			f := &switchFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` (default: the built-in default system)")
			fs.StringVar(&f.toplevel, "toplevel", "", "switch to this toplevel store `PATH` instead of building")
			fs.BoolVar(&f.boot, "boot", false, "only make it the default boot entry; do not activate")
			fs.BoolVar(&f.dryRun, "dry-run", false, "print the switch plan, change nothing")
			fs.StringVar(&f.target, "target-host", "", "switch the machine `USER@HOST[:PORT]` over SSH")
			fs.StringVar(&f.identity, "i", "", "SSH private key `FILE` for --target-host (else ssh-agent)")
			fs.BoolVar(&f.acceptNew, "accept-new-host-key", false, "trust and record an unknown target host key")
			f.root = "/"
			if hidden(fs) {
				fs.StringVar(&f.root, "root", "/", "machine root `DIR` (tests)")
				fs.StringVar(&f.buildOnly, "build-only", "", "build, root the toplevel at `LINK` and print it (private mount namespace child)")
				fs.Func("loader", "bootloader settings as JSON (from the building side)", func(s string) error {
					f.loaderSet = true
					return json.Unmarshal([]byte(s), &f.loader)
				})
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
	if f.target != "" {
		return switchRemote(ctx, r, f)
	}
	if f.identity != "" || f.acceptNew {
		return usageErrorf("-i and --accept-new-host-key go with --target-host")
	}
	m, err := openMachine(r, f.root)
	if err != nil {
		return err
	}
	if f.buildOnly != "" {
		return buildOnlyChild(ctx, r, m, f)
	}
	top, loader, err := m.toplevel(ctx, r, f)
	if err != nil {
		return err
	}
	if f.dryRun {
		return printPlan(ctx, r, m, top)
	}
	return switchTo(ctx, r, m, top, loader, f.boot)
}

// toplevel returns the toplevel to switch to: --toplevel, or the
// configuration built into the machine's store.
func (m *machine) toplevel(ctx context.Context, r *Run, f *switchFlags) (store.Path, loaderSettings, error) {
	loader := m.readLoader()
	if f.loaderSet {
		loader = f.loader
	}
	if f.toplevel != "" {
		top, err := storeArg(m.st, f.toplevel)
		if err != nil {
			return store.Path{}, loader, err
		}
		if !m.st.Valid(top) {
			return store.Path{}, loader, fmt.Errorf("toplevel %s is not in the store %s: copy it first (kiln switch --target-host does)", top, m.st.Dir)
		}
		return top, loader, nil
	}
	ro, _, err := readOnlyMount(m.st.Dir)
	if err != nil {
		return store.Path{}, loader, err
	}
	if ro && r.Getenv(privateNSEnv) != "1" {
		return m.buildInChild(ctx, r, f)
	}
	b, err := buildSystem(ctx, r, f.config, false)
	if err != nil {
		return store.Path{}, loader, err
	}
	bl := b.cfg.System.Bootloader
	return b.res.Toplevel, loaderSettings{Version: 1, Timeout: bl.Timeout, MaxGenerations: bl.MaxGenerations, ConsoleMode: bl.ConsoleMode, Editor: bl.Editor}, nil
}

// buildOutput is what a --build-only child prints.
type buildOutput struct {
	Toplevel store.Path     `json:"toplevel"`
	Loader   loaderSettings `json:"bootloader"`
}

// buildInChild builds on a read-only store: a child in a private mount
// namespace builds and roots the result; activation happens here, in the
// machine's own namespace.
func (m *machine) buildInChild(ctx context.Context, r *Run, f *switchFlags) (store.Path, loaderSettings, error) {
	link := filepath.Join(m.st.StateDir, "gcroots", "kiln-switch-"+strconv.Itoa(os.Getpid()))
	defer os.Remove(link)
	args := []string{"--store", m.st.Dir}
	for _, g := range []struct{ flag, v string }{{"--mirror", r.Mirror}, {"--keyring", r.Keyring}} {
		if g.v != "" {
			args = append(args, g.flag, g.v)
		}
	}
	if r.Verbose {
		args = append(args, "-v")
	}
	args = append(args, "switch", "--root", m.root, "--build-only", link)
	if f.config != "" {
		args = append(args, "-c", r.Path(f.config))
	}
	var out strings.Builder
	child := *r
	child.Args, child.Stdout = args, &out
	if _, err := child.inPrivateMountNS(ctx, m.st.Dir); err != nil {
		return store.Path{}, loaderSettings{}, err
	}
	var bo buildOutput
	if err := json.Unmarshal([]byte(out.String()), &bo); err != nil {
		return store.Path{}, loaderSettings{}, fmt.Errorf("build in a private mount namespace: %w", err)
	}
	// Root the toplevel in this process before the child's link goes.
	if err := m.st.Build(ctx, bo.Toplevel, nil, nil); err != nil {
		return store.Path{}, loaderSettings{}, err
	}
	return bo.Toplevel, bo.Loader, nil
}

func buildOnlyChild(ctx context.Context, r *Run, m *machine, f *switchFlags) error {
	if done, err := r.inPrivateMountNS(ctx, m.st.Dir); done || err != nil {
		return err
	}
	b, err := buildSystem(ctx, r, f.config, false)
	if err != nil {
		return err
	}
	if err := m.st.AddRoot(f.buildOnly, b.res.Toplevel); err != nil {
		return err
	}
	bl := b.cfg.System.Bootloader
	return json.NewEncoder(r.Stdout).Encode(buildOutput{b.res.Toplevel,
		loaderSettings{Version: 1, Timeout: bl.Timeout, MaxGenerations: bl.MaxGenerations, ConsoleMode: bl.ConsoleMode, Editor: bl.Editor}})
}

// printPlan prints what switching to top would do; it changes nothing.
func printPlan(ctx context.Context, r *Run, m *machine, top store.Path) error {
	eng, err := newEngine(ctx, m.root)
	if err != nil {
		return err
	}
	defer eng.Close()
	from := ""
	if cur := m.systemAt("current-system"); !cur.IsZero() {
		from = cur.String()
	}
	plan, err := eng.Plan(ctx, m.root, from, top.String())
	if err != nil {
		return err
	}
	r.Printf("%s", strings.TrimSuffix(plan, "\n")+"\n")
	return nil
}

// switchTo adds top as a generation, installs the boot entries and (unless
// bootOnly) activates it. When the ESP cannot be written, the profile is
// put back as it was: the machine keeps booting and running what it did.
func switchTo(ctx context.Context, r *Run, m *machine, top store.Path, loader loaderSettings, bootOnly bool) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	_, prev, err := m.generations()
	if err != nil {
		return err
	}
	n, created, err := m.st.AddGeneration(profileName, top)
	if err != nil {
		return err
	}
	r.fault("after-profile")
	if _, err := m.syncBoot(ctx, loader); err != nil {
		if created {
			if prev > 0 {
				m.st.SetCurrent(profileName, prev)
			}
			m.removeGeneration(n)
		}
		return fmt.Errorf("install boot entries (generation %d not added): %w", n, err)
	}
	if err := m.saveLoader(loader); err != nil {
		return err
	}
	r.fault("after-esp")
	what := "is"
	if !created {
		what = "was already"
	}
	r.Printf("generation %d %s %s, the default boot entry\n", n, what, top)
	if bootOnly {
		return nil
	}
	return m.activate(ctx, r, top)
}

// switchRemote builds here and switches the target over SSH.
func switchRemote(ctx context.Context, r *Run, f *switchFlags) error {
	t, err := parseTarget(f.target)
	if err != nil {
		return usageErrorf("%v", err)
	}
	var (
		st     *store.Store
		top    store.Path
		loader = defaultLoader
	)
	if f.toplevel != "" {
		if st, err = store.Open(r.storeDir()); err != nil {
			return err
		}
		if top, err = storeArg(st, r.Path(f.toplevel)); err != nil {
			return err
		}
	} else {
		b, err := buildSystem(ctx, r, f.config, false)
		if err != nil {
			return err
		}
		st, top = b.st, b.res.Toplevel
		bl := b.cfg.System.Bootloader
		loader = loaderSettings{Version: 1, Timeout: bl.Timeout, MaxGenerations: bl.MaxGenerations, ConsoleMode: bl.ConsoleMode, Editor: bl.Editor}
	}
	closure, err := st.Closure(top)
	if err != nil {
		return err
	}
	home := r.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	client, err := dialTarget(ctx, r, t, sshOptions{identity: f.identity, acceptNew: f.acceptNew,
		knownHosts: filepath.Join(home, ".ssh", "known_hosts")})
	if err != nil {
		return err
	}
	defer client.Close()
	kiln, missing, err := remoteMissing(client, r, closure)
	if err != nil {
		return err
	}
	stats, err := remoteReceive(client, r, kiln, st, missing)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.Stderr, "copied %s to %s (%d of %d closure paths were missing)\n", stats, t, len(missing), len(closure))
	lj, _ := json.Marshal(loader)
	cmd := []string{top.String() + "/bin/kiln"}
	if r.Verbose {
		cmd = append(cmd, "-v")
	}
	cmd = append(cmd, "switch", "--toplevel", top.String(), "--loader", string(lj))
	if f.dryRun {
		cmd = append(cmd, "--dry-run")
	}
	if f.boot {
		cmd = append(cmd, "--boot")
	}
	code, err := remoteRun(client, cmd, nil, r.Stdout, r.Stderr)
	if err != nil {
		return fmt.Errorf("switch on %s: %w", t, err)
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}
