package maintscript

import (
	"fmt"
	"strings"
)

// options parses getopt-style arguments: long options (--name, --name=v,
// and for some commands -name) and bundled short ones (-rM, -aG grp).
// valued names take a value. Unknown or unresolved options are kept with
// an empty value; positional arguments are returned in order.
type options struct {
	set map[string]value
	pos []value
}

func parseOptions(args []value, valued map[string]bool) options {
	o := options{set: map[string]value{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a.known && a.s == "--":
			o.pos = append(o.pos, args[i+1:]...)
			return o
		case a.known && strings.HasPrefix(a.s, "--"):
			name, v, eq := strings.Cut(a.s[2:], "=")
			if eq {
				o.set[name] = lit(v)
			} else if valued[name] && i+1 < len(args) {
				i++
				o.set[name] = args[i]
			} else {
				o.set[name] = lit("")
			}
		case a.known && len(a.s) > 1 && a.s[0] == '-':
			for j := 1; j < len(a.s); j++ {
				name := a.s[j : j+1]
				if !valued[name] {
					o.set[name] = lit("")
					continue
				}
				if j+1 < len(a.s) {
					o.set[name] = lit(a.s[j+1:])
				} else if i+1 < len(args) {
					i++
					o.set[name] = args[i]
				}
				break
			}
		default:
			o.pos = append(o.pos, a)
		}
	}
	return o
}

func (o options) has(names ...string) bool {
	for _, n := range names {
		if _, ok := o.set[n]; ok {
			return true
		}
	}
	return false
}

// get is the first of names that is set.
func (o options) get(names ...string) (value, bool) {
	for _, n := range names {
		if v, ok := o.set[n]; ok {
			return v, true
		}
	}
	return value{}, false
}

// unresolved names the first positional or option value that is unknown.
func (o options) unresolved() string {
	for _, v := range o.pos {
		if !v.known {
			return v.s
		}
	}
	for _, v := range o.set {
		if !v.known {
			return v.s
		}
	}
	return ""
}

var adduserValued = map[string]bool{
	"home": true, "shell": true, "uid": true, "gid": true, "ingroup": true, "gecos": true,
	"comment": true, "firstuid": true, "lastuid": true, "firstgid": true, "lastgid": true,
	"conf": true, "c": true, "extrausers": false,
}

// adduser is Debian's adduser and addgroup (adduser 3.134's defaults: a
// system user's home is /nonexistent, made only when --home names
// another and --no-create-home is not given; its primary group is
// nogroup unless --group, --ingroup or --gid says otherwise; its shell
// is /usr/sbin/nologin).
func adduser(cl *call) tri {
	o := parseOptions(cl.args, adduserValued)
	if u := o.unresolved(); u != "" {
		cl.unhandled(fmt.Sprintf("%s with an argument the analysis cannot resolve: %s", cl.name, u))
		return maybe
	}
	isGroup := cl.name == "addgroup" || (o.has("group") && !o.has("system"))
	switch {
	case len(o.pos) == 2:
		cl.member(o.pos[0].s, o.pos[1].s)
		return yes
	case len(o.pos) != 1:
		cl.unhandled(fmt.Sprintf("%s with %d names", cl.name, len(o.pos)))
		return maybe
	case isGroup:
		gid, _ := o.get("gid")
		cl.group(o.pos[0].s, o.has("system"), gid.s)
		return yes
	}
	name := o.pos[0].s
	if o.has("system") && cl.in.hasUser(name) && !cl.in.facts.madeHere(name) {
		cl.ignore("the system account " + name + " exists already (base-passwd's): adduser leaves it as it is")
		return yes
	}
	u := User{Name: name, System: o.has("system"), Shell: "/usr/sbin/nologin", Home: "/nonexistent"}
	if !u.System {
		u.Shell, u.Home, u.CreateHome = "/bin/bash", "/home/"+name, true
	}
	if v, ok := o.get("uid"); ok {
		u.UID = v.s
	}
	switch {
	case o.has("group"):
		cl.group(name, true, "")
	case o.has("ingroup"):
		u.Group = o.set["ingroup"].s
	case o.has("gid"):
		u.Group = o.set["gid"].s
	case u.System:
		u.Group = "nogroup"
	default:
		cl.group(name, false, "")
	}
	if v, ok := o.get("home"); ok {
		u.Home = v.s
		u.CreateHome = !o.has("no-create-home") && !strings.HasPrefix(v.s, "/nonexistent")
	}
	if o.has("no-create-home") {
		u.CreateHome = false
	}
	if v, ok := o.get("shell"); ok {
		u.Shell = v.s
	}
	if v, ok := o.get("gecos", "comment"); ok {
		u.Comment = v.s
	}
	cl.user(u)
	return yes
}

