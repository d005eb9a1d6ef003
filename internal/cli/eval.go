package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/modules"
	"github.com/zclconf/go-cty/cty"
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

// evalPackages answers pkgs.NAME from kiln.lock when it locks the
// package, else with the placeholder path: eval works before `kiln lock`
// has seen a new package (lock is the verb that reports unknown ones).
type evalPackages struct{ lock lockPackages }

func (p evalPackages) Path(name string) (string, bool) {
	if p.lock.l != nil {
		if s, ok := p.lock.Path(name); ok {
			return s, true
		}
	}
	return "/kiln/store/" + modules.PlaceholderHash + "-" + name, true
}

func (p evalPackages) Names() []string {
	if p.lock.l == nil {
		return nil
	}
	return p.lock.Names()
}

// loadConfig loads the host file (or the default system) and prints its
// diagnostics on failure.
func loadConfig(r *Run, path string) (*modules.Config, error) {
	var pkgs evalPackages
	lock, err := debian.ReadLock(r.lockFor(path))
	switch {
	case err == nil:
		pkgs.lock = lockPackages{lock}
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	cfg, diags := modules.Load(displayPath(r, path), modules.LoadOptions{Packages: pkgs})
	if diags.HasErrors() {
		fmt.Fprint(r.Stderr, modules.DiagnosticText(diags, 0))
		n := 0
		for _, d := range diags {
			if d.Severity == hcl.DiagError {
				n++
			}
		}
		return nil, fmt.Errorf("configuration has %d error%s", n, plural(n))
	}
	return cfg, nil
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
	cfg, err := loadConfig(r, f.config)
	if err != nil {
		return err
	}
	if f.explain != "" {
		return explain(r, cfg, f.explain)
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

func explain(r *Run, cfg *modules.Config, path string) error {
	v, err := cfg.Value(path)
	if err != nil {
		return err
	}
	defs := cfg.Explain(path)
	if len(defs) == 0 {
		return errors.New("no definitions at " + path)
	}
	if r.JSON {
		return explainAsJSON(r, defs)
	}
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

func explainAsJSON(r *Run, defs []modules.Definition) error {
	out := make([]explainJSON, 0, len(defs))
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
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("marshal definitions: %w", err)
	}
	r.Printf("%s\n", b)
	return nil
}
