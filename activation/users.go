package activation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/toplevel"
)

// Id ranges (Debian's: system ids below 1000, users from 1000).
const (
	firstSystemID = 999 // allocated downward
	lastSystemID  = 100
	firstUserID   = 1000 // allocated upward
	lastUserID    = 59999
)

const lockedShell = "/usr/sbin/nologin"

// UsersPlan is what ApplyUsers writes: the new passwd, group, shadow and
// gshadow (password hashes are read from hashed_password_file only when
// applying, never kept in the plan), ids.json and new home directories.
type UsersPlan struct {
	Changes  []string `json:"changes"` // human-readable, in order: groups, users, locks, homes
	Warnings []string `json:"warnings,omitempty"`

	passwd, group, shadow, gshadow *table
	ids                            IDs
	passwordFiles                  map[string]string // user → hashed_password_file
	homes                          []homeDir
}

type homeDir struct {
	dir      string
	uid, gid int
}

// Empty reports whether the plan changes nothing the plan can see
// (a password file's content is only read when applying).
func (p UsersPlan) Empty() bool { return len(p.Changes) == 0 }

// String prints the plan (golden-tested). It never contains a password
// hash.
func (p UsersPlan) String() string {
	var b strings.Builder
	for _, c := range p.Changes {
		b.WriteString(c + "\n")
	}
	for _, w := range p.Warnings {
		b.WriteString("warning: " + w + "\n")
	}
	if b.Len() == 0 {
		return "users: no changes\n"
	}
	return b.String()
}

// PlanUsers reads root's account files and ids.json and computes what
// makes them match spec: declared groups and users are added or updated
// (existing ids kept, new ids allocated and never reused), users kiln
// made that are no longer declared are locked, not deleted, and accounts
// kiln never made are left alone.
func PlanUsers(root string, spec *toplevel.ActivationSpec) (UsersPlan, error) {
	var p UsersPlan
	var err error
	tables := []struct {
		t       **table
		name    string
		nfields int
	}{{&p.passwd, "passwd", 7}, {&p.group, "group", 4}, {&p.shadow, "shadow", 9}, {&p.gshadow, "gshadow", 4}}
	old := map[string]*table{}
	for _, x := range tables {
		if *x.t, err = readTable(root, x.name, x.nfields); err != nil {
			return UsersPlan{}, err
		}
		old[x.name] = (*x.t).clone()
	}
	oldIDs, err := ReadIDs(root)
	if err != nil {
		return UsersPlan{}, err
	}
	p.ids = oldIDs.clone()
	p.passwordFiles = map[string]string{}
	if err := p.planGroups(spec, old["group"], oldIDs); err != nil {
		return UsersPlan{}, err
	}
	if err := p.planUsers(root, spec, old["passwd"], oldIDs); err != nil {
		return UsersPlan{}, err
	}
	p.planLocks(spec, oldIDs)
	return p, nil
}

func (p *UsersPlan) planGroups(spec *toplevel.ActivationSpec, old *table, oldIDs IDs) error {
	groups := append([]toplevel.Group{}, spec.Groups...)
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	members := map[string][]string{}
	for _, g := range groups {
		members[g.Name] = append(members[g.Name], g.Members...)
	}
	normal := map[string]bool{} // a normal user's own group gets a normal id
	for _, u := range spec.Users {
		for _, g := range u.Groups {
			members[g] = append(members[g], u.Name)
		}
		if !u.System {
			normal[u.Name] = true
		}
	}
	used := usedIDs(old, oldIDs.GIDs)
	for _, g := range groups {
		if g.GID != nil {
			if other := old.byID(*g.GID); other != "" && other != g.Name {
				return fmt.Errorf("group %s: gid %d is already used by group %s in /etc/group", g.Name, *g.GID, other)
			}
			used[*g.GID] = true
		}
	}
	for _, g := range groups {
		gid, how, err := chooseID(g.Name, g.GID, old, oldIDs.GIDs, used, !normal[g.Name])
		if err != nil {
			return fmt.Errorf("group %s: %w", g.Name, err)
		}
		used[gid] = true
		p.ids.GIDs[g.Name] = gid
		mem := uniqueSorted(members[g.Name])
		row := []string{g.Name, "x", strconv.Itoa(gid), strings.Join(mem, ",")}
		if cur := old.find(g.Name); cur != nil {
			row[1] = cur[1]
			if diff := rowDiff(cur, row, []string{"", "password", "gid", "members"}); diff != "" {
				p.Changes = append(p.Changes, fmt.Sprintf("update group %s: %s", g.Name, diff))
			}
		} else {
			p.Changes = append(p.Changes, fmt.Sprintf("add group %s gid %d (%s)", g.Name, gid, how))
		}
		p.group.set(row)
		gs := []string{g.Name, "!", "", strings.Join(mem, ",")}
		if cur := p.gshadow.find(g.Name); cur != nil {
			gs[1], gs[2] = cur[1], cur[2]
		}
		p.gshadow.set(gs)
	}
	return nil
}

