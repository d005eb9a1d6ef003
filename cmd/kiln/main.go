// Command kiln builds, boots and switches declarative Debian systems.
package main

import (
	"os"

	"github.com/kiln-os/kiln/internal/cli"
)

func main() {
	ctx, stop := cli.SignalContext(os.Stderr)
	code := cli.Main(ctx, cli.OSEnv())
	stop()
	os.Exit(code)
}
