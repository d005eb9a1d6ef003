package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/internal/suggest"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/system"
)

type evalFlags struct {
	config  string
	explain string
}

func init() {
	register(&command{
		name:    "eval",
		summary: "print the merged configuration, one option, or where an option's value comes from",
		usage:   "kiln eval [-c host.hcl] [PATH] [--json] [--explain PATH]",
		flags: func(fs *flag.FlagSet) any {
			f := &evalFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` (default: the built-in default system)")
			fs.StringVar(&f.explain, "explain", "", "list every definition of the options at `PATH`: file:line, priority, value, and which won")
			return f
		},
		run: runEval,
	})
}

// loadConfig loads the host file (or the default system) for reading
// (system.LoadConfig) and prints its diagnostics on failure.
func loadConfig(r *Run, path string) (*modules.Config, error) {
	cfg, err := system.LoadConfig(displayPath(r, path), r.lockFor(path))
	var cerr *system.ConfigError
	if errors.As(err, &cerr) {
		fmt.Fprint(r.Stderr, modules.DiagnosticText(cerr.Diagnostics, 0))
	}
	return cfg, err
}

// wantedOnly keeps the names the system wants (a disabled module's
// package is referenced by its defaults, and never built).
func wantedOnly(names, wanted []string) []string {
	var out []string
	for _, n := range names {
		if slices.Contains(wanted, n) {
			out = append(out, n)
		}
	}
	return out
}

// warnUnlocked says which pkgs.NAME the lock does not pin: their paths
// are placeholders until kiln lock resolves them.
func (r *Run) warnUnlocked(config string, names []string) {
	if len(names) == 0 {
		return
	}
	file := r.lockFor(config)
	l, err := debian.ReadLock(file)
	if err != nil {
		fmt.Fprintf(r.Stderr, "warning: no %s yet: the paths of pkgs.NAME (%d package%s) are placeholders until 'kiln lock%s'\n",
			filepath.Base(file), len(names), plural(len(names)), configFlag(config))
		return
	}
	where := "not in " + displayPath(r, file)
	var locked []string
	for _, p := range l.Packages {
		locked = append(locked, p.Name)
	}
	for _, n := range names {
		hint := ""
		if best := suggest.Closest(n, locked, 2); best != "" {
			hint = fmt.Sprintf("; did you mean pkgs.%s?", best)
		}
		fmt.Fprintf(r.Stderr, "warning: pkgs.%s is %s: its path is a placeholder (/kiln/store/%.8s…-%s)%s\n", n, where, modules.PlaceholderHash, n, hint)
	}
	fmt.Fprintf(r.Stderr, "Run 'kiln lock%s' to pin them ('kiln search WORD' finds package names).\n", configFlag(config))
}

// displayPath keeps a relative host path relative when it is relative to
// the process's own directory, so diagnostics name files as the user did.
func displayPath(r *Run, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	if wd, err := os.Getwd(); err == nil && wd == r.Dir {
		return path
	}
	return r.Path(path)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func runEval(_ context.Context, r *Run, opts any, args []string) error {
	f := opts.(*evalFlags)
	if len(args) > 1 {
		return usageErrorf("at most one option path, got %d", len(args))
	}
	if f.explain != "" && len(args) > 0 {
		return usageErrorf("give either PATH or --explain PATH")
	}
	cfg, unlocked, err := system.LoadConfigUnlocked(displayPath(r, f.config), r.lockFor(f.config))
	var cerr *system.ConfigError
	if errors.As(err, &cerr) {
		fmt.Fprint(r.Stderr, modules.DiagnosticText(cerr.Diagnostics, 0))
	}
	if err != nil {
		return err
	}
	if err := printEval(r, cfg, f, args); err != nil {
		return err
	}
	r.warnUnlocked(f.config, wantedOnly(unlocked, system.WantedPackages(&cfg.System)))
	return nil
}

// printEval prints what kiln eval was asked for.
func printEval(r *Run, cfg *modules.Config, f *evalFlags, args []string) error {
	if f.explain != "" {
		sys := &cfg.System
		derived := system.ScriptSources(system.ScriptsOfLock(r.storeDir(), r.lockFor(f.config), sys.Networking.HostName, sys.Debconf), f.explain)
		return explain(r, cfg, f.explain, derived)
	}
	path := ""
	if len(args) == 1 {
		path = args[0]
	}
	if path == "" && r.JSON {
		b, err := cfg.JSON()
		if err != nil {
			return err
		}
		_, err = r.Stdout.Write(b)
		return err
	}
	v, err := cfg.Value(path)
	if err != nil {
		return err
	}
	if r.JSON {
		b, err := modules.ValueJSON(v)
		if err != nil {
			return err
		}
		_, err = r.Stdout.Write(b)
		return err
	}
	r.Printf("%s\n", strings.TrimRight(modules.ValueHCL(v), "\n"))
	return nil
}

type explainJSON struct {
	Option   string `json:"option"`
	Location string `json:"location"`
	Default  bool   `json:"default"`
	Priority int    `json:"priority"`
	Order    int    `json:"order"`
	Active   bool   `json:"active"`
	Won      bool   `json:"won"`
	Value    any    `json:"value,omitempty"`
	Note     string `json:"note,omitempty"`
}

// explain lists the definitions of path, then derived: what the
// packages' maintainer scripts declare there (system.ScriptSources),
// which the configuration's definitions override.
func explain(r *Run, cfg *modules.Config, path string, derived []string) error {
	v, err := cfg.Value(path)
	if err != nil && len(derived) == 0 {
		return err
	}
	defs := cfg.Explain(path)
	if len(defs) == 0 && len(derived) == 0 {
		return errors.New("no definitions at " + path)
	}
	if r.JSON {
		return explainAsJSON(r, path, defs, derived)
	}
	if err != nil {
		r.Printf("%s: not in the configuration; from the packages' maintainer scripts:\n", path)
		for _, d := range derived {
			r.Printf("  %s\n", d)
		}
		return nil
	}
	defer func() {
		if len(derived) > 0 {
			r.Printf("\nFrom the packages' maintainer scripts (the definitions above override them):\n")
			for _, d := range derived {
				r.Printf("  %s\n", d)
			}
		}
	}()
	r.Printf("%s = %s\n\n", path, strings.TrimRight(modules.ValueHCL(v), "\n"))
	for _, d := range defs {
		mark := " "
		if d.Won {
			mark = "*"
		}
		where := d.Location()
		if d.Default {
			where = "default"
		}
		val := "-"
		if d.Value.Type() != cty.NilType {
			val = oneLine(modules.ValueHCL(d.Value))
		}
		r.Printf("%s %s  %s  priority %d", mark, d.Option, where, d.Priority)
		if d.Order != 1000 {
			r.Printf(" order %d", d.Order)
		}
		r.Printf("  %s", val)
		if d.Note != "" {
			r.Printf("  (%s)", d.Note)
		}
		r.Printf("\n")
	}
	r.Printf("\n* = part of the merged value. Lower priority numbers win: mkForce 50, plain 100, mkDefault 1000, default 1500.\n")
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

func explainAsJSON(r *Run, path string, defs []modules.Definition, derived []string) error {
	out := make([]explainJSON, 0, len(defs)+len(derived))
	for _, d := range derived {
		out = append(out, explainJSON{Location: d, Note: "maintainer scripts", Priority: system.PackagePriority})
	}
	for _, d := range defs {
		e := explainJSON{Option: d.Option, Location: d.Location(), Default: d.Default, Priority: d.Priority,
			Order: d.Order, Active: d.Active, Won: d.Won, Note: d.Note}
		if d.Value.Type() != cty.NilType {
			b, err := modules.ValueJSON(d.Value)
			if err != nil {
				return err
			}
			e.Value = json.RawMessage(b)
		}
		out = append(out, e)
	}
	return r.printJSON(struct {
		Version     int           `json:"version"`
		Path        string        `json:"path"`
		Definitions []explainJSON `json:"definitions"`
	}{1, path, out})
}
