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
