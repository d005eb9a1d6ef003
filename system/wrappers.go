package system

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/toplevel"
)

// plannedWrapper is a setuid or setgid wrapper and where it comes from.
type plannedWrapper struct {
	toplevel.Wrapper
	pkg  string // the package shipping the program
	rel  string // the program, package-relative
	from string // why: the package's own mode, or the script line
}

// planWrappers makes a wrapper for every setuid and setgid program of the
// closure, as dpkg would leave it: the modes the packages ship (their
// debian.SetIDFile) and those their scripts set (dpkg-statoverride, chmod
// u+s), the script's winning as dpkg-statoverride does on Debian. Each
// wrapper's name is the program's base name in /run/wrappers/bin, first
// on PATH; the forest links the program's own /usr path to it too, so
// that a program run by its full path (cron's /usr/sbin/sendmail, ssh's
// ssh-keysign, mount's /sbin/mount.nfs) is the wrapper as well.
func (p *BuildPlan) planWrappers() error {
	ws, err := p.scripts.wrappers(p.pk)
	if err != nil {
		return fmt.Errorf("plan wrappers: %w", err)
	}
	seen := map[string]bool{} // pkg + "\x00" + rel
	for _, w := range ws {
		seen[w.pkg+"\x00"+w.rel] = true
	}
	shipped, err := packageSetIDs(p.pk)
	if err != nil {
		return fmt.Errorf("plan wrappers: %w", err)
	}
	for _, w := range shipped {
		if !seen[w.pkg+"\x00"+w.rel] {
			ws = append(ws, w)
		}
	}
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Name < ws[j].Name })
	names := map[string]bool{}
	kept := ws[:0]
	for _, w := range ws {
		names[w.Name] = true
		if o, ok := p.sys.Wrappers[w.Name]; !ok || o.Enable {
			kept = append(kept, w)
		}
	}
	ws = kept
	for _, n := range sortedNames(p.sys.Wrappers) {
		if !names[n] {
			return optionErrorf("wrappers."+n+".enable", fmt.Errorf("wrappers %q: no setuid or setgid program of the closure has this name", n))
		}
	}
	for i, w := range ws {
		if i > 0 && ws[i-1].Name == w.Name {
			return fmt.Errorf("plan wrappers: setuid programs %s/%s and %s/%s would share /run/wrappers/bin/%s", ws[i-1].pkg, ws[i-1].rel, w.pkg, w.rel, w.Name)
		}
		if err := p.acc.checkOwner(w.Owner, w.Group); err != nil {
			return fmt.Errorf("plan wrappers: %s/%s (%s): %w", w.pkg, w.rel, w.from, err)
		}
	}
	p.wrappers = ws
	return nil
}

// packageSetIDs reads the setuid and setgid files every package ships.
func packageSetIDs(pk Packages) ([]plannedWrapper, error) {
	var out []plannedWrapper
	for _, n := range packagesHaving(pk, debian.SetIDFile) {
		d, _ := pk.Dir(n)
		sp, _ := pk.Path(n)
		b, err := os.ReadFile(filepath.Join(d, debian.SetIDFile))
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", n, err)
		}
		for i, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			f := strings.SplitN(l, "\t", 4)
			if len(f) != 4 || !setIDMode(f[0]) {
				return nil, fmt.Errorf("package %s: %s line %d: %q is not MODE OWNER GROUP PATH", n, debian.SetIDFile, i+1, l)
			}
			out = append(out, plannedWrapper{
				Wrapper: toplevel.Wrapper{Name: path.Base(f[3]), Source: sp.String() + "/" + f[3], Owner: f[1], Group: f[2], Mode: f[0]},
				pkg:     n, rel: f[3], from: "shipped " + f[0] + " " + f[1] + ":" + f[2],
			})
		}
	}
	return out, nil
}

// setIDMode says whether m is four octal digits with a setuid or setgid
// bit.
func setIDMode(m string) bool {
	v, err := strconv.ParseUint(m, 8, 32)
	return err == nil && len(m) == 4 && v&0o6000 != 0
}

// checkOwner says whether a wrapper's owner and group exist (a name the
// system declares, or a number).
func (a *accounts) checkOwner(owner, group string) error {
	if _, err := strconv.Atoi(owner); err != nil && a.users[owner] == nil {
		return fmt.Errorf("owner %q is not a user of the system", owner)
	}
	if _, err := strconv.Atoi(group); err != nil && a.groups[group] == nil {
		return fmt.Errorf("group %q is not a group of the system", group)
	}
	return nil
}

// redirectWrapped links, in the forest, each wrapped program's /usr path
// to its wrapper.
func (p *BuildPlan) redirectWrapped(f *forest) error {
	for _, w := range p.wrappers {
		if dst, ok := forestPath(w.rel); ok {
			if err := f.redirect(dst, wrappersBin+"/"+w.Name); err != nil {
				return fmt.Errorf("%s: %w", w.pkg, err)
			}
		}
	}
	return nil
}

// wrappersBin is where the wrappers are on the machine
// (activation.WrappersDir/bin).
const wrappersBin = "/run/wrappers/bin"
