package system

import (
	"fmt"
	"strings"

	"github.com/kiln-os/kiln/debian/maintscript"
)

// PackagePriority is the priority of what maintainer scripts declare, as
// kiln eval --explain shows it: above option defaults (1500), below
// mkDefault (1000) and plain definitions (100).
const PackagePriority = 1200

// ScriptSources lists where the packages' maintainer scripts declare
// what an option path names, one line each ("redis-tools postinst line
// 24: adduser ..."), for kiln eval --explain: users.NAME, groups.NAME,
// units.NAME, alternatives.NAME and etc.PATH (a longer path, such as
// users.redis.home, names its block's). The configuration wins over
// every one of them.
func ScriptSources(ans []*maintscript.Analysis, optionPath string) []string {
	kind, name, ok := optionBlock(optionPath)
	if !ok {
		return nil
	}
	var out []string
	add := func(s maintscript.Source, what string) { out = append(out, fmt.Sprintf("%s  (%s)", s, what)) }
	for _, an := range ans {
		switch kind {
		case "users":
			for _, u := range an.Users {
				if u.Name == name {
					add(u.From, "user "+u.Name)
				}
			}
			for _, m := range an.Members {
				if m.User == name {
					add(m.From, "member of "+m.Group)
				}
			}
		case "groups":
			for _, g := range an.Groups {
				if g.Name == name {
					add(g.From, "group "+g.Name)
				}
			}
			for _, m := range an.Members {
				if m.Group == name {
					add(m.From, "member "+m.User)
				}
			}
		case "units":
			for _, u := range an.Units {
				if u.Name == name {
					add(u.From, "unit "+string(u.Op))
				}
			}
			for _, f := range an.FirstRun {
				if "kiln-first-run-"+unitWord(an.Package)+"-"+unitWord(f.Name)+".service" == name {
					add(f.From, "first run, creates "+f.Creates)
				}
			}
		case "alternatives":
			for _, a := range an.Alternatives {
				if a.Name == name {
					add(a.From, fmt.Sprintf("candidate %s priority %d", a.Path, a.Priority))
				}
			}
		case "etc":
			for _, f := range an.Files {
				if f.Path == "/etc/"+name {
					add(f.From[0], "file, "+string(f.Kind))
				}
			}
			for _, t := range an.Tmpfiles {
				if t.Path == "/etc/"+name && !t.Shipped {
					add(t.From[0], "tmpfiles "+t.Type)
				}
			}
		}
	}
	return out
}

// ScriptsOfLock reads the maintainer scripts of a lock's packages when
// they are all in the store already (kiln eval realizes nothing): nil
// when one is missing.
func ScriptsOfLock(storeDir, lockFile, hostName string, answers map[string]string) []*maintscript.Analysis {
	return scriptsOfLock(storeDir, lockFile, hostName, answers)
}

// optionBlock splits users.redis.home, units["nginx.service"].enable or
// units.nginx.service into the collection and the block's label.
func optionBlock(p string) (kind, name string, ok bool) {
	i := strings.IndexAny(p, ".[")
	if i < 0 {
		return "", "", false
	}
	kind, rest := p[:i], p[i:]
	if label, ok := strings.CutPrefix(rest, `["`); ok {
		name, _, ok = strings.Cut(label, `"]`)
		return kind, name, ok
	}
	name = rest[1:]
	switch kind {
	case "units":
		for _, opt := range []string{".enable", ".text", ".drop_in"} {
			name = strings.TrimSuffix(name, opt)
		}
	case "etc":
		for _, opt := range []string{".text", ".source", ".mode"} {
			name = strings.TrimSuffix(name, opt)
		}
	default:
		name, _, _ = strings.Cut(name, ".")
	}
	return kind, name, name != ""
}
