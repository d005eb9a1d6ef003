package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// kilnBinBuilt says whether a test asked for kilnBin (TestMain removes
// the binary then).
var kilnBinBuilt bool

var kilnBin = sync.OnceValues(func() (string, error) {
	kilnBinBuilt = true
	dir, err := os.MkdirTemp("", "kiln-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kiln")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kiln")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return "", errors.New(string(b))
	}
	return bin, nil
})

// realKiln builds cmd/kiln (once per test binary) and returns its path.
func realKiln(t *testing.T) string {
	t.Helper()
	bin, err := kilnBin()
	if err != nil {
		t.Fatalf("go build ./cmd/kiln: %v", err)
	}
	return bin
}

// exited returns a channel that gets cmd's Wait result.
func exited(cmd *exec.Cmd) <-chan error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return done
}

// waitExit waits up to d for done.
func waitExit(done <-chan error, d time.Duration) (error, bool) {
	select {
	case err := <-done:
		return err, true
	case <-time.After(d):
		return nil, false
	}
}

// waitFor polls cond for up to 20 s (a loaded machine starts a binary
// slowly); a signal sent before kiln took it over would kill it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("kiln did not %s in 20 s", what)
}

// SIGTERM stops a real kiln that waits (here for the collector lock,
// which a build holds): it says so and exits 1 at once.
func TestSignalStopsKiln(t *testing.T) {
	bin := realKiln(t)
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	if code, _, errs := runCLIIn(t, dir, "--store", storeDir, "store", "verify"); code != ExitOK {
		t.Fatalf("store verify: %d %s", code, errs)
	}
	// Hold the collector lock as a running build does.
	lock, err := os.OpenFile(filepath.Join(dir, "var", "gc.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	// A signal before kiln took the signals over kills it by default:
	// then try again, giving it longer to start.
	for delay := 300 * time.Millisecond; ; delay *= 2 {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "--store", storeDir, "gc")
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := exited(cmd)
		time.Sleep(delay) // it waits for the lock
		cmd.Process.Signal(syscall.SIGTERM)
		err, ended := waitExit(done, 10*time.Second)
		if !ended {
			cmd.Process.Kill()
			t.Fatalf("kiln gc still runs 10 s after SIGTERM\n%s", stderr.String())
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && delay < 5*time.Second {
			t.Logf("SIGTERM after %s killed kiln before it started; again", delay)
			continue
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != ExitFailure {
			t.Errorf("kiln gc after SIGTERM: %v, want exit %d", err, ExitFailure)
		}
		for _, want := range []string{"kiln: terminated signal received: stopping; a second signal kills kiln at once", "context canceled"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
			}
		}
		return
	}
}

// A second SIGINT kills a real kiln stuck where it does not check for
// cancellation (here reading a stdin that never ends).
func TestSecondSignalKillsKiln(t *testing.T) {
	bin := realKiln(t)
	dir := t.TempDir()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--store", filepath.Join(dir, "store"), "store", "missing")
	cmd.Stdin, cmd.Stderr = r, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	done := exited(cmd)
	// The store exists once kiln opened it, after it took the signals.
	waitFor(t, "open its store", func() bool {
		_, err := os.Stat(filepath.Join(dir, "var", "store.json"))
		return err == nil
	})
	time.Sleep(200 * time.Millisecond) // on to reading stdin
	cmd.Process.Signal(syscall.SIGINT)
	if _, ended := waitExit(done, time.Second); ended {
		t.Fatalf("kiln store missing ended after one SIGINT; this test wants one that keeps reading\n%s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	if _, ended := waitExit(done, 10*time.Second); !ended {
		cmd.Process.Kill()
		t.Fatal("kiln still runs 10 s after a second SIGINT")
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("kiln ended with %v, want killed by SIGINT", cmd.ProcessState)
	}
}
