package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// A store path's content hash is the SHA-256 of its NAR serialization,
// the format of Nix's nix-store --dump: a tree of files (contents and the
// executable bit), directories (entries sorted by name) and symlinks
// (targets). Owners, modes beyond the x bit and times are not part of it;
// canonicalization fixes those instead.

// canonMtime is the modification time of every store file (as in Nix).
var canonMtime = unix.Timespec{Sec: 1}

// narWriter serializes into a hash and counts the bytes.
type narWriter struct {
	h    hash.Hash
	n    int64
	buf  []byte
	zero [8]byte
}

func (w *narWriter) Write(b []byte) (int, error) {
	w.n += int64(len(b))
	return w.h.Write(b)
}

func (w *narWriter) str(s string) {
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], uint64(len(s)))
	w.Write(l[:])
	io.WriteString(w, s)
	w.pad(int64(len(s)))
}

func (w *narWriter) pad(n int64) {
	if r := n % 8; r != 0 {
		w.Write(w.zero[:8-r])
	}
}

// walker canonicalizes (fix) or checks (!fix) a tree while writing its NAR.
type walker struct {
	nar    narWriter
	fix    bool
	root   bool // running as root: chown to 0:0
	files  int
	issues []string // non-canonical metadata seen when !fix
}

func newWalker(fix bool) *walker { return newWalkerHash(fix, sha256.New()) }

func newWalkerHash(fix bool, h hash.Hash) *walker {
	return &walker{nar: narWriter{h: h, buf: make([]byte, 128<<10)}, fix: fix, root: os.Geteuid() == 0}
}

// hashTree returns the NAR hash ("sha256:<nix32>") and size of the tree at
// name; with fix it first canonicalizes every entry.
func (w *walker) hashTree(name string) (string, int64, error) {
	w.nar.str("nix-archive-1")
	if err := w.node(name); err != nil {
		return "", 0, err
	}
	return "sha256:" + nix32(w.nar.h.Sum(nil)), w.nar.n, nil
}

func (w *walker) node(name string) error {
	st, err := os.Lstat(name)
	if err != nil {
		return err
	}
	w.files++
	w.nar.str("(")
	w.nar.str("type")
	switch mode := st.Mode(); {
	case mode.IsRegular():
		err = w.regular(name, st)
	case mode&fs.ModeSymlink != 0:
		err = w.symlink(name)
	case mode.IsDir():
		err = w.dir(name)
	default:
		return fmt.Errorf("%s is a %v: store paths hold only files, directories and symlinks", name, mode.Type())
	}
	if err != nil {
		return err
	}
	if err := w.meta(name, st); err != nil {
		return err
	}
	w.nar.str(")")
	return nil
}

func (w *walker) regular(name string, st fs.FileInfo) error {
	w.nar.str("regular")
	if st.Mode()&0o111 != 0 {
		w.nar.str("executable")
		w.nar.str("")
	}
	w.nar.str("contents")
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], uint64(st.Size()))
	w.nar.Write(l[:])
	n, err := io.CopyBuffer(&w.nar, f, w.nar.buf)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if n != st.Size() {
		return fmt.Errorf("read %s: size changed while hashing", name)
	}
	w.nar.pad(n)
	return nil
}

func (w *walker) symlink(name string) error {
	target, err := os.Readlink(name)
	if err != nil {
		return err
	}
	w.nar.str("symlink")
	w.nar.str("target")
	w.nar.str(target)
	return nil
}

func (w *walker) dir(name string) error {
	w.nar.str("directory")
	ents, err := os.ReadDir(name) // sorted by name, as NAR wants
	if err != nil {
		return err
	}
	for _, e := range ents {
		w.nar.str("entry")
		w.nar.str("(")
		w.nar.str("name")
		w.nar.str(e.Name())
		w.nar.str("node")
		if err := w.node(filepath.Join(name, e.Name())); err != nil {
			return err
		}
		w.nar.str(")")
	}
	return nil
}

// canonMode is the mode every store entry must have.
func canonMode(st fs.FileInfo) fs.FileMode {
	switch {
	case st.IsDir():
		return 0o555
	case st.Mode()&fs.ModeSymlink != 0:
		return st.Mode().Perm() // Linux ignores symlink modes
	case st.Mode()&0o111 != 0:
		return 0o555
	}
	return 0o444
}

// meta canonicalizes (or checks) owner, mode, xattrs and mtime of name.
// Directories come after their entries, so their mtime stays 1.
func (w *walker) meta(name string, st fs.FileInfo) error {
	sys, _ := st.Sys().(*syscall.Stat_t)
	isLink := st.Mode()&fs.ModeSymlink != 0
	want := canonMode(st)
	if !w.fix {
		if st.Mode().Perm() != want || st.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
			w.issues = append(w.issues, fmt.Sprintf("%s: mode %v, want %v", name, st.Mode(), want))
		}
		if sys != nil && (sys.Mtim.Sec != canonMtime.Sec || sys.Mtim.Nsec != 0) {
			w.issues = append(w.issues, fmt.Sprintf("%s: mtime %d, want 1", name, sys.Mtim.Sec))
		}
		return nil
	}
	if w.root && sys != nil && (sys.Uid != 0 || sys.Gid != 0) {
		if err := os.Lchown(name, 0, 0); err != nil {
			return err
		}
	}
	// xattrs first: removing user.* xattrs needs write permission.
	if err := removeXattrs(name); err != nil {
		return err
	}
	if !isLink {
		// chmod also clears setuid, setgid and sticky.
		if err := os.Chmod(name, want); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{canonMtime, canonMtime}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set mtime of %s: %w", name, err)
	}
	return nil
}

func removeXattrs(name string) error {
	buf := make([]byte, 1024)
	n, err := unix.Llistxattr(name, buf)
	if errors.Is(err, unix.ERANGE) {
		if n, err = unix.Llistxattr(name, nil); err == nil {
			buf = make([]byte, n)
			n, err = unix.Llistxattr(name, buf)
		}
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list xattrs of %s: %w", name, err)
	}
	for _, attr := range splitNul(buf[:n]) {
		err := unix.Lremovexattr(name, attr)
		if err != nil && !errors.Is(err, unix.ENODATA) {
			return fmt.Errorf("remove xattr %s of %s: %w", attr, name, err)
		}
	}
	return nil
}

func splitNul(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			out = append(out, string(b[:i]))
		}
		b = b[min(i+1, len(b)):]
	}
	return out
}