var useraddValued = map[string]bool{
	"d": true, "home-dir": true, "s": true, "shell": true, "g": true, "gid": true, "G": true,
	"groups": true, "u": true, "uid": true, "c": true, "comment": true, "K": true, "key": true,
	"k": true, "skel": true, "p": true, "password": true, "e": true, "expiredate": true,
	"f": true, "inactive": true, "b": true, "base-dir": true, "R": true, "root": true,
}

// useradd is shadow's useradd (login.defs' USERGROUPS_ENAB: a group of
// the user's name unless -g or -N; no home made without -m).
func useradd(cl *call) tri {
	o := parseOptions(cl.args, useraddValued)
	if u := o.unresolved(); u != "" {
		cl.unhandled("useradd with an argument the analysis cannot resolve: " + u)
		return maybe
	}
	if len(o.pos) != 1 {
		cl.unhandled(fmt.Sprintf("useradd with %d names", len(o.pos)))
		return maybe
	}
	name := o.pos[0].s
	u := User{Name: name, System: o.has("r", "system"), Home: "/home/" + name, Shell: "/bin/sh"}
	if v, ok := o.get("d", "home-dir"); ok {
		u.Home = v.s
	}
	u.CreateHome = o.has("m", "create-home")
	if v, ok := o.get("s", "shell"); ok {
		u.Shell = v.s
	}
	if v, ok := o.get("u", "uid"); ok {
		u.UID = v.s
	}
	if v, ok := o.get("c", "comment"); ok {
		u.Comment = v.s
	}
	if v, ok := o.get("G", "groups"); ok {
		u.Groups = strings.Split(v.s, ",")
	}
	switch v, ok := o.get("g", "gid"); {
	case ok:
		u.Group = v.s
	case o.has("N", "no-user-group"):
		u.Group = "users"
	default:
		cl.group(name, u.System, "")
	}
	cl.user(u)
	return yes
}

func groupadd(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"g": true, "gid": true, "K": true, "key": true, "R": true, "root": true, "p": true, "password": true})
	if u := o.unresolved(); u != "" || len(o.pos) != 1 {
		cl.unhandled("groupadd with names the analysis cannot resolve")
		return maybe
	}
	gid, _ := o.get("g", "gid")
	cl.group(o.pos[0].s, o.has("r", "system"), gid.s)
	return yes
}

