package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/kiln-os/kiln/boot/stage1"
)

// Stage 1 is kiln started as the initrd's /init.
func init() {
	initEntries = append(initEntries, func(env Env) (func(context.Context, Env) int, bool) {
		if env.Argv0 != "/init" {
			return nil, false
		}
		return runStage1, true
	})
}

func runStage1(ctx context.Context, env Env) int {
	logf := func(format string, a ...any) {
		fmt.Fprintf(env.Stdout, "kiln stage 1: "+format+"\n", a...)
	}
	err := stage1.Run(ctx, stage1.Options{Log: logf})
	// Run returns only on failure; pid 1 must never exit.
	stage1.Fail(err, 10*time.Second)
	return ExitFailure
}
