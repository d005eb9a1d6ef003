package maintscript

import (
	"sort"
	"strconv"
)

// updateAlternatives is update-alternatives: --install declares a
// candidate (with its slaves); --remove and --remove-all drop candidates
// a fresh system never had; the queries have no effect.
func updateAlternatives(cl *call) tri {
	args := cl.args
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !a.known {
			continue
		}
		switch a.s {
		case "--install":
			return cl.alternativeInstall(args[i+1:])
		case "--remove", "--remove-all":
			if cl.in.phase == Install {
				cl.ignore("removes an alternative an older version installed: a fresh system has none")
			} else {
				cl.ignore("removes the package's alternatives on removal: they go with its generation")
			}
			return yes
		case "--auto":
			cl.ignore("returns an alternative to automatic mode: on a fresh system every alternative is")
			return yes
		case "--set", "--config":
			cl.unhandled("update-alternatives " + a.s + " chooses an alternative by hand")
			return maybe
		case "--query", "--display", "--list", "--get-selections":
			return maybe
		}
	}
	cl.unhandled("update-alternatives without --install or --remove")
	return maybe
}

func (cl *call) alternativeInstall(args []value) tri {
	if len(args) < 4 {
		cl.unhandled("update-alternatives --install without LINK NAME PATH PRIORITY")
		return maybe
	}
	for _, a := range args {
		if !a.known {
			if args[0].known && under(args[0].s, "/usr/share/man") {
				cl.ignore("a man page alternative with pages found at run time: documentation, outside the main store paths")
				return yes
			}
			cl.unhandled("update-alternatives with an argument the analysis cannot resolve: " + a.s)
			return maybe
		}
	}
	prio, err := strconv.Atoi(args[3].s)
	if err != nil {
		cl.unhandled("update-alternatives priority is not a number: " + args[3].s)
		return maybe
	}
	alt := Alternative{Link: args[0].s, Name: args[1].s, Path: args[2].s, Priority: prio, From: cl.source()}
	rest := args[4:]
	for len(rest) > 0 {
		switch {
		case rest[0].s == "--slave" && len(rest) >= 4:
			alt.Slaves = append(alt.Slaves, Slave{Link: rest[1].s, Name: rest[2].s, Path: rest[3].s})
			rest = rest[4:]
		case rest[0].s == "--quiet" || rest[0].s == "--verbose" || rest[0].s == "--force":
			rest = rest[1:]
		default:
			cl.unhandled("update-alternatives --install with an unexpected argument: " + rest[0].s)
			return maybe
		}
	}
	if cl.in.once(alt) {
		cl.in.an.Alternatives = append(cl.in.an.Alternatives, alt)
	}
	return yes
}

// Choose picks, for each alternative name, the candidate Debian's auto
// mode picks: the highest priority; on a tie the one declared first (in
// the order of alts, i.e. of the packages given). It returns one
// Alternative per name, sorted by name.
func Choose(alts []Alternative) []Alternative {
	best := map[string]int{}
	for i, a := range alts {
		j, ok := best[a.Name]
		if !ok || a.Priority > alts[j].Priority {
			best[a.Name] = i
		}
	}
	out := make([]Alternative, 0, len(best))
	for _, i := range best {
		out = append(out, alts[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
