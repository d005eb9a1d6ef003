package system

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// A forest is the sw tree: the merged contents of /usr over every package,
// as symlinks into the package store paths. It is built in memory first
// (so conflicts are found before anything is written), then written.
//
// Debian bookworm is merged-/usr: a package's bin, sbin and lib* land in
// usr/bin, usr/sbin, usr/lib* (canonicalization). A directory fed by exactly
// one package directory becomes a single link (as Nix's buildEnv does),
// which keeps the forest small: every store-path link is longer than ext4's
// 60-byte fast-symlink limit and costs a block.

// swSource is one tree feeding the forest.
type swSource struct {
	Name    string // package name, for errors
	Logical string // logical store path of the package root
	Phys    string // physical directory of the package root
	// Skip lists package-relative paths (slash-separated) left out, e.g.
	// the kernel package's lib/modules (kernel-modules provides it).
	Skip []string
}

// swTopLevel says where each top-level directory of a package goes in the
// forest ("" = the forest root, which is /usr). Directories not listed are
// not part of /usr: etc (the etc tree), var (tmpfiles), boot (the kernel),
// and the API file systems and per-machine directories, which are skipped.
var swTopLevel = map[string]string{
	"usr": "", "bin": "bin", "sbin": "sbin",
	"lib": "lib", "lib32": "lib32", "lib64": "lib64", "libx32": "libx32",
}

// fnode is a node of the forest: a directory (children != nil) or a leaf.
type fnode struct {
	children map[string]*fnode
	srcs     []dirSrc // directories: every package directory merged here
	badLink  bool     // directories: holds a relative link that cannot resolve inside its package
	leaf     *leaf
}

type dirSrc struct {
	src     int    // index into the sources
	logical string // logical path of that package directory
}

// leaf is a file or symlink of one package, as the forest will link it.
type leaf struct {
	src    int
	phys   string // physical path in the package (to compare contents)
	target string // what the forest's symlink points to
	isLink bool   // the package entry is itself a symlink
	// copy: the forest holds a copy of the file, not a link (a program
	// that finds its own tree from /proc/self/exe, see relocatingProgram).
	copy bool
}

// relocatingPackage matches the packages whose programs find the rest of
// their tree relative to their own location (/proc/self/exe, symbolic
// links resolved): GCC's drivers (gcc-12, cpp-12, g++-12…) look for cc1,
// collect2, the start files and the include directories under
// ../lib/gcc/ of where they really are. A link into the package's own
// store path would send them to that package alone, which lacks cc1
// (cpp-12's) and the start files (libgcc-12-dev's, libc6-dev's); a copy
// in the merged tree finds the merged tree. varnish compiles its VCL with
// gcc at every start.
var relocatingPackage = regexp.MustCompile(`^(gcc|cpp|g\+\+|gfortran|gccgo|gdc|gm2|gnat)-[0-9]+$`)

// relocatingProgram says whether forest path dst of package pkg is such
// a program.
func relocatingProgram(pkg, dst string) bool {
	return relocatingPackage.MatchString(pkg) && path.Dir(dst) == "bin"
}

type forest struct {
	srcs []swSource
	root *fnode
}

func newForest() *forest { return &forest{root: &fnode{children: map[string]*fnode{}}} }

// add merges one package into the forest.
func (f *forest) add(s swSource) error {
	i := len(f.srcs)
	f.srcs = append(f.srcs, s)
	ents, err := os.ReadDir(s.Phys)
	if err != nil {
		return fmt.Errorf("read package %s: %w", s.Name, err)
	}
	skip := map[string]bool{}
	for _, p := range s.Skip {
		skip[p] = true
	}
	for _, e := range ents {
		dst, ok := swTopLevel[e.Name()]
		if !ok {
			continue
		}
		if !e.IsDir() {
			// A package shipping /bin as a symlink (usrmerge's job, done
			// here by canonicalization) contributes nothing.
			continue
		}
		if err := f.addDir(i, e.Name(), dst, skip); err != nil {
			return err
		}
	}
	return nil
}

