package cli

import (
	"context"
	"flag"
)

// Version is kiln's version, shipped in every toplevel as kiln-version.
const Version = "0.1.0"

func init() {
	register(&command{
		name:    "version",
		summary: "print kiln's version",
		usage:   "kiln version",
		flags:   func(*flag.FlagSet) any { return nil },
		run: func(_ context.Context, r *Run, _ any, _ []string) error {
			r.Printf("kiln %s\n", Version)
			return nil
		},
	})
}
