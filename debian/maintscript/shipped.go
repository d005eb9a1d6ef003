package maintscript

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// shippedDirs are where packages ship sysusers.d and tmpfiles.d files
// (bookworm's still use /lib for some).
var shippedDirs = []string{"usr/lib/sysusers.d", "lib/sysusers.d", "usr/lib/tmpfiles.d", "lib/tmpfiles.d"}

// shipped declares the package's own sysusers.d and tmpfiles.d lines.
func (r *run) shipped(pkg fs.FS) error {
	for _, dir := range shippedDirs {
		names, err := fs.Glob(pkg, dir+"/*.conf")
		if err != nil {
			return err
		}
		sort.Strings(names)
		for _, name := range names {
			b, err := fs.ReadFile(pkg, name)
			if err != nil {
				return fmt.Errorf("read %s: %w", name, err)
			}
			if strings.Contains(dir, "sysusers") {
				r.sysusers(name, string(b))
			} else {
				r.tmpfilesConf(name, string(b))
			}
		}
	}
	return nil
}

// fieldsQuoted splits a sysusers.d or tmpfiles.d line into fields,
// honouring double quotes.
func fieldsQuoted(line string) []string {
	var out []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimLeft(line, " \t") {
		if line[0] == '"' {
			end := strings.IndexByte(line[1:], '"')
			if end < 0 {
				return append(out, line[1:])
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
	return out
}

func shippedLines(text string) func(func(int, string) bool) {
	return func(yield func(int, string) bool) {
		for i, l := range strings.Split(text, "\n") {
			l = strings.TrimSpace(l)
			if l == "" || l[0] == '#' {
				continue
			}
			if !yield(i+1, l) {
				return
			}
		}
	}
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// sysusers reads a sysusers.d(5) file: u, g, m and r lines.
func (r *run) sysusers(name, text string) {
	for line, l := range shippedLines(text) {
		src := Source{Package: r.pkg, Script: name, Line: line, Command: l}
		f := fieldsQuoted(l)
		for len(f) < 6 {
			f = append(f, "-")
		}
		switch typ := strings.TrimSuffix(f[0], "!"); typ {
		case "u":
			uid, gid, _ := strings.Cut(dash(f[2]), ":")
			u := User{Name: f[1], System: true, UID: uid, Group: gid, Comment: dash(f[3]), Home: dash(f[4]), Shell: dash(f[5]), From: src}
			if u.Home == "" {
				u.Home = "/"
			}
			if u.Shell == "" {
				u.Shell = "/usr/sbin/nologin"
			}
			if gid == "" {
				r.an.Groups = append(r.an.Groups, Group{Name: f[1], System: true, GID: uidAsGID(uid), From: src})
			}
			r.an.Users = append(r.an.Users, u)
			r.facts.users[u.Name], r.facts.groups[f[1]], r.facts.scriptUsers[u.Name] = true, true, true
		case "g":
			r.an.Groups = append(r.an.Groups, Group{Name: f[1], System: true, GID: dash(f[2]), From: src})
			r.facts.groups[f[1]] = true
		case "m":
			r.an.Members = append(r.an.Members, Member{User: f[1], Group: f[2], From: src})
		case "r":
			r.an.Ignored = append(r.an.Ignored, Note{Reason: "an id range for allocation: kiln allocates stable ids itself", From: src})
		default:
			r.an.Unhandled = append(r.an.Unhandled, Note{Reason: fmt.Sprintf("sysusers.d line of unknown type %q", f[0]), From: src})
		}
	}
}

// uidAsGID is the gid sysusers gives a user's own group: the same number
// when the uid is one.
func uidAsGID(uid string) string {
	if uid != "" && !strings.HasPrefix(uid, "/") {
		return uid
	}
	return ""
}

// tmpfilesConf declares a tmpfiles.d(5) file's lines.
func (r *run) tmpfilesConf(name, text string) {
	for line, l := range shippedLines(text) {
		f := fieldsQuoted(l)
		for len(f) < 6 {
			f = append(f, "-")
		}
		arg := ""
		if len(f) > 6 {
			arg = restAfterFields(l, 7) // the argument is the rest of the line
		}
		r.an.Tmpfiles = append(r.an.Tmpfiles, Tmpfile{
			Type: f[0], Path: f[1], Mode: dash(f[2]), User: dash(f[3]), Group: dash(f[4]), Age: dash(f[5]),
			Argument: arg, Shipped: true,
			From: []Source{{Package: r.pkg, Script: name, Line: line, Command: l}},
		})
	}
}

// restAfterFields is l after its first n-1 blank-separated fields.
func restAfterFields(l string, n int) string {
	rest := strings.TrimSpace(l)
	for range n - 1 {
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			return ""
		}
		rest = strings.TrimLeft(rest[i:], " \t")
	}
	return rest
}

// triggersFile declares the package's triggers file and returns the
// triggers it is interested in.
func (r *run) triggersFile(b []byte) []string {
	var interests []string
	for line, l := range shippedLines(string(b)) {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		t := Trigger{Name: f[1], Interest: strings.HasPrefix(f[0], "interest"), Await: !strings.HasSuffix(f[0], "-noawait"),
			From: Source{Package: r.pkg, Script: "triggers", Line: line, Command: l}}
		r.an.Triggers = append(r.an.Triggers, t)
		if t.Interest {
			interests = append(interests, t.Name)
		}
		if !t.Interest && path.Base(t.Name) == "ldconfig" {
			r.an.Caches = append(r.an.Caches, Cache{Name: "ldconfig", From: t.From})
		}
	}
	return interests
}
