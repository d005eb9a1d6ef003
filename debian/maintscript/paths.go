package maintscript

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// area is where a path lives, which decides what a change to it becomes.
type area int

const (
	areaState area = iota // /var, /run, /srv, /home, /opt: tmpfiles entries
	areaEtc               // /etc: files (etc entries) and tmpfiles directories
	areaStore             // /usr, /bin, /sbin, /lib: read-only store paths
	areaTemp              // /tmp and mktemp's files: scratch
	areaLocal             // /usr/local: the admin's, not kiln's
	areaOther             // relative, /dev, /proc, /boot...
)

func areaOf(v value) area {
	if v.temp > 0 {
		return areaTemp
	}
	p := v.s
	switch {
	case !v.known || !path.IsAbs(p):
		return areaOther
	case under(p, "/etc"):
		return areaEtc
	case under(p, "/var/tmp"), under(p, "/tmp"):
		return areaTemp
	case under(p, "/var"), under(p, "/run"), under(p, "/srv"), under(p, "/home"), under(p, "/opt"), under(p, "/root"),
		under(p, "/mnt"), under(p, "/media"):
		return areaState
	case under(p, "/usr/local"):
		return areaLocal
	case under(p, "/usr"), under(p, "/bin"), under(p, "/sbin"), under(p, "/lib"), under(p, "/lib64"):
		return areaStore
	}
	return areaOther
}

// localReason is why changes to /usr/local need nothing: on kiln /usr is
// the generation's read-only tree, and /usr/local is the admin's business.
const localReason = "/usr/local: kiln's /usr is the generation's read-only tree; local software is the admin's"

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// tmpfile returns this analysis's (not shipped) entry for p, making one of
// type typ when there is none.
func (cl *call) tmpfile(p, typ string) *Tmpfile {
	an := cl.in.an
	src := cl.source()
	for i := range an.Tmpfiles {
		t := &an.Tmpfiles[i]
		if t.Path == p && !t.Shipped {
			if !hasSource(t.From, src) {
				t.From = append(t.From, src)
			}
			if typ == "d" || typ == "f" {
				if t.Type == "z" || t.Type == "Z" {
					t.Type = typ
				}
			}
			return t
		}
	}
	an.Tmpfiles = append(an.Tmpfiles, Tmpfile{Type: typ, Path: p, From: []Source{src}})
	return &an.Tmpfiles[len(an.Tmpfiles)-1]
}

// file returns this analysis's File for p, or nil.
func (cl *call) file(p string) *File {
	for i := range cl.in.an.Files {
		if cl.in.an.Files[i].Path == p {
			return &cl.in.an.Files[i]
		}
	}
	return nil
}

func (cl *call) addFile(f File) {
	f.From = []Source{cl.source()}
	if old := cl.file(f.Path); old != nil {
		from := old.From
		if !hasSource(from, f.From[0]) {
			from = append(from, f.From[0])
		}
		*old = f
		old.From = from
	} else {
		cl.in.an.Files = append(cl.in.an.Files, f)
	}
	if f.Kind == Link {
		cl.in.facts.makeLink(f.Path, f.Target)
	} else {
		cl.in.facts.make(f.Path, 'f')
	}
}

func hasSource(list []Source, s Source) bool {
	for _, x := range list {
		if x.Script == s.Script && x.Line == s.Line && x.Command == s.Command && strings.Join(x.Via, ",") == strings.Join(s.Via, ",") {
			return true
		}
	}
	return false
}

// paths checks a command's path arguments, all resolved, and makes
// relative ones absolute against the working directory (cd).
func (cl *call) paths(vs []value) bool {
	for i, v := range vs {
		if v.temp > 0 {
			continue
		}
		if !v.known {
			cl.unhandled(fmt.Sprintf("%s of a path the analysis cannot resolve: %s", cl.name, v.s))
			return false
		}
		if !path.IsAbs(v.s) {
			if !cl.e.cwd.known {
				cl.unhandled(fmt.Sprintf("%s of a relative path in a directory the analysis cannot resolve: %s", cl.name, v.s))
				return false
			}
			vs[i] = lit(path.Join(cl.e.cwd.s, v.s))
		}
	}
	return true
}

