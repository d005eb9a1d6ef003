package shell

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/system"
)

// newRoot is where the helper builds the shell's root: a tmpfs mounted
// over the host's /usr, which the shell hides anyway, so the mount point
// exists on every host and no host directory is lost while building.
const newRoot = "/usr"

// Enter is the helper, started by Command in its new namespaces with
// CAP_SYS_ADMIN there: it makes the shell's root, pivots into it and
// executes the command. It returns only on failure.
func Enter(spec Spec) error {
	// Capabilities are per thread: the one that drops them must be the one
	// that executes the command.
	runtime.LockOSThread()
	if err := makeRoot(spec); err != nil {
		return err
	}
	if err := pivot(filepath.Join(spec.host(), newRoot), spec.Dir); err != nil {
		return err
	}
	argv := spec.Argv
	if len(argv) == 0 {
		argv = []string{defaultShell()}
	}
	prog, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	if !spec.Root && os.Getuid() != 0 {
		if err := dropCapabilities(); err != nil {
			return err
		}
	}
	if err := syscall.Exec(prog, argv, os.Environ()); err != nil {
		return &exec.Error{Name: prog, Err: err}
	}
	return nil
}

// dropCapabilities empties this thread's capability sets, ambient ones
// included, so that the command runs with none, as the user it is.
func dropCapabilities() error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("drop capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	if err := unix.Capset(&hdr, &none[0]); err != nil {
		return fmt.Errorf("drop capabilities: %w", err)
	}
	return nil
}

// defaultShell is $SHELL when the environment has it, else bash. The
// environment's SHELL is set to the one chosen.
func defaultShell() string {
	sh := os.Getenv("SHELL")
	if fi, err := os.Stat(sh); sh == "" || err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		sh = "/usr/bin/bash"
		os.Setenv("SHELL", sh)
	}
	return sh
}

// makeRoot builds the shell's root at newRoot.
func makeRoot(spec Spec) error {
	// Mount events of the host still reach the shell (a disk mounted later
	// appears in it); none of the shell's reach the host.
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make the mounts private: %w", err)
	}
	usr, err := store.ParsePath(spec.Usr)
	if err != nil {
		return err
	}
	env := filepath.Join(spec.Store, usr.Base())
	if _, err := os.Stat(env); err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	// The store may lie under /usr (it is about to be covered): keep a
	// handle on it.
	storeFD, err := unix.Open(spec.Store, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer unix.Close(storeFD)
	userStore := "/proc/self/fd/" + strconv.Itoa(storeFD)
	h := spec.host()
	host, err := os.ReadDir(h)
	if err != nil {
		return err
	}
	root := filepath.Join(h, newRoot)
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount the shell's root: %w", err)
	}
	skip := append(system.MergedUsrDirs(), "usr", "kiln")
	for _, e := range host {
		if slices.Contains(skip, e.Name()) {
			continue
		}
		if err := bindHost(filepath.Join(h, e.Name()), filepath.Join(root, e.Name()), e.Type()); err != nil {
			return err
		}
	}
	if err := os.Symlink(usr.String(), root+"/usr"); err != nil {
		return err
	}
	for _, d := range system.MergedUsrDirs() {
		if _, err := os.Lstat(filepath.Join(env, d)); err == nil {
			if err := os.Symlink("usr/"+d, filepath.Join(root, d)); err != nil {
				return err
			}
		}
	}
	if err := makeKiln(h, root, userStore); err != nil {
		return err
	}
	if err := maskFile(root+"/etc/ld.so.cache", root+"/.ld.so.cache"); err != nil {
		return err
	}
	// Nothing more is made at /: a read-only root, as a system's. (The
	// mount, not the file system: the mask's unlinked file keeps the file
	// system busy.)
	if err := unix.Mount("none", root, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("make the shell's root read-only: %w", err)
	}
	return nil
}

// host is the host's root directory.
func (s Spec) host() string {
	if s.Host == "" {
		return "/"
	}
	return s.Host
}

// Where the two stores of a kiln machine are bound when the shell's
// /kiln/store unites them (makeKiln).
const (
	unitedUserStore = "/kiln/.user-store"
	unitedHostStore = "/kiln/.host-store"
)

