package debian

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/internal/suggest"
	"github.com/kiln-os/kiln/internal/versioned"
	"github.com/kiln-os/kiln/store"
)

// LockVersion is the version of the kiln.lock format this package writes.
// Version 2 added host; a version 1 lock reads as one written for no
// host file in particular.
const LockVersion = 2

// LockFile is the default system's lock file name, and the one lock of a
// directory before per-host locks (HostLockFile).
const LockFile = "kiln.lock"

// HostLockFile is the lock file name of a host file: web1.hcl is locked in
// web1.lock beside it.
func HostLockFile(hostFile string) string {
	base := filepath.Base(hostFile)
	return strings.TrimSuffix(base, filepath.Ext(base)) + ".lock"
}

// DefaultPackages are the Debian packages of kiln's default system (the
// Essential ones come on top). The module system replaces this list with
// what a configuration asks for.
var DefaultPackages = []string{
	"linux-image-cloud-amd64", "systemd", "systemd-boot-efi", "udev", "dbus",
	"openssh-server", "dash", "bash", "coreutils", "libc-bin", "grep", "sed",
	"findutils", "ncurses-base", "gzip", "hostname", "mawk", "login", "passwd",
	"util-linux", "kmod", "iproute2", "procps", "libpam-modules",
	"libpam-runtime", "base-files", "base-passwd", "less", "tzdata",
}

// Lock is kiln.lock: the inputs (suites) as fetched and every package of
// the closure, pinned by sha256. It names no mirror: any mirror serves,
// the hashes guarantee the bytes.
type Lock struct {
	Version int `json:"version"`
	// Host is the base name of the host file the lock was written for
	// ("" for the default system, and in a version 1 lock). A lock is
	// never overwritten for another host file.
	Host     string           `json:"host,omitempty"`
	Inputs   map[string]Input `json:"inputs"` // keyed by suite
	Roots    Roots            `json:"roots"`
	Packages []LockedPackage  `json:"packages"` // sorted by name
}

// Roots is what the lock was resolved for; a build compares it with what
// its configuration wants to tell a stale lock.
type Roots struct {
	Packages   []string          `json:"packages"`
	Prefer     map[string]string `json:"prefer"`
	Recommends bool              `json:"recommends,omitempty"` // Request.Recommends
}

// LockedPackage is one pinned .deb.
type LockedPackage struct {
	Name      string   `json:"name"`
	Version   string   `json:"version"`
	Arch      string   `json:"arch"`
	Filename  string   `json:"filename"` // pool path, relative to the suite's archive root
	SHA256    string   `json:"sha256"`
	Size      int64    `json:"size"`
	Suite     string   `json:"suite"`
	Essential bool     `json:"essential,omitempty"`
	Depends   []string `json:"depends,omitempty"` // the locked packages it pulled in
	// Recommended are those of Depends its Recommends pulled in
	// (install_recommends).
	Recommended []string `json:"recommended,omitempty"`
}

// NewLock records a resolution of req over inputs.
func NewLock(inputs map[string]Input, req Request, res *Resolution) *Lock {
	prefer := req.Prefer
	if prefer == nil {
		prefer = DefaultPrefer
	}
	l := &Lock{
		Version: LockVersion,
		Inputs:  inputs,
		Roots:   Roots{Packages: slices.Clone(req.Packages), Prefer: prefer, Recommends: req.Recommends},
	}
	for _, name := range res.Names() {
		p := res.Packages[name]
		l.Packages = append(l.Packages, LockedPackage{
			Name: p.Name, Version: p.Version, Arch: p.Architecture, Filename: p.Filename,
			SHA256: p.SHA256, Size: p.Size, Suite: p.Suite, Essential: p.Essential,
			Depends: slices.Clone(p.Depends), Recommended: slices.Clone(p.Recommended),
		})
	}
	return l
}

