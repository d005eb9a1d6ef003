package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/activation"
)

// Stage 2 is kiln started as <toplevel>/init by stage 1 or the kernel.
func init() {
	initEntries = append(initEntries, func(env Env) (func(context.Context, Env) int, bool) {
		if env.Argv0 == "/init" || !filepath.IsAbs(env.Argv0) {
			return nil, false
		}
		return runStage2, true
	})
}

func runStage2(ctx context.Context, env Env) int {
	// The toplevel is the directory of the path we were exec'd as, not
	// where its symlink leads.
	toplevel := filepath.Dir(env.Argv0)
	err := activation.Stage2(ctx, toplevel)
	fmt.Fprintf(env.Stderr, "kiln stage 2: %v\n", err)
	if os.Getpid() != 1 {
		return ExitFailure
	}
	if f, e := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); e == nil {
		fmt.Fprintf(f, "<2>kiln stage 2: %v\n", err)
		f.Close()
	}
	fmt.Fprintf(env.Stderr, "kiln stage 2: rebooting in 10 s\n")
	time.Sleep(10 * time.Second)
	unix.Sync()
	for {
		unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
		time.Sleep(time.Second)
	}
}
