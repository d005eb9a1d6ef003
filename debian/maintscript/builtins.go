package maintscript

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// builtins are the shell's own commands and the few external ones whose
// result the analysis computes. They are not actions: they have no effect
// outside the script (echo and printf into a file are, see writeFile).
var builtins map[string]func(*call) tri

func init() {
	builtins = map[string]func(*call) tri{
		"exit":     func(cl *call) tri { cl.e.state = exited; return maybe },
		"return":   returnBuiltin,
		"break":    func(cl *call) tri { cl.e.state, cl.e.breaking = broke, true; return yes },
		"continue": func(cl *call) tri { cl.e.state = broke; return yes },
		":":        func(*call) tri { return yes },
		"true":     func(*call) tri { return yes },
		"false":    func(*call) tri { return no },
		"set":      setBuiltin,
		"shift":    shiftBuiltin,
		".":        sourceBuiltin,
		"source":   sourceBuiltin,
		"eval":     evalBuiltin,
		"echo":     echoBuiltin,
		"printf":   printfBuiltin,
		"[":        testBuiltin,
		"test":     testBuiltin,
		"command":  commandBuiltin,
		"which":    whichBuiltin,
		"type":     whichBuiltin,
		"hash":     whichBuiltin,
		"export":   assignBuiltin,
		"local":    assignBuiltin,
		"readonly": assignBuiltin,
		"declare":  assignBuiltin,
		"typeset":  assignBuiltin,
		"unset":    unsetBuiltin,
		"read":     readBuiltin,
		"exec":     execBuiltin,
		"trap":     noEffect, "umask": noEffect, "cd": cdBuiltin, "pushd": cdBuiltin, "wait": noEffect,
		"sleep": noEffect, "ulimit": noEffect, "alias": aliasBuiltin, "getopts": noEffect,
		"mktemp":   mktempBuiltin,
		"basename": func(cl *call) tri { return pathOp(cl, path.Base) },
		"dirname":  func(cl *call) tri { return pathOp(cl, path.Dir) },
		"ischroot": func(*call) tri { return no },
		"seq":      seqBuiltin,
		"expr":     exprBuiltin,
		"hostname": hostnameBuiltin,
		"uname":    unameBuiltin,
	}
}

// unameBuiltin answers uname -n (the node name, which the host name is:
// as hostname prints it) and -m/-p/-i (x86_64), -s (Linux), -o
// (GNU/Linux); the kernel's release and version are not known here.
func unameBuiltin(cl *call) tri {
	var out []string
	if len(cl.args) == 0 {
		out = append(out, "Linux")
	}
	for _, a := range cl.args {
		if !a.known || !strings.HasPrefix(a.s, "-") || strings.HasPrefix(a.s, "--") {
			return query(cl)
		}
		for _, c := range a.s[1:] {
			switch c {
			case 's':
				out = append(out, "Linux")
			case 'n':
				h := cl.in.hostName
				if h == "" {
					return query(cl)
				}
				short, _, _ := strings.Cut(h, ".")
				out = append(out, short)
			case 'm', 'p', 'i':
				out = append(out, "x86_64")
			case 'o':
				out = append(out, "GNU/Linux")
			default:
				return query(cl)
			}
		}
	}
	v := lit(strings.Join(out, " ") + "\n")
	cl.out = &v
	return yes
}

func noEffect(*call) tri { return yes }

// aliasBuiltin records alias NAME=TEXT: a later command named NAME runs
// TEXT's words before its own arguments (exim4-config's stripwhitespace,
// a sed). An alias the analysis cannot resolve is forgotten, and its
// uses are unknown commands.
func aliasBuiltin(cl *call) tri {
	for _, a := range cl.args {
		name, text, ok := strings.Cut(a.s, "=")
		if !ok || !validName(name) {
			continue
		}
		if cl.in.aliases == nil {
			cl.in.aliases = map[string]string{}
		}
		if !a.known {
			delete(cl.in.aliases, name)
			continue
		}
		cl.in.aliases[name] = text
	}
	return yes
}

