package activation

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/toplevel"
)

// ApplyPersist puts an ephemeral root's persisted paths in place under
// root: each directory bind-mounted from p.Path (made on both sides when
// missing), each file a symlink to its p.Path twin (whose directory is
// made; the file itself may not exist yet: what makes it, such as
// ssh-keygen -A -f p.Path, writes it there). It does nothing until p.Path
// is what stage 1 mounted (on a running machine: a mount point), so a
// switch that enables impermanence changes the machine only at its next
// boot. Mounts are made only on the running machine (root "/").
func ApplyPersist(root string, p *toplevel.Persist) error {
	if p == nil {
		return nil
	}
	live := root == "/" || root == ""
	if fi, err := os.Stat(under(root, p.Path)); err != nil || !fi.IsDir() || live && (!isMountPoint(p.Path) || !rootIsTmpfs()) {
		return nil
	}
	var errs []error
	for _, d := range p.Directories {
		src, dst := under(root, p.Path+d), under(root, d)
		if err := mkdirLike(src, dst); err != nil {
			errs = append(errs, err)
			continue
		}
		if live && !isMountPoint(d) {
			if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
				errs = append(errs, fmt.Errorf("bind %s on %s: %w", p.Path+d, d, err))
			}
		}
	}
	for _, f := range p.Files {
		target, link := p.Path+f, under(root, f)
		for _, d := range []string{under(root, path.Dir(target)), path.Dir(link)} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				errs = append(errs, err)
			}
		}
		if t, err := os.Readlink(link); err == nil && t == target {
			continue
		}
		if fi, err := os.Lstat(link); err == nil && fi.IsDir() {
			errs = append(errs, fmt.Errorf("persisted file %s: a directory is there", f))
			continue
		}
		if err := fsutil.Symlink(target, link); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("persisted paths: %w", err)
	}
	return nil
}

// rootIsTmpfs reports whether the running / is a tmpfs: only then is
// p.Path the disk stage 1 moved there. On the disk's own root a mount of
// it on p.Path would be the same tree, and a persisted file's link there
// would point at itself.
func rootIsTmpfs() bool {
	var sfs unix.Statfs_t
	return unix.Statfs("/", &sfs) == nil && sfs.Type == unix.TMPFS_MAGIC
}

// mkdirLike makes the persisted directory src and its mount point dst,
// the mount point with src's mode and owner.
func mkdirLike(src, dst string) error {
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err == nil {
		os.Chmod(dst, os.FileMode(st.Mode&0o7777))
		os.Lchown(dst, int(st.Uid), int(st.Gid))
	}
	return nil
}

// ErrNotEphemeral is AuditState's answer on a root that is not a tmpfs.
var ErrNotEphemeral = errors.New("the root is not ephemeral: set impermanence.enable, switch and reboot")

// AuditState lists the files under root written since boot outside what
// survives a reboot: on an ephemeral root (the current system's spec has
// Persist) every file on the root's own file system (the tmpfs) except
// what activation made there (/etc's links and copies, the accounts, the
// FHS links, the persisted files' symlinks) and /tmp. Persisted
// directories, /kiln, /run and the kernel's file systems are other file
// systems and never walked. The paths are sorted.
func AuditState(root string) ([]string, error) {
	top, err := os.Readlink(under(root, "/run/current-system"))
	if err != nil {
		return nil, fmt.Errorf("state audit: no current system: %w", err)
	}
	spec, err := toplevel.ReadActivationSpec(under(root, path.Join(top, toplevel.ActivationFile)))
	if err != nil {
		return nil, fmt.Errorf("state audit: %w", err)
	}
	if spec.Persist == nil {
		return nil, ErrNotEphemeral
	}
	if root == "/" || root == "" {
		var sfs unix.Statfs_t
		if err := unix.Statfs("/", &sfs); err != nil || sfs.Type != unix.TMPFS_MAGIC {
			return nil, ErrNotEphemeral
		}
	}
	known := map[string]bool{"/etc/static": true, "/tmp": true, spec.Persist.Path: true, "/kiln": true}
	for _, n := range []string{"passwd", "group", "shadow", "gshadow", "machine-id"} {
		known["/etc/"+n] = true
	}
	for _, l := range fhsLinks {
		known[l.name] = true
	}
	for _, f := range spec.Persist.Files {
		known[f] = true
	}
	for _, d := range spec.Persist.Directories {
		known[d] = true
	}
	ledger, err := ReadLedger(root)
	if err != nil {
		return nil, fmt.Errorf("state audit: %w", err)
	}
	for rel := range ledger.Files {
		known["/etc/"+rel] = true
	}
	base := under(root, "/")
	var st unix.Stat_t
	if err := unix.Lstat(base, &st); err != nil {
		return nil, fmt.Errorf("state audit: %w", err)
	}
	var out []string
	err = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished meanwhile, or unreadable: not state we can list
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, base), "/")
		if p == base {
			return nil
		}
		if known[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		var fst unix.Stat_t
		if unix.Lstat(p, &fst) != nil || fst.Dev != st.Dev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && !fsutil.IsTemp(d.Name()) {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state audit: %w", err)
	}
	sort.Strings(out)
	return out, nil
}
