package machine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/sshtest"
)

// confirmTarget answers a confirmed switch's commands: store missing and
// receive as storeTarget does, switch --confirm-within, and confirm with
// confirmCode (and confirmOut on stderr).
type confirmTarget struct {
	storeTarget
	mu          sync.Mutex
	confirmCode int
	confirmOut  string
	ran         []string
}

func (c *confirmTarget) exec(line string, stdin io.Reader, stdout, stderr io.Writer) int {
	argv, _ := sshtest.ShellSplit(line)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case slices.Contains(argv, "--confirm-within"):
		c.ran = append(c.ran, "switch "+argv[len(argv)-1])
		fmt.Fprintln(stdout, "armed and activated")
		return 0
	case len(argv) > 1 && argv[1] == "confirm":
		c.ran = append(c.ran, "confirm")
		fmt.Fprint(stderr, c.confirmOut)
		return c.confirmCode
	}
	return c.storeTarget.exec(line, stdin, stdout, stderr)
}

// The deployer's side: it confirms over a second connection and reports
// success only then; no second connection, or a confirmation that fails,
// is a *ConfirmError naming the stage, with the target's words.
func TestConfirmedSwitchDeployer(t *testing.T) {
	local := newMachine(t)
	top := local.toplevel(t, "one", nil)
	target := &confirmTarget{storeTarget: storeTarget{st: newMachine(t).Store}}
	srv := sshtest.Start(t, target.exec)
	tgt, _ := ParseTarget("root@" + srv.Addr)
	o := ConfirmOptions{SSH: SSHOptions{Identity: srv.KeyFile, KnownHosts: filepath.Join(srv.Home, "known_hosts"), AcceptNew: true},
		Timeout: 3 * time.Second}
	dials := 0
	failAfter := 100
	o.Dial = func(ctx context.Context, t Target, so SSHOptions) (*Remote, error) {
		dials++
		if dials > failAfter {
			return nil, errors.New("connection refused")
		}
		return Dial(ctx, t, so)
	}

	res, err := ConfirmedSwitch(context.Background(), tgt, local.Store, top, o)
	if err != nil || !res.Confirmed || dials != 2 {
		t.Fatalf("good switch: %+v, %v, %d dials", res, err, dials)
	}
	if got := strings.Join(target.ran, "; "); got != "switch 3s; confirm" {
		t.Errorf("the target ran %s", got)
	}

	// sshd moved: no second connection within the window.
	dials, failAfter, target.ran = 0, 1, nil
	start := time.Now()
	_, err = ConfirmedSwitch(context.Background(), tgt, local.Store, top, o)
	var ce *ConfirmError
	if !errors.As(err, &ce) || ce.Stage != "connect" || !strings.Contains(err.Error(), "rolls back to its previous generation by itself") {
		t.Fatalf("no new connection: %v", err)
	}
	if took := time.Since(start); took < 3*time.Second || took > 10*time.Second || dials < 3 {
		t.Errorf("gave up after %s and %d dials, want the 3 s window, retrying", took, dials)
	}

	// A failing check: the target's words, never success.
	dials, failAfter = 0, 100
	target.confirmCode, target.confirmOut = 1, "kiln confirm: health check kiln-check-web.service failed: down; rolled back to generation 1\n"
	res, err = ConfirmedSwitch(context.Background(), tgt, local.Store, top, o)
	if !errors.As(err, &ce) || ce.Stage != "confirm" || res.Confirmed || !strings.Contains(err.Error(), "kiln-check-web.service failed: down; rolled back to generation 1") {
		t.Fatalf("failing check: %+v, %v", res, err)
	}
}