// aliased expands an alias in a command's first word (left as it is
// when the word is quoted or names no alias): the alias text's words,
// then the command's other arguments.
func (in *interp) aliased(e *env, f *file, c *syntax.CallExpr, args []value) []value {
	name := c.Args[0].Lit()
	text, ok := in.aliases[name]
	if !ok || name == "" {
		return args
	}
	g, err := parseFile(f.name, []byte(text))
	if err != nil || len(g.ast.Stmts) != 1 {
		return args
	}
	ac, ok := g.ast.Stmts[0].Cmd.(*syntax.CallExpr)
	if !ok || len(ac.Args) == 0 || len(ac.Assigns) > 0 {
		return args
	}
	var out []value
	for _, w := range ac.Args {
		out = append(out, in.fields(e, g, w)...)
	}
	return append(out, args[1:]...)
}

func cdBuiltin(cl *call) tri {
	var dir value
	for _, a := range cl.args {
		if !(a.known && strings.HasPrefix(a.s, "-")) {
			dir = a
		}
	}
	switch {
	case dir.s == "":
		cl.e.cwd = lit("/root")
	case dir.known && path.IsAbs(dir.s):
		cl.e.cwd = lit(path.Clean(dir.s))
	case dir.known && cl.e.cwd.known:
		cl.e.cwd = lit(path.Join(cl.e.cwd.s, dir.s))
	default:
		cl.e.cwd = unknown("$PWD")
	}
	return yes
}

// hostnameBuiltin prints the machine's name (Analyzer.HostName), which
// scripts bake into files such as /etc/mailname.
func hostnameBuiltin(cl *call) tri {
	h := cl.in.hostName
	if len(cl.args) > 0 && !(cl.args[0].known && strings.HasPrefix(cl.args[0].s, "-")) {
		cl.unhandled("hostname sets the host name")
		return maybe
	}
	if h == "" {
		return maybe
	}
	short, domain, _ := strings.Cut(h, ".")
	v := lit(short)
	for _, a := range cl.args {
		switch a.s {
		case "-f", "--fqdn", "--long", "-A", "--all-fqdns":
			v = lit(h)
		case "-d", "--domain":
			v = lit(domain)
		case "-s", "--short":
			v = lit(short)
		case "-i", "-I", "--ip-address", "--all-ip-addresses":
			v = unknown("$(hostname -i)")
		}
	}
	cl.out = &v
	return yes
}

// exprBuiltin is expr(1) for known operands: STRING : REGEX (and match
// STRING REGEX), a basic regular expression anchored at the start that
// yields the length of the match or its \(group\), and the integer
// operators + - * / %. It fails when the result is "" or 0, as the
// locales config's expr ", $RET," : ".*, None,.*" test reads it.
func exprBuiltin(cl *call) tri {
	args := cl.args
	for _, a := range args {
		if !a.known {
			cl.prints = true
			return maybe
		}
	}
	var res string
	switch {
	case len(args) == 3 && args[1].s == ":" || len(args) == 3 && args[0].s == "match":
		str, re := args[0].s, args[2].s
		if args[0].s == "match" {
			str, re = args[1].s, args[2].s
		}
		rx, err := regexp.Compile("^(?:" + breToERE(re) + ")")
		if err != nil {
			cl.prints = true
			return maybe
		}
		m := rx.FindStringSubmatch(str)
		switch {
		case rx.NumSubexp() > 0 && m != nil:
			res = m[1]
		case rx.NumSubexp() > 0:
			res = ""
		default:
			res = strconv.Itoa(len(m0(m)))
		}
	case len(args) == 3 && strings.Contains("+-*/%", args[1].s) && len(args[1].s) == 1:
		x, errX := strconv.Atoi(args[0].s)
		y, errY := strconv.Atoi(args[2].s)
		if errX != nil || errY != nil || (y == 0 && (args[1].s == "/" || args[1].s == "%")) {
			cl.prints = true
			return maybe
		}
		switch args[1].s {
		case "+":
			res = strconv.Itoa(x + y)
		case "-":
			res = strconv.Itoa(x - y)
		case "*":
			res = strconv.Itoa(x * y)
		case "/":
			res = strconv.Itoa(x / y)
		case "%":
			res = strconv.Itoa(x % y)
		}
	default:
		cl.prints = true
		return maybe
	}
	v := lit(res + "\n")
	cl.out = &v
	if res == "" || res == "0" {
		return no
	}
	return yes
}

// m0 is a regexp match's whole text ("" without a match).
func m0(m []string) string {
	if m == nil {
		return ""
	}
	return m[0]
}

