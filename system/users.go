package system

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

// Users and groups come from three places: the packages' sysusers.d
// files (Debian's basic.conf carries base-passwd's table), what their
// maintainer scripts create (adduser, addgroup...: scripts.go), an
// account defined earlier being kept, and the configuration, which wins.

type accounts struct {
	users  map[string]*toplevel.User
	groups map[string]*toplevel.Group
}

func newAccounts() *accounts {
	return &accounts{users: map[string]*toplevel.User{}, groups: map[string]*toplevel.Group{}}
}

// packageAccounts reads every usr/lib/sysusers.d/*.conf (and lib/...) of
// the packages, in file name order as systemd-sysusers does, the first
// definition of a name winning.
func packageAccounts(pk Packages) (*accounts, error) {
	files := map[string]string{} // base name → path; the first package wins
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		for _, dir := range []string{"usr/lib/sysusers.d", "lib/sysusers.d"} {
			m, _ := filepath.Glob(filepath.Join(d, dir, "*.conf"))
			for _, f := range m {
				if _, ok := files[filepath.Base(f)]; !ok {
					files[filepath.Base(f)] = f
				}
			}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	a := newAccounts()
	var members [][2]string
	for _, n := range names {
		b, err := os.ReadFile(files[n])
		if err != nil {
			return nil, fmt.Errorf("read sysusers: %w", err)
		}
		m, err := a.parseSysusers(string(b))
		if err != nil {
			return nil, fmt.Errorf("sysusers %s: %w", files[n], err)
		}
		members = append(members, m...)
	}
	for _, m := range members {
		if g := a.groups[m[1]]; g != nil {
			g.Members = append(g.Members, m[0])
		}
	}
	return a, nil
}

// parseSysusers reads one sysusers.d file; "m" lines are returned to be
// applied after every group exists.
func (a *accounts) parseSysusers(text string) (members [][2]string, err error) {
	gidName := func(id string) string {
		for _, g := range a.groups {
			if g.GID != nil && strconv.Itoa(*g.GID) == id {
				return g.Name
			}
		}
		return ""
	}
	for i, line := range strings.Split(text, "\n") {
		f, err := splitSysusers(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if len(f) == 0 {
			continue
		}
		for len(f) < 6 {
			f = append(f, "-")
		}
		typ, name, id := f[0], f[1], f[2]
		switch typ {
		case "g":
			if a.groups[name] != nil {
				continue
			}
			g := &toplevel.Group{Name: name}
			if n, err := strconv.Atoi(id); err == nil {
				g.GID = &n
			}
			a.groups[name] = g
		case "u":
			if a.users[name] != nil {
				continue
			}
			u := &toplevel.User{Name: name, Group: name, System: true, Home: "/", Shell: "/usr/sbin/nologin", Groups: []string{}}
			uid, gid, _ := strings.Cut(id, ":")
			if n, err := strconv.Atoi(uid); err == nil {
				u.UID = &n
			}
			switch {
			case gid != "" && gidName(gid) != "":
				u.Group = gidName(gid)
			case gid != "" && a.groups[gid] != nil:
				u.Group = gid
			default:
				if a.groups[name] == nil {
					g := &toplevel.Group{Name: name}
					if u.UID != nil && !strings.HasPrefix(uid, "/") {
						n := *u.UID
						g.GID = &n
					}
					a.groups[name] = g
				}
			}
			if f[3] != "-" {
				u.Description = f[3]
			}
			if f[4] != "-" {
				u.Home = f[4]
			}
			if f[5] != "-" {
				u.Shell = f[5]
			}
			a.users[name] = u
		case "m":
			members = append(members, [2]string{name, id})
		case "r":
		default:
			return nil, fmt.Errorf("unknown line type %q", typ)
		}
	}
	return members, nil
}

// splitSysusers splits a sysusers.d line into fields, honouring double
// quotes; comments and blank lines give no fields.
func splitSysusers(line string) ([]string, error) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return nil, nil
	}
	var out []string
	for line != "" {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			break
		}
		if line[0] == '"' {
			end := strings.IndexByte(line[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote")
			}
			out = append(out, line[1:end+1])
			line = line[end+2:]
			continue
		}
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		out = append(out, line[:end])
		line = line[end:]
	}
	return out, nil
}

