package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// SignalContext returns a context that SIGINT or SIGTERM cancels. The
// first signal cancels it (kiln stops at its next check, removing its
// temporary files); once that happened, the signals' default action is
// back, so a second one kills the process, whatever it is stuck in.
// stop releases the signals.
func SignalContext(stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, release := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	said := make(chan struct{})
	go func() {
		defer close(said)
		<-ctx.Done()
		release() // the default action again: the next signal kills
		if context.Cause(ctx) != context.Canceled {
			fmt.Fprintf(stderr, "kiln: %v: stopping; a second signal kills kiln at once\n", context.Cause(ctx))
		}
	}()
	// stop waits for the message, so that kiln does not exit before it.
	return ctx, func() { release(); <-said }
}