// usermod: -a -G adds memberships; -s, -d, -c and -g change the account.
func usermod(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"G": true, "groups": true, "d": true, "home": true,
		"s": true, "shell": true, "g": true, "gid": true, "c": true, "comment": true, "u": true, "l": true,
		"e": true, "expiredate": true})
	if u := o.unresolved(); u != "" || len(o.pos) != 1 {
		cl.unhandled("usermod with arguments the analysis cannot resolve")
		return maybe
	}
	name := o.pos[0].s
	change := User{Name: name, Change: true}
	changed := false
	for opt, field := range map[string]*string{"s": &change.Shell, "shell": &change.Shell, "d": &change.Home,
		"home": &change.Home, "c": &change.Comment, "comment": &change.Comment, "g": &change.Group, "gid": &change.Group} {
		if v, ok := o.set[opt]; ok {
			*field, changed = v.s, true
		}
	}
	for k := range o.set {
		switch k {
		case "a", "append", "G", "groups", "s", "shell", "d", "home", "c", "comment", "g", "gid", "m", "move-home":
		case "L", "lock":
			cl.ignore("locks an account: kiln's system accounts have no password")
			return yes
		case "U", "unlock", "e", "expiredate":
			// ceph-common's "in case it is locked from an uninstall".
			if v, ok := o.get("e", "expiredate"); ok && v.s != "" && v.s != "-1" {
				cl.unhandled("usermod -e sets an expiry date")
				return maybe
			}
		default:
			cl.unhandled("usermod -" + k)
			return maybe
		}
	}
	if v, ok := o.get("G", "groups"); ok {
		for _, g := range strings.Split(v.s, ",") {
			cl.member(name, g)
		}
	}
	if changed {
		cl.user(change)
	}
	if _, ok := o.get("U", "unlock"); ok {
		cl.ignore("unlocks an account: kiln's system accounts have no password and never expire, so nothing is locked")
	} else if _, ok := o.get("e", "expiredate"); ok {
		cl.ignore("clears an account's expiry date: kiln's system accounts never expire")
	}
	return yes
}

func gpasswd(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"a": true, "add": true, "d": true, "delete": true})
	if v, ok := o.get("a", "add"); ok && len(o.pos) == 1 && v.known && o.pos[0].known {
		cl.member(v.s, o.pos[0].s)
		return yes
	}
	cl.unhandled("gpasswd changes a group")
	return maybe
}

// deluser and the like remove accounts: on a fresh install there is
// none to remove (they run on purge).
func deluser(cl *call) tri {
	cl.ignore("removes an account: a fresh system has none to remove")
	return yes
}

// getent and id ask whether an account exists: yes for one the analysis
// saw made, otherwise it may exist (another package made it) or not.
func getent(cl *call) tri {
	if len(cl.args) < 2 {
		return maybe
	}
	db, name := cl.args[0].s, cl.args[1]
	if !name.known {
		return maybe
	}
	switch db {
	case "passwd":
		return cl.in.account(cl.in.hasUser(name.s))
	case "group":
		return cl.in.account(cl.in.hasGroup(name.s))
	}
	return maybe
}

// account answers whether an account exists: yes when base-passwd or a
// script made it; otherwise no, when the closure and base-passwd's
// table in it (root's account) are known.
func (r *run) account(made bool) tri {
	if made {
		return yes
	}
	if r.facts.closure == nil || !r.facts.users["root"] {
		return maybe
	}
	return no
}

func idCommand(cl *call) tri {
	o := parseOptions(cl.args, nil)
	if len(o.pos) == 0 {
		if o.has("u", "g") {
			v := lit("0")
			cl.out = &v
		}
		return yes
	}
	if !o.pos[0].known {
		return maybe
	}
	if cl.in.hasUser(o.pos[0].s) && (o.has("u", "g")) {
		v := unknown("$(id)") // the id kiln allocates
		cl.out = &v
	}
	return cl.in.account(cl.in.hasUser(o.pos[0].s))
}

func (r *run) hasUser(name string) bool  { return r.facts.users[name] }
func (r *run) hasGroup(name string) bool { return r.facts.groups[name] }

func (cl *call) user(u User) {
	u.From = cl.source()
	cl.in.facts.users[u.Name] = true
	cl.in.facts.scriptUsers[u.Name] = true
	if cl.in.once(u) {
		cl.in.an.Users = append(cl.in.an.Users, u)
	}
}

func (cl *call) group(name string, system bool, gid string) {
	g := Group{Name: name, System: system, GID: gid, From: cl.source()}
	cl.in.facts.groups[name] = true
	if cl.in.once(g) {
		cl.in.an.Groups = append(cl.in.an.Groups, g)
	}
}

func (cl *call) member(user, group string) {
	m := Member{User: user, Group: group, From: cl.source()}
	if cl.in.once(m) {
		cl.in.an.Members = append(cl.in.an.Members, m)
	}
}
