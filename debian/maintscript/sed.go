package maintscript

import (
	"regexp"
	"strconv"
	"strings"
)

// A sed script the analysis runs on a known text: GNU sed's commands s,
// d, p, q, b, t and labels, blocks, and addresses (a line number, $,
// /RE/ with its I flag, ranges A,B and !). Scripts with other commands
// (a, i, c, y, N, hold space...) are not computed.

type sedAddr struct {
	kind byte // 0 none, 'n' line number, '$' last line, '/' regexp
	line int
	re   *regexp.Regexp
}

type sedOp struct {
	a1, a2 sedAddr
	neg    bool
	cmd    byte // s d p q b t : { }
	label  string
	re     *regexp.Regexp
	repl   string
	global bool
	print  bool
	jump   int // b, t: the index to go on at; {: the index after its }
}

type sedProgram struct {
	ops []sedOp
}

// parseSedScript parses a sed script (the -e expressions joined by
// newlines); ext is -E.
func parseSedScript(src string, ext bool) (*sedProgram, bool) {
	p := &sedParser{s: src, ext: ext}
	var stack []int
	for {
		p.skipSpace(true)
		if p.eof() {
			break
		}
		var op sedOp
		var ok bool
		if op.a1, ok = p.addr(); !ok {
			return nil, false
		}
		if op.a1.kind != 0 && p.peek() == ',' {
			p.i++
			p.skipSpace(false)
			if op.a2, ok = p.addr(); !ok || op.a2.kind == 0 {
				return nil, false
			}
		}
		p.skipSpace(false)
		if p.peek() == '!' {
			op.neg = true
			p.i++
			p.skipSpace(false)
		}
		if p.eof() {
			return nil, false
		}
		op.cmd = p.s[p.i]
		p.i++
		switch op.cmd {
		case '{':
			stack = append(stack, len(p.prog.ops))
		case '}':
			if len(stack) == 0 || op.a1.kind != 0 {
				return nil, false
			}
			p.prog.ops[stack[len(stack)-1]].jump = len(p.prog.ops) + 1
			stack = stack[:len(stack)-1]
		case 'd', 'p', 'q':
		case ':', 'b', 't':
			if op.cmd == ':' && op.a1.kind != 0 {
				return nil, false
			}
			p.skipSpace(false)
			start := p.i
			for !p.eof() && !strings.ContainsRune("; \t\n}", rune(p.s[p.i])) {
				p.i++
			}
			op.label = p.s[start:p.i]
			if op.cmd == ':' && op.label == "" {
				return nil, false
			}
		case 's':
			if !p.subst(&op) {
				return nil, false
			}
		default:
			return nil, false
		}
		p.prog.ops = append(p.prog.ops, op)
		p.skipSpace(false)
		switch {
		case p.eof(), op.cmd == '{', op.cmd == ':', p.peek() == '}':
			// GNU sed reads a label up to a blank: ":end q" is a label
			// and a command.
		case p.peek() == ';' || p.peek() == '\n':
			p.i++
		default:
			return nil, false
		}
	}
	if len(stack) > 0 {
		return nil, false
	}
	labels := map[string]int{}
	for i, op := range p.prog.ops {
		if op.cmd == ':' {
			labels[op.label] = i
		}
	}
	for i := range p.prog.ops {
		op := &p.prog.ops[i]
		if op.cmd == 'b' || op.cmd == 't' {
			if op.label == "" {
				op.jump = len(p.prog.ops)
				continue
			}
			j, ok := labels[op.label]
			if !ok {
				return nil, false
			}
			op.jump = j
		}
	}
	return &p.prog, true
}

type sedParser struct {
	s    string
	i    int
	ext  bool
	prog sedProgram
}

func (p *sedParser) eof() bool { return p.i >= len(p.s) }

