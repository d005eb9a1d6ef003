package maintscript

import (
	"strings"
)

// ownerSel is a find that lists the paths under roots not owned by an
// account: `find DIR ! -uid "$(id -u mysql)" -print0` (the tests: -uid,
// -user, -gid, -group, negated; -follow; -or between them).
type ownerSel struct {
	roots  []value
	follow bool
	tests  []ownerTest
}

type ownerTest struct {
	group bool  // -gid, -group: else -uid, -user
	v     value // the account, or a $(id -u NAME) as written
}

func ownershipSelection(args []value) (*ownerSel, bool) {
	sel := &ownerSel{}
	neg := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a.known && !strings.HasPrefix(a.s, "-") && a.s != "!" && len(sel.tests) == 0 && !neg:
			sel.roots = append(sel.roots, a)
		case !a.known && len(sel.tests) == 0 && !neg:
			sel.roots = append(sel.roots, a)
		case a.s == "!" || a.s == "-not":
			neg = true
		case (a.s == "-uid" || a.s == "-user" || a.s == "-gid" || a.s == "-group") && i+1 < len(args):
			if !neg {
				return nil, false // lists what already has the owner
			}
			i++
			sel.tests = append(sel.tests, ownerTest{group: a.s == "-gid" || a.s == "-group", v: args[i]})
			neg = false
		case a.s == "-follow":
			sel.follow = true
		case a.s == "-print0" || a.s == "-print" || a.s == "-or" || a.s == "-o":
		default:
			return nil, false
		}
	}
	return sel, len(sel.roots) > 0 && len(sel.tests) > 0
}

// matches says whether sel's tests name the owner and group chown gives
// (owner or group ""), so that chown of what sel lists is chown -R.
func (sel *ownerSel) matches(owner, group string) bool {
	for _, t := range sel.tests {
		want := owner
		if t.group {
			want = group
		}
		if want == "" {
			return false
		}
		switch {
		case t.v.known && (t.v.s == want || t.v.s == "0" && want == "root" || t.v.s == "root" && want == "0"):
		case !t.v.known && (strings.Contains(t.v.s, "id -u "+want) || strings.Contains(t.v.s, "id -g "+want)):
		default:
			return false
		}
	}
	return true
}

// xargs runs a command with the words of its input added. Reading a
// find that lists the paths whose owner is not an account and running
// chown or chgrp to that account (mariadb-server's datadir), it is
// chown -R of the roots: what already has the owner keeps it.
func xargs(cl *call) tri {
	sel := cl.in.ownerFind
	cl.in.ownerFind = nil
	other := func() tri { // as for a program without a recognizer
		if cl.stdout.s != "" {
			return writeFile(cl)
		}
		if cl.in.subst > 0 {
			return maybe // computes a value for $(...)
		}
		cl.unhandled("no recognizer for xargs")
		return maybe
	}
	var cmd []value
	for i, a := range cl.args {
		if a.known && (a.s == "-0" || a.s == "--null" || a.s == "-r" || a.s == "--no-run-if-empty") {
			continue
		}
		if a.known && strings.HasPrefix(a.s, "-") {
			return other()
		}
		cmd = cl.args[i:]
		break
	}
	if len(cmd) > 0 && cmd[0].known && cmd[0].s == "sudo" {
		cmd = cmd[1:] // the script runs as root already
	}
	if sel == nil || len(cmd) != 2 || !cmd[0].known || !cmd[1].known || (cmd[0].s != "chown" && cmd[0].s != "chgrp") {
		return other()
	}
	owner, group, _ := strings.Cut(cmd[1].s, ":")
	if cmd[0].s == "chgrp" {
		owner, group = "", cmd[1].s
	}
	if group == "" && strings.HasSuffix(cmd[1].s, ":") {
		group = owner // chown user: is the user's login group
	}
	if !sel.matches(owner, group) {
		cl.unhandled("xargs " + cmd[0].s + " of paths a find selects by another owner")
		return maybe
	}
	args := []value{cmd[0], lit("-R")}
	if sel.follow {
		args = append(args, lit("-L"))
	}
	args = append(args, cmd[1])
	args = append(args, sel.roots...)
	return cl.rerun(args)
}
