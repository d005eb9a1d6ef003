package maintscript

import (
	"fmt"
	"strings"
)

// xargs runs a command with the items of its known input as arguments:
// with -I once per input line, with the line in place of the
// replacement string; else once with every blank-separated item. With no
// items, -I and -r run nothing (GNU xargs); otherwise the command runs
// once without them. What the runs print is xargs' output.
func xargs(cl *call) tri {
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