var modeValued = map[string]bool{"m": true, "mode": true, "o": true, "owner": true, "g": true, "group": true,
	"t": true, "target-directory": true, "S": true, "suffix": true, "context": false, "Z": false}

func mkdir(cl *call) tri {
	o := parseOptions(cl.args, modeValued)
	return makeDirs(cl, o.pos, o)
}

// makeDirs is mkdir -p and install -d: directories under /var and /etc
// become tmpfiles "d" entries.
func makeDirs(cl *call, dirs []value, o options) tri {
	if !cl.paths(dirs) {
		return maybe
	}
	mode, _ := o.get("m", "mode")
	owner, _ := o.get("o", "owner")
	group, _ := o.get("g", "group")
	for _, d := range dirs {
		switch areaOf(d) {
		case areaTemp:
			continue
		case areaLocal:
			cl.ignore(localReason)
			continue
		case areaStore:
			if cl.in.facts.test("-d", d.s) == yes {
				cl.ignore("the directory exists in the closure already")
			} else {
				cl.addFile(File{Path: path.Clean(d.s), Kind: Directory})
			}
			continue
		case areaOther:
			cl.unhandled("makes a directory outside /etc, /usr and /var: " + d.s)
			return maybe
		}
		p := path.Clean(d.s)
		t := cl.tmpfile(p, "d")
		setOwner(&t.Mode, mode.s)
		setOwner(&t.User, owner.s)
		setOwner(&t.Group, group.s)
		for q := p; q != "/" && q != "."; q = path.Dir(q) {
			if k, _ := cl.in.facts.kind(q); k == 0 {
				cl.in.facts.make(q, 'd')
			}
		}
	}
	return yes
}

func setOwner(field *string, v string) {
	if v != "" {
		*field = v
	}
}

// install is coreutils' install: -d makes directories; otherwise it
// copies a file with a mode and owner.
func install(cl *call) tri {
	o := parseOptions(cl.args, modeValued)
	if o.has("d", "directory") {
		return makeDirs(cl, o.pos, o)
	}
	if len(o.pos) != 2 {
		cl.unhandled("install of several files")
		return maybe
	}
	r := copyFile(cl, o.pos[0], o.pos[1])
	// A secret made on the machine gets its mode from the same command.
	if r == yes && !(o.pos[0].known && randomSource[path.Clean(o.pos[0].s)]) {
		mode, _ := o.get("m", "mode")
		owner, _ := o.get("o", "owner")
		group, _ := o.get("g", "group")
		cl.chmodOwn(o.pos[1], mode.s, owner.s, group.s, false)
	}
	return r
}

func touch(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"d": true, "r": true, "t": true, "date": true, "reference": true})
	if !cl.paths(o.pos) {
		return maybe
	}
	for _, p := range o.pos {
		switch areaOf(p) {
		case areaTemp:
		case areaState, areaEtc:
			cl.tmpfile(path.Clean(p.s), "f")
			cl.in.facts.make(p.s, 'f')
		case areaStore:
			if cl.in.facts.test("-e", p.s) == yes {
				cl.ignore("touches a file the closure ships: only its time changes")
			} else {
				cl.addFile(File{Path: path.Clean(p.s), Kind: Content})
			}
		case areaLocal:
			cl.ignore(localReason)
		default:
			cl.unhandled("touches a file outside /etc, /usr and /var: " + p.s)
			return maybe
		}
	}
	return yes
}

