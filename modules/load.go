// Package modules implements kiln's module system: HCL files that declare
// options and define values, merged into one typed System the way NixOS
// modules are, with diagnostics that point at the user's source.
//
// A file holds top-level definitions, `config { when = ... }` blocks
// (conditional definitions), `option "dotted.path" { ... }` declarations,
// `assert { condition, message }` blocks and an `imports` list. Options are
// declared once (core options in Go, module options in HCL); definitions are
// kept unevaluated with their ranges, ordered by the references between
// them (config.x.y) and merged by priority (mkDefault, mkForce, ...).
//
// The package is pure: it reads the files it is pointed at and nothing
// else of the machine, and imports nothing of kiln's. It knows nothing of
// Debian or the store beyond the PackageSet its caller provides.
package modules

import (
	"embed"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// LoadOptions tunes Load.
type LoadOptions struct {
	// Packages resolves pkgs.NAME. Nil accepts any name, with the store
	// path PlaceholderDir+"/"+PlaceholderHash+"-NAME".
	Packages PackageSet
	// Extra modules are loaded after the host's imports (tests inject
	// e.g. a backdoor this way).
	Extra []Source
}

// Source is a module held in memory.
type Source struct {
	Filename string
	Data     []byte
}

// PlaceholderHash is the hash part of the store path pkgs.NAME evaluates
// to when Load runs without a PackageSet.
const PlaceholderHash = "00000000000000000000000000000000"

//go:embed builtin/*.hcl default.hcl
var embedded embed.FS

// DefaultSystemName is the file name diagnostics use for the default system.
const DefaultSystemName = "<default>/default.hcl"

// DefaultSystem returns the source of the default system: the host used
// when no configuration is given (also examples/default.hcl).
func DefaultSystem() []byte {
	b, _ := embedded.ReadFile("default.hcl")
	return b
}

// maxFileSize bounds what a module or file() may read.
const maxFileSize = 4 << 20

// file is one parsed module file.
type file struct {
	name  string // as shown in diagnostics
	dir   string // directory relative paths resolve against; "" for embedded files
	src   []byte
	body  *hclsyntax.Body
	funcs map[string]function.Function
}

// Load reads the host file (path "" = the embedded default system) and its
// imports, merges everything with the built-in modules, checks assertions
// and returns the result, or diagnostics with source ranges
// (DiagnosticText renders them).
func Load(path string, opts LoadOptions) (*Config, hcl.Diagnostics) {
	host := Source{Filename: DefaultSystemName, Data: DefaultSystem()}
	dir := ""
	if path != "" {
		data, err := readLimited(path)
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration", Detail: err.Error()}}
		}
		host = Source{Filename: path, Data: data}
		dir = filepath.Dir(path)
	}
	return load(host, dir, opts)
}

// load loads host (whose relative imports resolve against dir).
func load(host Source, dir string, opts LoadOptions) (*Config, hcl.Diagnostics) {
	l, diags := newLoader(opts)
	if diags.HasErrors() {
		return nil, diags
	}
	cfg, diags := l.load(host, dir)
	l.sortDiagnostics(diags)
	return cfg, diags
}