// addDir merges package directory rel (package-relative) at forest path dst.
func (f *forest) addDir(i int, rel, dst string, skip map[string]bool) error {
	s := f.srcs[i]
	n, err := f.dirNode(dst, i, rel)
	if err != nil {
		return err
	}
	n.srcs = append(n.srcs, dirSrc{src: i, logical: s.Logical + "/" + rel})
	ents, err := os.ReadDir(filepath.Join(s.Phys, rel))
	if err != nil {
		return fmt.Errorf("read package %s: %w", s.Name, err)
	}
	for _, e := range ents {
		crel := rel + "/" + e.Name()
		cdst := path.Join(dst, e.Name())
		if skip[crel] {
			f.markBad(cdst) // a collapsed link must not expose what was skipped
			continue
		}
		switch {
		case e.IsDir():
			if err := f.addDir(i, crel, cdst, skip); err != nil {
				return err
			}
		case e.Type()&fs.ModeSymlink != 0:
			if err := f.addLink(i, crel, cdst); err != nil {
				return err
			}
		default:
			l := &leaf{src: i, phys: filepath.Join(s.Phys, crel), target: s.Logical + "/" + crel, copy: relocatingProgram(s.Name, cdst)}
			if err := f.putLeaf(cdst, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// addLink adds a package symlink. Absolute targets are kept (they resolve
// at run time through /usr → sw). A relative target is resolved against
// the link's canonical place: inside /usr it stays relative (valid in the
// forest whatever package provides the target); leaving /usr it becomes
// absolute. Directories holding a relative link that does not resolve
// inside its own package are never collapsed into one link.
func (f *forest) addLink(i int, rel, dst string) error {
	s := f.srcs[i]
	target, err := os.Readlink(filepath.Join(s.Phys, rel))
	if err != nil {
		return fmt.Errorf("read package %s: %w", s.Name, err)
	}
	l := &leaf{src: i, phys: filepath.Join(s.Phys, rel), target: target, isLink: true}
	if !path.IsAbs(target) {
		resolved := path.Join(path.Dir(rel), target)
		if strings.HasPrefix(resolved, "../") || resolved == ".." {
			l.target = canonicalRuntime("/" + resolved)
		} else {
			abs := canonicalRuntime("/" + resolved)
			if strings.HasPrefix(abs, "/usr/") {
				r, err := filepath.Rel(path.Dir("/usr/"+dst), abs)
				if err != nil {
					return fmt.Errorf("package %s: link %s: %w", s.Name, rel, err)
				}
				l.target = filepath.ToSlash(r)
			} else {
				l.target = abs
			}
		}
		if strings.HasPrefix(resolved, "../") || !lexists(filepath.Join(s.Phys, resolved)) {
			f.markBad(dst)
		}
	}
	return f.putLeaf(dst, l)
}

// canonicalRuntime maps /bin/x, /lib64/x... to /usr/bin/x, /usr/lib64/x.
func canonicalRuntime(p string) string {
	p = path.Clean(p)
	first, rest, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if d, ok := swTopLevel[first]; ok && d != "" {
		return path.Join("/usr", d, rest)
	}
	return p
}

func lexists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// markBad marks every directory above forest path dst.
func (f *forest) markBad(dst string) {
	n := f.root
	n.badLink = true
	dir := path.Dir(dst)
	if dir == "." {
		return
	}
	for _, c := range strings.Split(dir, "/") {
		n = n.children[c]
		if n == nil || n.children == nil {
			return
		}
		n.badLink = true
	}
}

// dirNode returns the directory node at dst, creating it.
func (f *forest) dirNode(dst string, i int, rel string) (*fnode, error) {
	n := f.root
	if dst == "" {
		return n, nil
	}
	for _, c := range strings.Split(dst, "/") {
		m := n.children[c]
		if m == nil {
			m = &fnode{children: map[string]*fnode{}}
			n.children[c] = m
		}
		if m.leaf != nil {
			return nil, f.conflict(dst, m.leaf, i, rel, "a directory")
		}
		n = m
	}
	return n, nil
}

// putLeaf places a leaf; the same content from two packages is fine (the
// first, in package name order, is linked), anything else is a conflict.
func (f *forest) putLeaf(dst string, l *leaf) error {
	parent := f.root
	if dir := path.Dir(dst); dir != "." {
		var err error
		if parent, err = f.dirNode(dir, l.src, ""); err != nil {
			return err
		}
	}
	name := path.Base(dst)
	old := parent.children[name]
	if old == nil {
		parent.children[name] = &fnode{leaf: l}
		return nil
	}
	if old.leaf == nil {
		return f.conflict(dst, nil, l.src, "", "a file")
	}
	same, err := sameLeaf(old.leaf, l)
	if err != nil {
		return err
	}
	if !same {
		return f.conflict(dst, old.leaf, l.src, "", "a different file")
	}
	return nil
}

func (f *forest) conflict(dst string, old *leaf, i int, rel, what string) error {
	other := "another package's directory"
	if old != nil {
		other = "package " + f.srcs[old.src].Name
	}
	return fmt.Errorf("%w: /usr/%s: package %s has %s where %s has an entry", ErrConflict, dst, f.srcs[i].Name, what, other)
}

// ErrConflict reports two packages providing different files at one path.
var ErrConflict = errors.New("file conflict")

func sameLeaf(a, b *leaf) (bool, error) {
	if a.isLink != b.isLink {
		return false, nil
	}
	if a.isLink {
		return a.target == b.target, nil
	}
	return sameFileContent(a.phys, b.phys)
}

func sameFileContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	sa, _ := fa.Stat()
	sb, _ := fb.Stat()
	if sa.Size() != sb.Size() {
		return false, nil
	}
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, _ := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea != nil {
			return true, nil
		}
	}
}

// write creates the forest at dir (which must not exist).
func (f *forest) write(dir string) (stats swStats, err error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return stats, err
	}
	return stats, f.writeDir(dir, f.root, &stats, true)
}

// swStats counts what the forest holds.
type swStats struct {
	Dirs, Links, Collapsed, Copies int
}

func (f *forest) writeDir(dir string, n *fnode, st *swStats, top bool) error {
	names := make([]string, 0, len(n.children))
	for c := range n.children {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		m := n.children[c]
		p := filepath.Join(dir, c)
		switch {
		case m.leaf != nil && m.leaf.copy:
			st.Copies++
			if err := copyRegular(m.leaf.phys, p); err != nil {
				return err
			}
		case m.leaf != nil:
			st.Links++
			if err := os.Symlink(m.leaf.target, p); err != nil {
				return err
			}
		case len(m.srcs) == 1 && !m.badLink && !top:
			st.Collapsed++
			if err := os.Symlink(m.srcs[0].logical, p); err != nil {
				return err
			}
		default:
			st.Dirs++
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			if err := f.writeDir(p, m, st, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// redirect replaces the package file at forest path dst with a link to
// target (its setuid wrapper, so that the program run by its full path
// is the wrapper too). The directories above it are never collapsed into
// a link to the package's own.
func (f *forest) redirect(dst, target string) error {
	n := f.root
	if dir := path.Dir(dst); dir != "." {
		for _, c := range strings.Split(dir, "/") {
			if n = n.children[c]; n == nil || n.children == nil {
				return fmt.Errorf("wrapper link /usr/%s: /usr/%s is not a directory of the forest", dst, dir)
			}
		}
	}
	m := n.children[path.Base(dst)]
	if m == nil || m.leaf == nil || m.leaf.isLink {
		return fmt.Errorf("wrapper link /usr/%s: no package file there", dst)
	}
	f.markBad(dst)
	n.children[path.Base(dst)] = &fnode{leaf: &leaf{src: -1, target: target, isLink: true}}
	return nil
}

// forestPath is where a package-relative path lands in the forest
// ("sbin/mount.nfs" → "sbin/mount.nfs", "usr/sbin/exim4" → "sbin/exim4");
// false when it is not under /usr.
func forestPath(rel string) (string, bool) {
	top, rest, ok := strings.Cut(rel, "/")
	dst, in := swTopLevel[top]
	if !ok || !in {
		return "", false
	}
	return path.Join(dst, rest), true
}
