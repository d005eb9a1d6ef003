package maintscript

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/syntax"
)

// piece is a part of a word being expanded.
type piece struct {
	v     value
	split bool // an unquoted expansion: its value is split into fields
	glob  bool // an unquoted literal with *, ? or [: a pattern for file names
}

// word expands w without field splitting, as an assignment or a case
// word is.
func (in *interp) word(e *env, f *file, w *syntax.Word) value {
	if w == nil {
		return lit("")
	}
	ps := in.pieces(e, f, w.Parts, false)
	if len(ps) == 1 {
		return ps[0].v
	}
	in.nameTemps(ps)
	var b strings.Builder
	for _, p := range ps {
		if !p.v.known {
			return derived(f.text(w), pieceValues(ps)...)
		}
		b.WriteString(p.v.s)
	}
	return lit(b.String())
}

// fields expands w into the arguments a command sees: unquoted
// expansions are split on blanks and vanish when empty, "$@" gives one
// field per positional parameter. A word with an unknown part stays one
// unknown field, shown as written.
func (in *interp) fields(e *env, f *file, w *syntax.Word) []value {
	if at, quoted := allArgs(w); at {
		if quoted {
			return append([]value(nil), e.args...)
		}
		var out []value
		for _, a := range e.args {
			out = append(out, splitValue(a)...)
		}
		return out
	}
	ps := in.pieces(e, f, w.Parts, false)
	if len(ps) > 1 {
		in.nameTemps(ps)
	}
	for _, p := range ps {
		if !p.v.known {
			if len(ps) == 1 && p.v.temp > 0 {
				return []value{p.v}
			}
			return []value{derived(f.text(w), pieceValues(ps)...)}
		}
	}
	if pat, ok := globPattern(ps); ok {
		if names := in.facts.glob(pat, e.cwd); len(names) > 0 {
			var out []value
			for _, n := range names {
				out = append(out, lit(n))
			}
			return out
		}
	}
	var out []value
	var cur strings.Builder
	have := false // cur holds a field, possibly empty ("")
	for _, p := range ps {
		if !p.split {
			cur.WriteString(p.v.s)
			have = true
			continue
		}
		parts := strings.Fields(p.v.s)
		if len(parts) == 0 {
			continue
		}
		if startsBlank(p.v.s) && have {
			out = append(out, lit(cur.String()))
			cur.Reset()
		}
		for i, s := range parts {
			if i > 0 {
				out = append(out, lit(cur.String()))
				cur.Reset()
			}
			cur.WriteString(s)
		}
		have = true
		if endsBlank(p.v.s) {
			out = append(out, lit(cur.String()))
			cur.Reset()
			have = false
		}
	}
	if have {
		out = append(out, lit(cur.String()))
	}
	return out
}

// nameTemps gives the temporary files among a word's pieces a name,
// which the word's text then holds ("grep -q http:// $tmpfile" kept in a
// variable and run later): a command given that name gets the file back
// (interp.temp).
func (in *interp) nameTemps(ps []piece) {
	for i, p := range ps {
		if !p.v.known && p.v.temp > 0 {
			name := fmt.Sprintf("/tmp/tmp.mktemp%d", p.v.temp)
			in.tempNames[name] = p.v.temp
			ps[i].v = lit(name)
		}
	}
}

// temp is v, or the temporary file nameTemps named by v's text.
func (in *interp) temp(v value) value {
	if n, ok := in.tempNames[v.s]; ok && v.known && v.temp == 0 {
		return value{s: fmt.Sprintf("$(mktemp)#%d", n), temp: n}
	}
	return v
}

func pieceValues(ps []piece) []value {
	vs := make([]value, len(ps))
	for i, p := range ps {
		vs[i] = p.v
	}
	return vs
}

// hasGlob reports whether an unquoted literal is a file name pattern: a
// * or ?, or a complete [...] ("[" alone is the test command).
func hasGlob(s string) bool {
	if strings.ContainsAny(s, "*?") {
		return true
	}
	i := strings.IndexByte(s, '[')
	return i >= 0 && strings.IndexByte(s[i+1:], ']') > 0
}

// globPattern is the file name pattern of a word with an unquoted glob
// character (quoted parts escaped), and whether it has one.
func globPattern(ps []piece) (string, bool) {
	var b strings.Builder
	isGlob := false
	for _, p := range ps {
		if p.glob {
			isGlob = true
			b.WriteString(p.v.s)
		} else {
			for _, r := range p.v.s {
				if strings.ContainsRune("*?[\\", r) {
					b.WriteByte('\\')
				}
				b.WriteRune(r)
			}
		}
	}
	return b.String(), isGlob
}

