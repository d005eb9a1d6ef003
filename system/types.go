// Package system turns a merged configuration (modules.System) and a
// kiln.lock into store paths: the sw symlink forest over the locked
// packages, the /etc tree, kernel modules, the initrd, activation.json,
// boot.json (the contracts of package toplevel) and the toplevel that ties
// them together.
//
// Build is the one pipeline every verb that needs a system calls: lock,
// configuration, realized packages, plan, audit, build. Building itself is
// split in two: PlanBuild computes, without touching the store, the store
// path of every part from the hashes of its inputs (a BuildPlan);
// ApplyBuild realizes the parts whose paths are not yet valid. The package
// never prints (warnings and progress are data and callbacks) and never
// runs maintainer scripts: what they would have done is generated
// declaratively (DESIGN.md §9).
package system

import (
	"io/fs"
	"os"

	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// Packages is the set of locked packages, unpacked into the store.
type Packages interface {
	// Path returns the logical store path of a package, e.g.
	// /kiln/store/<hash>-openssh-server-1_9.2p1-2.
	Path(name string) (store.Path, bool)
	// Dir returns the physical directory of a package in the store, to
	// read its files at build time.
	Dir(name string) (string, bool)
	// Names lists every locked package name, sorted.
	Names() []string
}

// EtcEntry is one file of the generated /etc. Exactly one of Data, Source
// or Target says what it holds. Entries are layered: when two have the same
// Path, the later one wins.
type EtcEntry struct {
	Path   string           // relative to /etc, slash-separated, no leading slash
	Data   []byte           // content, or
	Source string           // a file on the build host to copy (physical path), or
	Target string           // a symlink target (Kind toplevel.EtcSymlink, or a link inside the etc tree)
	Kind   toplevel.EtcKind // toplevel.EtcLink (default when empty), toplevel.EtcCopy or toplevel.EtcSymlink
	Mode   fs.FileMode      // for toplevel.EtcCopy (and the executable bit of toplevel.EtcLink files)
	User   string           // for toplevel.EtcCopy; empty: root
	Group  string           // for toplevel.EtcCopy; empty: root
}

// content is what /etc will hold at the entry's path: its data, or its
// source file's content; false for a link (a target, no content here).
func (e EtcEntry) content() ([]byte, bool, error) {
	switch {
	case e.Source != "":
		b, err := os.ReadFile(e.Source)
		return b, err == nil, err
	case e.Target != "":
		return nil, false, nil
	}
	return e.Data, true, nil
}
