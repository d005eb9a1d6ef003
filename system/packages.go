package system

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/kiln-os/kiln/store"
)

// PackageSet is a Packages backed by a store: locked package names mapped
// to their (realized) store paths.
type PackageSet struct {
	dir   string // physical store directory
	paths map[string]store.Path
	names []string

	mu    sync.Mutex
	dirs  map[string]map[string]bool // physical dir → its entry names (nil: missing)
	trees []*dirNode                 // per name, the package's tree as read so far
}

// NewPackageSet returns the packages named in paths, kept in the store at
// storeDir (physical).
func NewPackageSet(storeDir string, paths map[string]store.Path) *PackageSet {
	ps := &PackageSet{dir: storeDir, paths: map[string]store.Path{}}
	for n, p := range paths {
		ps.paths[n] = p
		ps.names = append(ps.names, n)
	}
	sort.Strings(ps.names)
	return ps
}

// Path implements Packages.
func (ps *PackageSet) Path(name string) (store.Path, bool) {
	p, ok := ps.paths[name]
	return p, ok
}

// Dir implements Packages.
func (ps *PackageSet) Dir(name string) (string, bool) {
	p, ok := ps.paths[name]
	if !ok {
		return "", false
	}
	return filepath.Join(ps.dir, p.Base()), true
}

// Names implements Packages.
func (ps *PackageSet) Names() []string { return append([]string(nil), ps.names...) }

// find returns the first package (in name order) holding file rel
// (package-relative, e.g. "usr/bin/mawk"), also under its merged-/usr
// alias ("bin/mawk" for "usr/bin/mawk").
func find(pk Packages, rel string) (name, phys string, ok bool) {
	name, _, phys, ok = findRel(pk, rel)
	return name, phys, ok
}

// findRel is find, also returning the package-relative path found.
func findRel(pk Packages, rel string) (name, found, phys string, ok bool) {
	alts := []string{rel}
	if first, rest, ok := strings.Cut(rel, "/"); ok && first == "usr" {
		if top, _, _ := strings.Cut(rest, "/"); swTopLevel[top] != "" {
			alts = append(alts, rest)
		}
	}
	if ps, cached := pk.(*PackageSet); cached && !strings.Contains(rel, "..") {
		return ps.findRel(alts)
	}
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		for _, a := range alts {
			if p := filepath.Join(d, a); lexists(p) {
				return n, a, p, true
			}
		}
	}
	return "", "", "", false
}

// findRel is findRel over the packages' cached directory trees: a path
// most packages lack is answered by their top directories' listings,
// read once, instead of a failed open per package and path (a no-op
// rebuild of a 500-package host looks up hundreds of paths in every
// package).
func (ps *PackageSet) findRel(alts []string) (name, found, phys string, ok bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.trees == nil {
		ps.trees = make([]*dirNode, len(ps.names))
	}
	for i, n := range ps.names {
		t := ps.trees[i]
		if t == nil {
			d, _ := ps.Dir(n)
			t = &dirNode{path: d}
			ps.trees[i] = t
		}
		for _, a := range alts {
			if t.has(a) {
				return n, a, filepath.Join(t.path, a), true
			}
		}
	}
	return "", "", "", false
}

// dirNode is a directory of a package, its entries read on first use.
type dirNode struct {
	path   string
	loaded bool
	kids   map[string]*dirNode // nil: missing or not a directory
}

// has says whether rel (slash-separated, clean) exists below n.
func (n *dirNode) has(rel string) bool {
	for rel != "" {
		comp, rest, _ := strings.Cut(rel, "/")
		rel = rest
		if comp == "" || comp == "." {
			continue
		}
		if !n.loaded {
			n.loaded = true
			if ents, err := os.ReadDir(n.path); err == nil {
				n.kids = make(map[string]*dirNode, len(ents))
				for _, e := range ents {
					n.kids[e.Name()] = nil
				}
			}
		}
		k, ok := n.kids[comp]
		if !ok {
			return false
		}
		if rel == "" {
			return true
		}
		if k == nil {
			k = &dirNode{path: n.path + "/" + comp}
			n.kids[comp] = k
		}
		n = k
	}
	return true
}

// has reports whether physical path p exists, reading each directory once:
// a plan looks up a few dozen paths in every package, and store paths
// never change.
func (ps *PackageSet) has(p string) bool {
	dir, base := filepath.Split(p)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.dirs == nil {
		ps.dirs = map[string]map[string]bool{}
	}
	names, ok := ps.dirs[dir]
	if !ok {
		if ents, err := os.ReadDir(dir); err == nil {
			names = make(map[string]bool, len(ents))
			for _, e := range ents {
				names[e.Name()] = true
			}
		}
		ps.dirs[dir] = names
	}
	return names[base]
}

// libDirs are the package directories holding shared libraries.
var libDirs = []string{
	"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu/systemd",
	"lib", "usr/lib",
}

// closureTool runs build-time programs from the locked packages on the
// build host, through the closure's own dynamic loader (DESIGN.md §9.4):
// no root, no chroot, and nothing from the host but the kernel.
type closureTool struct {
	loader  string // physical ld-linux-x86-64.so.2
	libPath string // --library-path
}

func newClosureTool(pk Packages) (*closureTool, error) {
	_, loader, ok := find(pk, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
	if !ok {
		return nil, fmt.Errorf("no dynamic loader (libc6) in the locked packages")
	}
	var dirs []string
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		for _, l := range libDirs {
			p := filepath.Join(d, l)
			if st, err := os.Lstat(p); err == nil && st.IsDir() {
				dirs = append(dirs, p)
			}
		}
	}
	return &closureTool{loader: loader, libPath: strings.Join(dirs, ":")}, nil
}

// command returns a command running program (physical path) with argv[0]
// set to argv0.
func (t *closureTool) command(ctx context.Context, program, argv0 string, args ...string) *exec.Cmd {
	a := append([]string{"--inhibit-cache", "--library-path", t.libPath, "--argv0", argv0, program}, args...)
	cmd := exec.CommandContext(ctx, t.loader, a...)
	cmd.Env = []string{"PATH=/nonexistent", "LC_ALL=C", "TZ=UTC", "SOURCE_DATE_EPOCH=1"}
	return cmd
}

// run runs the command and wraps its output into the error.
func runTool(cmd *exec.Cmd, what string) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", what, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// dirsHaving are the physical directories of the packages (in name
// order) holding rel.
func dirsHaving(pk Packages, rel string) []string {
	var out []string
	for _, n := range packagesHaving(pk, rel) {
		d, _ := pk.Dir(n)
		out = append(out, d)
	}
	return out
}

// packagesHaving names the packages (in name order) holding rel, answered
// from the packages' cached directory trees where pk has them: a scan for
// one directory over 500 packages costs no failed open per package.
func packagesHaving(pk Packages, rel string) []string {
	var out []string
	if ps, ok := pk.(*PackageSet); ok && !strings.Contains(rel, "..") {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		if ps.trees == nil {
			ps.trees = make([]*dirNode, len(ps.names))
		}
		for i, n := range ps.names {
			if ps.trees[i] == nil {
				d, _ := ps.Dir(n)
				ps.trees[i] = &dirNode{path: d}
			}
			if ps.trees[i].has(rel) {
				out = append(out, n)
			}
		}
		return out
	}
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		if lexists(filepath.Join(d, rel)) {
			out = append(out, n)
		}
	}
	return out
}
