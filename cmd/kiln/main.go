// Command kiln builds, boots and switches declarative Debian systems.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kiln-os/kiln/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.OSEnv())
	stop()
	os.Exit(code)
}
