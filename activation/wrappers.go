package activation

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/toplevel"
)

// WrappersDir is where setuid wrappers live on a running machine; bin is a
// symlink swapped atomically to a fresh wrappers.* directory.
const WrappersDir = "/run/wrappers"

// WrappersPlan is the set of wrappers ApplyWrappers makes.
type WrappersPlan struct {
	Wrappers []toplevel.Wrapper `json:"wrappers"`
	sources  map[string]string  // name → host path of the resolved source
}

// String prints the plan.
func (p WrappersPlan) String() string {
	var b strings.Builder
	for _, w := range p.Wrappers {
		caps := ""
		if w.Capabilities != "" {
			caps = " " + w.Capabilities
		}
		fmt.Fprintf(&b, "wrapper %s <- %s (%s %s:%s%s)\n", w.Name, w.Source, w.Mode, w.Owner, w.Group, caps)
	}
	if b.Len() == 0 {
		return "wrappers: none\n"
	}
	return b.String()
}

// PlanWrappers resolves each wrapper's source under root as the machine
// will see it once top is current: /usr, /bin, /lib… in top's sw forest,
// the store's symlinks followed under root.
func PlanWrappers(root string, spec *toplevel.ActivationSpec, top string) (WrappersPlan, error) {
	p := WrappersPlan{Wrappers: append([]toplevel.Wrapper{}, spec.Wrappers...), sources: map[string]string{}}
	sort.Slice(p.Wrappers, func(i, j int) bool { return p.Wrappers[i].Name < p.Wrappers[j].Name })
	for _, w := range p.Wrappers {
		src, err := resolveIn(root, intoToplevel(top, w.Source))
		if err != nil {
			return WrappersPlan{}, fmt.Errorf("wrapper %s: %w", w.Name, err)
		}
		fi, err := os.Stat(src)
		if err != nil {
			return WrappersPlan{}, fmt.Errorf("wrapper %s: source %s: %w", w.Name, w.Source, err)
		}
		if !fi.Mode().IsRegular() {
			return WrappersPlan{}, fmt.Errorf("wrapper %s: source %s is not a regular file", w.Name, w.Source)
		}
		p.sources[w.Name] = src
	}
	return p, nil
}

// ApplyWrappers copies each source into a new directory under
// root/run/wrappers with its owner and mode, points bin at it and removes
// the previous directories. Owners are resolved from root's passwd and
// group.
func ApplyWrappers(root string, plan WrappersPlan) error {
	base := under(root, WrappersDir)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return fmt.Errorf("apply wrappers: %w", err)
	}
	ids, err := readIDLookup(root)
	if err != nil {
		return fmt.Errorf("apply wrappers: %w", err)
	}
	if wrappersCurrent(filepath.Join(base, "bin"), plan, ids) {
		return nil
	}
	dir, err := os.MkdirTemp(base, "wrappers.")
	if err != nil {
		return fmt.Errorf("apply wrappers: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("apply wrappers: %w", err)
	}
	for _, w := range plan.Wrappers {
		if err := makeWrapper(dir, w, plan.sources[w.Name], ids); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("wrapper %s: %w", w.Name, err)
		}
	}
	if err := fsutil.Symlink(filepath.Base(dir), filepath.Join(base, "bin")); err != nil {
		return fmt.Errorf("apply wrappers: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(base, "wrappers.*"))
	var errs []error
	for _, o := range old {
		if o != dir {
			errs = append(errs, os.RemoveAll(o))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("apply wrappers: remove old wrappers: %w", err)
	}
	return nil
}

func makeWrapper(dir string, w toplevel.Wrapper, src string, ids *idLookup) error {
	if src == "" {
		return errors.New("not planned (use PlanWrappers)")
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	owner, group := orRoot(w.Owner), orRoot(w.Group)
	uid, ok := ids.uid(owner)
	if !ok {
		return fmt.Errorf("owner %q not in /etc/passwd", owner)
	}
	gid, ok := ids.gid(group)
	if !ok {
		return fmt.Errorf("group %q not in /etc/group", group)
	}
	mode, err := toplevel.ParseMode(w.Mode)
	if err != nil {
		return err
	}
	want, err := wrapperXattr(w)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, w.Name)
	if err := fsutil.WriteFileOwned(p, data, mode, uid, gid); err != nil {
		return err
	}
	if want == nil {
		return nil
	}
	// After the owner: a chown clears file capabilities.
	if err := unix.Setxattr(p, toplevel.XattrName, want, 0); err != nil {
		return fmt.Errorf("set capabilities %s: %w", w.Capabilities, err)
	}
	return nil
}

// wrapperXattr is the security.capability value a wrapper carries (nil:
// none).
func wrapperXattr(w toplevel.Wrapper) ([]byte, error) {
	if w.Capabilities == "" {
		return nil, nil
	}
	c, err := toplevel.ParseCapabilities(w.Capabilities)
	if err != nil {
		return nil, err
	}
	return c.Xattr(), nil
}

// hasXattr says whether file p carries exactly want as its
// security.capability (want nil: none).
func hasXattr(p string, want []byte) bool {
	buf := make([]byte, 64)
	n, err := unix.Getxattr(p, toplevel.XattrName, buf)
	if want == nil {
		return err != nil
	}
	return err == nil && bytes.Equal(buf[:n], want)
}

// wrappersCurrent reports whether bin already holds exactly the planned
// wrappers (names, content, mode, owner), so a re-activation rewrites
// nothing.
func wrappersCurrent(bin string, plan WrappersPlan, ids *idLookup) bool {
	ents, err := os.ReadDir(bin)
	if err != nil || len(ents) != len(plan.Wrappers) {
		return false
	}
	for _, w := range plan.Wrappers {
		p := filepath.Join(bin, w.Name)
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return false
		}
		mode, err := toplevel.ParseMode(w.Mode)
		uid, uok := ids.uid(orRoot(w.Owner))
		gid, gok := ids.gid(orRoot(w.Group))
		if err != nil || !uok || !gok || fi.Mode() != mode || !ownedBy(fi, uid, gid) {
			return false
		}
		have, err1 := os.ReadFile(p)
		want, err2 := os.ReadFile(plan.sources[w.Name])
		if err1 != nil || err2 != nil || !bytes.Equal(have, want) {
			return false
		}
		if x, err := wrapperXattr(w); err != nil || !hasXattr(p, x) {
			return false
		}
	}
	return true
}

func orRoot(s string) string {
	if s == "" {
		return "root"
	}
	return s
}
