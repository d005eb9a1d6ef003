// Package cli implements kiln's command line: verbs, flags, progress output
// and exit codes. It is the only code in kiln that prints for humans or
// decides an exit status; it runs in-process with injected stdio so tests
// drive the real CLI.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/internal/suggest"
	"github.com/kiln-os/kiln/machine"
	"github.com/kiln-os/kiln/shell"
)

// Env is everything the CLI reads from or writes to the outside world.
type Env struct {
	Argv0  string   // the program name as invoked (kiln is multi-call: see initEntry)
	Args   []string // without the program name
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Dir    string // working directory
}

// OSEnv returns the Env of the running process.
func OSEnv() Env {
	wd, _ := os.Getwd()
	return Env{Argv0: os.Args[0], Args: os.Args[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Dir: wd}
}

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and failed
	ExitUsage   = 2 // bad flags or arguments
)

// Globals are the flags every verb accepts.
type Globals struct {
	Store   string // physical store directory
	Mirror  string // Debian mirror URL, overrides apt sources
	Keyring string // OpenPGP keyring for InRelease
	JSON    bool
	Verbose bool
}

// command is one verb.
type command struct {
	name    string
	summary string
	usage   string // "kiln lock [-c host.hcl] [--update]" and what follows
	// flags declares the verb's own flags; may be nil.
	flags func(fs *flag.FlagSet) any
	run   func(ctx context.Context, r *Run, opts any, args []string) error
	// passthrough keeps what follows the first "--" apart: run gets it
	// after a literal "--" at the end of its arguments, and flags there
	// are not the verb's.
	passthrough bool
}

// Run carries what a verb needs while it runs.
type Run struct {
	Env
	Globals
	// Test seams; nil is the real thing.
	// engine connects a machine to its activation engine (machine.Machine.Engine).
	engine func(ctx context.Context, root string) (machine.Engine, error)
	// deadMan and checks are the confirmed switch's seams in tests
	// (machine.Machine.DeadMan, Checks).
	deadMan machine.DeadMan
	checks  func(ctx context.Context) ([]machine.CheckResult, error)
	// buildImage builds the disk image of a host file (cachedImage).
	buildImage func(ctx context.Context, r *Run, hostFile string) (string, error)
}

// image builds the disk image of a host file ("" for the default system).
func (r *Run) image(ctx context.Context, hostFile string) (string, error) {
	if r.buildImage != nil {
		return r.buildImage(ctx, r, hostFile)
	}
	return cachedImage(ctx, r, hostFile)
}

// Printf writes to stdout.
func (r *Run) Printf(format string, a ...any) { fmt.Fprintf(r.Stdout, format, a...) }

// Logf writes progress to stderr when -v is set.
func (r *Run) Logf(format string, a ...any) {
	if r.Verbose {
		fmt.Fprintf(r.Stderr, format+"\n", a...)
	}
}

// Path resolves p against the working directory.
func (r *Run) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(r.Dir, p)
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("cli: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks an error as a usage error (exit 2).
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error { return errUsage{fmt.Sprintf(format, a...)} }

func globalFlags(fs *flag.FlagSet, g *Globals) {
	fs.StringVar(&g.Store, "store", g.Store, "store `DIR` (default /kiln/store as root, else $XDG_CACHE_HOME/kiln/store)")
	fs.StringVar(&g.Mirror, "mirror", g.Mirror, "Debian mirror `URL` (default: $KILN_MIRROR, else the machine's apt sources)")
	fs.StringVar(&g.Keyring, "keyring", g.Keyring, "OpenPGP keyring `FILE` that signs InRelease (default: the Debian archive keyring)")
	fs.BoolVar(&g.JSON, "json", g.JSON, "print listings as JSON")
	fs.BoolVar(&g.Verbose, "v", g.Verbose, "verbose progress on stderr")
}

// Main runs kiln with env and returns the exit code.
func Main(ctx context.Context, env Env) int { return (&Run{Env: env}).main(ctx) }

// main runs kiln with r's Env (and test seams) and returns the exit code.
func (r *Run) main(ctx context.Context) int {
	env := r.Env
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if run, ok := initEntry(env); ok {
		return run(ctx, env)
	}
	if filepath.Base(env.Argv0) == shell.HelperName {
		return runShellHelper(ctx, env)
	}
	g := Globals{}
	top := flag.NewFlagSet("kiln", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	globalFlags(top, &g)
	if err := top.Parse(env.Args); err != nil {
		fmt.Fprintf(env.Stderr, "kiln: %v\n\n", err)
		topUsage(env.Stderr)
		return ExitUsage
	}
	args := top.Args()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				commandUsage(env.Stdout, c)
				return ExitOK
			}
		}
		topUsage(env.Stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "kiln: unknown command %q%s\nRun 'kiln help' for the list.\n", args[0], suggestCommand(args[0]))
		return ExitUsage
	}
	fs := flag.NewFlagSet("kiln "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	globalFlags(fs, &g)
	var opts any
	if c.flags != nil {
		opts = c.flags(fs)
	}
	rest, after := args[1:], []string(nil)
	if i := slices.Index(rest, "--"); c.passthrough && i >= 0 {
		rest, after = rest[:i], rest[i:]
	}
	if err := fs.Parse(interleave(fs, rest)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(env.Stdout, c)
			return ExitOK
		}
		fmt.Fprintf(env.Stderr, "kiln %s: %v\n\n", c.name, err)
		commandUsage(env.Stderr, c)
		return ExitUsage
	}
	r.Env, r.Globals = env, g
	if err := c.run(ctx, r, opts, append(fs.Args(), after...)); err != nil {
		if code, ok := err.(exitStatus); ok {
			return int(code) // a child's or the target's, output relayed
		}
		var u errUsage
		if errors.As(err, &u) {
			fmt.Fprintf(env.Stderr, "kiln %s: %v\n", c.name, err)
			return ExitUsage
		}
		fmt.Fprintf(env.Stderr, "kiln %s: %v\n", c.name, err)
		return ExitFailure
	}
	return ExitOK
}

// interleave lets flags follow positional arguments ("kiln why bash --json").
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return append(flags, append([]string{"--"}, pos...)...)
}

func topUsage(w io.Writer) {
	fmt.Fprintf(w, "kiln builds whole Debian systems from declarative HCL modules.\n\nUsage: kiln [global flags] COMMAND [flags] [args]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nGlobal flags:\n")
	fs := flag.NewFlagSet("kiln", flag.ContinueOnError)
	globalFlags(fs, &Globals{})
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nRun 'kiln help COMMAND' for a command's flags.\n")
}

func commandUsage(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", c.usage, c.summary)
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	if c.flags != nil {
		c.flags(fs)
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fmt.Fprintf(w, "\nGlobal flags (--store, --mirror, --keyring, --json, -v): see 'kiln help'.\n")
}

func suggestCommand(name string) string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	if best := suggest.Closest(name, names, 2); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// storeDir returns the physical store directory from --store or the default.
func (r *Run) storeDir() string {
	if r.Store != "" {
		return r.Path(r.Store)
	}
	if os.Geteuid() == 0 {
		return "/kiln/store"
	}
	return filepath.Join(r.cacheDir(), "store")
}

// cacheDir is $XDG_CACHE_HOME/kiln (or ~/.cache/kiln).
func (r *Run) cacheDir() string {
	if d := r.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "kiln")
	}
	if h := r.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "kiln")
	}
	return filepath.Join(os.TempDir(), "kiln-cache")
}