// makeKiln makes the shell's /kiln in root with the store userStore
// (physical) read-only on /kiln/store:
//   - on a host without /kiln/store, /kiln holds only the store;
//   - when the host's /kiln/store is that store (root on a kiln machine,
//     or root's default store), /kiln is the host's;
//   - on a kiln machine whose store is another (an ordinary user's store
//     in its cache), the host's /etc links into the host's store, so
//     /kiln/store unites both: a link per path to one of them, bound at
//     unitedHostStore and unitedUserStore, the user's paths first.
func makeKiln(h, root, userStore string) error {
	hostKiln, dst := filepath.Join(h, "kiln"), root+"/kiln"
	hostStore := filepath.Join(hostKiln, "store")
	if sameDir(hostStore, userStore) {
		if err := bindHost(hostKiln, dst, fs.ModeDir); err != nil {
			return err
		}
		return bindReadOnly(userStore, root+store.LogicalDir)
	}
	if err := os.MkdirAll(root+store.LogicalDir, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(hostKiln)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	united := false
	for _, e := range ents {
		if e.Name() == "store" {
			united = e.IsDir()
			continue
		}
		if err := bindHost(filepath.Join(hostKiln, e.Name()), filepath.Join(dst, e.Name()), e.Type()); err != nil {
			return err
		}
	}
	if !united {
		return bindReadOnly(userStore, root+store.LogicalDir)
	}
	links := map[string]string{}
	for _, s := range []struct{ phys, at string }{{hostStore, unitedHostStore}, {userStore, unitedUserStore}} {
		if err := os.Mkdir(root+s.at, 0o755); err != nil {
			return err
		}
		if err := bindReadOnly(s.phys, root+s.at); err != nil {
			return err
		}
		ents, err := os.ReadDir(s.phys)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.Name()[0] != '.' {
				links[e.Name()] = s.at + "/" + e.Name()
			}
		}
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root+store.LogicalDir, name)); err != nil {
			return err
		}
	}
	return nil
}

// bindReadOnly binds directory src on dst read-only, with the flags src's
// mount has (in a user namespace a bind may not drop nodev, nosuid,
// noexec or change the atime mode of the mount it copies).
func bindReadOnly(src, dst string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(src, &sfs); err != nil {
		return fmt.Errorf("bind %s: %w", dst, err)
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", dst, err)
	}
	if err := unix.Mount("none", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|keptFlags(sfs.Flags), ""); err != nil {
		return fmt.Errorf("make %s read-only: %w", dst, err)
	}
	return nil
}

// bindHost makes host entry src visible at dst: directories (with every
// mount under them) and files bound, symbolic links copied.
func bindHost(src, dst string, typ fs.FileMode) error {
	switch {
	case typ.IsDir():
		if err := os.Mkdir(dst, 0o755); err != nil {
			return err
		}
	case typ&fs.ModeSymlink != 0:
		t, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(t, dst)
	case typ.IsRegular():
		if err := os.WriteFile(dst, nil, 0o644); err != nil {
			return err
		}
	default:
		return nil // sockets and devices at / are no one's business
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	return nil
}

// maskFile binds an empty file over target when it is a regular file;
// scratch (in the new root) holds the empty file while it is bound.
func maskFile(target, scratch string) error {
	if fi, err := os.Stat(target); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	if err := os.WriteFile(scratch, nil, 0o444); err != nil {
		return err
	}
	defer os.Remove(scratch)
	if err := unix.Mount(scratch, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mask %s: %w", target, err)
	}
	return nil
}

// pivot makes root the root and dir the working directory; the host's
// root is detached.
func pivot(root, dir string) error {
	if err := os.Chdir(root); err != nil {
		return err
	}
	// pivot_root(".", "."): the old root ends up stacked on the new one,
	// and unmounting "." detaches it (pivot_root(2)).
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot into the shell's root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	return nil
}

// keptFlags are the mount flags of statfs flags that a bind remount must
// repeat (nodev, nosuid, noexec, the atime mode).
func keptFlags(st int64) uintptr {
	var f uintptr
	for _, m := range []struct {
		st    int64
		mount uintptr
	}{{unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}} {
		if st&m.st != 0 {
			f |= m.mount
		}
	}
	if st&(unix.ST_NOATIME|unix.ST_RELATIME) == 0 {
		f |= unix.MS_STRICTATIME // relatime is what the kernel assumes otherwise
	}
	return f
}

// sameDir reports whether a and b are the same directory.
func sameDir(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