// Matches reports whether the lock was resolved for req: same wanted
// names (in any order), the same prefer map, Recommends followed or not.
func (l *Lock) Matches(req Request) bool {
	prefer := req.Prefer
	if prefer == nil {
		prefer = DefaultPrefer
	}
	a, b := slices.Clone(l.Roots.Packages), slices.Clone(req.Packages)
	sort.Strings(a)
	sort.Strings(b)
	if !slices.Equal(a, b) || len(l.Roots.Prefer) != len(prefer) || l.Roots.Recommends != req.Recommends {
		return false
	}
	for k, v := range prefer {
		if l.Roots.Prefer[k] != v {
			return false
		}
	}
	return true
}

// Package returns the locked package called name.
func (l *Lock) Package(name string) (LockedPackage, bool) {
	i, ok := slices.BinarySearchFunc(l.Packages, name, func(p LockedPackage, n string) int { return strings.Compare(p.Name, n) })
	if !ok {
		return LockedPackage{}, false
	}
	return l.Packages[i], true
}

// StorePath returns the store path a locked package unpacks to. It is
// computed from the lock alone, without downloading anything.
func (l *Lock) StorePath(name string) (store.Path, bool) {
	p, ok := l.Package(name)
	if !ok {
		return store.Path{}, false
	}
	sp, err := p.StorePath()
	return sp, err == nil
}

// StorePath returns the store path the package unpacks to, its main
// output: FixedPath("deb/3", sha256, name-version). It holds everything
// but the documentation (see SplitDocs); "/2" since the split, "/3"
// since SetIDFile.
func (p LockedPackage) StorePath() (store.Path, error) {
	return store.FixedPath("deb/3", p.SHA256, p.Name+"-"+sanitizeVersion(p.Version))
}

// DocStorePath returns the store path of the package's documentation
// output, FixedPath("deb-doc/2", sha256, name-version-doc), as Nix's
// multiple outputs do. It exists only when the package has
// documentation: the main output then holds DocMarker.
func (p LockedPackage) DocStorePath() (store.Path, error) {
	return store.FixedPath("deb-doc/2", p.SHA256, p.Name+"-"+sanitizeVersion(p.Version)+"-doc")
}

// sanitizeVersion maps a Debian version onto store name characters
// (epoch colons and tildes become underscores).
func sanitizeVersion(v string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("+-._", r):
			return r
		}
		return '_'
	}, v)
}