func (l *loader) load(host Source, dir string) (*Config, hcl.Diagnostics) {
	opts := l.opts
	var diags hcl.Diagnostics
	diags = append(diags, l.loadBuiltins()...)
	diags = append(diags, l.addFile(host, dir)...)
	for _, x := range opts.Extra {
		diags = append(diags, l.addFile(x, filepath.Dir(x.Filename))...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	if diags := l.declareOptions(); diags.HasErrors() {
		return nil, diags
	}
	if diags := l.collect(); diags.HasErrors() {
		return nil, diags
	}
	if diags := l.evaluate(); diags.HasErrors() {
		return nil, diags
	}
	return l.result()
}

// sortDiagnostics orders diagnostics by file (in load order) and position.
func (l *loader) sortDiagnostics(diags hcl.Diagnostics) {
	order := map[string]int{}
	for i, f := range l.files {
		order[f.name] = i + 1
	}
	key := func(d *hcl.Diagnostic) (int, int) {
		if d.Subject == nil {
			return 0, 0
		}
		return order[d.Subject.Filename], d.Subject.Start.Byte
	}
	sort.SliceStable(diags, func(i, j int) bool {
		fi, bi := key(diags[i])
		fj, bj := key(diags[j])
		if fi != fj {
			return fi < fj
		}
		return bi < bj
	})
}

// readLimited reads a regular file of at most maxFileSize bytes.
// A named pipe or a device is refused before it can block or run forever.
func readLimited(name string) ([]byte, error) {
	return fsutil.ReadRegular(name, maxFileSize)
}

// builtinFiles are the embedded built-in modules, parsed once (a parsed
// file is never changed by evaluation).
var builtinFiles = sync.OnceValues(func() ([]*file, hcl.Diagnostics) {
	names, _ := embedded.ReadDir("builtin")
	var files []*file
	var diags hcl.Diagnostics
	for _, e := range names {
		name := "builtin/" + e.Name()
		data, _ := embedded.ReadFile(name)
		hf, d := hclsyntax.ParseConfig(data, name, hcl.Pos{Line: 1, Column: 1, Byte: 0})
		diags = append(diags, d...)
		if !d.HasErrors() {
			files = append(files, &file{name: name, src: data, body: hf.Body.(*hclsyntax.Body)})
		}
	}
	return files, diags
})

// loadBuiltins adds the embedded built-in modules, in name order.
func (l *loader) loadBuiltins() hcl.Diagnostics {
	files, diags := builtinFiles()
	if diags.HasErrors() {
		return diags
	}
	for _, bf := range files {
		f := *bf
		f.funcs = functions(&f)
		l.seen[f.name] = true
		l.files = append(l.files, &f)
	}
	return nil
}

// addFile parses a module and, depth first, the files it imports. A file
// already loaded (by its cleaned path) is skipped, so imports may form
// cycles and diamonds.
func (l *loader) addFile(src Source, dir string) hcl.Diagnostics {
	key := src.Filename
	if dir != "" {
		key = filepath.Clean(src.Filename)
	}
	if l.seen[key] {
		return nil
	}
	l.seen[key] = true
	if len(l.files) >= maxFiles {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Too many modules", Detail: fmt.Sprintf("More than %d files are imported.", maxFiles)}}
	}
	if diags := checkNesting(src.Data, src.Filename); diags.HasErrors() {
		return diags
	}
	hf, diags := hclsyntax.ParseConfig(src.Data, src.Filename, hcl.Pos{Line: 1, Column: 1, Byte: 0})
	if diags.HasErrors() {
		return diags
	}
	f := &file{name: src.Filename, dir: dir, src: src.Data, body: hf.Body.(*hclsyntax.Body)}
	f.funcs = functions(f)
	l.files = append(l.files, f)
	imports, idiags := l.imports(f)
	diags = append(diags, idiags...)
	for _, imp := range imports {
		diags = append(diags, l.addImport(f, imp)...)
	}
	return diags
}

const maxFiles = 1000

type importRef struct {
	path string
	rng  hcl.Range
}

// imports reads a file's `imports = [...]`: constant strings only, since
// which files make the system cannot depend on config.
func (l *loader) imports(f *file) ([]importRef, hcl.Diagnostics) {
	attr, ok := f.body.Attributes["imports"]
	if !ok {
		return nil, nil
	}
	if len(attr.Expr.Variables()) > 0 {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError, Summary: "Imports cannot depend on config",
			Detail:  "The imports list decides which modules make the system, so it must be a list of constant paths.",
			Subject: attr.Expr.Range().Ptr(),
		}}
	}
	v, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		return nil, diags
	}
	v, _ = v.UnmarkDeep()
	bad := hcl.Diagnostics{{
		Severity: hcl.DiagError, Summary: "Invalid imports",
		Detail: "imports must be a list of paths (strings), relative to this file.", Subject: attr.Expr.Range().Ptr(),
	}}
	if v.IsNull() || !(v.Type().IsTupleType() || v.Type().IsListType()) {
		return nil, bad
	}
	var out []importRef
	rng := attr.Expr.Range()
	elems := elementRanges(attr.Expr)
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		_, e := it.Element()
		if e.IsNull() || e.Type() != cty.String {
			return nil, bad
		}
		r := rng
		if i < len(elems) {
			r = elems[i]
		}
		out = append(out, importRef{path: e.AsString(), rng: r})
	}
	return out, nil
}

// elementRanges returns the ranges of a tuple literal's elements.
func elementRanges(expr hcl.Expression) []hcl.Range {
	t, ok := expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		return nil
	}
	var out []hcl.Range
	for _, e := range t.Exprs {
		out = append(out, e.Range())
	}
	return out
}

// addImport loads one imported path: a file, or every *.hcl of a directory
// in name order.
func (l *loader) addImport(from *file, imp importRef) hcl.Diagnostics {
	fail := func(detail string) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot import " + fmt.Sprintf("%q", imp.path), Detail: detail, Subject: imp.rng.Ptr()}}
	}
	if from.dir == "" {
		return fail("Built-in modules cannot import files.")
	}
	p := imp.path
	if !filepath.IsAbs(p) {
		p = filepath.Join(from.dir, p)
	}
	st, err := os.Stat(p)
	if err != nil {
		return fail(err.Error())
	}
	if !st.IsDir() {
		data, err := readLimited(p)
		if err != nil {
			return fail(err.Error())
		}
		return l.addFile(Source{Filename: p, Data: data}, filepath.Dir(p))
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return fail(err.Error())
	}
	var diags hcl.Diagnostics
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".hcl" || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name := filepath.Join(p, e.Name())
		data, err := readLimited(name)
		if err != nil {
			diags = append(diags, fail(err.Error())...)
			continue
		}
		diags = append(diags, l.addFile(Source{Filename: name, Data: data}, p)...)
	}
	return diags
}

// sortedAttributes returns a body's attributes in source order.
func sortedAttributes(body *hclsyntax.Body) []*hclsyntax.Attribute {
	attrs := make([]*hclsyntax.Attribute, 0, len(body.Attributes))
	for _, a := range body.Attributes {
		attrs = append(attrs, a)
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].SrcRange.Start.Byte < attrs[j].SrcRange.Start.Byte })
	return attrs
}
