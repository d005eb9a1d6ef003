package system

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

// What the packages' maintainer scripts declare (debian/maintscript)
// becomes part of the system here, below the configuration: accounts
// (after the packages' sysusers.d files, before the configured users),
// tmpfiles lines, alternatives, the units the postinst enables, wrappers
// and shells. The configuration overrides each: units "x" { enable =
// false }, users "x" {...}, and package_scripts "pkg" { enable = false }
// takes nothing from a package's scripts.

// scriptDecls is the analysis of the closure, for one system.
type scriptDecls struct {
	an []*maintscript.Analysis // name order
	// off are the packages whose package_scripts.enable is false: their
	// scripts declare nothing, but the tmpfiles.d files they ship are
	// still applied at boot.
	off []*maintscript.Analysis
}

// analyzeScripts reads every package's maintainer scripts as a fresh
// install on this system would run them. A package whose package_scripts
// has enable = false contributes nothing.
func analyzeScripts(sys *modules.System, pk Packages) (*scriptDecls, error) {
	return analyzeScriptsCached(sys, pk, "", "")
}

// analyzeScriptsCached is analyzeScripts with a cache: the analysis of
// one closure, host name and answers, by the kiln binary whose sum is
// kilnSum, is kept in dir as JSON (dir "" keeps nothing). A no-op
// rebuild reads it instead of parsing every script again.
func analyzeScriptsCached(sys *modules.System, pk Packages, dir, kilnSum string) (*scriptDecls, error) {
	var file string
	if dir != "" {
		h := sha256.New()
		fmt.Fprintf(h, "maintscript/1\x00%s\x00%s\x00", kilnSum, sys.Networking.HostName)
		for _, q := range sortedNames(sys.Debconf) {
			fmt.Fprintf(h, "answer\x00%s\x00%s\x00", q, sys.Debconf[q])
		}
		for _, n := range pk.Names() {
			sp, _ := pk.Path(n)
			fmt.Fprintf(h, "package\x00%s\x00", sp)
		}
		file = filepath.Join(dir, hex.EncodeToString(h.Sum(nil))+".json")
	}
	var an []*maintscript.Analysis
	if b, err := os.ReadFile(file); file != "" && err == nil && json.Unmarshal(b, &an) == nil {
		return pickScripts(sys, an), nil
	}
	an, err := auditScripts(pk, sys.Networking.HostName, sys.Debconf)
	if err != nil {
		return nil, fmt.Errorf("plan: maintainer scripts: %w", err)
	}
	if file != "" {
		if b, err := json.Marshal(an); err == nil && os.MkdirAll(dir, 0o755) == nil {
			_ = fsutil.WriteFile(file, b, 0o644) // a cache: a failed write costs time only
		}
	}
	return pickScripts(sys, an), nil
}

// pickScripts leaves out the packages whose package_scripts.enable is
// false.
func pickScripts(sys *modules.System, an []*maintscript.Analysis) *scriptDecls {
	d := &scriptDecls{}
	for _, a := range an {
		if ps, ok := sys.PackageScripts[a.Package]; ok && !ps.Enable {
			d.off = append(d.off, a)
			continue
		}
		d.an = append(d.an, a)
	}
	return d
}

