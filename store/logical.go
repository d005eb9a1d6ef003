package store

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Logical paths: /kiln/store/<hash>-<name>[/file], as contents and
// bootspecs name them, whatever directory holds the store on this host.

// PhysicalPath maps a logical path under /kiln/store (a store path or a
// file inside one) to where s keeps it.
func (s *Store) PhysicalPath(logical string) string {
	return filepath.Join(s.Dir, filepath.FromSlash(strings.TrimPrefix(logical, LogicalDir+"/")))
}

// ResolveLogical follows symbolic links in a logical store path, reading
// them in s, until it names no link: "<toplevel>/kernel" becomes
// "/kiln/store/<hash>-linux-image-…/boot/vmlinuz-…". (Kernels and initrds
// are named on the ESP by the store path holding them, so generations
// sharing a kernel share one copy.)
func (s *Store) ResolveLogical(logical string) (string, error) {
	orig := logical
	for range 40 {
		rest, ok := strings.CutPrefix(path.Clean(logical), LogicalDir+"/")
		if !ok {
			return "", fmt.Errorf("resolve %s: leads out of %s (to %s)", orig, LogicalDir, logical)
		}
		comps := strings.Split(rest, "/")
		cur, moved := LogicalDir, false
		for i, c := range comps {
			next := cur + "/" + c
			fi, err := os.Lstat(s.PhysicalPath(next))
			if err != nil {
				return "", fmt.Errorf("resolve %s: %w", orig, err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				target, err := os.Readlink(s.PhysicalPath(next))
				if err != nil {
					return "", fmt.Errorf("resolve %s: %w", orig, err)
				}
				if !path.IsAbs(target) {
					target = path.Join(cur, target)
				}
				logical, moved = path.Join(append([]string{target}, comps[i+1:]...)...), true
				break
			}
			cur = next
		}
		if !moved {
			return cur, nil
		}
	}
	return "", fmt.Errorf("resolve %s: too many symbolic links", orig)
}
