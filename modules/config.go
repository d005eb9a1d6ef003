package modules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/kiln-os/kiln/internal/suggest"
)

// Config is a loaded, merged configuration.
type Config struct {
	// System is the typed result the system builder consumes.
	System System

	value cty.Value // the whole merged tree
	root  *inst     // definitions with their sites, for Explain
}

// Definition is one value given to an option, as Explain reports it.
type Definition struct {
	Option   string    // the concrete option path, e.g. users.alice.uid
	Range    hcl.Range // where it is defined (the option declaration for a default)
	Default  bool      // the option's declared default
	Priority int       // 50 mkForce, 100 plain, 1000 mkDefault, 1500 default
	Order    int       // 500 mkBefore, 1000 plain, 1500 mkAfter (lists)
	Value    cty.Value // cty.NilVal when it was not evaluated
	Active   bool      // its when/mkIf conditions held
	Won      bool      // it is part of the merged value
	Note     string    // why not, when it did not win
}

// Location is "file:line", or "core" for the default of a core option.
func (d Definition) Location() string {
	if d.Range.Filename == coreFile {
		return "core"
	}
	return fmt.Sprintf("%s:%d", d.Range.Filename, d.Range.Start.Line)
}

// result builds the Config once evaluation succeeded.
func (l *loader) result() (*Config, hcl.Diagnostics) {
	c := &Config{value: instValue(l.config), root: l.config}
	if err := decode(c.value, reflect.ValueOf(&c.System).Elem()); err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot decode the configuration", Detail: err.Error()}}
	}
	if diags := l.packageNames(c); diags.HasErrors() {
		return nil, diags
	}
	for p := range l.referenced {
		c.System.Referenced = append(c.System.Referenced, p)
	}
	sort.Strings(c.System.Referenced)
	if diags := validate(c); diags.HasErrors() {
		return nil, diags
	}
	return c, nil
}

// packageNames turns the store paths in `packages` back into names.
func (l *loader) packageNames(c *Config) hcl.Diagnostics {
	leaf := l.config.children["packages"]
	if leaf == nil || leaf.value.IsNull() {
		c.System.Packages = nil
		return nil
	}
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	var names []string
	for _, v := range leaf.value.AsValueSlice() {
		s := "null"
		if !v.IsNull() {
			s = v.AsString()
		}
		name, ok := l.pkgPaths[s]
		if !ok {
			r := leaf.defs[0].rng
			for _, d := range leaf.defs {
				if d.won && !d.value.IsNull() && containsString(d.value, s) {
					r = d.expr.Range()
					break
				}
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError,
				Summary: fmt.Sprintf("Not a package: %q", s),
				Detail:  `List packages as pkgs.NAME (or pkgs["NAME"]), not as strings.`, Subject: r.Ptr()})
			continue
		}
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	c.System.Packages = names
	return diags
}

func containsString(list cty.Value, s string) bool {
	for _, v := range list.AsValueSlice() {
		if !v.IsNull() && v.Type() == cty.String && v.AsString() == s {
			return true
		}
	}
	return false
}

// find returns the instance a path names and the rest of the path that
// indexes into its value.
func (c *Config) find(path string) (*inst, hcl.Traversal, error) {
	if strings.TrimSpace(path) == "" {
		return c.root, nil, nil
	}
	t, diags := hclsyntax.ParseTraversalAbs([]byte(path), "<path>", hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return nil, nil, fmt.Errorf("option path %q: %s", path, diagSummary(diags))
	}
	at := c.root
	steps := append(hcl.Traversal{hcl.TraverseAttr{Name: t.RootName()}}, t[1:]...)
	for i, s := range steps {
		if at.opt.kind == kindLeaf {
			return at, steps[i:], nil
		}
		key, ok := stepKey(s)
		if !ok {
			return nil, nil, fmt.Errorf("option path %q: invalid step", path)
		}
		next, ok := at.children[key]
		if !ok || (next.isElem && !next.exists) {
			missing := joinPath(at.path, key, at.opt.kind == kindCollection)
			if missing == path {
				return nil, nil, fmt.Errorf("no option %q%s", path, nearChild(at, key))
			}
			return nil, nil, fmt.Errorf("option path %q: no option %q%s", path, missing, nearChild(at, key))
		}
		at = next
	}
	return at, nil, nil
}

// nearChild suggests the child of at closest to key: an option name, or
// the defined names of a collection.
func nearChild(at *inst, key string) string {
	var names []string
	for k, n := range at.children {
		if !n.isElem || n.exists {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	if best := suggest.Closest(key, names, 2); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", joinPath(at.path, best, at.opt.kind == kindCollection))
	}
	if at.opt.kind == kindCollection && len(names) > 0 && len(names) <= 8 {
		return fmt.Sprintf(" (defined: %s)", strings.Join(names, ", "))
	}
	return ""
}

func diagSummary(diags hcl.Diagnostics) string {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			return strings.ToLower(d.Summary[:1]) + d.Summary[1:]
		}
	}
	return "invalid"
}

// Value returns the merged value at an option path, e.g.
// "networking.host_name", "users.alice", `etc["hosts"].text`; "" is the
// whole configuration.
func (c *Config) Value(path string) (cty.Value, error) {
	at, rest, err := c.find(path)
	if err != nil {
		return cty.NilVal, err
	}
	v := instValue(at)
	if len(rest) > 0 {
		var diags hcl.Diagnostics
		v, diags = rest.TraverseRel(v)
		if diags.HasErrors() {
			return cty.NilVal, fmt.Errorf("option path %q: %s", path, diagSummary(diags))
		}
	}
	return v, nil
}