// seq prints numbers, so that "for i in $(seq 1 5)" runs five times.
func seqBuiltin(cl *call) tri {
	var n []int
	for _, a := range cl.args {
		v, err := strconv.Atoi(a.s)
		if err != nil || !a.known {
			return maybe
		}
		n = append(n, v)
	}
	first, step, last := 1, 1, 0
	switch len(n) {
	case 1:
		last = n[0]
	case 2:
		first, last = n[0], n[1]
	case 3:
		first, step, last = n[0], n[1], n[2]
	default:
		return maybe
	}
	if step == 0 || (last-first)/step > 1000 {
		return maybe
	}
	var b strings.Builder
	for i := first; (step > 0 && i <= last) || (step < 0 && i >= last); i += step {
		fmt.Fprintf(&b, "%d\n", i)
	}
	v := lit(b.String())
	cl.out = &v
	return yes
}

func returnBuiltin(cl *call) tri {
	cl.e.state = returned
	if len(cl.args) > 0 && cl.args[0].known {
		return triOf(cl.args[0].s == "0")
	}
	return maybe
}

func setBuiltin(cl *call) tri {
	for i, a := range cl.args {
		if a.known && a.s == "--" {
			cl.e.args = append([]value(nil), cl.args[i+1:]...)
			break
		}
	}
	return yes
}

func shiftBuiltin(cl *call) tri {
	n := 1
	if len(cl.args) > 0 {
		if v, err := strconv.Atoi(cl.args[0].s); err == nil {
			n = v
		}
	}
	if n > len(cl.e.args) {
		return no
	}
	cl.e.args = cl.e.args[n:]
	return yes
}

func assignBuiltin(cl *call) tri {
	for _, a := range cl.args {
		if name, v, ok := strings.Cut(a.s, "="); ok && validName(name) {
			if a.known {
				cl.e.set(name, lit(v))
			} else {
				cl.e.set(name, unknown("$"+name))
			}
		}
	}
	return yes
}

func validName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

func unsetBuiltin(cl *call) tri {
	for _, a := range cl.args {
		delete(cl.e.vars, a.s)
	}
	return yes
}

func readBuiltin(cl *call) tri {
	for _, a := range cl.args {
		if a.known && validName(a.s) {
			cl.e.set(a.s, unknown("$"+a.s))
		}
	}
	return maybe
}

func execBuiltin(cl *call) tri {
	if len(cl.args) == 0 {
		return yes
	}
	r := cl.rerun(cl.args)
	cl.e.state = exited
	return r
}

// rerun dispatches args (a wrapped command: exec, su -c, env...) as a
// command of its own at the same place.
func (cl *call) rerun(args []value) tri {
	if len(args) == 0 {
		return yes
	}
	if !args[0].known {
		cl.unhandled("the command name " + args[0].s + " cannot be resolved")
		return maybe
	}
	if fn, ok := cl.in.funcs[args[0].s]; ok {
		return cl.in.callFunc(cl.e, cl.f, cl.s, fn, args[1:])
	}
	sub := *cl
	sub.name, sub.argv0, sub.args, sub.out = path.Base(args[0].s), args[0].s, args[1:], nil
	r := cl.in.dispatch(&sub)
	cl.out = sub.out
	return r
}

func sourceBuiltin(cl *call) tri {
	if len(cl.args) == 0 {
		return yes
	}
	p := cl.args[0]
	if p.known && p.s == "/usr/share/debconf/confmodule" {
		return yes // db_* are builtins here
	}
	if !p.known {
		cl.e.opaque = true
		cl.ignore("reads settings from a file the analysis cannot name")
		return maybe
	}
	src, err := cl.in.facts.read(p.s)
	if f := cl.file(path.Clean(p.s)); f != nil && f.Kind == Content && len(f.Edits) == 0 {
		src, err = []byte(f.Content), nil // a file the scripts wrote
	}
	if err != nil || src == nil {
		cl.e.opaque = true
		cl.ignore(fmt.Sprintf("reads settings from %s, which no package ships", p.s))
		return maybe
	}
	f, err := parseFile(p.s, src)
	if err != nil {
		cl.unhandled(fmt.Sprintf("sources %s, which does not parse: %v", p.s, err))
		return maybe
	}
	cl.in.via = append(cl.in.via, fmt.Sprintf("%s:%d .", cl.f.name, cl.f.line(cl.s)))
	defer func() { cl.in.via = cl.in.via[:len(cl.in.via)-1] }()
	return cl.in.stmts(cl.e, f, f.ast.Stmts)
}

