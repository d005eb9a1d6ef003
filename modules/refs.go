package modules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/internal/suggest"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// analyze resolves the references (config.x.y, pkgs.NAME) of every
// expression, now that every element exists.
func (l *loader) analyze() {
	for _, n := range l.nodes {
		for _, d := range n.defs {
			if d.expr != nil {
				d.refs, d.pkgs = l.references(d.expr)
			}
		}
	}
	for _, c := range l.conds {
		c.refs, c.pkgs = l.references(c.expr)
	}
	for _, a := range l.asserts {
		r1, p1 := l.references(a.condition)
		r2, p2 := l.references(a.message)
		a.refs, a.pkgs = append(r1, r2...), append(p1, p2...)
	}
}

// references returns what an expression refers to in config and pkgs.
func (l *loader) references(e hcl.Expression) ([]ref, []pkgRef) {
	var refs []ref
	var pkgs []pkgRef
	for _, t := range e.Variables() {
		switch t.RootName() {
		case "config":
			if r, ok := l.resolveRef(t); ok {
				refs = append(refs, r)
			}
		case "pkgs":
			if p, ok := l.resolvePkg(t); ok {
				pkgs = append(pkgs, p)
			}
		}
	}
	return refs, pkgs
}

// stepKey returns the name a traversal step selects, if it is constant.
func stepKey(s hcl.Traverser) (string, bool) {
	switch s := s.(type) {
	case hcl.TraverseAttr:
		return s.Name, true
	case hcl.TraverseIndex:
		if s.Key.Type() == cty.String && s.Key.IsKnown() && !s.Key.IsNull() && !s.Key.IsMarked() {
			return s.Key.AsString(), true
		}
	}
	return "", false
}

func (l *loader) resolveRef(t hcl.Traversal) (ref, bool) {
	at := l.config
	for _, s := range t[1:] {
		key, ok := stepKey(s)
		if !ok || at.opt.kind == kindLeaf {
			break
		}
		c, found := at.children[key]
		if !found {
			if at.opt.kind == kindCollection {
				break // evaluation reports the missing element
			}
			l.unknownOption(at, key, s.SourceRange())
			return ref{}, false
		}
		at = c
	}
	return ref{to: at, rng: t.SourceRange(), src: traversalText(t)}, true
}

func traversalText(t hcl.Traversal) string {
	var b strings.Builder
	b.WriteString(t.RootName())
	for _, s := range t[1:] {
		switch s := s.(type) {
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			if s.Key.Type() == cty.String && s.Key.IsKnown() && !s.Key.IsNull() {
				fmt.Fprintf(&b, "[%q]", s.Key.AsString())
			} else {
				b.WriteString("[...]")
			}
		default:
			b.WriteString("[...]")
		}
	}
	return b.String()
}

func (l *loader) resolvePkg(t hcl.Traversal) (pkgRef, bool) {
	if len(t) < 2 {
		l.errorf(t.SourceRange(), "Missing package name", "Refer to a package as pkgs.NAME or pkgs[\"NAME\"].")
		return pkgRef{}, false
	}
	name, ok := stepKey(t[1])
	if !ok {
		l.errorf(t.SourceRange(), "Invalid package reference", "Refer to a package as pkgs.NAME or pkgs[\"NAME\"].")
		return pkgRef{}, false
	}
	p := l.opts.Packages
	if p == nil {
		sp := "/kiln/store/" + PlaceholderHash + "-" + name
		l.pkgPaths[sp] = name
		return pkgRef{name: name, path: sp}, true
	}
	sp, ok := p.Path(name)
	if !ok {
		// Reported only if the expression is evaluated: a pkgs.NAME under a
		// false `when` (ssh.hcl's openssh-server on a host without ssh) is
		// neither locked nor resolved.
		return pkgRef{name: name, rng: t.SourceRange(), unknown: true}, true
	}
	l.pkgPaths[sp] = name
	return pkgRef{name: name, path: sp}, true
}

// unknownPackage reports a package the lock does not have, once per use.
func (l *loader) unknownPackage(p pkgRef) {
	key := rangeText(p.rng)
	if l.reportedPkgs[key] {
		return
	}
	if l.reportedPkgs == nil {
		l.reportedPkgs = map[string]bool{}
	}
	l.reportedPkgs[key] = true
	detail := "No package of that name is known."
	if near := nearNames(p.name, l.opts.Packages.Names(), 3); len(near) > 0 {
		detail = fmt.Sprintf("Did you mean %s?", quoteJoin(near))
	}
	l.errorf(p.rng, fmt.Sprintf("Unknown package %q", p.name), detail)
}

// unknownOption reports name, unknown under at, with the nearest option.
func (l *loader) unknownOption(at *inst, name string, r hcl.Range) {
	p := joinPath(at.path, name, false)
	detail := "No option of that name is declared; `kiln options` lists them all."
	if s := l.suggestOption(at, name); s != "" {
		detail = fmt.Sprintf("Did you mean %q?", s)
	}
	l.errorf(r, fmt.Sprintf("Unknown option %q", p), detail)
}

// suggestOption finds the option a misspelt name most likely meant: a
// sibling within a small edit distance, else an option anywhere whose last
// part is that close.
func (l *loader) suggestOption(at *inst, name string) string {
	best, bestD := "", maxSuggestDistance(name)+1
	for _, c := range at.opt.childNames() {
		if d := suggest.Distance(name, c, 0); d < bestD {
			best, bestD = joinPath(at.path, c, false), d
		}
	}
	if best != "" {
		return best
	}
	var walk func(o *optNode)
	walk = func(o *optNode) {
		for _, c := range o.childNames() {
			child := o.children[c]
			if d := suggest.Distance(name, c, 0); d < bestD {
				best, bestD = child.path, d
			}
			switch child.kind {
			case kindGroup:
				walk(child)
			case kindCollection:
				walk(child.elem)
			}
		}
	}
	walk(l.root)
	return best
}

func maxSuggestDistance(s string) int {
	return max(1, min(3, len(s)/3))
}

// nearNames returns up to n names within a small edit distance of name,
// nearest first.
func nearNames(name string, names []string, n int) []string {
	type cand struct {
		s string
		d int
	}
	limit := maxSuggestDistance(name)
	var cs []cand
	for _, s := range names {
		if abs(len(s)-len(name)) > limit {
			continue
		}
		if d := suggest.Distance(name, s, limit+1); d <= limit {
			cs = append(cs, cand{s, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].s < cs[j].s
	})
	var out []string
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].s)
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func quoteJoin(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	switch len(q) {
	case 1:
		return q[0]
	case 2:
		return q[0] + " or " + q[1]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
