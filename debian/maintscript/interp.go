package maintscript

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// maxSteps bounds the statements one script's analysis evaluates
// (function bodies count once per call).
const maxSteps = 200000

// file is a parsed script or sourced helper.
type file struct {
	name     string // Source.Script
	src      []byte
	ast      *syntax.File
	snippets []snippet
	// lineOffset is added to line numbers: a command string (su -c,
	// eval) reports the lines of the script it is in.
	lineOffset int
}

type snippet struct {
	first, last int // lines
	name        string
}

var (
	snippetStart = regexp.MustCompile(`^# Automatically added by (\S+)`)
	snippetEnd   = regexp.MustCompile(`^# End automatically added section`)
)

func parseFile(name string, src []byte) (*file, error) {
	// The parser refuses invalid UTF-8, which a few scripts have in
	// comments or messages; replacing it keeps every line where it was.
	src = []byte(strings.ToValidUTF8(string(src), "\uFFFD"))
	p := syntax.NewParser(syntax.Variant(syntax.LangBash))
	ast, err := p.Parse(bytes.NewReader(src), name)
	if err != nil {
		return nil, err
	}
	f := &file{name: name, src: src, ast: ast}
	for i, l := range strings.Split(string(src), "\n") {
		if m := snippetStart.FindStringSubmatch(l); m != nil {
			f.snippets = append(f.snippets, snippet{first: i + 1, last: 1 << 30, name: m[1]})
		} else if snippetEnd.MatchString(l) && len(f.snippets) > 0 {
			f.snippets[len(f.snippets)-1].last = i + 1
		}
	}
	return f, nil
}

// text is n's source text on one line (continuations and runs of blanks
// become one space; here-document bodies are left out).
func (f *file) text(n syntax.Node) string {
	start, end := int(n.Pos().Offset()), int(n.End().Offset())
	if start < 0 || end > len(f.src) || start > end {
		return ""
	}
	return oneLine(string(f.src[start:end]))
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\\\n", " ")
	return strings.Join(strings.Fields(s), " ")
}

// line is s's line in the script f belongs to.
func (f *file) line(s *syntax.Stmt) int { return f.lineOffset + int(s.Pos().Line()) }

func (f *file) snippetAt(line int) string {
	for _, s := range f.snippets {
		if line >= s.first && line <= s.last {
			return s.name
		}
	}
	return ""
}

type function struct {
	name string
	body *syntax.Stmt
	f    *file
}

// interp evaluates one script abstractly and records what it does.
type interp struct {
	*run
	script string // preinst, postinst, ... ($0's suffix)
	phase  Phase
	funcs  map[string]function
	via    []string
	subst  int    // > 0 inside $(...): unknown commands only compute a value
	user   string // who commands run as (su, runuser); "" is root
	// input is the standard input of the compound command being run (a
	// here-document or a file), which while read loops iterate over.
	input *value
	// capture collects output for $(...); branches counts the undecided
	// branches followed, which make a capture unknown.
	capture  *capture
	branches int
	steps    int
	temps    int
	// tempFiles holds, per mktemp result, what was written into it;
	// tempNames the names nameTemps gave them; shellScripts the commands
	// whose output, a shell script, went there.
	tempFiles    map[int]*File
	tempNames    map[string]int
	shellScripts map[int][]string
	// aliases are what alias defined: name → the command text.
	aliases map[string]string
	// ownerFind is the last find into a pipe that lists the paths under
	// its roots whose owner or group is not the one named (xargs reads it).
	ownerFind *ownerSel
}

func (in *interp) stmts(e *env, f *file, list []*syntax.Stmt) tri {
	st := yes
	for _, s := range list {
		if e.state != running {
			break
		}
		st = in.stmt(e, f, s)
	}
	return st
}

