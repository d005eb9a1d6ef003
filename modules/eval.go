package modules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// frame is one node on the evaluation stack, with the reference that led
// to it (for cycle reports).
type frame struct {
	n   *inst
	via ref
}

// evaluate computes every leaf and element in dependency order, then
// checks the assertions.
func (l *loader) evaluate() hcl.Diagnostics {
	for _, n := range l.nodes {
		l.visit(n, ref{})
	}
	if l.diags.HasErrors() {
		return l.diags
	}
	l.checkAssertions()
	return l.diags
}

// visit evaluates n after everything it depends on. It reports whether n
// was evaluated without error.
func (l *loader) visit(n *inst, via ref) bool {
	switch n.state {
	case 2:
		return !n.failed
	case 1:
		l.reportCycle(n, via)
		return false
	}
	n.state = 1
	l.stack = append(l.stack, frame{n: n, via: via})
	ok := true
	for _, e := range l.deps(n) {
		targets := []*inst{e.to}
		if !e.exact {
			targets = expand(e.to, nil)
		}
		for _, m := range targets {
			if !l.visit(m, e) {
				ok = false
			}
		}
	}
	l.stack = l.stack[:len(l.stack)-1]
	n.state = 2
	if !ok || n.failed {
		n.failed = true
		return false
	}
	if n.isElem {
		l.computeElement(n)
	} else {
		l.computeLeaf(n)
	}
	return !n.failed
}

// deps lists what a node's value depends on.
func (l *loader) deps(n *inst) []ref {
	var out []ref
	if n.isElem {
		if p := n.parent.elem; p != nil {
			out = append(out, ref{to: p, rng: n.defs[0].rng, src: p.path, exact: true})
		}
	} else if n.elem != nil {
		out = append(out, ref{to: n.elem, rng: n.elem.defs[0].rng, src: n.elem.path, exact: true})
	}
	for _, d := range n.defs {
		out = append(out, d.refs...)
		for c := d.cond; c != nil; c = c.parent {
			out = append(out, c.refs...)
		}
	}
	return out
}

// expand lists the graph nodes (leaves, elements) at or under an instance.
func expand(i *inst, out []*inst) []*inst {
	switch {
	case i.opt.kind == kindLeaf:
		return append(out, i)
	case i.isElem:
		out = append(out, i)
	}
	keys := make([]string, 0, len(i.children))
	for k := range i.children {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = expand(i.children[k], out)
	}
	return out
}

// reportCycle reports the cycle closed by reaching n (on the stack) via ref.
func (l *loader) reportCycle(n *inst, via ref) {
	start := len(l.stack) - 1
	for start >= 0 && l.stack[start].n != n {
		start--
	}
	if start < 0 {
		return
	}
	cycle := append(append([]frame(nil), l.stack[start+1:]...), frame{n: n, via: via})
	for _, f := range l.stack[start:] {
		if f.n.failed {
			return // already reported through another edge
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s depends on itself:", n.path)
	prev := n
	for _, f := range cycle {
		fmt.Fprintf(&b, "\n  %s: %s refers to %s", rangeText(f.via.rng), prev.path, f.via.src)
		prev = f.n
	}
	b.WriteString("\nBreak the cycle by giving one of these a value that does not refer back.")
	l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cycle in config references",
		Detail: b.String(), Subject: cycle[0].via.rng.Ptr()})
	for _, f := range l.stack[start:] {
		f.n.failed = true
	}
}

// rangeText renders a range as file:line,col-col (or -line,col).
func rangeText(r hcl.Range) string {
	if r.End.Line != r.Start.Line {
		return fmt.Sprintf("%s:%d,%d-%d,%d", r.Filename, r.Start.Line, r.Start.Column, r.End.Line, r.End.Column)
	}
	return fmt.Sprintf("%s:%d,%d-%d", r.Filename, r.Start.Line, r.Start.Column, r.End.Column)
}

// condTrue evaluates a condition chain (memoized).
func (l *loader) condTrue(c *condition) bool {
	if c == nil {
		return true
	}
	if !l.condTrue(c.parent) {
		return false
	}
	if c.done {
		return c.value
	}
	c.done = true
	v, diags := c.expr.Value(l.evalCtx(c.file, c.refs, c.pkgs, nil))
	if diags.HasErrors() {
		l.diags = append(l.diags, diags...)
		return false
	}
	v, _ = v.UnmarkDeep()
	v, err := convert.Convert(v, cty.Bool)
	if err != nil || v.IsNull() || !v.IsKnown() {
		l.errorf(c.expr.Range(), "Invalid when condition", "when must be true or false.")
		return false
	}
	c.value = v.True()
	return c.value
}

func (l *loader) computeElement(n *inst) {
	if p := n.parent.elem; p != nil && !p.exists {
		return
	}
	for _, d := range n.defs {
		if l.condTrue(d.cond) {
			d.active = true
			n.exists = true
		}
	}
}

func (l *loader) computeLeaf(n *inst) {
	if n.elem != nil && !n.elem.exists {
		return
	}
	n.exists = true
	var active []*definition
	for _, d := range n.defs {
		if !l.condTrue(d.cond) {
			d.note = "when is false"
			continue
		}
		var label *string
		if d.isDefault && n.elem != nil {
			label = &n.elem.key
		}
		v, diags := d.expr.Value(l.evalCtx(d.file, d.refs, d.pkgs, label))
		d.evaluated = true
		if diags.HasErrors() {
			l.diags = append(l.diags, diags...)
			n.failed = true
			continue
		}
		if l.unpack(d, v) {
			d.active = true
			active = append(active, d)
		}
	}
	if n.failed {
		return
	}
	l.merge(n, active)
}

func (l *loader) checkAssertions() {
	for _, a := range l.asserts {
		if !l.condTrue(a.cond) {
			continue
		}
		ctx := l.evalCtx(a.file, a.refs, a.pkgs, nil)
		v, diags := a.condition.Value(ctx)
		if diags.HasErrors() {
			l.diags = append(l.diags, diags...)
			continue
		}
		v, _ = v.UnmarkDeep()
		v, err := convert.Convert(v, cty.Bool)
		if err != nil || v.IsNull() || !v.IsKnown() {
			l.errorf(a.condition.Range(), "Invalid assertion", "condition must be true or false.")
			continue
		}
		if v.True() {
			continue
		}
		msg, diags := a.message.Value(ctx)
		text := "(the message could not be evaluated)"
		if !diags.HasErrors() {
			msg, _ = msg.UnmarkDeep()
			if m, err := convert.Convert(msg, cty.String); err == nil && !m.IsNull() && m.IsKnown() {
				text = m.AsString()
			}
		}
		l.errorf(a.condition.Range(), "Assertion failed", text)
	}
}