// Why returns a shortest chain of locked packages from a root (a wanted
// package or an Essential one) to name, following the depends edges.
func (l *Lock) Why(name string) ([]string, error) {
	if _, ok := l.Package(name); !ok {
		return nil, fmt.Errorf("%w %q: not in the lock%s", ErrUnknownPackage, name, l.nearNames(name))
	}
	prev := map[string]string{}
	var queue []string
	root := func(n string) {
		if _, seen := prev[n]; !seen {
			if _, ok := l.Package(n); ok {
				prev[n] = ""
				queue = append(queue, n)
			}
		}
	}
	for _, n := range l.Roots.Packages {
		root(n)
	}
	for _, p := range l.Packages {
		if p.Essential {
			root(p.Name)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n == name {
			var chain []string
			for c := n; c != ""; c = prev[c] {
				chain = append([]string{c}, chain...)
			}
			return chain, nil
		}
		p, _ := l.Package(n)
		for _, d := range p.Depends {
			if _, seen := prev[d]; !seen {
				prev[d] = n
				queue = append(queue, d)
			}
		}
	}
	return nil, fmt.Errorf("%s is locked but no root leads to it", name)
}

// Closure returns the part of the lock that names need: those packages,
// every Essential one (a Debian system's base, as Resolve seeds it) and
// everything they depend on, following the locked depends edges. Its
// roots are names. A name the lock does not hold is an ErrUnknownPackage
// naming every such name, with near names the lock does hold.
func (l *Lock) Closure(names []string) (*Lock, error) {
	out := &Lock{Version: l.Version, Inputs: l.Inputs, Roots: Roots{Packages: slices.Clone(names), Prefer: l.Roots.Prefer}}
	keep := map[string]bool{}
	var queue, unknown []string
	for _, n := range names {
		if _, ok := l.Package(n); !ok {
			unknown = append(unknown, fmt.Sprintf("%q%s", n, l.nearNames(n)))
			continue
		}
		queue = append(queue, n)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w %s: not in the lock", ErrUnknownPackage, strings.Join(unknown, ", "))
	}
	for _, p := range l.Packages {
		if p.Essential {
			queue = append(queue, p.Name)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if keep[n] {
			continue
		}
		keep[n] = true
		p, _ := l.Package(n)
		queue = append(queue, p.Depends...)
	}
	for _, p := range l.Packages {
		if keep[p.Name] {
			out.Packages = append(out.Packages, p)
		}
	}
	return out, nil
}

// nearNames suggests a locked name close to name.
func (l *Lock) nearNames(name string) string {
	names := make([]string, len(l.Packages))
	for i, p := range l.Packages {
		names[i] = p.Name
	}
	if best := suggest.Closest(name, names, 2); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// Marshal returns the lock as indented JSON with a final newline.
func (l *Lock) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l); err != nil {
		return nil, fmt.Errorf("encode lock: %w", err)
	}
	return b.Bytes(), nil
}

// Write writes the lock to file atomically.
func (l *Lock) Write(file string) error {
	data, err := l.Marshal()
	if err != nil {
		return err
	}
	return fsutil.WriteFile(file, data, 0o644)
}

// maxLockSize bounds a kiln.lock (a whole desktop locks about 2,000
// packages in well under 1 MiB).
const maxLockSize = 64 << 20

// ReadLock reads a kiln.lock, refusing versions it does not know (and a
// named pipe or device in its place).
func ReadLock(file string) (*Lock, error) {
	data, err := fsutil.ReadRegular(file, maxLockSize)
	if err != nil {
		return nil, fmt.Errorf("read lock: %w", err)
	}
	l, err := ParseLock(data)
	if err != nil {
		return nil, fmt.Errorf("read lock %s: %w", file, err)
	}
	return l, nil
}

// ParseLock parses the JSON of a kiln.lock.
func ParseLock(data []byte) (*Lock, error) {
	l := &Lock{}
	if _, err := versioned.Decode(data, LockVersion, l); err != nil {
		return nil, err
	}
	if !slices.IsSortedFunc(l.Packages, func(a, b LockedPackage) int { return strings.Compare(a.Name, b.Name) }) {
		return nil, errors.New("packages are not sorted by name")
	}
	for _, p := range l.Packages {
		if len(p.SHA256) != 64 || p.Filename == "" || strings.Contains(p.Filename, "..") || strings.HasPrefix(p.Filename, "/") {
			return nil, fmt.Errorf("package %s: bad sha256 or filename", p.Name)
		}
		for _, d := range p.Depends {
			if _, ok := l.Package(d); !ok {
				return nil, fmt.Errorf("package %s depends on %s, which is not locked", p.Name, d)
			}
		}
	}
	return l, nil
}

// ResolveLock resolves req against a's verified indices (Load, Resolve)
// and returns the lock that pins the result (NewLock).
func (a *Archive) ResolveLock(ctx context.Context, req Request) (*Lock, error) {
	u, inputs, err := a.Load(ctx)
	if err != nil {
		return nil, err
	}
	res, err := Resolve(u, req)
	if err != nil {
		return nil, err
	}
	return NewLock(inputs, req, res), nil
}

// Changes lists what l adds ("+ NAME VERSION"), removes ("- …") and
// upgrades or downgrades ("~ NAME OLD → NEW") compared with old, sorted
// by name.
func (l *Lock) Changes(old *Lock) []string {
	var lines []string
	for _, p := range l.Packages {
		o, ok := old.Package(p.Name)
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("+ %s %s", p.Name, p.Version))
		case o.Version != p.Version:
			lines = append(lines, fmt.Sprintf("~ %s %s → %s", p.Name, o.Version, p.Version))
		}
	}
	for _, o := range old.Packages {
		if _, ok := l.Package(o.Name); !ok {
			lines = append(lines, fmt.Sprintf("- %s %s", o.Name, o.Version))
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i][2:] < lines[j][2:] })
	return lines
}