// applyScripts adds the users, groups and members the scripts create,
// after the sysusers.d files (an account they define is kept) and before
// the configuration.
func (a *accounts) applyScripts(d *scriptDecls) {
	if d == nil {
		return
	}
	for _, an := range d.an {
		for _, g := range an.Groups {
			if a.groups[g.Name] != nil {
				continue
			}
			ng := &toplevel.Group{Name: g.Name}
			if n, err := strconv.Atoi(g.GID); err == nil {
				ng.GID = &n
			}
			a.groups[g.Name] = ng
		}
	}
	for _, an := range d.an {
		for _, u := range an.Users {
			if old := a.users[u.Name]; old != nil {
				if u.Change {
					changeUser(old, u)
				}
				continue
			}
			if u.Change {
				continue // an account the system does not have
			}
			nu := &toplevel.User{Name: u.Name, System: u.System, Group: u.Group, Groups: append([]string{}, u.Groups...),
				Home: u.Home, Shell: u.Shell, Description: u.Comment, CreateHome: u.CreateHome}
			if nu.Group == "" {
				nu.Group = u.Name
			}
			if nu.Home == "" {
				nu.Home = "/nonexistent"
			}
			if nu.Shell == "" {
				nu.Shell = "/usr/sbin/nologin"
			}
			if n, err := strconv.Atoi(u.UID); err == nil {
				nu.UID = &n
			}
			if a.groups[nu.Group] == nil {
				a.groups[nu.Group] = &toplevel.Group{Name: nu.Group}
			}
			a.users[u.Name] = nu
		}
	}
	for _, an := range d.an {
		for _, m := range an.Members {
			if g := a.groups[m.Group]; g != nil && a.users[m.User] != nil {
				g.Members = appendUnique(g.Members, m.User)
			}
		}
	}
	for _, u := range a.users {
		kept := u.Groups[:0]
		for _, g := range u.Groups {
			if a.groups[g] != nil {
				kept = append(kept, g)
			}
		}
		u.Groups = kept
	}
}

// changeUser applies usermod/chsh to an existing account.
func changeUser(u *toplevel.User, c maintscript.User) {
	if c.Home != "" {
		u.Home = c.Home
	}
	if c.Shell != "" {
		u.Shell = c.Shell
	}
	if c.Group != "" {
		u.Group = c.Group
	}
	u.Groups = appendUnique(u.Groups, c.Groups...)
}

// unitEnables lists the system units the scripts enable, with where
// each comes from; units the configuration disables are left out.
func (d *scriptDecls) unitEnables(sys *modules.System) []maintscript.Unit {
	if d == nil {
		return nil
	}
	var out []maintscript.Unit
	seen := map[string]bool{}
	for _, an := range d.an {
		for _, u := range an.Units {
			if u.Op != maintscript.Enable || u.UserUnit || u.SysV || seen[u.Name] {
				continue
			}
			if c, ok := sys.Units[u.Name]; ok && c.Enable != nil && !*c.Enable {
				continue
			}
			seen[u.Name] = true
			out = append(out, u)
		}
	}
	return out
}

