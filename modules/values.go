package modules

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

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
			if p.unknown {
				l.unknownPackage(p)
			}
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
