package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/machine"
)

// A kiln machine binds its store read-only onto itself (stage 2): a verb
// that must add paths re-executes kiln in a private mount namespace,
// where machine.RemountWritable makes the store writable for it alone.

// privateNSEnv marks the re-executed child.
const privateNSEnv = "KILN_PRIVATE_MOUNT_NS"

// exitStatus is an error that carries the exit code of a process whose
// output was already relayed: Main returns the code without a message.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// inPrivateMountNS makes storeDir writable for this verb. When storeDir is
// on a writable mount it does nothing (done is false). When it is
// read-only, the parent runs the same command line again in a private
// mount namespace, relays its stdio and returns done with its outcome; the
// child (done false) remounts storeDir read-write in its namespace.
func (r *Run) inPrivateMountNS(ctx context.Context, storeDir string) (done bool, err error) {
	ro, flags, err := machine.ReadOnlyMount(storeDir)
	if err != nil || !ro {
		return false, err
	}
	if r.Getenv(privateNSEnv) == "1" {
		return false, machine.RemountWritable(storeDir, flags)
	}
	prog, err := os.Executable() // (a test's binary runs the CLI too)
	if err != nil {
		return true, fmt.Errorf("re-execute kiln: %w", err)
	}
	cmd := exec.CommandContext(ctx, prog, r.Args...)
	cmd.Env = append(os.Environ(), privateNSEnv+"=1")
	cmd.Dir = r.Dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.Stdin, r.Stdout, r.Stderr
	// Go makes / rprivate in the child after unshare, so no mount event
	// propagates back to the machine.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS}
	r.Logf("store %s is read-only: running in a private mount namespace", storeDir)
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return true, exitStatus(ee.ExitCode())
	}
	if err != nil {
		return true, fmt.Errorf("run kiln in a private mount namespace: %w", err)
	}
	return true, nil
}
