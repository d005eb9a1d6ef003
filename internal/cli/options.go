package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/kiln-os/kiln/modules"
)

func init() {
	register(&command{
		name:    "options",
		summary: "list every declared option: type, default, description, example",
		usage:   "kiln options [--json] [PREFIX]",
		flags:   func(*flag.FlagSet) any { return nil },
		run:     runOptions,
	})
}

func runOptions(_ context.Context, r *Run, _ any, args []string) error {
	if len(args) > 1 {
		return usageErrorf("at most one prefix, got %d", len(args))
	}
	prefix := ""
	if len(args) == 1 {
		prefix = args[0]
	}
	var docs []modules.OptionDoc
	for _, d := range modules.Options() {
		if prefix == "" || d.Path == prefix || strings.HasPrefix(d.Path, prefix+".") {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return fmt.Errorf("no option at %q", prefix)
	}
	if r.JSON {
		b, err := json.MarshalIndent(docs, "", "  ")
		if err != nil {
			return fmt.Errorf("marshal options: %w", err)
		}
		r.Printf("%s\n", b)
		return nil
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
