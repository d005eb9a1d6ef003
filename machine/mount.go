package machine

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// A kiln machine binds its store read-only onto itself (stage 2), so that
// nothing but kiln writes it. Whatever must add paths runs in a private
// mount namespace (the CLI re-executes itself there) and, there only,
// remounts the store read-write: the machine's global view never becomes
// writable, and the namespace (with its writable mount) dies with the
// process.

// ReadOnlyMount reports whether dir is on a read-only mount, and the
// mount's flags as statfs(2) gives them. A dir that does not exist is on
// no read-only mount.
func ReadOnlyMount(dir string) (bool, int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, 0, nil
		}
		return false, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Flags&unix.ST_RDONLY != 0, st.Flags, nil
}

// RemountWritable makes dir's mount read-write in this mount namespace,
// keeping nodev, nosuid and noexec (statFlags are ReadOnlyMount's). It
// first makes every mount private, so the remount stays here: call it only
// in a private mount namespace.
func RemountWritable(dir string, statFlags int64) error {
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
	if ro, _, err := ReadOnlyMount(dir); err != nil || ro {
		return fmt.Errorf("remount %s read-write: still read-only (%v)", dir, err)
	}
	return nil
}