// applyConfig layers the configured users and groups over the packages'.
func (a *accounts) applyConfig(sys *modules.System) error {
	for _, name := range orderedKeys(sys.Groups) {
		g := a.groups[name]
		if g == nil {
			g = &toplevel.Group{Name: name}
			a.groups[name] = g
		}
		if gid := sys.Groups[name].GID; gid != nil {
			n := *gid
			g.GID = &n
		}
	}
	for _, name := range orderedKeys(sys.Users) {
		c := sys.Users[name]
		u := a.users[name]
		if u == nil {
			u = &toplevel.User{Name: name, Groups: []string{}, Shell: "/usr/sbin/nologin"}
			if !c.System {
				u.Shell = "/bin/bash"
				u.Home = "/home/" + name
				u.Group = "users"
				u.CreateHome = true
			} else {
				u.Home = "/"
				u.Group = name
			}
			a.users[name] = u
		}
		u.System = u.System || c.System
		if c.UID != nil {
			n := *c.UID
			u.UID = &n
		}
		if c.Group != "" {
			u.Group = c.Group
		}
		if c.Home != "" {
			u.Home = c.Home
			u.CreateHome = !c.System || u.CreateHome
		}
		if c.Shell != "" {
			u.Shell = c.Shell
		}
		u.Groups = appendUnique(u.Groups, c.Groups...)
		u.HashedPasswordFile = c.HashedPasswordFile
		if c.HashedPasswordSecret != "" {
			if c.HashedPasswordFile != "" {
				return fmt.Errorf("user %q: set hashed_password_file or hashed_password_secret, not both", name)
			}
			if _, ok := sys.Secrets[c.HashedPasswordSecret]; !ok {
				return fmt.Errorf("user %q: hashed_password_secret %q: no such secret (declare secrets %q { file = ... })", name, c.HashedPasswordSecret, c.HashedPasswordSecret)
			}
			u.HashedPasswordFile = toplevel.SecretsDir + "/" + c.HashedPasswordSecret
		}
		if a.groups[u.Group] == nil {
			if u.Group != name {
				return optionErrorf("users."+name+".group", fmt.Errorf("user %q: primary group %q is not declared", name, u.Group))
			}
			a.groups[name] = &toplevel.Group{Name: name}
		}
		for _, g := range c.Groups {
			if a.groups[g] == nil {
				return optionErrorf("users."+name+".groups", fmt.Errorf("user %q: group %q is not declared%s", name, g, nearGroup(g, a.groups)))
			}
		}
	}
	return nil
}

// checkReferences refuses a service user no package or configuration
// declares, and two accounts (of a package or the configuration) with one
// id: the first activation would write both, and every later one fail.
func (a *accounts) checkReferences(sys *modules.System) error {
	for _, name := range orderedKeys(sys.Services) {
		u := sys.Services[name].User
		if _, err := strconv.Atoi(u); u == "" || err == nil {
			continue
		}
		if a.users[u] == nil {
			return fmt.Errorf("services %q: user %q: no users block and no package in the closure declares it", name, u)
		}
	}
	uids := map[int]string{}
	for _, n := range orderedKeys(a.users) {
		if id := a.users[n].UID; id != nil {
			if other, dup := uids[*id]; dup {
				return fmt.Errorf("users %q: uid %d is also user %s's", n, *id, other)
			}
			uids[*id] = n
		}
	}
	gids := map[int]string{}
	for _, n := range orderedKeys(a.groups) {
		if id := a.groups[n].GID; id != nil {
			if other, dup := gids[*id]; dup {
				return fmt.Errorf("groups %q: gid %d is also group %s's", n, *id, other)
			}
			gids[*id] = n
		}
	}
	return nil
}

// spec returns the users and groups sorted by name, with members sorted.
func (a *accounts) spec() ([]toplevel.User, []toplevel.Group) {
	var us []toplevel.User
	for _, n := range orderedKeys(a.users) {
		u := *a.users[n]
		if u.Groups == nil {
			u.Groups = []string{}
		}
		us = append(us, u)
	}
	var gs []toplevel.Group
	for _, n := range orderedKeys(a.groups) {
		g := *a.groups[n]
		g.Members = appendUnique(nil, g.Members...)
		sort.Strings(g.Members)
		if g.Members == nil {
			g.Members = []string{}
		}
		gs = append(gs, g)
	}
	return us, gs
}

func appendUnique(list []string, add ...string) []string {
	for _, a := range add {
		dup := false
		for _, l := range list {
			dup = dup || l == a
		}
		if !dup {
			list = append(list, a)
		}
	}
	return list
}

func orderedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
