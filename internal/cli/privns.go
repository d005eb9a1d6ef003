package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// A kiln machine binds its store read-only onto itself (stage 2), so that
// nothing but kiln writes it. A verb that must add paths re-executes kiln
// in a private mount namespace and, there only, remounts the store
// read-write: the machine's global view never becomes writable, and the
// namespace (with its writable mount) dies with the process.

// privateNSEnv marks the re-executed child.
const privateNSEnv = "KILN_PRIVATE_MOUNT_NS"

// reexecCommand is the program and leading arguments that run kiln again;
// tests replace it with their own binary.
var reexecCommand = func() (string, []string, error) {
	exe, err := os.Executable()
	return exe, nil, err
}

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
	ro, flags, err := readOnlyMount(storeDir)
	if err != nil || !ro {
		return false, err
	}
	if r.Getenv(privateNSEnv) == "1" {
		return false, remountWritable(storeDir, flags)
	}
	prog, lead, err := reexecCommand()
	if err != nil {
		return true, fmt.Errorf("re-execute kiln: %w", err)
	}
	cmd := exec.CommandContext(ctx, prog, append(lead, r.Args...)...)
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

// readOnlyMount reports whether dir is on a read-only mount, and the
// mount's flags as statfs(2) gives them.
func readOnlyMount(dir string) (bool, int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, 0, nil
		}
		return false, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Flags&unix.ST_RDONLY != 0, st.Flags, nil
}

// remountWritable makes dir's mount read-write in this mount namespace,
// keeping nodev, nosuid and noexec. It first makes every mount private,
// so the remount stays here.
func remountWritable(dir string, statFlags int64) error {
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND)
	for _, f := range []struct {
		st    int64
		mount uintptr
	}{{unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NOEXEC, unix.MS_NOEXEC}} {
		if statFlags&f.st != 0 {
			flags |= f.mount
		}
	}
	if err := unix.Mount(dir, dir, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s read-write in a private mount namespace: %w", dir, err)
	}
	if ro, _, err := readOnlyMount(dir); err != nil || ro {
		return fmt.Errorf("remount %s read-write: still read-only (%v)", dir, err)
	}
	return nil
}
