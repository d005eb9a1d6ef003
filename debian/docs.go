package debian

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DocMarker is the file, in a package's main output, that names its
// documentation output (the logical store path, one line). Packages
// without documentation have none.
const DocMarker = ".kiln/doc-output"

// docTrees are the directories moved whole into the documentation output.
// Nothing in a kiln system reads them: man-db and info are not in the base
// system and programs find their message catalogs only under the
// configured locale (the default, C.UTF-8, has none).
var docTrees = []string{"usr/share/man", "usr/share/info"}

// SplitDocs moves the documentation of a package unpacked at dir into
// docDir (created only when there is some) and reports whether it moved
// anything:
//   - usr/share/man and usr/share/info, whole;
//   - usr/share/locale/*/ (the message catalogs); plain files there stay
//     (glibc reads usr/share/locale/locale.alias, which the locales
//     package ships);
//   - usr/share/doc/PKG/* except usr/share/doc/PKG/copyright: license
//     files must ship with the binaries. Symlinks directly in
//     usr/share/doc (a package pointing at another's directory) stay too,
//     so that its copyright stays reachable.
//
// Directories emptied by the move are removed.
func SplitDocs(dir, docDir string) (bool, error) {
	s := &docSplit{dir: dir, docDir: docDir}
	for _, t := range docTrees {
		if err := s.moveIf(t, func(fi fs.FileInfo) bool { return fi.IsDir() }); err != nil {
			return false, err
		}
	}
	if err := s.eachChild("usr/share/locale", func(rel string, fi fs.FileInfo) error {
		if !fi.IsDir() {
			return nil
		}
		return s.move(rel)
	}); err != nil {
		return false, err
	}
	if err := s.eachChild("usr/share/doc", func(rel string, fi fs.FileInfo) error {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return nil
		case !fi.IsDir():
			return s.move(rel)
		}
		err := s.eachChild(rel, func(sub string, _ fs.FileInfo) error {
			if filepath.Base(sub) == "copyright" {
				return nil
			}
			return s.move(sub)
		})
		if err != nil {
			return err
		}
		return removeIfEmpty(filepath.Join(dir, rel))
	}); err != nil {
		return false, err
	}
	for _, d := range []string{"usr/share/doc", "usr/share/locale"} {
		if err := removeIfEmpty(filepath.Join(dir, d)); err != nil {
			return false, err
		}
	}
	return s.moved, nil
}

type docSplit struct {
	dir, docDir string
	moved       bool
}

// moveIf moves rel when it exists (not through a symlink) and ok says so.
func (s *docSplit) moveIf(rel string, ok func(fs.FileInfo) bool) error {
	fi, err := os.Lstat(filepath.Join(s.dir, rel))
	if errors.Is(err, fs.ErrNotExist) || err == nil && !ok(fi) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.move(rel)
}

// move renames dir/rel to docDir/rel.
func (s *docSplit) move(rel string) error {
	dst := filepath.Join(s.docDir, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("split docs: %w", err)
	}
	if err := os.Rename(filepath.Join(s.dir, rel), dst); err != nil {
		return fmt.Errorf("split docs: %w", err)
	}
	s.moved = true
	return nil
}

// eachChild calls fn for every entry of the directory rel (a missing one,
// or a symlink, has none), in name order.
func (s *docSplit) eachChild(rel string, fn func(rel string, fi fs.FileInfo) error) error {
	p := filepath.Join(s.dir, rel)
	if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if err := fn(filepath.Join(rel, e.Name()), fi); err != nil {
			return err
		}
	}
	return nil
}

// removeIfEmpty removes an empty directory; anything else is left.
func removeIfEmpty(p string) error {
	ents, err := os.ReadDir(p)
	if err != nil || len(ents) > 0 {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrInvalid) {
			return nil
		}
		if err != nil {
			fi, lerr := os.Lstat(p)
			if lerr == nil && !fi.IsDir() {
				return nil
			}
		}
		return err
	}
	return os.Remove(p)
}
