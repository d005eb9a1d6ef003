package modules

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
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

// unpack strips the marks of a definition's value into the definition,
// converts it to the option's type, and reports whether it takes part in
// the merge (mkIf false does not).
func (l *loader) unpack(d *definition, v cty.Value) bool {
	n := d.inst
	d.prio, d.order = prioPlain, orderPlain
	if d.isDefault {
		d.prio = prioOption
	}
	v, pvm := v.UnmarkDeepWithPaths()
	keep := true
	for _, pm := range pvm {
		for m := range pm.Marks {
			switch m := m.(type) {
			case pkgMark:
				d.used = append(d.used, string(m))
			case priorityMark:
				switch len(pm.Path) {
				case 0:
					d.prio = int(m)
				case 1:
					if k, ok := pathKey(pm.Path[0]); ok {
						if d.keyPrio == nil {
							d.keyPrio = map[string]int{}
						}
						d.keyPrio[k] = int(m)
					}
				}
			case orderMark:
				if len(pm.Path) == 0 {
					d.order = int(m)
				}
			case ifFalseMark:
				if len(pm.Path) == 0 {
					keep = false
				}
			}
		}
	}
	if !keep {
		d.note = "mkIf is false"
		return false
	}
	cv, err := convert.Convert(v, n.opt.typ)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError,
			Summary: fmt.Sprintf("Wrong type for option %q", n.path),
			Detail:  fmt.Sprintf("%s has type %s: %s.", n.path, typeexpr.TypeString(n.opt.typ), err),
			Subject: d.expr.Range().Ptr()})
		n.failed = true
		return false
	}
	if n.opt.relative && d.file.dir != "" && !cv.IsNull() && cv.Type() == cty.String {
		if s := cv.AsString(); s != "" && !filepath.IsAbs(s) {
			cv = cty.StringVal(filepath.Join(d.file.dir, s))
		}
	}
	d.value = cv
	return true
}

func pathKey(s cty.PathStep) (string, bool) {
	switch s := s.(type) {
	case cty.GetAttrStep:
		return s.Name, true
	case cty.IndexStep:
		if s.Key.Type() == cty.String {
			return s.Key.AsString(), true
		}
	}
	return "", false
}

// merge combines the active definitions of a leaf by priority and type.
func (l *loader) merge(n *inst, active []*definition) {
	typ := n.opt.typ
	if len(active) == 0 {
		n.value = cty.NullVal(typ)
		return
	}
	if typ.IsMapType() {
		l.mergeMap(n, active)
		return
	}
	best := active[0].prio
	for _, d := range active {
		best = min(best, d.prio)
	}
	var winners []*definition
	for _, d := range active {
		if d.prio == best {
			winners = append(winners, d)
		} else {
			d.note = fmt.Sprintf("overridden (priority %d < %d)", best, d.prio)
		}
	}
	if typ.IsListType() || typ.IsSetType() {
		sort.SliceStable(winners, func(i, j int) bool { return winners[i].order < winners[j].order })
		var elems []cty.Value
		for _, d := range winners {
			d.won = true
			l.use(d)
			if d.value.IsNull() {
				continue
			}
			elems = append(elems, d.value.AsValueSlice()...)
		}
		n.value = l.collectionOf(n, winners, cty.TupleVal(elems))
		return
	}
	for _, d := range winners[1:] {
		if !d.value.RawEquals(winners[0].value) {
			l.conflict(n.path, best, winners)
			n.failed = true
			return
		}
	}
	for _, d := range winners {
		d.won = true
		l.use(d)
	}
	n.value = winners[0].value
}

// mergeMap merges a map per key, each key by its own priority.
func (l *loader) mergeMap(n *inst, active []*definition) {
	type entry struct {
		d    *definition
		prio int
		v    cty.Value
	}
	byKey := map[string][]entry{}
	for _, d := range active {
		if d.value.IsNull() {
			continue
		}
		for k, v := range d.value.AsValueMap() {
			p := d.prio
			if kp, ok := d.keyPrio[k]; ok {
				p = kp
			}
			byKey[k] = append(byKey[k], entry{d, p, v})
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := map[string]cty.Value{}
	for _, k := range keys {
		es := byKey[k]
		best := es[0].prio
		for _, e := range es {
			best = min(best, e.prio)
		}
		var win []entry
		for _, e := range es {
			if e.prio == best {
				win = append(win, e)
			}
		}
		for _, e := range win[1:] {
			if !e.v.RawEquals(win[0].v) {
				defs := make([]*definition, len(win))
				vals := make([]cty.Value, len(win))
				for i, w := range win {
					defs[i], vals[i] = w.d, w.v
				}
				l.conflictValues(fmt.Sprintf("%s[%q]", n.path, k), best, defs, vals)
				n.failed = true
				return
			}
		}
		for _, e := range win {
			if !e.d.won {
				e.d.won = true
				l.use(e.d)
			}
		}
		out[k] = win[0].v
	}
	for _, d := range active {
		if !d.won {
			d.note = "every key overridden"
		}
	}
	n.value = l.collectionOf(n, active, cty.ObjectVal(out))
}

// collectionOf converts merged elements to the option's list, set or map
// type. Each definition was converted on its own, so with elements of type
// any they may still disagree: that is a type error of the merge.
func (l *loader) collectionOf(n *inst, defs []*definition, v cty.Value) cty.Value {
	cv, err := convert.Convert(v, n.opt.typ)
	if err != nil {
		subject := defs[0].rng
		l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError,
			Summary: fmt.Sprintf("Wrong type for option %q", n.path),
			Detail:  fmt.Sprintf("%s has type %s; its definitions do not merge into one: %s.", n.path, typeexpr.TypeString(n.opt.typ), err),
			Subject: subject.Ptr()})
		n.failed = true
		return cty.NullVal(n.opt.typ)
	}
	return cv
}