func (in *interp) stmt(e *env, f *file, s *syntax.Stmt) tri {
	in.steps++
	if in.steps > maxSteps {
		if in.steps == maxSteps+1 {
			in.unhandled(f, s, "the script is too complex to follow (more than 200000 steps)")
		}
		e.state = exited
		return maybe
	}
	var r tri
	if c, ok := s.Cmd.(*syntax.CallExpr); ok {
		r = in.call(e, f, s, c)
	} else {
		cl := &call{in: in, e: e, f: f, s: s, name: "a compound command"}
		in.redirects(cl, s.Redirs)
		saved := in.input
		if cl.stdin != nil {
			in.input = cl.stdin
		}
		if cl.stdout.s != "" || cl.stdout.temp > 0 {
			// What the commands print goes into the file.
			var text string
			var known bool
			text, known = in.captured(false, func() { r = in.compound(e, f, s) })
			if known {
				cl.stdin = &value{s: text, known: true}
				cl.name = "echo"
				writeFile(cl)
			} else if cl.stdout.known && strings.HasPrefix(path.Clean(cl.stdout.s), "/var/log/") {
				// munin-node's record of its plugin autoconfiguration.
				in.note(&in.an.Ignored, f, s, "writes a log of what the script ran under /var/log: nothing reads it (on kiln, what a first-run command prints is in its unit's journal)")
			} else {
				in.unhandled(f, s, fmt.Sprintf("writes %s from a compound command with output the analysis cannot compute", cl.stdout.s))
			}
		} else {
			r = in.compound(e, f, s)
		}
		in.input = saved
	}
	if s.Negated {
		r = r.not()
	}
	return r
}

func (in *interp) compound(e *env, f *file, s *syntax.Stmt) tri {
	switch c := s.Cmd.(type) {
	case nil:
		return yes
	case *syntax.IfClause:
		return in.ifClause(e, f, c)
	case *syntax.CaseClause:
		return in.caseClause(e, f, c)
	case *syntax.BinaryCmd:
		return in.binary(e, f, c)
	case *syntax.Block:
		return in.stmts(e, f, c.Stmts)
	case *syntax.Subshell:
		sub := e.clone()
		r := in.stmts(sub, f, c.Stmts)
		if sub.state == exited {
			return maybe
		}
		return r
	case *syntax.FuncDecl:
		if c.Name != nil {
			in.funcs[c.Name.Value] = function{name: c.Name.Value, body: c.Body, f: f}
		}
		return yes
	case *syntax.WhileClause:
		return in.while(e, f, c)
	case *syntax.ForClause:
		return in.forClause(e, f, c)
	case *syntax.TestClause:
		return in.testExpr(e, f, c.X)
	case *syntax.DeclClause:
		return in.decl(e, f, c)
	case *syntax.TimeClause:
		if c.Stmt != nil {
			return in.stmt(e, f, c.Stmt)
		}
		return yes
	case *syntax.ArithmCmd, *syntax.LetClause:
		return maybe
	}
	in.unhandled(f, s, fmt.Sprintf("shell construct %T is not followed", s.Cmd))
	return maybe
}

// branch runs a and b on clones of e and joins them into e.
func (in *interp) branch(e *env, a, b func(*env) tri) tri {
	in.branches++
	ea, eb := e.clone(), e.clone()
	ra, rb := a(ea), b(eb)
	e.join(ea, eb)
	if ra == rb {
		return ra
	}
	return maybe
}

func (in *interp) ifClause(e *env, f *file, c *syntax.IfClause) tri {
	if len(c.Cond) == 0 { // else
		return in.stmts(e, f, c.Then)
	}
	cond := in.stmts(e, f, c.Cond)
	if e.state != running {
		return cond
	}
	then := func(e *env) tri { return in.stmts(e, f, c.Then) }
	els := func(e *env) tri {
		if c.Else == nil {
			return yes
		}
		return in.ifClause(e, f, c.Else)
	}
	switch cond {
	case yes:
		return then(e)
	case no:
		return els(e)
	}
	return in.branch(e, then, els)
}

func (in *interp) caseClause(e *env, f *file, c *syntax.CaseClause) tri {
	w := in.word(e, f, c.Word)
	if w.known {
		for i, item := range c.Items {
			for _, p := range item.Patterns {
				pat := in.word(e, f, p)
				if !pat.known {
					return in.caseAll(e, f, c.Items[i:])
				}
				if globMatch(pat.s, w.s) {
					return in.stmts(e, f, item.Stmts)
				}
			}
		}
		return yes
	}
	return in.caseAll(e, f, c.Items)
}

