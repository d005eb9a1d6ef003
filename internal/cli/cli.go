// Package cli implements kiln's command line: verbs, flags, progress output
// and exit codes. It is the only code in kiln that prints for humans or
// decides an exit status; it runs in-process with injected stdio so tests
// drive the real CLI.
package cli

import (
	"context"
	"encoding/json"
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
	Lock    string // lock file, overriding the host file's own (lockFor)
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

// globalFlags defines the global flags on fs, except those a verb defines
// for itself (kiln shell's and kiln cache's --lock).
func globalFlags(fs *flag.FlagSet, g *Globals) {
	str := func(p *string, name, usage string) {
		if fs.Lookup(name) == nil {
			fs.StringVar(p, name, *p, usage)
		}
	}
	if fs.Lookup("store") == nil {
		fs.Func("store", "store `DIR` (default /kiln/store as root, else $XDG_CACHE_HOME/kiln/store)", func(dir string) error {
			if dir == "" {
				return errors.New("empty directory: give the store's directory, or leave out --store for the default")
			}
			g.Store = dir
			return nil
		})
	}
	str(&g.Mirror, "mirror", "Debian mirror `URL` (default: $KILN_MIRROR, else the machine's apt sources)")
	str(&g.Keyring, "keyring", "OpenPGP keyring `FILE` that signs InRelease (default: the Debian archive keyring)")
	str(&g.Lock, "lock", "lock `FILE` (default: HOST.lock beside host file HOST.hcl, else its directory's kiln.lock; ./kiln.lock for the default system)")
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
	if len(env.Args) > 0 && env.Args[0] == "--version" {
		env.Args = append([]string{"version"}, env.Args[1:]...)
	}
	g := Globals{}
	top := flag.NewFlagSet("kiln", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	globalFlags(top, &g)
	if err := top.Parse(env.Args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			topUsage(env.Stdout)
			return ExitOK
		}
		fmt.Fprintf(env.Stderr, "kiln: %v%s\nRun 'kiln help' for the global flags and commands.\n", err, suggestFlag(top, err))
		return ExitUsage
	}
	args := top.Args()
	if len(args) == 0 {
		topUsage(env.Stderr)
		return ExitUsage
	}
	if args[0] == "help" {
		if len(args) == 1 {
			topUsage(env.Stdout)
			return ExitOK
		}
		c, ok := commands[args[1]]
		if !ok {
			fmt.Fprintf(env.Stderr, "kiln help: unknown command %q%s\nRun 'kiln help' for the list.\n", args[1], suggestCommand(args[1]))
			return ExitUsage
		}
		commandUsage(env.Stdout, c)
		return ExitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "kiln: unknown command %q%s\nRun 'kiln help' for the list.\n", args[0], suggestCommand(args[0]))
		return ExitUsage
	}
	fs := flag.NewFlagSet("kiln "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var opts any
	if c.flags != nil {
		opts = c.flags(fs)
	}
	globalFlags(fs, &g)
	rest, after := args[1:], []string(nil)
	if i := slices.Index(rest, "--"); c.passthrough && i >= 0 {
		rest, after = rest[:i], rest[i:]
	}
	flagArgs, err := interleave(fs, rest)
	if err == nil {
		err = fs.Parse(flagArgs)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(env.Stdout, c)
			return ExitOK
		}
		fmt.Fprintf(env.Stderr, "kiln %s: %v%s\nUsage: %s\nRun 'kiln help %s' for its flags.\n", c.name, err, suggestFlag(fs, err), firstLine(c.usage), c.name)
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

// interleave lets flags follow positional arguments ("kiln why bash
// --json"). A flag that takes a value and is followed by nothing, or by
// another flag, is an error: it never swallows the next argument.
func interleave(fs *flag.FlagSet, args []string) ([]string, error) {
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
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag %s needs a value", a)
			}
			if next := args[i+1]; isFlag(fs, next) {
				return nil, fmt.Errorf("flag %s needs a value, got flag %s (write %s=%s if you mean it)", a, next, a, next)
			}
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(flags, append([]string{"--"}, pos...)...), nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// isFlag reports whether a is one of fs's flags or "--".
func isFlag(fs *flag.FlagSet, a string) bool {
	if a == "--" {
		return true
	}
	if !strings.HasPrefix(a, "-") || a == "-" {
		return false
	}
	name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	return fs.Lookup(name) != nil || name == "h" || name == "help"
}

// suggestFlag suggests a defined flag for the flag package's "flag
// provided but not defined: -NAME".
func suggestFlag(fs *flag.FlagSet, err error) string {
	_, name, ok := strings.Cut(err.Error(), "flag provided but not defined: ")
	if !ok {
		return ""
	}
	name = strings.TrimLeft(name, "-")
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	if best := suggest.Closest(name, names, 2); best != "" {
		return fmt.Sprintf(" (did you mean --%s?)", best)
	}
	return ""
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
	synopsis, body, _ := strings.Cut(c.usage, "\n")
	for strings.HasPrefix(body, "kiln ") { // a second form of the verb
		var more string
		more, body, _ = strings.Cut(body, "\n")
		synopsis += "\n       " + more
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, c.summary)
	if body = strings.Trim(body, "\n"); body != "" {
		fmt.Fprintf(w, "\n%s\n", body)
	}
	if ex := examples[c.name]; len(ex) > 0 && !strings.Contains(c.usage, "\nEXAMPLES\n") {
		fmt.Fprintf(w, "\nEXAMPLES\n")
		for _, e := range ex {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	if c.flags != nil {
		c.flags(fs)
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fmt.Fprintf(w, "\nGlobal flags (--store, --mirror, --keyring, --lock, --json, -v): see 'kiln help'.\n")
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

// printJSON writes v to stdout as indented JSON: every --json output goes
// through it (docs/json.md describes the formats).
func (r *Run) printJSON(v any) error {
	enc := json.NewEncoder(r.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	return nil
}