func evalBuiltin(cl *call) tri {
	v := joinValues(cl.args, " ")
	if !v.known {
		cl.unhandled("eval of a string the analysis cannot resolve")
		return maybe
	}
	return cl.in.nested(cl, v.s, cl.in.user)
}

// nested runs a command string (eval, su -c, sh -c) at cl's place: its
// commands are reported at the lines of cl's script they come from.
func (in *interp) nested(cl *call, text, user string) tri {
	g, err := parseFile(cl.f.name, []byte(text))
	if err != nil {
		cl.unhandled(fmt.Sprintf("%s of a command string that does not parse: %v", cl.name, err))
		return maybe
	}
	g.lineOffset = cl.f.line(cl.s) - 1
	g.snippets = cl.f.snippets
	prev := in.user
	in.user = user
	defer func() { in.user = prev }()
	return in.stmts(cl.e, g, g.ast.Stmts)
}

func echoBuiltin(cl *call) tri {
	args := cl.args
	nl := "\n"
	for len(args) > 0 && args[0].known && (args[0].s == "-n" || args[0].s == "-e" || args[0].s == "-E") {
		if args[0].s == "-n" {
			nl = ""
		}
		args = args[1:]
	}
	out := joinValues(args, " ")
	if out.known {
		out.s += nl
	}
	if !out.known && cl.appendOut && cl.stdout.s != "" && len(args) > 0 && strings.HasPrefix(strings.TrimLeft(args[0].s, `"'`), "#") {
		// A line that starts with "#", whatever follows, is a comment
		// in the configuration formats scripts append to.
		cl.in.note(&cl.in.an.Ignored, cl.f, cl.s, "appends a comment line to "+cl.stdout.s+": a comment changes nothing")
		return yes
	}
	return printed(cl, out)
}

func printfBuiltin(cl *call) tri {
	if len(cl.args) == 0 {
		return no
	}
	format := cl.args[0]
	out := unknown("printf")
	if format.known && len(cl.args) == 1 && !strings.Contains(format.s, "%") {
		out = lit(unescapeANSI(format.s))
	} else if format.known && (format.s == "%s" || format.s == "%s\n" || format.s == "%s\\n") {
		out = joinValues(cl.args[1:], "")
		if out.known && format.s != "%s" {
			out.s += "\n"
		}
	}
	return printed(cl, out)
}

// printed is what echo and printf do with their text: into a file it is
// that file's content; otherwise it is output, which only $(...) uses.
func printed(cl *call, out value) tri {
	if cl.stdout.s != "" || cl.stdout.temp > 0 {
		cl.stdin = &out
		return writeFile(cl)
	}
	cl.out = &out
	return yes
}

func joinValues(vs []value, sep string) value {
	var ss []string
	for _, v := range vs {
		if !v.known {
			return unknown(v.s)
		}
		ss = append(ss, v.s)
	}
	return lit(strings.Join(ss, sep))
}

func commandBuiltin(cl *call) tri {
	args := cl.args
	if len(args) > 0 && args[0].known && (args[0].s == "-v" || args[0].s == "-V") {
		sub := *cl
		sub.args = args[1:]
		r := whichBuiltin(&sub)
		cl.out = sub.out
		return r
	}
	return cl.rerun(args)
}

// whichBuiltin is command -v, which, type and hash: whether a program
// is installed, and its path.
func whichBuiltin(cl *call) tri {
	r := yes
	var found []string
	for _, a := range cl.args {
		if strings.HasPrefix(a.s, "-") {
			continue
		}
		if !a.known {
			r = maybe
			continue
		}
		if _, ok := cl.in.funcs[a.s]; ok {
			found = append(found, a.s)
			continue
		}
		p, t := cl.in.facts.lookPath(a.s)
		if t == yes {
			found = append(found, p)
		} else if r == yes {
			r = t
		}
	}
	if r == yes {
		v := lit(strings.Join(found, "\n"))
		cl.out = &v
	}
	return r
}

func mktempBuiltin(cl *call) tri {
	cl.in.temps++
	v := value{s: fmt.Sprintf("$(mktemp)#%d", cl.in.temps), temp: cl.in.temps}
	cl.out = &v
	return yes
}

func pathOp(cl *call, op func(string) string) tri {
	if len(cl.args) == 0 || !cl.args[0].known {
		return maybe
	}
	v := lit(op(cl.args[0].s))
	cl.out = &v
	return yes
}
