package modules

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// loader holds one Load: the files, the option tree (core + modules'
// declarations), the instance tree of definitions and the evaluation state.
type loader struct {
	opts  LoadOptions
	root  *optNode
	files []*file
	seen  map[string]bool
	core  *file // pseudo-file of the core defaults

	config  *inst   // the root instance
	nodes   []*inst // leaves and elements: the nodes of the reference graph
	asserts []*assertion
	conds   []*condition
	seq     int

	pkgPaths     map[string]string // store path → package name, for every pkgs.NAME seen
	referenced   map[string]bool   // packages in the winning definitions
	reportedPkgs map[string]bool   // unknown package uses already reported
	stack        []frame
	diags        hcl.Diagnostics
}

// inst is an instance of an option node at a concrete path: the root, a
// group, a collection, an element of a collection (users "alice") or a leaf.
type inst struct {
	opt      *optNode
	key      string // name in its parent: the option name, or the element label
	path     string // "users.alice.uid", `etc["ssh/sshd_config"].text`
	parent   *inst
	elem     *inst            // the nearest enclosing element (itself for an element), nil at top level
	children map[string]*inst // groups and elements: by option name; collections: by label
	isElem   bool

	defs []*definition // leaves: definitions; elements: the blocks that declare them (expr nil)

	state  int // 0 new, 1 visiting, 2 done
	exists bool
	failed bool
	value  cty.Value
}

// definition is one value given to a leaf (or, with expr nil, one block
// that declares an element).
type definition struct {
	inst      *inst
	expr      hcl.Expression
	file      *file
	cond      *condition
	rng       hcl.Range // the attribute or block header
	seq       int
	isDefault bool

	refs []ref
	pkgs []pkgRef

	// results of evaluation
	evaluated bool
	active    bool
	value     cty.Value
	prio      int
	order     int
	keyPrio   map[string]int
	used      []string // packages in the value
	won       bool
	note      string
}

// condition is the `when` of a config block.
type condition struct {
	expr   hcl.Expression
	file   *file
	parent *condition
	refs   []ref
	pkgs   []pkgRef
	done   bool
	value  bool
}

type assertion struct {
	cond      *condition
	condition hcl.Expression
	message   hcl.Expression
	file      *file
	refs      []ref
	pkgs      []pkgRef
}

// ref is one config.x.y reference: the instance it reaches and its range.
type ref struct {
	to    *inst
	rng   hcl.Range
	src   string // the reference as written
	exact bool   // the instance alone, not what is under it (an element's existence)
}

type pkgRef struct {
	name, path string
	rng        hcl.Range
	unknown    bool // not in LoadOptions.Packages: an error once evaluated
}

func newLoader(opts LoadOptions) (*loader, hcl.Diagnostics) {
	root, err := coreTree()
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid core option", Detail: err.Error()}}
	}
	l := &loader{opts: opts, root: root, seen: map[string]bool{}, pkgPaths: map[string]string{}}
	l.core = &file{name: coreFile}
	l.core.funcs = functions(l.core)
	return l, nil
}

// declareOptions reads every file's option blocks into the tree.
func (l *loader) declareOptions() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, f := range l.files {
		for _, b := range f.body.Blocks {
			if b.Type == "option" {
				diags = append(diags, l.declareOption(f, b)...)
			}
		}
	}
	return diags
}

