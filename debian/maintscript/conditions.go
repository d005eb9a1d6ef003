package maintscript

import (
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// testBuiltin evaluates [ ... ] and test ....
func testBuiltin(cl *call) tri {
	args := cl.args
	if cl.name == "[" {
		if len(args) == 0 || args[len(args)-1].s != "]" {
			return maybe
		}
		args = args[:len(args)-1]
	}
	t := &tester{fa: cl.in.facts, args: args}
	r := t.or()
	if t.pos != len(t.args) {
		return maybe
	}
	return r
}

// tester parses test's arguments: -o binds looser than -a, ! and
// parentheses as POSIX test does.
type tester struct {
	fa   *facts
	args []value
	pos  int
}

func (t *tester) peek(off int) (value, bool) {
	if t.pos+off < len(t.args) {
		return t.args[t.pos+off], true
	}
	return value{}, false
}

func (t *tester) or() tri {
	r := t.and()
	for {
		if v, ok := t.peek(0); !ok || v.s != "-o" {
			return r
		}
		t.pos++
		r = triOr(r, t.and())
	}
}

func (t *tester) and() tri {
	r := t.not()
	for {
		if v, ok := t.peek(0); !ok || v.s != "-a" {
			return r
		}
		t.pos++
		r = triAnd(r, t.not())
	}
}

func (t *tester) not() tri {
	if v, ok := t.peek(0); ok && v.s == "!" && v.known {
		if _, more := t.peek(1); more {
			t.pos++
			return t.not().not()
		}
	}
	return t.primary()
}

func (t *tester) primary() tri {
	a, ok := t.peek(0)
	if !ok {
		return no
	}
	if a.known && a.s == "(" {
		t.pos++
		r := t.or()
		if v, ok := t.peek(0); ok && v.s == ")" {
			t.pos++
		}
		return r
	}
	if op, ok := t.peek(1); ok && op.known && binaryTestOps[op.s] {
		if b, ok := t.peek(2); ok {
			t.pos += 3
			return compare(t.fa, a, op.s, b)
		}
	}
	if a.known && len(a.s) == 2 && a.s[0] == '-' {
		if b, ok := t.peek(1); ok {
			t.pos += 2
			return unaryTest(t.fa, a.s, b)
		}
	}
	t.pos++
	if !a.known {
		return maybe
	}
	return triOf(a.s != "")
}

var binaryTestOps = map[string]bool{
	"=": true, "==": true, "!=": true, "<": true, ">": true,
	"-eq": true, "-ne": true, "-lt": true, "-le": true, "-gt": true, "-ge": true,
	"-nt": true, "-ot": true, "-ef": true,
}

func unaryTest(fa *facts, op string, v value) tri {
	switch op {
	case "-z", "-n":
		if !v.known {
			return maybe
		}
		return triOf((v.s == "") == (op == "-z"))
	case "-t", "-v", "-o":
		return maybe
	}
	if !v.known {
		return maybe
	}
	return fa.test(op, v.s)
}

func compare(fa *facts, a value, op string, b value) tri {
	if !a.known || !b.known {
		return maybe
	}
	switch op {
	case "=", "==":
		return triOf(a.s == b.s)
	case "!=":
		return triOf(a.s != b.s)
	case "<":
		return triOf(a.s < b.s)
	case ">":
		return triOf(a.s > b.s)
	case "-nt", "-ot", "-ef":
		return maybe
	}
	x, err1 := strconv.Atoi(strings.TrimSpace(a.s))
	y, err2 := strconv.Atoi(strings.TrimSpace(b.s))
	if err1 != nil || err2 != nil {
		return maybe
	}
	switch op {
	case "-eq":
		return triOf(x == y)
	case "-ne":
		return triOf(x != y)
	case "-lt":
		return triOf(x < y)
	case "-le":
		return triOf(x <= y)
	case "-gt":
		return triOf(x > y)
	}
	return triOf(x >= y)
}

func triAnd(a, b tri) tri {
	switch {
	case a == no || b == no:
		return no
	case a == yes && b == yes:
		return yes
	}
	return maybe
}

func triOr(a, b tri) tri {
	switch {
	case a == yes || b == yes:
		return yes
	case a == no && b == no:
		return no
	}
	return maybe
}

// testExpr evaluates bash's [[ ... ]].
func (in *interp) testExpr(e *env, f *file, x syntax.TestExpr) tri {
	switch x := x.(type) {
	case *syntax.Word:
		v := in.word(e, f, x)
		if !v.known {
			return maybe
		}
		return triOf(v.s != "")
	case *syntax.ParenTest:
		return in.testExpr(e, f, x.X)
	case *syntax.UnaryTest:
		if x.Op == syntax.TsNot {
			return in.testExpr(e, f, x.X).not()
		}
		w, ok := x.X.(*syntax.Word)
		if !ok {
			return maybe
		}
		return unaryTest(in.facts, x.Op.String(), in.word(e, f, w))
	case *syntax.BinaryTest:
		switch x.Op {
		case syntax.AndTest:
			return triAnd(in.testExpr(e, f, x.X), in.testExpr(e, f, x.Y))
		case syntax.OrTest:
			return triOr(in.testExpr(e, f, x.X), in.testExpr(e, f, x.Y))
		}
		wx, ok1 := x.X.(*syntax.Word)
		wy, ok2 := x.Y.(*syntax.Word)
		if !ok1 || !ok2 {
			return maybe
		}
		a, b := in.word(e, f, wx), in.word(e, f, wy)
		switch x.Op {
		case syntax.TsMatch, syntax.TsMatchShort, syntax.TsNoMatch:
			if !a.known || !b.known {
				return maybe
			}
			m := triOf(globMatch(b.s, a.s))
			if x.Op == syntax.TsNoMatch {
				return m.not()
			}
			return m
		case syntax.TsReMatch:
			return maybe
		}
		return compare(in.facts, a, x.Op.String(), b)
	}
	return maybe
}
