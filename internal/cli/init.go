package cli

import (
	"context"
	"path/filepath"
)

// kiln is a multi-call binary: the same static executable is the initrd's
// /init (stage 1) and every toplevel's init (stage 2), so a system needs no
// second program and no shell before systemd runs.
//
// initEntries maps an invocation to its entry point. The boot and
// activation code register theirs from init functions in this package
// (stage1.go, stage2.go).
var initEntries []func(env Env) (func(context.Context, Env) int, bool)

// initEntry reports whether kiln was started as an init program.
func initEntry(env Env) (func(context.Context, Env) int, bool) {
	if filepath.Base(env.Argv0) != "init" {
		return nil, false
	}
	for _, e := range initEntries {
		if run, ok := e(env); ok {
			return run, true
		}
	}
	return nil, false
}