func chown(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"reference": true, "from": true})
	if len(o.pos) < 2 || !cl.paths(o.pos[1:]) {
		return maybe
	}
	if !o.pos[0].known && !allLocal(o.pos[1:]) {
		cl.unhandled(cl.name + " to an owner the analysis cannot resolve: " + o.pos[0].s)
		return maybe
	}
	if allLocal(o.pos[1:]) {
		cl.ignore(localReason)
		return yes
	}
	owner, group, _ := strings.Cut(o.pos[0].s, ":")
	if cl.name == "chgrp" {
		owner, group = "", o.pos[0].s
	} else if g, ok := strings.CutPrefix(o.pos[0].s, "."); ok { // old chown .group
		owner, group = "", g
	} else if u, g, ok := strings.Cut(o.pos[0].s, "."); ok && group == "" && !strings.Contains(o.pos[0].s, ":") && u != "" && g != "" {
		owner, group = u, g // old chown user.group (snmpd's)
	}
	// An account that does not exist fails the command: postfix's
	// `chgrp postfix private 2>/dev/null || addgroup --system postfix`
	// makes the group on a fresh install.
	if owner != "" && !isDigits(owner) && cl.in.account(cl.in.hasUser(owner)) == no ||
		group != "" && !isDigits(group) && cl.in.account(cl.in.hasGroup(group)) == no {
		return no
	}
	for _, p := range o.pos[1:] {
		if !cl.chmodOwn(p, "", owner, group, o.has("R", "recursive")) {
			return maybe
		}
	}
	return yes
}

func allLocal(vs []value) bool {
	for _, v := range vs {
		if areaOf(v) != areaLocal {
			return false
		}
	}
	return len(vs) > 0
}

func chmod(cl *call) tri {
	// A mode like -w or -x is a mode, not an option.
	var mode value
	var rest []value
	recursive := false
	for _, a := range cl.args {
		switch {
		case a.known && (a.s == "-R" || a.s == "--recursive"):
			recursive = true
		case a.known && (a.s == "-f" || a.s == "-v" || a.s == "-c" || a.s == "--quiet" || a.s == "--silent"):
		case mode.s == "":
			mode = a
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) > 0 && cl.paths(rest) && allLocal(rest) {
		cl.ignore(localReason)
		return yes
	}
	if !mode.known || len(rest) == 0 || !cl.paths(rest) {
		if !mode.known {
			cl.unhandled("chmod to a mode the analysis cannot resolve: " + mode.s)
		}
		return maybe
	}
	for _, p := range rest {
		if !cl.chmodOwn(p, mode.s, "", "", recursive) {
			return maybe
		}
	}
	return yes
}

// chmodOwn applies a mode and owner to p: folded into the File or
// tmpfiles entry this analysis made for it, or a tmpfiles "z"/"Z"
// adjustment of what the package ships. In the store it is a wrapper
// when it grants setuid or setgid, and unhandled otherwise.
func (cl *call) chmodOwn(pv value, mode, owner, group string, recursive bool) bool {
	switch areaOf(pv) {
	case areaTemp:
		return true
	case areaLocal:
		cl.ignore(localReason)
		return true
	case areaStore:
		if f := cl.file(path.Clean(pv.s)); f != nil {
			setOwner(&f.Mode, mode)
			setOwner(&f.User, owner)
			setOwner(&f.Group, group)
			return true
		}
		if cl.in.facts.test("-d", pv.s) == yes {
			cl.ignore("restricts a directory of the store, which is root-owned and world-readable by design (docs/design.md §3): " + pv.s)
			return true
		}
		cl.wrapper(Wrapper{Path: path.Clean(pv.s), Mode: mode, Owner: owner, Group: group})
		return true
	case areaOther:
		cl.unhandled("changes the owner or mode of a path outside /etc and /var: " + pv.s)
		return false
	}
	p := path.Clean(pv.s)
	if recursive || cl.firstRunMade(p) {
		cl.firstRunThen(p)
	}
	if f := cl.file(p); f != nil {
		setOwner(&f.Mode, mode)
		setOwner(&f.User, owner)
		setOwner(&f.Group, group)
		if src := cl.source(); !hasSource(f.From, src) {
			f.From = append(f.From, src)
		}
		return true
	}
	typ := "z"
	if recursive {
		typ = "Z"
	}
	t := cl.tmpfile(p, typ)
	if recursive && t.Type == "z" {
		t.Type = "Z"
	}
	setOwner(&t.Mode, mode)
	setOwner(&t.User, owner)
	setOwner(&t.Group, group)
	return true
}

// wrapper adds w, or merges it into this analysis's wrapper of the path.
func (cl *call) wrapper(w Wrapper) {
	for i := range cl.in.an.Wrappers {
		old := &cl.in.an.Wrappers[i]
		if old.Path == w.Path {
			setOwner(&old.Mode, w.Mode)
			setOwner(&old.Owner, w.Owner)
			setOwner(&old.Group, w.Group)
			setOwner(&old.Capabilities, w.Capabilities)
			return
		}
	}
	w.From = cl.source()
	cl.in.an.Wrappers = append(cl.in.an.Wrappers, w)
}

// setid reports whether a mode (octal or symbolic) sets setuid or setgid.
func setid(mode string) bool {
	if strings.ContainsAny(mode, "+=") {
		_, perms, _ := strings.Cut(strings.NewReplacer("=", "+").Replace(mode), "+")
		return strings.Contains(perms, "s")
	}
	m := mode
	for len(m) > 4 && m[0] == '0' {
		m = m[1:]
	}
	return len(m) == 4 && m[0] >= '2' && m[0] <= '7' // a setuid or setgid bit
}

// statoverride is dpkg-statoverride: --add records an owner and mode
// dpkg applies to the path (a wrapper in the store, a tmpfiles entry
// elsewhere); --list prints the overrides an earlier --add made (a fresh
// system has no others).
func statoverride(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"admindir": true, "root": true, "instdir": true})
	switch {
	case o.has("list"):
		return cl.listOverrides(o.pos)
	case o.has("remove"):
		cl.ignore("removes a stat override: a fresh system has none")
		return yes
	case o.has("add"):
		if len(o.pos) != 4 || !cl.paths(o.pos[3:]) {
			if len(o.pos) != 4 {
				cl.unhandled("dpkg-statoverride --add without USER GROUP MODE PATH")
			}
			return maybe
		}
		if !cl.chmodOwn(o.pos[3], o.pos[2].s, o.pos[0].s, o.pos[1].s, false) {
			return maybe
		}
		p := path.Clean(o.pos[3].s)
		cl.in.overrides[p] = strings.Join([]string{o.pos[0].s, o.pos[1].s, o.pos[2].s, p}, " ")
		return yes
	}
	cl.unhandled("dpkg-statoverride without --add, --remove or --list")
	return maybe
}