func (l *loader) declareOption(f *file, b *hclsyntax.Block) hcl.Diagnostics {
	if len(b.Labels) != 1 {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid option block",
			Detail: `Write option "dotted.path" { type = ..., default = ..., description = "..." }.`, Subject: b.DefRange().Ptr()}}
	}
	p := b.Labels[0]
	leaf := &optNode{path: p, kind: kindLeaf, typ: cty.DynamicPseudoType, rng: b.LabelRanges[0]}
	leaf.doc = OptionDoc{Path: p, Type: "any", DeclaredIn: fmt.Sprintf("%s:%d", f.name, b.DefRange().Start.Line)}
	var diags hcl.Diagnostics
	for _, a := range sortedAttributes(b.Body) {
		switch a.Name {
		case "type":
			t, d := typeexpr.TypeConstraint(a.Expr)
			diags = append(diags, d...)
			leaf.typ = t
			leaf.doc.Type = typeexpr.TypeString(t)
		case "default":
			leaf.def = a.Expr
			leaf.doc.Default = sourceText(f, a.Expr.Range())
		case "example":
			leaf.doc.Example = sourceText(f, a.Expr.Range())
		case "description":
			v, d := a.Expr.Value(nil)
			if d.HasErrors() || v.IsNull() || v.Type() != cty.String || v.IsMarked() {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid option description",
					Detail: "description must be a constant string.", Subject: a.Expr.Range().Ptr()})
				continue
			}
			leaf.doc.Description = v.AsString()
		default:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument in option block",
				Detail: fmt.Sprintf("An option block takes type, default, description and example, not %q.", a.Name), Subject: a.NameRange.Ptr()})
		}
	}
	for _, nb := range b.Body.Blocks {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unexpected block in option block",
			Detail: "An option block takes only attributes.", Subject: nb.DefRange().Ptr()})
	}
	if diags.HasErrors() {
		return diags
	}
	if err := l.root.declare(leaf); err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid option declaration", Detail: err.Error() + ".", Subject: b.LabelRanges[0].Ptr()}}
	}
	return nil
}

func sourceText(f *file, r hcl.Range) string {
	if r.Start.Byte < 0 || r.End.Byte > len(f.src) || r.Start.Byte > r.End.Byte {
		return ""
	}
	return string(f.src[r.Start.Byte:r.End.Byte])
}

// collect walks every file and attaches each definition to its instance,
// then resolves the references of every expression.
func (l *loader) collect() hcl.Diagnostics {
	l.config = &inst{opt: l.root, children: map[string]*inst{}}
	l.instantiate(l.config)
	for _, f := range l.files {
		l.collectBody(f, f.body, l.config, nil, true)
	}
	l.analyze()
	return l.diags
}

// instantiate creates the instances under a group or element: its leaves
// (each with its default as a definition) and its groups and collections.
func (l *loader) instantiate(g *inst) {
	for _, name := range g.opt.childNames() {
		o := g.opt.children[name]
		c := &inst{opt: o, key: name, path: joinPath(g.path, name, false), parent: g, elem: g.elem}
		g.children[name] = c
		switch o.kind {
		case kindLeaf:
			l.nodes = append(l.nodes, c)
			if o.def != nil {
				f := l.core
				if o.doc.DeclaredIn != "core" {
					f = l.fileOf(o.rng.Filename)
				}
				c.defs = append(c.defs, &definition{inst: c, expr: o.def, file: f, rng: o.rng, isDefault: true, prio: prioOption, order: orderPlain})
			}
		case kindGroup:
			c.children = map[string]*inst{}
			l.instantiate(c)
		case kindCollection:
			c.children = map[string]*inst{}
		}
	}
}

func (l *loader) fileOf(name string) *file {
	for _, f := range l.files {
		if f.name == name {
			return f
		}
	}
	return l.core
}

// element returns (creating it) the element of a collection with a label.
func (l *loader) element(coll *inst, label string) *inst {
	if e, ok := coll.children[label]; ok {
		return e
	}
	e := &inst{opt: coll.opt.elem, key: label, path: joinPath(coll.path, label, true), parent: coll, isElem: true, children: map[string]*inst{}}
	e.elem = e
	coll.children[label] = e
	l.nodes = append(l.nodes, e)
	l.instantiate(e)
	return e
}