// use records the packages a winning definition's value refers to.
func (l *loader) use(d *definition) {
	if len(d.used) == 0 {
		return
	}
	if l.referenced == nil {
		l.referenced = map[string]bool{}
	}
	for _, p := range d.used {
		l.referenced[p] = true
	}
}

func (l *loader) conflict(path string, prio int, defs []*definition) {
	vals := make([]cty.Value, len(defs))
	for i, d := range defs {
		vals[i] = d.value
	}
	l.conflictValues(path, prio, defs, vals)
}

func (l *loader) conflictValues(path string, prio int, defs []*definition, vals []cty.Value) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is defined with different values at the same priority (%d):", path, prio)
	for i, d := range defs {
		where := fmt.Sprintf("%s:%d", d.rng.Filename, d.rng.Start.Line)
		if d.isDefault {
			where = "default of " + d.inst.opt.doc.DeclaredIn
		}
		fmt.Fprintf(&b, "\n  %s: %s", where, valueText(vals[i]))
	}
	b.WriteString("\nUse mkForce(value) on the definition that must win, or mkDefault(value) on those that may yield.")
	subject := defs[0].rng
	if defs[0].expr != nil {
		subject = defs[0].expr.Range()
	}
	l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError,
		Summary: fmt.Sprintf("Conflicting definitions for option %q", path), Detail: b.String(), Subject: subject.Ptr()})
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

// evalCtx builds the evaluation context of one expression: only the parts
// of config it refers to, the packages it names, and `name` in the
// defaults of an element.
func (l *loader) evalCtx(f *file, refs []ref, pkgs []pkgRef, label *string) *hcl.EvalContext {
	vars := map[string]cty.Value{}
	if len(refs) > 0 {
		t := &ptree{}
		for _, r := range refs {
			var chain []*inst
			for i := r.to; i != l.config; i = i.parent {
				chain = append(chain, i)
			}
			t.insert(l, chain, len(chain)-1)
		}
		vars["config"] = t.value()
	}
	if len(pkgs) > 0 {
		m := map[string]cty.Value{}
		for _, p := range pkgs {
			m[p.name] = cty.StringVal(p.path).Mark(pkgMark(p.name))
		}
		vars["pkgs"] = cty.ObjectVal(m)
	}
	if label != nil {
		vars["name"] = cty.StringVal(*label)
	}
	return &hcl.EvalContext{Variables: vars, Functions: f.funcs}
}

// ptree is a partial config object: only the referenced branches.
type ptree struct {
	full *cty.Value
	kids map[string]*ptree
}

// insert adds the instance chain[0] reached through chain[i..0] (root side
// last).
func (t *ptree) insert(l *loader, chain []*inst, i int) {
	if t.full != nil {
		return
	}
	if i < 0 {
		target := l.config
		if len(chain) > 0 {
			target = chain[0]
		}
		v := instValue(target)
		t.full, t.kids = &v, nil
		return
	}
	if t.kids == nil {
		t.kids = map[string]*ptree{}
	}
	k := chain[i].key
	c := t.kids[k]
	if c == nil {
		c = &ptree{}
		t.kids[k] = c
	}
	c.insert(l, chain, i-1)
}

func (t *ptree) value() cty.Value {
	if t.full != nil {
		return *t.full
	}
	m := make(map[string]cty.Value, len(t.kids))
	for k, c := range t.kids {
		m[k] = c.value()
	}
	return cty.ObjectVal(m)
}

// instValue is the merged value of an instance; elements that do not
// exist are left out of their collection.
func instValue(i *inst) cty.Value {
	if i.opt.kind == kindLeaf {
		if !i.exists || i.failed || i.value.Type() == cty.NilType {
			return cty.NullVal(i.opt.typ)
		}
		return i.value
	}
	m := make(map[string]cty.Value, len(i.children))
	for k, c := range i.children {
		if c.isElem && !c.exists {
			continue
		}
		m[k] = instValue(c)
	}
	if i.opt.kind != kindCollection {
		return cty.ObjectVal(m)
	}
	// A collection is a map when its elements share a type (they do
	// unless options of type any differ), so length() and friends work.
	var et cty.Type
	for _, v := range m {
		if et == cty.NilType {
			et = v.Type()
		} else if !et.Equals(v.Type()) {
			return cty.ObjectVal(m)
		}
	}
	if len(m) == 0 {
		return cty.MapValEmpty(cty.EmptyObject)
	}
	return cty.MapVal(m)
}
