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

// PathOf returns the store path an argument names: a store path (logical
// or physical, or a file inside one) or a link to one, like ./result.
func (s *Store) PathOf(arg string) (Path, error) {
	if p, err := ParsePath(arg); err == nil {
		return p, nil
	}
	target := arg
	if resolved, err := filepath.EvalSymlinks(arg); err == nil {
		target = resolved
	}
	for _, dir := range []string{s.Dir, LogicalDir} {
		if rest, ok := strings.CutPrefix(target, dir+"/"); ok {
			base, _, _ := strings.Cut(rest, "/")
			return ParsePath(base)
		}
	}
	return Path{}, fmt.Errorf("%s is not in the store %s", arg, s.Dir)
}

// ClosureSize returns the number of paths in p's closure and the sum of
// their NAR sizes.
func (s *Store) ClosureSize(p Path) (paths int, narSize int64, err error) {
	closure, err := s.Closure(p)
	if err != nil {
		return 0, 0, err
	}
	for _, c := range closure {
		info, err := s.Info(c)
		if err != nil {
			return 0, 0, err
		}
		narSize += info.NarSize
	}
	return len(closure), narSize, nil
}