// caseAll follows every item of a case whose word is not known, and the
// path where none matches unless an item matches anything.
func (in *interp) caseAll(e *env, f *file, items []*syntax.CaseItem) tri {
	in.branches++
	var acc *env
	r := yes
	catchAll := false
	for i, item := range items {
		ei := e.clone()
		ri := in.stmts(ei, f, item.Stmts)
		if i == 0 {
			r = ri
		} else if ri != r {
			r = maybe
		}
		for _, p := range item.Patterns {
			catchAll = catchAll || p.Lit() == "*"
		}
		acc = joined(acc, ei)
	}
	if !catchAll || acc == nil {
		acc = joined(acc, e.clone())
	}
	*e = *acc
	return r
}

// joined is the join of a (nil: none yet) and b.
func joined(a, b *env) *env {
	if a == nil {
		return b
	}
	j := &env{}
	j.join(a, b)
	return j
}

func (in *interp) binary(e *env, f *file, c *syntax.BinaryCmd) tri {
	switch c.Op {
	case syntax.AndStmt, syntax.OrStmt:
		x := in.stmt(e, f, c.X)
		if e.state != running {
			return x
		}
		// && runs Y when X succeeded, || when it failed.
		runY := x
		if c.Op == syntax.OrStmt {
			runY = x.not()
		}
		switch runY {
		case yes:
			return in.stmt(e, f, c.Y)
		case no:
			return x
		}
		// Where Y does not run, X decided the status: failed for &&,
		// succeeded for || (so "maybe && false" is false).
		skipped := no
		if c.Op == syntax.OrStmt {
			skipped = yes
		}
		return in.branch(e, func(e *env) tri { return in.stmt(e, f, c.Y) }, func(*env) tri { return skipped })
	default: // a pipeline: every command runs; its status is the last one's
		text, known, origin := in.capturedFrom(false, func() { in.stmt(e.clone(), f, c.X) })
		saved := in.input
		in.input = &value{s: text, known: known}
		if !known {
			in.input.origin = origin
		}
		defer func() { in.input = saved }()
		return in.stmt(e, f, c.Y)
	}
}

// maxIterations bounds a while loop run iteration by iteration.
const maxIterations = 100

func (in *interp) while(e *env, f *file, c *syntax.WhileClause) tri {
	if vars, ok := readLoop(c); ok && in.input != nil && in.input.known && !c.Until {
		return in.readLines(e, f, c, vars)
	}
	// While the condition is decided, the loop runs as the shell runs it
	// (exim4-config's debconf state machine: while [ "$STATE" != 0 ]).
	cond := in.whileCond(e, f, c)
	for i := 0; cond == yes && e.state == running && i < maxIterations; i++ {
		in.stmts(e, f, c.Do)
		if e.state == broke {
			stop := e.breaking
			e.state, e.breaking = running, false
			if stop {
				return yes
			}
		}
		if e.state != running {
			return yes
		}
		cond = in.whileCond(e, f, c)
	}
	// The body may run any number of times: follow it once, on a path
	// joined with the one where it does not run.
	if cond != maybe || e.state != running {
		return yes
	}
	in.branch(e, func(e *env) tri {
		r := in.stmts(e, f, c.Do)
		if e.state == broke {
			e.state, e.breaking = running, false
		}
		return r
	}, func(*env) tri { return yes })
	return yes
}

func (in *interp) whileCond(e *env, f *file, c *syntax.WhileClause) tri {
	cond := in.stmts(e, f, c.Cond)
	if c.Until {
		cond = cond.not()
	}
	return cond
}

// readLoop reports whether c is "while read [-r] VAR...", and its
// variables.
func readLoop(c *syntax.WhileClause) ([]string, bool) {
	if len(c.Cond) != 1 {
		return nil, false
	}
	// read <&N reads the descriptor the loop's own N<FILE opens
	// (cryptsetup's crypttab_foreach_entry: done 9<"$TABFILE").
	for _, r := range c.Cond[0].Redirs {
		if r.Op != syntax.DplIn || r.N != nil && r.N.Value != "0" || r.Word == nil || !isDigits(r.Word.Lit()) {
			return nil, false
		}
	}
	call, ok := c.Cond[0].Cmd.(*syntax.CallExpr)
	if !ok || len(call.Args) == 0 || call.Args[0].Lit() != "read" {
		return nil, false
	}
	// IFS set to blanks splits as the default does; another IFS does not.
	for _, a := range call.Assigns {
		if a.Name == nil || a.Name.Value != "IFS" || !blankWord(a.Value) {
			return nil, false
		}
	}
	var vars []string
	for _, a := range call.Args[1:] {
		l := a.Lit()
		switch {
		case l == "-r":
		case validName(l):
			vars = append(vars, l)
		default:
			return nil, false
		}
	}
	return vars, len(vars) > 0
}

