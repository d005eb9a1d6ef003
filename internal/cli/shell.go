package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/shell"
	"github.com/kiln-os/kiln/store"
)

type shellFlags struct {
	config string
	lock   string
	update bool
	root   bool
}

func init() {
	register(&command{
		name:        "shell",
		summary:     "run a command (or a shell) where /usr holds the given Debian packages",
		passthrough: true,
		usage: `kiln shell [-c host.hcl | --lock FILE] [--update] [--root] PKG... [-- CMD ARGS...]

Runs CMD (default: $SHELL when the packages have it, else their bash) in a
new mount namespace, and as an ordinary user in a user namespace too (no
root, no setuid), where /usr is the merged tree of the packages and of
Debian's Essential ones, /bin, /sbin, /lib, /lib64 link into it, and
everything else (/etc, /home, /tmp, /proc, /dev, /run, the working
directory...) is the host's. Debian's binaries run unpatched. CMD's exit
status is kiln's (125: the shell could not be made, 126: CMD is not
executable, 127: no such CMD). As root there is no user namespace, and
--root changes nothing.

The packages come from the first lock that has them: --lock FILE (written
with a fresh resolution when missing), else kiln.lock beside the host file
(-c) or in the working directory, else the lock an earlier kiln shell
recorded for the same packages under $XDG_CACHE_HOME/kiln/shell, else a
fresh resolution against the signed indices, recorded there. A second
start needs no network: it checks the store and starts.`,
		flags: func(fs *flag.FlagSet) any {
			f := &shellFlags{}
			fs.StringVar(&f.config, "c", "", "use the kiln.lock beside host `FILE` (default: ./kiln.lock)")
			fs.StringVar(&f.lock, "lock", "", "lock `FILE` to use, or to write when it does not exist")
			fs.BoolVar(&f.update, "update", false, "resolve the packages again and record the new lock")
			fs.BoolVar(&f.root, "root", false, "run CMD as uid 0 of the user namespace")
			return f
		},
		run: runShell,
	})
}

func runShell(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*shellFlags)
	pkgs, argv := args, []string(nil)
	if i := slices.Index(args, "--"); i >= 0 {
		pkgs, argv = args[:i], args[i+1:]
	}
	if len(pkgs) == 0 {
		return usageErrorf("no packages given")
	}
	if f.lock != "" && f.config != "" {
		return usageErrorf("-c and --lock exclude each other")
	}
	start := time.Now()
	st, env, err := prepareShell(ctx, r, f, pkgs)
	if errors.Is(err, syscall.EROFS) {
		// A kiln machine binds its store read-only: what is missing is
		// made in a private mount namespace, where kiln runs again and
		// remounts it writable. (A warm start writes nothing to the store
		// and stays here.)
		if done, perr := r.inPrivateMountNS(ctx, r.storeDir()); done || perr != nil {
			return perr
		}
		st, env, err = prepareShell(ctx, r, f, pkgs)
	}
	if err != nil {
		return err
	}
	how := "read"
	if env.Resolved {
		how = "recorded"
	}
	what := "reused"
	if env.Built {
		what = "built"
	}
	r.Logf("lock %s (%s): %d packages; /usr %s (%s) in %s", env.LockFile, how, len(env.Packages), env.Usr, what, time.Since(start).Round(time.Millisecond))
	exe, err := os.Executable() // (a test's binary is kiln too: see privns_test.go)
	if err != nil {
		return fmt.Errorf("find the kiln binary: %w", err)
	}
	cmd, err := shell.Command(exe, shell.Spec{Store: st.Dir, Usr: env.Usr.String(), Dir: r.Dir, Argv: argv, Root: f.root},
		os.Environ(), shell.Stdio{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr})
	if err != nil {
		return err
	}
	code, err := shell.Run(cmd)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

// prepareShell opens the store and prepares the environment of pkgs.
func prepareShell(ctx context.Context, r *Run, f *shellFlags, pkgs []string) (*store.Store, *shell.Env, error) {
	st, err := store.Open(r.storeDir())
	if err != nil {
		return nil, nil, err
	}
	mirror, merr := r.mirrorOrNone()
	bar := newBar(r, "fetch")
	bar.summary = false // a shell's command owns its stderr
	env, err := shell.Prepare(ctx, st, shell.Options{
		Packages:    pkgs,
		Lock:        r.Path(f.lock),
		ProjectLock: r.lockFor(f.config),
		RecordDir:   filepath.Join(r.cacheDir(), "shell"),
		Update:      f.update,
		Load: func(ctx context.Context) (*debian.Universe, map[string]debian.Input, error) {
			a, err := r.archive()
			if err != nil {
				return nil, nil, err
			}
			r.Logf("resolving %v against %s", pkgs, a.Mirror)
			return a.Load(ctx)
		},
		Fetch: debian.FetchOptions{
			Mirror: mirror, Client: &http.Client{Timeout: 10 * time.Minute}, CacheDir: r.cacheDir(),
			Progress: bar.fetch,
		},
	})
	bar.done()
	if err != nil && merr != nil && !errors.Is(err, shell.ErrBadName) && !errors.Is(err, debian.ErrUnknownPackage) {
		err = fmt.Errorf("%w (and no mirror: %v)", err, merr)
	}
	return st, env, err
}

// Exit codes of the namespace helper when it cannot run the command (as
// env(1) and container runtimes use them).
const (
	exitShellSetup    = 125 // the namespace or root could not be made
	exitShellNotExec  = 126 // the command is not executable
	exitShellNotFound = 127 // no such command in the environment
)

// runShellHelper is kiln started as shell.HelperName by shell.Command: it
// makes the shell's root and executes the command, or says why not.
func runShellHelper(_ context.Context, env Env) int {
	if len(env.Args) != 1 {
		fmt.Fprintf(env.Stderr, "kiln shell: helper wants one argument, got %d\n", len(env.Args))
		return exitShellSetup
	}
	spec, err := shell.ParseSpec(env.Args[0])
	if err == nil {
		err = shell.Enter(spec)
	}
	fmt.Fprintf(env.Stderr, "kiln shell: %v\n", err)
	var ee *exec.Error
	switch {
	case !errors.As(err, &ee):
		return exitShellSetup
	case errors.Is(ee.Err, exec.ErrNotFound), errors.Is(ee.Err, fs.ErrNotExist):
		return exitShellNotFound
	}
	return exitShellNotExec
}