func (p *sedParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

// skipSpace skips blanks (and newlines and semicolons between commands
// when between is set).
func (p *sedParser) skipSpace(between bool) {
	for !p.eof() {
		c := p.s[p.i]
		if c == ' ' || c == '\t' || between && (c == '\n' || c == ';') {
			p.i++
			continue
		}
		if between && c == '#' {
			for !p.eof() && p.s[p.i] != '\n' {
				p.i++
			}
			continue
		}
		return
	}
}

func (p *sedParser) addr() (sedAddr, bool) {
	switch c := p.peek(); {
	case c >= '0' && c <= '9':
		start := p.i
		for !p.eof() && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		n, _ := strconv.Atoi(p.s[start:p.i])
		// 0,/RE/ is a range whose end may be the first line.
		return sedAddr{kind: 'n', line: n}, n > 0 || p.peek() == ',' && strings.HasPrefix(p.s[p.i+1:], "/")
	case c == '$':
		p.i++
		return sedAddr{kind: '$'}, true
	case c == '/' || c == '\\':
		if c == '\\' {
			p.i++
		}
		d := p.peek()
		p.i++
		re, ok := p.delimited(d)
		if !ok {
			return sedAddr{}, false
		}
		icase := false
		for p.peek() == 'I' {
			icase = true
			p.i++
		}
		rx, ok := p.regexp(re, d, icase)
		return sedAddr{kind: '/', re: rx}, ok
	}
	return sedAddr{}, true
}

// delimited reads up to the unescaped delimiter d (a newline inside is
// not allowed) and moves past it.
func (p *sedParser) delimited(d byte) (string, bool) {
	start := p.i
	for ; !p.eof(); p.i++ {
		switch p.s[p.i] {
		case '\\':
			p.i++
		case d:
			s := p.s[start:p.i]
			p.i++
			return s, true
		case '\n':
			return "", false
		}
	}
	return "", false
}

func (p *sedParser) regexp(re string, d byte, icase bool) (*regexp.Regexp, bool) {
	re = strings.ReplaceAll(re, `\`+string(d), string(d))
	if !p.ext {
		re = breToERE(re)
	}
	if icase {
		re = "(?i)" + re
	}
	rx, err := regexp.Compile(re)
	return rx, err == nil
}

func (p *sedParser) subst(op *sedOp) bool {
	if p.eof() {
		return false
	}
	d := p.s[p.i]
	p.i++
	re, ok := p.delimited(d)
	if !ok {
		return false
	}
	start := p.i
	for ; !p.eof() && p.s[p.i] != d; p.i++ {
		if p.s[p.i] == '\\' {
			p.i++
		}
	}
	if p.eof() {
		return false
	}
	repl := p.s[start:p.i]
	p.i++
	icase := false
	for !p.eof() && strings.IndexByte("gpiI", p.s[p.i]) >= 0 {
		switch p.s[p.i] {
		case 'g':
			op.global = true
		case 'p':
			op.print = true
		default:
			icase = true
		}
		p.i++
	}
	if op.re, ok = p.regexp(re, d, icase); !ok {
		return false
	}
	op.repl = sedReplacement(strings.ReplaceAll(repl, "\\"+string(d), string(d)))
	return true
}

// sedReplacement turns sed's replacement (\1, &, \&, \n, \d) into
// regexp.Expand's template.
func sedReplacement(r string) string {
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == '\\' && i+1 < len(r):
			i++
			n := r[i]
			switch {
			case n >= '0' && n <= '9':
				b.WriteString("${" + string(n) + "}")
			case n == 'n':
				b.WriteByte('\n')
			case n == 't':
				b.WriteByte('\t')
			case n == '$':
				b.WriteString("$$")
			case n == '\n':
				b.WriteByte('\n')
			default:
				b.WriteByte(n)
			}
		case c == '&':
			b.WriteString("${0}")
		case c == '$':
			b.WriteString("$$")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// run applies the program to text; quiet is -n.
func (prog *sedProgram) run(text string, quiet bool) string {
	ls := lines(text)
	var out []string
	active := make([]bool, len(prog.ops)) // inside a range
	for i, op := range prog.ops {
		active[i] = op.a1.kind == 'n' && op.a1.line == 0
	}
	for n, l := range ls {
		num, last := n+1, n == len(ls)-1
		subst, deleted, quit := false, false, false
		for pc := 0; pc < len(prog.ops); {
			op := &prog.ops[pc]
			if op.cmd == ':' || op.cmd == '}' {
				pc++
				continue
			}
			match := op.matches(pc, l, num, last, active)
			if op.neg {
				match = !match
			}
			if !match {
				if op.cmd == '{' {
					pc = op.jump
				} else {
					pc++
				}
				continue
			}
			next := pc + 1
			switch op.cmd {
			case 's':
				if loc := op.re.FindStringSubmatchIndex(l); loc != nil {
					if op.global {
						l = op.re.ReplaceAllString(l, op.repl)
					} else {
						l = l[:loc[0]] + string(op.re.ExpandString(nil, op.repl, l, loc)) + l[loc[1]:]
					}
					subst = true
					if op.print {
						out = append(out, l)
					}
				}
			case 'd':
				deleted = true
			case 'p':
				out = append(out, l)
			case 'q':
				quit = true
			case 'b':
				next = op.jump
			case 't':
				if subst {
					subst = false
					next = op.jump
				}
			}
			if deleted || quit {
				break
			}
			pc = next
		}
		if !deleted && !quiet {
			out = append(out, l)
		}
		if quit {
			break
		}
	}
	return joinLines(out)
}

// matches is whether op's address selects line l (number num).
func (op *sedOp) matches(pc int, l string, num int, last bool, active []bool) bool {
	one := func(a sedAddr) bool {
		switch a.kind {
		case 0:
			return true
		case 'n':
			return num == a.line
		case '$':
			return last
		}
		return a.re.MatchString(l)
	}
	if op.a2.kind == 0 {
		return one(op.a1)
	}
	if active[pc] {
		switch op.a2.kind {
		case 'n':
			if num >= op.a2.line {
				active[pc] = false
			}
		default:
			if one(op.a2) {
				active[pc] = false
			}
		}
		return true
	}
	if !one(op.a1) {
		return false
	}
	// A range starts here; a line-number end at or before it ends it
	// at once, a regexp end is looked for from the next line.
	if op.a2.kind == 'n' && op.a2.line <= num {
		return true
	}
	if op.a2.kind == '$' && last {
		return true
	}
	active[pc] = true
	return true
}