// Explain lists every definition of the options at or under path, with
// where it was made, its priority and whether it won.
func (c *Config) Explain(path string) []Definition {
	at, _, err := c.find(path)
	if err != nil {
		return nil
	}
	var out []Definition
	for _, n := range expand(at, nil) {
		if n.isElem {
			continue
		}
		for _, d := range n.defs {
			def := Definition{Option: n.path, Range: d.rng, Default: d.isDefault, Priority: d.prio, Order: d.order,
				Active: d.active, Won: d.won, Note: d.note}
			if d.evaluated && d.active {
				def.Value = d.value
			}
			if !d.evaluated && d.note == "" {
				def.Note = "not evaluated"
				if n.elem != nil && !n.elem.exists {
					def.Note = n.elem.path + " is not defined: its when is false"
				}
			}
			out = append(out, def)
		}
	}
	return out
}

// JSON returns the whole merged configuration as indented JSON.
func (c *Config) JSON() ([]byte, error) {
	return ValueJSON(c.value)
}

// ValueJSON renders a value as indented JSON.
func ValueJSON(v cty.Value) ([]byte, error) {
	raw, err := ctyjson.SimpleJSONValue{Value: v}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("indent config: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// ValueHCL renders a value as an HCL expression.
func ValueHCL(v cty.Value) string {
	return string(hclwrite.Format(hclwrite.TokensForValue(v).Bytes()))
}

// valueText renders a value on one line, for diagnostics.
func valueText(v cty.Value) string {
	if v == cty.NilVal {
		return "(none)"
	}
	s := string(hclwrite.TokensForValue(v).Bytes())
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// decode copies a cty value into a Go value by the `kiln` tags of System.
func decode(v cty.Value, rv reflect.Value) error {
	if v.IsNull() {
		rv.Set(reflect.Zero(rv.Type()))
		return nil
	}
	switch rv.Kind() {
	case reflect.Struct:
		t := rv.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := t.Field(i).Tag.Get("kiln")
			if tag == "" || tag == "-" || !v.Type().IsObjectType() || !v.Type().HasAttribute(tag) {
				continue
			}
			if err := decode(v.GetAttr(tag), rv.Field(i)); err != nil {
				return fmt.Errorf("%s: %w", tag, err)
			}
		}
	case reflect.Map:
		m := reflect.MakeMap(rv.Type())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			ev := reflect.New(rv.Type().Elem()).Elem()
			if err := decode(e, ev); err != nil {
				return fmt.Errorf("%s: %w", k.AsString(), err)
			}
			m.SetMapIndex(reflect.ValueOf(k.AsString()), ev)
		}
		rv.Set(m)
	case reflect.Slice:
		s := reflect.MakeSlice(rv.Type(), 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			ev := reflect.New(rv.Type().Elem()).Elem()
			if err := decode(e, ev); err != nil {
				return err
			}
			s = reflect.Append(s, ev)
		}
		rv.Set(s)
	case reflect.Pointer:
		p := reflect.New(rv.Type().Elem())
		if err := decode(v, p.Elem()); err != nil {
			return err
		}
		rv.Set(p)
	case reflect.String:
		if v.Type() != cty.String {
			return errors.New("not a string")
		}
		rv.SetString(v.AsString())
	case reflect.Bool:
		if v.Type() != cty.Bool {
			return errors.New("not a bool")
		}
		rv.SetBool(v.True())
	case reflect.Int:
		if v.Type() != cty.Number {
			return errors.New("not a number")
		}
		n, acc := v.AsBigFloat().Int64()
		if acc != 0 {
			return fmt.Errorf("%s is not a whole number", v.AsBigFloat().String())
		}
		rv.SetInt(n)
	default:
		return fmt.Errorf("cannot decode into %s", rv.Type())
	}
	return nil
}

// DiagnosticText renders diagnostics as a user sees them: summary, the
// file:line and source snippet, and the detail. width 0 does not wrap.
// Snippets come from the files on disk and the embedded modules, or from
// extra, the in-memory sources given to Load.
func DiagnosticText(diags hcl.Diagnostics, width uint, extra ...Source) string {
	files := map[string]*hcl.File{}
	for _, x := range extra {
		files[x.Filename] = &hcl.File{Bytes: x.Data}
	}
	for _, d := range diags {
		if d.Subject == nil {
			continue
		}
		name := d.Subject.Filename
		if _, ok := files[name]; ok {
			continue
		}
		if b := sourceOf(name); b != nil {
			files[name] = &hcl.File{Bytes: b}
		}
	}
	var b bytes.Buffer
	w := hcl.NewDiagnosticTextWriter(&b, files, width, false)
	_ = w.WriteDiagnostics(diags) // writing into a buffer does not fail
	return visible(b.String())
}

// visible escapes the control characters of text (but newlines and tabs)
// as \xNN: a diagnostic quotes the user's source, and an escape sequence
// in it must not reach the terminal.
func visible(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r < 0xa0 || r == utf8.RuneError && n == 1 {
			for _, c := range []byte(text[i : i+n]) {
				fmt.Fprintf(&b, "\\x%02x", c)
			}
		} else {
			b.WriteString(text[i : i+n])
		}
		i += n
	}
	return b.String()
}

func sourceOf(name string) []byte {
	if name == DefaultSystemName {
		return DefaultSystem()
	}
	if strings.HasPrefix(name, "builtin/") {
		if b, err := embedded.ReadFile(name); err == nil {
			return b
		}
	}
	b, err := readLimited(name)
	if err != nil {
		return nil
	}
	return b
}