// sysvEnables lists the init scripts (by name, without ".service") the
// scripts enable with update-rc.d that have no native unit:
// systemd-sysv-generator makes NAME.service of /etc/init.d/NAME when a
// start link in /etc/rc2.d … rc5.d names it. A later disable (update-rc.d
// NAME disable, defaults-disabled) or units.NAME.enable = false leaves
// one out.
func (d *scriptDecls) sysvEnables(sys *modules.System) []string {
	if d == nil {
		return nil
	}
	enabled := map[string]bool{}
	var order []string
	for _, an := range d.an {
		for _, u := range an.Units {
			if !u.SysV || u.UserUnit || (u.Op != maintscript.Enable && u.Op != maintscript.Disable) {
				continue
			}
			name := strings.TrimSuffix(u.Name, ".service")
			if _, seen := enabled[name]; !seen {
				order = append(order, name)
			}
			enabled[name] = u.Op == maintscript.Enable
		}
	}
	var out []string
	for _, name := range order {
		if c, ok := sys.Units[name+".service"]; ok && c.Enable != nil && !*c.Enable {
			continue
		}
		if enabled[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// alternatives chooses, per name, the highest-priority candidate of the
// closure (Debian's auto mode), unless the configuration names a path;
// the slaves follow their master, those whose file the closure lacks
// left out, as update-alternatives does. A link under /usr (after
// merging /bin, /sbin, /lib) is sw-relative; one under /etc keeps its
// absolute path (an etc symlink); others are left out.
func (d *scriptDecls) alternatives(sys *modules.System, pk Packages) ([]alternative, error) {
	var all []maintscript.Alternative
	if d != nil {
		for _, an := range d.an {
			all = append(all, an.Alternatives...)
		}
	}
	chosen := maintscript.Choose(all)
	byName := map[string]maintscript.Alternative{}
	for _, a := range chosen {
		byName[a.Name] = a
	}
	for _, name := range sortedNames(sys.Alternatives) {
		want := sys.Alternatives[name].Path
		if want == "" {
			continue
		}
		found := false
		for _, a := range all {
			if a.Name == name && a.Path == want {
				byName[name], found = a, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("alternatives %q: path %q is not a candidate of any locked package", name, want)
		}
	}
	var out []alternative
	seen := map[string]bool{}
	add := func(name, link, target string) {
		rel, ok := usrRelative(link)
		if strings.HasPrefix(link, "/etc/") {
			rel, ok = path.Clean(link), true // an etc link, not sw's
		}
		if !ok || seen[rel] {
			return
		}
		// (Manual pages are not looked up: a dangling link to one that
		// went to the documentation output is harmless.)
		if (strings.HasPrefix(target, "/usr/") || usrTop(target)) && !strings.HasPrefix(target, "/usr/share/man/") {
			if _, _, found := find(pk, strings.TrimPrefix(target, "/")); !found {
				return // update-alternatives skips a slave whose file is missing
			}
		}
		seen[rel] = true
		out = append(out, alternative{Name: name, Link: rel, Target: target})
	}
	for _, name := range orderedKeys(byName) {
		a := byName[name]
		add(a.Name, a.Link, a.Path)
		for _, s := range a.Slaves {
			add(s.Name, s.Link, s.Path)
		}
	}
	// The table covers packages whose scripts name no alternative.
	for _, t := range alternativeTable {
		if _, ok := byName[t.name]; ok {
			continue
		}
		for _, c := range t.candidates {
			if _, _, ok := find(pk, strings.TrimPrefix(c, "/")); ok {
				add(t.name, "/usr/"+t.link, c)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Link < out[j].Link })
	return out, nil
}

// usrTop says whether an absolute path is under /bin, /sbin, /lib... (in
// /usr once merged).
func usrTop(p string) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return swTopLevel[first] != ""
}

// usrRelative turns an absolute link under /usr, /bin, /sbin or /lib into
// its sw-relative path ("bin/awk").
func usrRelative(link string) (string, bool) {
	link = path.Clean(link)
	if rest, ok := strings.CutPrefix(link, "/usr/"); ok {
		return rest, true
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(link, "/"), "/")
	if swTopLevel[first] != "" {
		return strings.TrimPrefix(link, "/"), true
	}
	return "", false
}

// tmpfiles is the text of tmpfiles.d/kiln-packages.conf: what the scripts'
// mkdir, chown, chmod and dpkg-statoverride did to /var, /run, /srv and
// /etc paths, one line per path. A line naming a user or group the system
// lacks is an error; a mode on an /etc file kiln links is applied by
// copying that entry instead (copies lists them).
func (d *scriptDecls) tmpfiles(pk Packages, a *accounts, etc map[string]bool) (text []byte, copies map[string]maintscript.Tmpfile, err error) {
	if d == nil {
		return nil, nil, nil
	}
	if err := d.checkShippedOwners(a); err != nil {
		return nil, nil, err
	}
	var b strings.Builder
	copies = map[string]maintscript.Tmpfile{}
	seen := map[string]bool{}
	for _, an := range d.an {
		for _, t := range an.Tmpfiles {
			if t.Shipped || seen[t.Path] {
				continue
			}
			seen[t.Path] = true
			if rel, ok := strings.CutPrefix(t.Path, "/etc/"); ok && etc[rel] {
				copies[rel] = t
				continue
			}
			if u := field(t.User); u != "-" && !isNumeric(u) && a.users[u] == nil {
				return nil, nil, fmt.Errorf("%s: tmpfiles %s: no user %q", t.From[0], t.Path, u)
			}
			if g := field(t.Group); g != "-" && !isNumeric(g) && a.groups[g] == nil {
				return nil, nil, fmt.Errorf("%s: tmpfiles %s: no group %q", t.From[0], t.Path, g)
			}
			if t.Type == "z" && shipsDir(pk, t.Path) {
				// kiln-var.conf's "d" for the directory would be a
				// duplicate line, ignored: create it here, with the owner.
				t.Type = "d"
			}
			fmt.Fprintf(&b, "# %s\n", oneLineSource(t.From[0]))
			mode, err := tmpfilesMode(t.Mode, t.Type == "d" || t.Type == "D" || t.Type == "z" && strings.ContainsAny(t.Mode, "+-=") && shipsDir(pk, t.Path))
			if err != nil {
				return nil, nil, fmt.Errorf("%s: tmpfiles %s: %w", t.From[0], t.Path, err)
			}
			fmt.Fprintf(&b, "%s %s %s %s %s %s", t.Type, tmpfilesEscape(t.Path), mode, field(t.User), field(t.Group), field(t.Age))
			if t.Argument != "" {
				fmt.Fprintf(&b, " %s", t.Argument)
			}
			b.WriteString("\n")
		}
	}
	if b.Len() == 0 {
		return nil, copies, nil
	}
	return []byte("# Made by kiln from the packages' maintainer scripts.\n" + b.String()), copies, nil
}

// checkShippedOwners fails when a tmpfiles.d file a package ships names
// a user or group the system lacks: systemd-tmpfiles would skip that
// line at every boot and switch (exit 65, a failed
// systemd-tmpfiles-setup.service), leaving the package's directory
// without its owner. It happens when the script that makes the account is
// not taken (package_scripts enable = false), and the error says so.
func (d *scriptDecls) checkShippedOwners(a *accounts) error {
	var errs []string
	check := func(an *maintscript.Analysis, off bool) {
		for _, t := range an.Tmpfiles {
			if !t.Shipped {
				continue
			}
			for _, o := range [][3]string{{"user", field(t.User)}, {"group", field(t.Group)}} {
				name := strings.TrimPrefix(o[1], ":") // ":" applies it on creation only
				if name == "-" || name == "root" || isNumeric(name) || strings.Contains(name, "%") {
					continue
				}
				if o[0] == "user" && a.users[name] != nil || o[0] == "group" && a.groups[name] != nil {
					continue
				}
				msg := fmt.Sprintf("%s %s line %d: tmpfiles %s: no %s %q on this system", an.Package, t.From[0].Script, t.From[0].Line, t.Path, o[0], name)
				if off {
					msg += fmt.Sprintf(" (package_scripts %q { enable = false } leaves out the scripts that make it: keep them, ignore only the actions the package works without, or declare %ss %q)", an.Package, o[0], name)
				} else {
					msg += fmt.Sprintf(" (no package script or configuration makes it: declare %ss %q)", o[0], name)
				}
				errs = append(errs, msg)
			}
		}
	}
	for _, an := range d.an {
		check(an, false)
	}
	for _, an := range d.off {
		check(an, true)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// shipsDir says whether a package ships the directory p (under var/).
func shipsDir(pk Packages, p string) bool {
	_, phys, ok := find(pk, strings.TrimPrefix(p, "/"))
	if !ok {
		return false
	}
	st, err := os.Stat(phys)
	return err == nil && st.IsDir()
}

func field(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func isNumeric(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// oneLineSource is a source for a comment: no newlines.
func oneLineSource(s maintscript.Source) string {
	return strings.ReplaceAll(s.String(), "\n", " ")
}

// wrappers are the setuid and setgid programs the scripts make
// (dpkg-statoverride, chmod u+s) or give capabilities (setcap) among
// the files a locked package ships.
func (d *scriptDecls) wrappers(pk Packages) ([]plannedWrapper, error) {
	if d == nil {
		return nil, nil
	}
	var out []plannedWrapper
	seen := map[string]bool{}
	for _, an := range d.an {
		for _, w := range an.Wrappers {
			if (w.Mode == "" && w.Capabilities == "") || seen[w.Path] {
				continue
			}
			name, rel, phys, ok := findRel(pk, strings.TrimPrefix(w.Path, "/"))
			if !ok || !regularFileExists(phys) {
				continue
			}
			mode := "0755"
			if w.Mode != "" {
				var err error
				if mode, err = scriptMode(w.Mode); err != nil {
					return nil, fmt.Errorf("%s: %s: %w", oneLineSource(w.From), w.Path, err)
				}
			}
			if w.Capabilities != "" {
				if _, err := toplevel.ParseCapabilities(w.Capabilities); err != nil {
					return nil, fmt.Errorf("%s: %s: %w", oneLineSource(w.From), w.Path, err)
				}
			} else if !setIDMode(mode) {
				continue // the mode drops the bits: the program stays as the store has it
			}
			seen[w.Path] = true
			sp, _ := pk.Path(name)
			out = append(out, plannedWrapper{
				Wrapper: toplevel.Wrapper{Name: path.Base(w.Path), Source: sp.String() + "/" + rel,
					Owner: orRoot(w.Owner), Group: orRoot(w.Group), Mode: mode, Capabilities: w.Capabilities},
				pkg: name, rel: rel, from: oneLineSource(w.From),
			})
		}
	}
	return out, nil
}

// The bits of a symbolic mode's who (u, g, o, a: with the set-id bit
// that goes with it) and of its permissions (s, t: the special bits).
var (
	symbolicWho   = map[rune]uint64{'u': 0o4700, 'g': 0o2070, 'o': 0o0007, 'a': 0o6777}
	symbolicPerms = map[rune]uint64{'r': 0o444, 'w': 0o222, 'x': 0o111, 's': 0o6000, 't': 0o1000}
)

// scriptMode is the four-digit octal mode a script's chmod or
// dpkg-statoverride leaves on a program: octal as given, or a symbolic
// mode ("u+s", "g=rxs") applied to the 0755 of an executable.
func scriptMode(m string) (string, error) {
	if v, err := strconv.ParseUint(m, 8, 32); err == nil && v <= 0o7777 {
		return fmt.Sprintf("%04o", v), nil
	}
	v := uint64(0o755)
	for _, clause := range strings.Split(m, ",") {
		i := strings.IndexAny(clause, "+-=")
		if i < 0 {
			return "", fmt.Errorf("mode %q: not octal or symbolic", m)
		}
		who, op, perms := clause[:i], clause[i], clause[i+1:]
		if who == "" {
			who = "a"
		}
		var mask, bits uint64
		for _, c := range who {
			b, ok := symbolicWho[c]
			if !ok {
				return "", fmt.Errorf("mode %q: who %q", m, c)
			}
			mask |= b
		}
		for _, c := range perms {
			b, ok := symbolicPerms[c]
			if !ok {
				return "", fmt.Errorf("mode %q: permission %q", m, c)
			}
			bits |= b
		}
		bits &= mask | 0o1000
		switch op {
		case '+':
			v |= bits
		case '-':
			v &^= bits
		case '=':
			v = v&^mask | bits
		}
	}
	return fmt.Sprintf("%04o", v), nil
}

// shells are the login shells the scripts add (add-shell).
func (d *scriptDecls) shells() []string {
	if d == nil {
		return nil
	}
	var out []string
	for _, an := range d.an {
		for _, s := range an.Shells {
			out = appendUnique(out, s.Path)
		}
	}
	return out
}

// shippedTmpfiles are the paths the packages' own tmpfiles.d files make.
func (d *scriptDecls) shippedTmpfiles() map[string]bool {
	out := map[string]bool{}
	if d == nil {
		return out
	}
	for _, an := range d.an {
		for _, t := range an.Tmpfiles {
			if t.Shipped {
				out[t.Path] = true
			}
		}
	}
	return out
}

// declaresCache says whether a package's scripts rebuild the cache name
// (at install or from a trigger).
func (d *scriptDecls) declaresCache(name string) bool {
	if d == nil {
		return false
	}
	for _, an := range d.an {
		for _, c := range an.Caches {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}
