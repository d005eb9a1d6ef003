package maintscript

import (
	"fmt"
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

// xargs runs a command with the items of its known input as arguments:
// with -I once per input line, with the line in place of the
// replacement string; else once with every blank-separated item. With no
// items, -I and -r run nothing (GNU xargs); otherwise the command runs
// once without them. What the runs print is xargs' output. After a find
// that selects by owner, chown and chgrp are xargsChown.
func xargs(cl *call) tri {
	if sel := cl.in.ownerFind; sel != nil {
		cl.in.ownerFind = nil
		if st, ok := xargsChown(cl, sel); ok {
			return st
		}
	}
	repl, noEmpty := "", false
	args := cl.args
	for len(args) > 0 && args[0].known && strings.HasPrefix(args[0].s, "-") {
		a := args[0].s
		args = args[1:]
		switch {
		case a == "-r" || a == "--no-run-if-empty":
			noEmpty = true
		case a == "-I" && len(args) > 0 && args[0].known:
			repl, args = args[0].s, args[1:]
		case strings.HasPrefix(a, "-I") && len(a) > 2:
			repl = a[2:]
		case strings.HasPrefix(a, "--replace="):
			repl = strings.TrimPrefix(a, "--replace=")
		case a == "--":
		default:
			cl.unhandled("xargs with an option the analysis does not follow: " + a)
			return maybe
		}
		if a == "--" {
			break
		}
	}
	if cl.stdin == nil || !cl.stdin.known {
		cl.unhandled("xargs over input the analysis cannot compute")
		return maybe
	}
	if len(args) == 0 {
		args = []value{lit("echo")}
	}
	var runs [][]value
	if repl != "" {
		for _, l := range lines(cl.stdin.s) {
			if l = strings.TrimLeft(l, " \t"); l == "" {
				continue
			}
			var run []value
			for _, a := range args {
				if a.known {
					a = lit(strings.ReplaceAll(a.s, repl, l))
				}
				run = append(run, a)
			}
			runs = append(runs, run)
		}
	} else {
		if strings.ContainsAny(cl.stdin.s, `'"\`) {
			cl.unhandled("xargs of input with quotes")
			return maybe
		}
		items := strings.Fields(cl.stdin.s)
		if len(items) > 0 || !noEmpty {
			run := append([]value(nil), args...)
			for _, it := range items {
				run = append(run, lit(it))
			}
			runs = append(runs, run)
		}
	}
	// Each run prints into xargs' output, collected here.
	out, r := lit(""), yes
	for _, run := range runs {
		sub := *cl
		sub.stdout, sub.appendOut, sub.devnull, sub.stdin, sub.out = value{}, false, false, nil, nil
		st := sub.rerun(run)
		switch {
		case sub.out != nil && sub.out.known && out.known:
			out.s += sub.out.s
		case sub.out != nil || sub.prints:
			out = unknown("xargs")
		}
		if st != yes {
			r = maybe
		}
	}
	cl.prints = false
	if !cl.redirected() {
		cl.out = &out
		return r
	}
	if cl.devnull {
		return r
	}
	if !out.known {
		cl.unhandled(fmt.Sprintf("writes %s with xargs of output the analysis cannot compute", cl.stdout.s))
		return maybe
	}
	if w := written(cl, File{Kind: Content, Content: out.s}); w != yes {
		return w
	}
	return r
}

// xargsChown is xargs reading a find that lists the paths whose owner is
// not an account and running chown or chgrp to that account
// (mariadb-server's datadir): chown -R of the roots, since what already
// has the owner keeps it. false: not that.
func xargsChown(cl *call, sel *ownerSel) (tri, bool) {
	var cmd []value
	for i, a := range cl.args {
		if a.known && (a.s == "-0" || a.s == "--null" || a.s == "-r" || a.s == "--no-run-if-empty") {
			continue
		}
		if a.known && strings.HasPrefix(a.s, "-") {
			return maybe, false
		}
		cmd = cl.args[i:]
		break
	}
	if len(cmd) > 0 && cmd[0].known && cmd[0].s == "sudo" {
		cmd = cmd[1:] // the script runs as root already
	}
	if len(cmd) != 2 || !cmd[0].known || !cmd[1].known || (cmd[0].s != "chown" && cmd[0].s != "chgrp") {
		return maybe, false
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
		return maybe, true
	}
	args := []value{cmd[0], lit("-R")}
	if sel.follow {
		args = append(args, lit("-L"))
	}
	args = append(args, cmd[1])
	args = append(args, sel.roots...)
	return cl.rerun(args), true
}
