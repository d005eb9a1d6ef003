package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kiln-os/kiln/internal/suggest"
	"github.com/kiln-os/kiln/modules"
)

func init() {
	register(&command{
		name:    "options",
		summary: "list or search the declared options: type, default, description, example",
		usage: `kiln options [--json] [PATH | WORD...]

With no argument, lists every option. A PATH lists the option there and
those under it; a block's name may stand for its label (users.alice.shell
is users.<name>.shell). Otherwise each WORD is searched for in option
paths and descriptions, case-insensitively. Near paths are suggested when
nothing matches.

EXAMPLES
  kiln options ssh
  kiln options users.alice.shell
  kiln options port
  kiln options --json time_zone`,
		flags: func(*flag.FlagSet) any { return nil },
		run:   runOptions,
	})
}

// optionsJSON is kiln options --json (docs/json.md).
type optionsJSON struct {
	Version int          `json:"version"`
	Options []optionJSON `json:"options"`
}

type optionJSON struct {
	Path        string `json:"path"`
	Type        string `json:"type"`
	Default     any    `json:"default"`     // the value, null when none or not a constant
	DefaultHCL  string `json:"default_hcl"` // its HCL source, "" when none
	Description string `json:"description"`
	Example     string `json:"example_hcl,omitempty"`
	DeclaredIn  string `json:"declared_in"`
}

func runOptions(_ context.Context, r *Run, _ any, args []string) error {
	all := modules.Options()
	docs := findOptions(all, args)
	if len(docs) == 0 && len(args) > 0 {
		return fmt.Errorf("no option matches %q%s", strings.Join(args, " "), nearOption(all, args[0]))
	}
	if r.JSON {
		out := optionsJSON{Version: 1, Options: []optionJSON{}}
		for _, d := range docs {
			out.Options = append(out.Options, optionJSON{Path: d.Path, Type: d.Type, Default: constantValue(d.Default), DefaultHCL: d.Default,
				Description: d.Description, Example: d.Example, DeclaredIn: d.DeclaredIn})
		}
		return r.printJSON(out)
	}
	for _, d := range docs {
		r.Printf("%s (%s)", d.Path, d.Type)
		if d.Default != "" {
			r.Printf(" = %s", oneLine(d.Default))
		}
		r.Printf("\n")
		if d.Description != "" {
			r.Printf("    %s\n", d.Description)
		}
		if d.Example != "" {
			r.Printf("    example: %s\n", oneLine(d.Example))
		}
		r.Printf("    declared in %s\n", d.DeclaredIn)
	}
	return nil
}

// findOptions returns the options a query names: every option for none;
// for one argument, the option at that path and those under it (a
// block's name standing for <name>); else, or when no path matches, the
// options whose path or description contains every word.
func findOptions(all []modules.OptionDoc, args []string) []modules.OptionDoc {
	if len(args) == 0 {
		return all
	}
	var out []modules.OptionDoc
	if len(args) == 1 {
		q := strings.Split(args[0], ".")
		for _, d := range all {
			if pathPrefix(strings.Split(d.Path, "."), q) {
				out = append(out, d)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	for _, d := range all {
		text := strings.ToLower(d.Path + " " + d.Description)
		match := true
		for _, w := range args {
			if !strings.Contains(text, strings.ToLower(w)) {
				match = false
				break
			}
		}
		if match {
			out = append(out, d)
		}
	}
	return out
}

// pathPrefix reports whether q names path or a block above it: segments
// equal (case-insensitively), and <name> matches any label.
func pathPrefix(path, q []string) bool {
	if len(q) > len(path) {
		return false
	}
	for i, s := range q {
		if path[i] != "<name>" && !strings.EqualFold(path[i], s) {
			return false
		}
	}
	return true
}

// nearOption suggests the declared path closest to q (with its labels
// read as <name>).
func nearOption(all []modules.OptionDoc, q string) string {
	seen := map[string]bool{}
	var paths []string
	for _, d := range all {
		segs := strings.Split(d.Path, ".")
		for i := range segs {
			p := strings.Join(segs[:i+1], ".")
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	sort.Strings(paths)
	qs := strings.Split(strings.ToLower(q), ".")
	best, bestDist := "", 3
	for _, p := range paths {
		ps := strings.Split(p, ".")
		if len(ps) != len(qs) {
			continue
		}
		label := append([]string(nil), qs...)
		for i := range ps {
			if ps[i] == "<name>" {
				label[i] = "<name>"
			}
		}
		if d := suggest.Distance(strings.Join(label, "."), p, bestDist); d < bestDist {
			best, bestDist = p, d
		}
	}
	if best == "" {
		best = suggest.Closest(q, paths, 2)
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// constantValue is the JSON value of an HCL constant expression (a
// default like 22, "UTC", ["a"]), nil when it is none or refers to
// anything.
func constantValue(src string) any {
	if src == "" {
		return nil
	}
	expr, diags := hclsyntax.ParseExpression([]byte(src), "default", hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() || len(expr.Variables()) > 0 {
		return nil
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return nil
	}
	b, err := modules.ValueJSON(v)
	if err != nil {
		return nil
	}
	return json.RawMessage(b)
}