func startsBlank(s string) bool { return s != "" && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n') }
func endsBlank(s string) bool {
	return s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\n')
}

func splitValue(v value) []value {
	if !v.known {
		return []value{v}
	}
	var out []value
	for _, s := range strings.Fields(v.s) {
		out = append(out, lit(s))
	}
	return out
}

// allArgs reports whether w is exactly $@ or "$@" (or $*).
func allArgs(w *syntax.Word) (at, quoted bool) {
	if len(w.Parts) != 1 {
		return false, false
	}
	part := w.Parts[0]
	if dq, ok := part.(*syntax.DblQuoted); ok && len(dq.Parts) == 1 {
		part, quoted = dq.Parts[0], true
	}
	pe, ok := part.(*syntax.ParamExp)
	if !ok || pe.Param == nil || pe.Exp != nil || pe.Repl != nil || pe.Length || pe.Index != nil {
		return false, false
	}
	return pe.Param.Value == "@" || (pe.Param.Value == "*" && !quoted), quoted
}

func (in *interp) pieces(e *env, f *file, parts []syntax.WordPart, quoted bool) []piece {
	var out []piece
	for _, part := range parts {
		switch p := part.(type) {
		case *syntax.Lit:
			s := p.Value
			if quoted {
				s = unescapeDouble(s)
			} else {
				s = unescapeBare(s)
			}
			out = append(out, piece{v: lit(s), glob: !quoted && hasGlob(p.Value)})
		case *syntax.SglQuoted:
			s := p.Value
			if p.Dollar {
				s = unescapeANSI(s)
			}
			out = append(out, piece{v: lit(s)})
		case *syntax.DblQuoted:
			inner := in.pieces(e, f, p.Parts, true)
			if len(inner) == 0 {
				inner = []piece{{v: lit("")}}
			}
			out = append(out, inner...)
		case *syntax.ParamExp:
			out = append(out, piece{v: in.param(e, f, p), split: !quoted})
		case *syntax.CmdSubst:
			out = append(out, piece{v: in.cmdSubst(e, f, p), split: !quoted})
		case *syntax.ArithmExp:
			if n, ok := in.arith(e, f, p.X); ok {
				out = append(out, piece{v: lit(strconv.Itoa(n)), split: !quoted})
			} else {
				out = append(out, piece{v: unknown(f.text(part))})
			}
		default: // process substitution, extended globs, braces
			out = append(out, piece{v: unknown(f.text(part))})
		}
	}
	return out
}

// unescapeBare drops the backslashes of an unquoted literal.
func unescapeBare(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unescapeDouble drops the backslashes that escape $ ` " \ or a newline
// inside double quotes.
func unescapeDouble(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unescapeANSI(s string) string {
	r := strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\\`, `\`, `\'`, "'", `\"`, `"`)
	return r.Replace(s)
}

// lookup returns a parameter's value and whether it is set.
func (in *interp) lookup(e *env, name string) (value, bool) {
	if n, err := strconv.Atoi(name); err == nil {
		if n == 0 {
			return lit("/var/lib/dpkg/info/" + in.pkg + "." + in.script), true
		}
		if n <= len(e.args) {
			return e.args[n-1], true
		}
		return lit(""), false
	}
	switch name {
	case "#":
		return lit(strconv.Itoa(len(e.args))), true
	case "@", "*":
		var ss []string
		for _, a := range e.args {
			if !a.known {
				return unknown("$" + name), true
			}
			ss = append(ss, a.s)
		}
		return lit(strings.Join(ss, " ")), true
	case "$":
		// The script's pid, which names its temporary files: any fixed
		// text keeps those names consistent.
		return lit("$$"), true
	case "?", "!", "-", "_":
		return unknown("$" + name), true
	}
	if v, ok := e.get(name); ok {
		return v, true
	}
	if e.opaque {
		return unknown("$" + name), true
	}
	return lit(""), false
}

func (in *interp) param(e *env, f *file, p *syntax.ParamExp) value {
	if p.Param == nil || p.Excl || p.Index != nil || p.Slice != nil || p.Names != 0 {
		return unknown(f.text(p))
	}
	v, set := in.lookup(e, p.Param.Value)
	switch {
	case p.Length:
		if !v.known {
			return unknown(f.text(p))
		}
		return lit(strconv.Itoa(len(v.s)))
	case p.Repl != nil:
		return in.replace(e, f, p, v)
	case p.Exp != nil:
		return in.paramOp(e, f, p, v, set)
	}
	return v
}

func (in *interp) paramOp(e *env, f *file, p *syntax.ParamExp, v value, set bool) value {
	op := p.Exp.Op
	null := set && v.known && v.s == ""
	switch op {
	case syntax.DefaultUnset, syntax.DefaultUnsetOrNull, syntax.AssignUnset, syntax.AssignUnsetOrNull:
		useWord := !set || (null && (op == syntax.DefaultUnsetOrNull || op == syntax.AssignUnsetOrNull))
		if set && !v.known {
			return unknown(f.text(p))
		}
		if !useWord {
			return v
		}
		w := in.word(e, f, p.Exp.Word)
		if op == syntax.AssignUnset || op == syntax.AssignUnsetOrNull {
			e.set(p.Param.Value, w)
		}
		return w
	case syntax.AlternateUnset, syntax.AlternateUnsetOrNull:
		if set && !v.known && op == syntax.AlternateUnsetOrNull {
			return unknown(f.text(p))
		}
		if !set || (null && op == syntax.AlternateUnsetOrNull) {
			return lit("")
		}
		return in.word(e, f, p.Exp.Word)
	case syntax.ErrorUnset, syntax.ErrorUnsetOrNull:
		return v
	case syntax.RemSmallPrefix, syntax.RemLargePrefix, syntax.RemSmallSuffix, syntax.RemLargeSuffix:
		pat := in.word(e, f, p.Exp.Word)
		if !v.known || !pat.known {
			return unknown(f.text(p))
		}
		return lit(removePattern(v.s, pat.s, op))
	}
	return unknown(f.text(p))
}

func (in *interp) replace(e *env, f *file, p *syntax.ParamExp, v value) value {
	orig, with := in.word(e, f, p.Repl.Orig), in.word(e, f, p.Repl.With)
	if !v.known || !orig.known || !with.known || strings.ContainsAny(orig.s, "*?[") {
		return unknown(f.text(p))
	}
	if p.Repl.All {
		return lit(strings.ReplaceAll(v.s, orig.s, with.s))
	}
	return lit(strings.Replace(v.s, orig.s, with.s, 1))
}

// removePattern is ${v#pat}, ${v##pat}, ${v%pat} and ${v%%pat}.
func removePattern(s, pat string, op syntax.ParExpOperator) string {
	switch op {
	case syntax.RemSmallPrefix, syntax.RemLargePrefix:
		best := -1
		for i := 0; i <= len(s); i++ {
			if globMatch(pat, s[:i]) {
				best = i
				if op == syntax.RemSmallPrefix {
					break
				}
			}
		}
		if best >= 0 {
			return s[best:]
		}
	default:
		best := -1
		for i := len(s); i >= 0; i-- {
			if globMatch(pat, s[i:]) {
				best = i
				if op == syntax.RemSmallSuffix {
					break
				}
			}
		}
		if best >= 0 {
			return s[:best]
		}
	}
	return s
}

var (
	globMu    sync.Mutex
	globCache = map[string]*regexp.Regexp{}
)

// globMatch matches s against a shell pattern (*, ?, [...], \x), where
// * also matches "/", as case and ${v#pat} do. A pattern that does not
// translate matches only itself.
func globMatch(pat, s string) bool {
	globMu.Lock()
	re, ok := globCache[pat]
	if !ok {
		var err error
		if re, err = regexp.Compile("^" + globRegexp(pat) + "$"); err != nil {
			re = regexp.MustCompile("^" + regexp.QuoteMeta(pat) + "$")
		}
		globCache[pat] = re
	}
	globMu.Unlock()
	return re.MatchString(s)
}

func globRegexp(pat string) string {
	var b strings.Builder
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch c {
		case '*':
			b.WriteString("(?s:.*)")
		case '?':
			b.WriteString("(?s:.)")
		case '\\':
			if i+1 < len(pat) {
				i++
				b.WriteString(regexp.QuoteMeta(string(pat[i])))
			} else {
				b.WriteString(`\\`)
			}
		case '[':
			class, n := bracket(pat[i:])
			if n == 0 {
				b.WriteString(`\[`)
				continue
			}
			b.WriteString(class)
			i += n - 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// bracket translates the bracket expression at the start of p ("[...]",
// with [:class:] inside, ! or ^ negating, a leading ] literal) and returns
// it with its length; 0 when p does not hold a complete one.
func bracket(p string) (string, int) {
	var b strings.Builder
	b.WriteByte('[')
	i := 1
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		b.WriteByte('^')
		i++
	}
	first := true
	for ; i < len(p); i++ {
		c := p[i]
		switch {
		case c == ']' && !first:
			b.WriteByte(']')
			return b.String(), i + 1
		case c == '[' && i+1 < len(p) && p[i+1] == ':':
			end := strings.Index(p[i+2:], ":]")
			if end < 0 {
				return "", 0
			}
			b.WriteString(p[i : i+2+end+2])
			i += 2 + end + 1
		case c == '\\' || c == ']' || c == '[':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
		first = false
	}
	return "", 0
}

// arith evaluates $((...)) on integers, when every operand is known.
func (in *interp) arith(e *env, f *file, x syntax.ArithmExpr) (int, bool) {
	switch x := x.(type) {
	case *syntax.Word:
		v := in.word(e, f, x)
		if !v.known {
			return 0, false
		}
		s := strings.TrimSpace(v.s)
		if n, err := strconv.Atoi(s); err == nil {
			return n, true
		}
		if validName(s) { // a bare variable name
			if w, ok := e.get(s); ok && w.known {
				n, err := strconv.Atoi(strings.TrimSpace(w.s))
				return n, err == nil
			}
		}
		return 0, false
	case *syntax.ParenArithm:
		return in.arith(e, f, x.X)
	case *syntax.BinaryArithm:
		a, ok1 := in.arith(e, f, x.X)
		b, ok2 := in.arith(e, f, x.Y)
		if !ok1 || !ok2 {
			return 0, false
		}
		switch x.Op {
		case syntax.Add:
			return a + b, true
		case syntax.Sub:
			return a - b, true
		case syntax.Mul:
			return a * b, true
		case syntax.Quo:
			if b != 0 {
				return a / b, true
			}
		case syntax.Rem:
			if b != 0 {
				return a % b, true
			}
		}
	}
	return 0, false
}