func (p *UsersPlan) planUsers(root string, spec *toplevel.ActivationSpec, old *table, oldIDs IDs) error {
	users := append([]toplevel.User{}, spec.Users...)
	sort.Slice(users, func(i, j int) bool { return users[i].Name < users[j].Name })
	used := usedIDs(old, oldIDs.UIDs)
	for _, u := range users {
		if u.UID != nil {
			if other := old.byID(*u.UID); other != "" && other != u.Name {
				return fmt.Errorf("user %s: uid %d is already used by user %s in /etc/passwd", u.Name, *u.UID, other)
			}
			used[*u.UID] = true
		}
	}
	for _, u := range users {
		uid, how, err := chooseID(u.Name, u.UID, old, oldIDs.UIDs, used, u.System)
		if err != nil {
			return fmt.Errorf("user %s: %w", u.Name, err)
		}
		used[uid] = true
		p.ids.UIDs[u.Name] = uid
		if u.Group == "" {
			return fmt.Errorf("user %s: no primary group", u.Name)
		}
		gid, ok := lookupID(p.group, u.Group)
		if !ok {
			return fmt.Errorf("user %s: primary group %s is neither declared nor in /etc/group", u.Name, u.Group)
		}
		home, shell := u.Home, u.Shell
		if home == "" {
			home = "/home/" + u.Name
			if u.System {
				home = "/nonexistent"
			}
		}
		if shell == "" {
			shell = "/bin/sh"
			if u.System {
				shell = lockedShell
			}
		}
		row := []string{u.Name, "x", strconv.Itoa(uid), strconv.Itoa(gid), u.Description, home, shell}
		if cur := old.find(u.Name); cur != nil {
			if cur[2] != row[2] {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s: uid changes from %s to %s; files keep their old owner", u.Name, cur[2], row[2]))
			}
			if diff := rowDiff(cur, row, []string{"", "password", "uid", "gid", "description", "home", "shell"}); diff != "" {
				p.Changes = append(p.Changes, fmt.Sprintf("update user %s: %s", u.Name, diff))
			}
		} else {
			p.Changes = append(p.Changes, fmt.Sprintf("add user %s uid %d (%s) group %s home %s shell %s", u.Name, uid, how, u.Group, home, shell))
		}
		p.passwd.set(row)
		sh := p.shadow.find(u.Name)
		if sh == nil {
			sh = []string{u.Name, "!", "", "", "", "", "", "", ""}
			p.shadow.set(sh)
		}
		if f := u.HashedPasswordFile; f != "" {
			p.passwordFiles[u.Name] = f
			if _, err := os.Stat(under(root, f)); err != nil && !isDeclaredSecret(spec, f) {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s: hashed_password_file %s is not readable; the password is locked", u.Name, f))
			}
		}
		if u.CreateHome && home != "/nonexistent" && !exists(under(root, home)) {
			p.homes = append(p.homes, homeDir{dir: home, uid: uid, gid: gid})
			p.Changes = append(p.Changes, fmt.Sprintf("create home %s (%s:%s 0700)", home, u.Name, u.Group))
		}
	}
	return nil
}

// planLocks locks users kiln made that are no longer declared: their
// password is disabled and their shell is nologin, but the account and its
// files stay (its uid is never reused).
func (p *UsersPlan) planLocks(spec *toplevel.ActivationSpec, oldIDs IDs) {
	declared := map[string]bool{}
	for _, u := range spec.Users {
		declared[u.Name] = true
	}
	for _, name := range sortedKeys(oldIDs.UIDs) {
		row := p.passwd.find(name)
		if declared[name] || row == nil {
			continue
		}
		sh := p.shadow.find(name)
		locked := row[6] == lockedShell && (sh == nil || strings.HasPrefix(sh[1], "!"))
		if locked {
			continue
		}
		nr := append([]string{}, row...)
		nr[6] = lockedShell
		p.passwd.set(nr)
		if sh != nil && !strings.HasPrefix(sh[1], "!") {
			ns := append([]string{}, sh...)
			ns[1] = "!" + ns[1]
			p.shadow.set(ns)
		}
		p.Changes = append(p.Changes, fmt.Sprintf("lock user %s (no longer declared; account and files kept)", name))
	}
}

