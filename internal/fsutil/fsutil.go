// Package fsutil writes files and symlinks so that a crash leaves either
// the old or the new version, never a part: a temporary file in the same
// directory, fsync, rename, fsync of the directory. Every kiln writer of
// state (store records, profiles, /etc, ids, journals, EFI variables)
// goes through it.
package fsutil

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// TempMarker is in the name of every temporary file and link this package
// writes (".NAME.kiln-tmp-…"), so a crash's leftovers can be recognized.
const TempMarker = ".kiln-tmp-"

// IsTemp reports whether a file name is a temporary file of a writer that
// did not finish.
func IsTemp(name string) bool { return strings.Contains(name, TempMarker) }

// WriteFile replaces name with data and mode.
func WriteFile(name string, data []byte, mode os.FileMode) error {
	return WriteFileOwned(name, data, mode, -1, -1)
}

// WriteFileOwned is WriteFile that also sets the owner; uid or gid < 0
// leaves it alone. The mode is set after chown, which clears setuid bits.
func WriteFileOwned(name string, data []byte, mode os.FileMode, uid, gid int) error {
	return write(name, mode, uid, gid, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// WriteFrom replaces name with what r yields until EOF, the way WriteFile
// does (for content too big to hold in memory), and returns its size.
func WriteFrom(name string, r io.Reader, mode os.FileMode) (int64, error) {
	var n int64
	err := write(name, mode, -1, -1, func(f *os.File) error {
		var err error
		n, err = io.Copy(f, r)
		return err
	})
	return n, err
}

func write(name string, mode os.FileMode, uid, gid int, fill func(*os.File) error) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+TempMarker)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	err = fill(f)
	if err == nil && (uid >= 0 || gid >= 0) {
		err = f.Chown(uid, gid)
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return SyncDir(dir)
}

// Symlink makes link point to target, replacing any non-directory there
// in one rename.
func Symlink(target, link string) error {
	dir := filepath.Dir(link)
	tmp := filepath.Join(dir, "."+filepath.Base(link)+TempMarker+uniqueSuffix())
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("link %s: %w", link, err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that renames in it are durable. File
// systems that cannot sync a directory (EINVAL, e.g. some FAT drivers) are
// not an error: there the rename is as durable as it gets.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

var seq atomic.Uint64

// uniqueSuffix names temporary links. Not crypto/rand: in early boot
// getrandom blocks until the kernel's pool is initialized (seconds under
// QEMU), and the name only has to be unique among this machine's writers.
func uniqueSuffix() string {
	return strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(seq.Add(1), 16)
}

// SHA256 returns the hex SHA-256 of a file's content.
func SHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