// joinPath renders a concrete option path; labels that are not identifiers
// are written as an index, as HCL would read them: etc["ssh/sshd_config"].
func joinPath(parent, key string, label bool) string {
	if label && !hclsyntax.ValidIdentifier(key) {
		return fmt.Sprintf("%s[%q]", parent, key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// collectBody attaches the attributes and blocks of body, read at
// instance at, under condition cond.
func (l *loader) collectBody(f *file, body *hclsyntax.Body, at *inst, cond *condition, top bool) {
	atRoot := at == l.config
	for _, a := range sortedAttributes(body) {
		if atRoot && a.Name == "imports" {
			if !top {
				l.errorf(a.NameRange, "Misplaced imports", "imports must be at the top level of a file, not in a config block.")
			}
			continue
		}
		if atRoot && !top && a.Name == "when" {
			continue // the condition of this config block
		}
		l.defineAttr(f, a, at, cond)
	}
	for _, b := range body.Blocks {
		if atRoot {
			switch b.Type {
			case "config":
				l.configBlock(f, b, cond)
				continue
			case "option":
				if !top {
					l.errorf(b.DefRange(), "Misplaced option block", "option blocks must be at the top level of a file, not in a config block.")
				}
				continue
			case "assert":
				l.assertBlock(f, b, cond)
				continue
			}
		}
		l.defineBlock(f, b, at, cond)
	}
}

func (l *loader) configBlock(f *file, b *hclsyntax.Block, cond *condition) {
	if len(b.Labels) != 0 {
		l.errorf(b.LabelRanges[0], "Unexpected label", "A config block has no label: config { when = ... }.")
		return
	}
	if w, ok := b.Body.Attributes["when"]; ok {
		cond = &condition{expr: w.Expr, file: f, parent: cond}
		l.conds = append(l.conds, cond)
	}
	l.collectBody(f, b.Body, l.config, cond, false)
}

func (l *loader) assertBlock(f *file, b *hclsyntax.Block, cond *condition) {
	a := &assertion{cond: cond, file: f}
	for _, at := range sortedAttributes(b.Body) {
		switch at.Name {
		case "condition":
			a.condition = at.Expr
		case "message":
			a.message = at.Expr
		default:
			l.errorf(at.NameRange, "Unsupported argument in assert block", fmt.Sprintf("An assert block takes condition and message, not %q.", at.Name))
		}
	}
	if a.condition == nil || a.message == nil {
		l.errorf(b.DefRange(), "Incomplete assert block", "An assert block needs both condition and message.")
		return
	}
	l.asserts = append(l.asserts, a)
}

func (l *loader) defineAttr(f *file, a *hclsyntax.Attribute, at *inst, cond *condition) {
	c, ok := at.children[a.Name]
	if !ok {
		l.unknownOption(at, a.Name, a.NameRange)
		return
	}
	if c.opt.kind != kindLeaf {
		l.errorf(a.NameRange, "Option block written as an attribute",
			fmt.Sprintf("%s is a block of options; write %s.", c.path, blockUsage(c.opt)))
		return
	}
	l.seq++
	c.defs = append(c.defs, &definition{inst: c, expr: a.Expr, file: f, cond: cond, rng: a.SrcRange, seq: l.seq, prio: prioPlain, order: orderPlain})
}

func blockUsage(o *optNode) string {
	if o.kind == kindCollection {
		return o.name + ` "NAME" { ... }`
	}
	return o.name + " { ... }"
}

func (l *loader) defineBlock(f *file, b *hclsyntax.Block, at *inst, cond *condition) {
	c, ok := at.children[b.Type]
	if !ok {
		l.unknownOption(at, b.Type, b.TypeRange)
		return
	}
	switch c.opt.kind {
	case kindLeaf:
		l.errorf(b.TypeRange, "Option written as a block", fmt.Sprintf("%s is an option of type %s; write %s = value.", c.path, typeexpr.TypeString(c.opt.typ), b.Type))
	case kindGroup:
		if len(b.Labels) != 0 {
			l.errorf(b.LabelRanges[0], "Unexpected label", fmt.Sprintf("%s takes no label; write %s.", c.path, blockUsage(c.opt)))
			return
		}
		l.collectBody(f, b.Body, c, cond, false)
	case kindCollection:
		if len(b.Labels) != 1 {
			l.errorf(b.DefRange(), "Missing label", fmt.Sprintf("%s blocks need one label; write %s.", c.path, blockUsage(c.opt)))
			return
		}
		e := l.element(c, b.Labels[0])
		l.seq++
		e.defs = append(e.defs, &definition{inst: e, file: f, cond: cond, rng: b.DefRange(), seq: l.seq})
		l.collectBody(f, b.Body, e, cond, false)
	}
}

func (l *loader) errorf(r hcl.Range, summary, detail string) {
	l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r.Ptr()})
}