// listOverrides is dpkg-statoverride --list [GLOB...]: the lines of the
// overrides whose path matches a pattern (every one without patterns),
// succeeding when there is one. Its output is known when the patterns
// are, so "dpkg-statoverride --list PAT | while read ..." (exim4-base)
// iterates over exactly those lines: none on a fresh install.
func (cl *call) listOverrides(globs []value) tri {
	var out []string
	for p, line := range cl.in.overrides {
		match := len(globs) == 0
		for _, g := range globs {
			if !g.known {
				return no // prints what the analysis cannot tell
			}
			if ok, _ := path.Match(g.s, p); ok {
				match = true
			}
		}
		if match {
			out = append(out, line)
		}
	}
	sort.Strings(out)
	v := lit(joinLines(out))
	cl.out = &v
	if len(out) == 0 {
		return no
	}
	return yes
}

// setcap grants file capabilities: a capability wrapper.
func setcap(cl *call) tri {
	var pos []value
	for _, a := range cl.args {
		if a.known && (a.s == "-q" || a.s == "-v" || a.s == "-n") {
			continue
		}
		if a.known && a.s == "-r" {
			cl.ignore("removes file capabilities: none in the store")
			return yes
		}
		pos = append(pos, a)
	}
	// setcap takes one or more CAPS PATH pairs.
	if len(pos) == 0 || len(pos)%2 != 0 {
		cl.unhandled("setcap without CAPS PATH")
		return maybe
	}
	for i := 0; i < len(pos); i += 2 {
		if !pos[i].known {
			cl.unhandled("setcap of capabilities the analysis cannot resolve: " + pos[i].s)
			return maybe
		}
		if !cl.paths(pos[i+1 : i+2]) {
			return maybe
		}
	}
	for i := 0; i < len(pos); i += 2 {
		cl.wrapper(Wrapper{Path: path.Clean(pos[i+1].s), Capabilities: pos[i].s})
	}
	return yes
}

// isDigits says whether s is a numeric uid or gid.
func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