// blankWord says whether w is a literal of spaces and tabs only (quoted
// or not), and not empty.
func blankWord(w *syntax.Word) bool {
	if w == nil {
		return false
	}
	var b strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				l, ok := q.(*syntax.Lit)
				if !ok {
					return false
				}
				b.WriteString(l.Value)
			}
		default:
			return false
		}
	}
	return b.Len() > 0 && strings.Trim(b.String(), " \t") == ""
}

// readLines runs a while read loop over its known input, line by line
// (an empty input: the body never runs).
func (in *interp) readLines(e *env, f *file, c *syntax.WhileClause, vars []string) tri {
	// read fails at the end of the input: no line, no iteration.
	ls := lines(in.input.s)
	if len(ls) > 1000 {
		return maybe
	}
	for _, l := range ls {
		if e.state != running {
			break
		}
		// Each variable but the last takes a field; the last takes the
		// rest of the line as it is, without the blanks around it.
		rest := strings.Trim(l, " \t")
		for i, v := range vars {
			if i == len(vars)-1 {
				e.set(v, lit(rest))
				break
			}
			field, more := rest, ""
			if j := strings.IndexAny(rest, " \t"); j >= 0 {
				field, more = rest[:j], rest[j+1:]
			}
			e.set(v, lit(field))
			rest = strings.TrimLeft(more, " \t")
		}
		in.loopBody(e, f, c.Do)
	}
	return yes
}

func (in *interp) forClause(e *env, f *file, c *syntax.ForClause) tri {
	wi, ok := c.Loop.(*syntax.WordIter)
	if !ok {
		return in.branch(e, func(e *env) tri { return in.loopBody(e, f, c.Do) }, func(*env) tri { return yes })
	}
	var items []value
	if !wi.InPos.IsValid() {
		items = append(items, e.args...)
	}
	for _, w := range wi.Items {
		items = append(items, in.fields(e, f, w)...)
	}
	allKnown := len(items) <= 1000
	for _, it := range items {
		allKnown = allKnown && it.known
	}
	name := wi.Name.Value
	if !allKnown {
		return in.branch(e, func(e *env) tri {
			e.set(name, derived("$"+name, items...))
			return in.loopBody(e, f, c.Do)
		}, func(*env) tri { return yes })
	}
	r := yes
	for _, it := range items {
		if e.state != running {
			break
		}
		e.set(name, it)
		r = in.loopBody(e, f, c.Do)
	}
	return r
}

func (in *interp) loopBody(e *env, f *file, body []*syntax.Stmt) tri {
	r := in.stmts(e, f, body)
	if e.state == broke {
		e.state, e.breaking = running, false
	}
	return r
}

func (in *interp) decl(e *env, f *file, c *syntax.DeclClause) tri {
	for _, a := range c.Args {
		if a.Name != nil && c.Variant != nil && c.Variant.Value == "local" {
			e.local(a.Name.Value)
		}
		if a.Name == nil || a.Naked {
			continue
		}
		if a.Array != nil {
			e.set(a.Name.Value, unknown("$"+a.Name.Value))
			continue
		}
		e.set(a.Name.Value, in.word(e, f, a.Value))
	}
	return yes
}

// callFunc runs a shell function with its own positional parameters.
func (in *interp) callFunc(e *env, f *file, s *syntax.Stmt, fn function, args []value) tri {
	if len(in.via) >= 16 {
		in.unhandled(f, s, "function calls nest too deeply to follow")
		return maybe
	}
	in.via = append(in.via, fmt.Sprintf("%s:%d %s", f.name, f.line(s), fn.name))
	defer func() { in.via = in.via[:len(in.via)-1] }()
	outer := e.args
	e.args = args
	e.frames = append(e.frames, map[string]saved{})
	depth := len(e.frames)
	r := in.stmt(e, fn.f, fn.body)
	e.args = outer
	if len(e.frames) == depth {
		e.popFrame()
	}
	if e.state == returned {
		e.state = running
	}
	return r
}