// chooseID picks an id: the declared one, else the one the name has in
// the account file, else the one ids.json remembers, else a new one.
func chooseID(name string, declared *int, old *table, remembered map[string]int, used map[int]bool, system bool) (int, string, error) {
	if declared != nil {
		return *declared, "declared", nil
	}
	if r := old.find(name); r != nil {
		if id, err := strconv.Atoi(r[2]); err == nil {
			return id, "kept", nil
		}
	}
	if id, ok := remembered[name]; ok {
		return id, "remembered", nil
	}
	if system {
		for id := firstSystemID; id >= lastSystemID; id-- {
			if !used[id] {
				return id, "allocated", nil
			}
		}
		return 0, "", fmt.Errorf("no free system id in %d..%d", lastSystemID, firstSystemID)
	}
	for id := firstUserID; id <= lastUserID; id++ {
		if !used[id] {
			return id, "allocated", nil
		}
	}
	return 0, "", fmt.Errorf("no free id in %d..%d", firstUserID, lastUserID)
}

func usedIDs(t *table, remembered map[string]int) map[int]bool {
	used := map[int]bool{}
	for _, r := range t.rows {
		if len(r) == t.nfields {
			if id, err := strconv.Atoi(r[2]); err == nil {
				used[id] = true
			}
		}
	}
	for _, id := range remembered {
		used[id] = true
	}
	return used
}

// rowDiff describes the fields that differ, "" if none.
func rowDiff(old, new []string, names []string) string {
	var d []string
	for i := 1; i < len(new) && i < len(old); i++ {
		if old[i] != new[i] && names[i] != "password" {
			d = append(d, fmt.Sprintf("%s %q (was %q)", names[i], new[i], old[i]))
		}
	}
	return strings.Join(d, ", ")
}

func uniqueSorted(s []string) []string {
	m := map[string]bool{}
	var out []string
	for _, x := range s {
		if x != "" && !m[x] {
			m[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// ApplyUsers writes the plan's account files (each atomically, only when
// it changed), ids.json and home directories. Password hashes come from
// each user's hashed_password_file; a missing or empty file locks the
// password ("!") rather than failing, so a machine always boots.
func ApplyUsers(root string, plan UsersPlan) error {
	if plan.passwd == nil {
		return errors.New("apply users: empty plan (use PlanUsers)")
	}
	shadow := plan.shadow.clone()
	for name, f := range plan.passwordFiles {
		hash := "!"
		if b, err := os.ReadFile(under(root, f)); err == nil {
			if h := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]); h != "" && !strings.Contains(h, ":") {
				hash = h
			}
		}
		row := append([]string{}, shadow.find(name)...)
		row[1] = hash
		shadow.set(row)
	}
	shadowGID := 0
	if gid, ok := lookupID(plan.group, "shadow"); ok {
		shadowGID = gid
	}
	if err := os.MkdirAll(under(root, "/etc"), 0o755); err != nil {
		return fmt.Errorf("apply users: %w", err)
	}
	files := []struct {
		t    *table
		mode os.FileMode
		gid  int
	}{{plan.group, 0o644, 0}, {plan.gshadow, 0o640, shadowGID}, {plan.passwd, 0o644, 0}, {shadow, 0o640, shadowGID}}
	for _, f := range files {
		data, err := f.t.bytes()
		if err != nil {
			return fmt.Errorf("apply users: %w", err)
		}
		if err := writeIfChanged(under(root, "/etc/"+f.t.name), data, f.mode, 0, f.gid); err != nil {
			return fmt.Errorf("apply users: %w", err)
		}
	}
	b, err := json.MarshalIndent(plan.ids, "", "  ")
	if err != nil {
		return fmt.Errorf("apply users: %w", err)
	}
	idsFile := under(root, IDsFile)
	if err := os.MkdirAll(filepath.Dir(idsFile), 0o755); err != nil {
		return fmt.Errorf("apply users: %w", err)
	}
	if err := writeIfChanged(idsFile, append(b, '\n'), 0o644, -1, -1); err != nil {
		return fmt.Errorf("apply users: %w", err)
	}
	for _, h := range plan.homes {
		dir := under(root, h.dir)
		if exists(dir) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("create home %s: %w", h.dir, err)
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("create home %s: %w", h.dir, err)
		}
		if err := os.Chown(dir, h.uid, h.gid); err != nil {
			return fmt.Errorf("create home %s: %w", h.dir, err)
		}
	}
	return nil
}

// writeIfChanged writes name atomically unless it already holds data with
// the same mode and owner.
func writeIfChanged(name string, data []byte, mode os.FileMode, uid, gid int) error {
	if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(name); err == nil && fi.Mode().Perm() == mode && ownedBy(fi, uid, gid) {
			return nil
		}
	}
	return fsutil.WriteFileOwned(name, data, mode, uid, gid)
}

// isDeclaredSecret reports whether f is a secret of spec's, which
// activation writes before the accounts.
func isDeclaredSecret(spec *toplevel.ActivationSpec, f string) bool {
	for _, s := range spec.Secrets {
		if f == toplevel.SecretsDir+"/"+s.Name {
			return true
		}
	}
	return false
}
