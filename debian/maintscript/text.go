package maintscript

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Text filters (tr, cut, head, tail, wc, sort, a simple sed s///, awk
// '{print $N}') compute their output when their input is known: a
// here-document, a pipe from commands with known output, or files.

// textInput is what a filter reads: its file arguments or standard input.
func (cl *call) textInput(files []value) (string, bool) {
	if len(files) == 0 {
		if cl.stdin != nil && cl.stdin.known {
			return cl.stdin.s, true
		}
		return "", false
	}
	var b strings.Builder
	for _, f := range files {
		t, ok := cl.knownText(f)
		if !ok {
			return "", false
		}
		b.WriteString(t)
	}
	return b.String(), true
}

// filter runs fn on the input and makes its result the output: into a
// file (a File with that content) or for $(...).
func filter(cl *call, out string, ok bool) tri {
	if !ok {
		if cl.redirected() && !cl.devnull {
			cl.unhandled("writes " + cl.stdout.s + " with " + cl.name + " of a text the analysis cannot compute")
			return maybe
		}
		return query(cl)
	}
	if cl.redirected() && !cl.devnull {
		cl.stdin = &value{s: out, known: true}
		return written(cl, File{Kind: Content, Content: out})
	}
	v := lit(out)
	cl.out = &v
	return yes
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func joinLines(ls []string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}

// trSet expands a tr set: ranges, [:classes:] and escapes.
func trSet(s string) ([]rune, bool) {
	classes := map[string]string{
		"[:upper:]": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "[:lower:]": "abcdefghijklmnopqrstuvwxyz",
		"[:digit:]": "0123456789", "[:space:]": " \t\n\r\v\f", "[:blank:]": " \t",
	}
	var out []rune
	rs := []rune(strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\\`, `\`).Replace(s))
	for i := 0; i < len(rs); i++ {
		if rs[i] == '[' && i+1 < len(rs) && rs[i+1] == ':' {
			end := strings.Index(string(rs[i:]), ":]")
			if end < 0 {
				return nil, false
			}
			c, ok := classes[string(rs[i:i+end+2])]
			if !ok {
				return nil, false
			}
			out = append(out, []rune(c)...)
			i += end + 1
			continue
		}
		if i+2 < len(rs) && rs[i+1] == '-' && rs[i] <= rs[i+2] {
			for r := rs[i]; r <= rs[i+2]; r++ {
				out = append(out, r)
			}
			i += 2
			continue
		}
		out = append(out, rs[i])
	}
	return out, true
}

func tr(cl *call) tri {
	del, cd := false, false
	var sets []string
	for _, a := range cl.args {
		switch {
		case !a.known:
			return filter(cl, "", false)
		case a.s == "-d":
			del = true
		case a.s == "-cd" || a.s == "-dc":
			del, cd = true, true
		case strings.HasPrefix(a.s, "-") && len(a.s) > 1:
			return filter(cl, "", false)
		default:
			sets = append(sets, a.s)
		}
	}
	in, ok := cl.textInput(nil)
	if !ok || len(sets) == 0 {
		return filter(cl, "", false)
	}
	s1, ok1 := trSet(sets[0])
	if !ok1 {
		return filter(cl, "", false)
	}
	var b strings.Builder
	if del {
		keep := func(r rune) bool { return strings.ContainsRune(string(s1), r) == cd }
		for _, r := range in {
			if keep(r) {
				b.WriteRune(r)
			}
		}
		return filter(cl, b.String(), true)
	}
	if len(sets) != 2 {
		return filter(cl, "", false)
	}
	s2, ok2 := trSet(sets[1])
	if !ok2 || len(s2) == 0 {
		return filter(cl, "", false)
	}
	for _, r := range in {
		if i := strings.IndexRune(string(s1), r); i >= 0 {
			j := len([]rune(string(s1)[:i]))
			b.WriteRune(s2[min(j, len(s2)-1)])
		} else {
			b.WriteRune(r)
		}
	}
	return filter(cl, b.String(), true)
}

func cut(cl *call) tri {
	delim, fields := "\t", ""
	var files []value
	for i := 0; i < len(cl.args); i++ {
		a := cl.args[i]
		switch {
		case !a.known:
			return filter(cl, "", false)
		case a.s == "-d" && i+1 < len(cl.args):
			i++
			delim = cl.args[i].s
		case strings.HasPrefix(a.s, "-d"):
			delim = a.s[2:]
		case a.s == "-f" && i+1 < len(cl.args):
			i++
			fields = cl.args[i].s
		case strings.HasPrefix(a.s, "-f"):
			fields = a.s[2:]
		case strings.HasPrefix(a.s, "-"):
			return filter(cl, "", false)
		default:
			files = append(files, a)
		}
	}
	in, ok := cl.textInput(files)
	if !ok || fields == "" || len(delim) != 1 {
		return filter(cl, "", false)
	}
	var out []string
	for _, l := range lines(in) {
		parts := strings.Split(l, delim)
		if len(parts) == 1 {
			out = append(out, l) // no delimiter: printed whole
			continue
		}
		var sel []string
		for _, spec := range strings.Split(fields, ",") {
			lo, hi, rng := strings.Cut(spec, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if rng {
				if hi == "" {
					b = len(parts)
				} else {
					b, err2 = strconv.Atoi(hi)
				}
			}
			if err1 != nil || err2 != nil || a < 1 {
				return filter(cl, "", false)
			}
			for k := a; k <= b && k <= len(parts); k++ {
				sel = append(sel, parts[k-1])
			}
		}
		out = append(out, strings.Join(sel, delim))
	}
	return filter(cl, joinLines(out), true)
}

// headTail is head and tail with -n N (or -N).
func headTail(cl *call) tri {
	n := 10
	var files []value
	for i := 0; i < len(cl.args); i++ {
		a := cl.args[i]
		switch {
		case !a.known:
			return filter(cl, "", false)
		case a.s == "-n" && i+1 < len(cl.args):
			i++
			v, err := strconv.Atoi(cl.args[i].s)
			if err != nil {
				return filter(cl, "", false)
			}
			n = v
		case len(a.s) > 1 && a.s[0] == '-':
			v, err := strconv.Atoi(strings.TrimPrefix(strings.TrimPrefix(a.s, "-"), "n"))
			if err != nil {
				return filter(cl, "", false)
			}
			n = v
		default:
			files = append(files, a)
		}
	}
	in, ok := cl.textInput(files)
	if !ok {
		return filter(cl, "", false)
	}
	ls := lines(in)
	if cl.name == "head" {
		ls = ls[:min(n, len(ls))]
	} else {
		ls = ls[max(0, len(ls)-n):]
	}
	return filter(cl, joinLines(ls), true)
}

func wc(cl *call) tri {
	var files []value
	mode := ""
	for _, a := range cl.args {
		switch {
		case !a.known:
			return filter(cl, "", false)
		case a.s == "-l" || a.s == "-w" || a.s == "-c":
			mode = a.s
		default:
			files = append(files, a)
		}
	}
	in, ok := cl.textInput(files)
	if !ok || mode == "" || len(files) > 0 {
		return filter(cl, "", false)
	}
	n := 0
	switch mode {
	case "-l":
		n = strings.Count(in, "\n")
	case "-w":
		n = len(strings.Fields(in))
	case "-c":
		n = len(in)
	}
	return filter(cl, strconv.Itoa(n)+"\n", true)
}

func sortCommand(cl *call) tri {
	uniq := false
	var files []value
	for _, a := range cl.args {
		switch {
		case !a.known:
			return filter(cl, "", false)
		case a.s == "-u":
			uniq = true
		case strings.HasPrefix(a.s, "-"):
			return filter(cl, "", false)
		default:
			files = append(files, a)
		}
	}
	in, ok := cl.textInput(files)
	if !ok {
		return filter(cl, "", false)
	}
	ls := lines(in)
	sort.Strings(ls)
	if uniq {
		var u []string
		for i, l := range ls {
			if i == 0 || l != ls[i-1] {
				u = append(u, l)
			}
		}
		ls = u
	}
	return filter(cl, joinLines(ls), true)
}

// awk computes only '{print $N}' and '{ print $N }' programs.
func awk(cl *call) tri {
	var prog string
	var files []value
	for _, a := range cl.args {
		switch {
		case !a.known:
			return filter(cl, "", false)
		case strings.HasPrefix(a.s, "-"):
			return filter(cl, "", false)
		case prog == "":
			prog = a.s
		default:
			files = append(files, a)
		}
	}
	m := awkPrint.FindStringSubmatch(prog)
	in, ok := cl.textInput(files)
	if e := awkEnvRewrite.FindStringSubmatch(awkSquash(prog)); e != nil && ok {
		out, ok := cl.rewriteFromEnv(in, e[1])
		return filter(cl, out, ok)
	}
	if m == nil || !ok {
		return filter(cl, "", false)
	}
	n, _ := strconv.Atoi(m[1])
	var out []string
	for _, l := range lines(in) {
		f := strings.Fields(l)
		switch {
		case n == 0:
			out = append(out, l)
		case n <= len(f):
			out = append(out, f[n-1])
		default:
			out = append(out, "")
		}
	}
	return filter(cl, joinLines(out), true)
}

var awkPrint = regexp.MustCompile(`^\s*\{\s*print \$([0-9]+)\s*;?\s*\}\s*$`)

// awkEnvRewrite is exim4-config's rewrite of update-exim4.conf.conf (as
// awkSquash leaves it): every line NAME=... of a NAME in the
// blank-separated list $LIST becomes NAME='$NAME', the value taken from
// the environment.
var awkEnvRewrite = regexp.MustCompile(`^BEGIN\{split\(ENVIRON\["([A-Za-z_][A-Za-z0-9_]*)"\],directives,"\[\\t\]"\);\}` +
	regexp.QuoteMeta(`{written=0;for(iindirectives){regex="^[\t]*"directives[i]"=";if(($0~regex)&&(!written)){print directives[i]"=\x27"ENVIRON[directives[i]]"\x27";written=1;break;}}if(!written)print $0;}`) + `$`)

// awkSquash drops an awk program's comments and blanks (but the one
// after print), so that one program written in other layouts compares
// equal.
func awkSquash(prog string) string {
	var b strings.Builder
	for _, l := range strings.Split(prog, "\n") {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		b.WriteString(l)
	}
	s := strings.Join(strings.Fields(b.String()), "")
	return strings.ReplaceAll(s, "print", "print ")
}

// rewriteFromEnv runs awkEnvRewrite on text: the environment is the
// script's variables (exim4-config exports the list and each name).
func (cl *call) rewriteFromEnv(text, list string) (string, bool) {
	names, ok := cl.in.lookup(cl.e, list)
	if !ok || !names.known {
		return "", false
	}
	var out []string
	for _, l := range lines(text) {
		written := false
		for _, name := range strings.FieldsFunc(names.s, func(r rune) bool { return r == ' ' || r == '\t' }) {
			if !strings.HasPrefix(strings.TrimLeft(l, " \t"), name+"=") {
				continue
			}
			v, _ := cl.in.lookup(cl.e, name)
			if !v.known {
				return "", false
			}
			out = append(out, name+"='"+v.s+"'")
			written = true
			break
		}
		if !written {
			out = append(out, l)
		}
	}
	return joinLines(out), true
}

// sedFilter runs a sed script (see sed.go) on a known input.
func sedFilter(cl *call, exprs []string, files []value, quiet, ext bool) tri {
	in, ok := cl.textInput(files)
	if !ok {
		return filter(cl, "", false)
	}
	prog, ok := parseSedScript(strings.Join(exprs, "\n"), ext)
	if !ok {
		return filter(cl, "", false)
	}
	return filter(cl, prog.run(in, quiet), true)
}

// uniq [-c] collapses adjacent equal lines (-c: with their counts).
func uniq(cl *call) tri {
	count := false
	var files []value
	for _, a := range cl.args {
		switch {
		case !a.known:
			return filter(cl, "", false)
		case a.s == "-c":
			count = true
		case strings.HasPrefix(a.s, "-"):
			return filter(cl, "", false)
		default:
			files = append(files, a)
		}
	}
	in, ok := cl.textInput(files)
	if !ok || len(files) > 1 {
		return filter(cl, "", false)
	}
	var out []string
	ls := lines(in)
	for i := 0; i < len(ls); {
		j := i
		for j < len(ls) && ls[j] == ls[i] {
			j++
		}
		if count {
			out = append(out, fmt.Sprintf("%7d %s", j-i, ls[i]))
		} else {
			out = append(out, ls[i])
		}
		i = j
	}
	return filter(cl, joinLines(out), true)
}
