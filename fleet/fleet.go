package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/kiln-os/kiln/machine"
)

// DefaultFile is the fleet file kiln deploy reads without -f.
const DefaultFile = "fleet.hcl"

// Fleet is a parsed fleet file.
type Fleet struct {
	File  string
	Hosts []*Host // in file order
}

// Host is one hosts "NAME" block.
type Host struct {
	Name   string
	Target machine.Target // USER@HOST[:PORT]
	// Config is the host's configuration file, resolved against the
	// fleet file's directory; its kiln.lock is beside it.
	Config string
	Tags   []string
	Range  hcl.Range // the block's header, for messages
}

var fleetSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "hosts", LabelNames: []string{"name"}}},
}

var hostSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "target", Required: true},
		{Name: "config", Required: true},
		{Name: "tags"},
	},
}

// Load reads a fleet file. Its diagnostics name the file and line: an
// unknown attribute, a host declared twice, two hosts with one target, a
// malformed target, a configuration that does not exist, a bad tag.
func Load(file string) (*Fleet, hcl.Diagnostics) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the fleet file", Detail: err.Error()}}
	}
	return Parse(file, b)
}

// Parse reads a fleet file's bytes (file names it and resolves the
// configurations).
func Parse(file string, src []byte) (*Fleet, hcl.Diagnostics) {
	f, diags := hclparse.NewParser().ParseHCL(src, file)
	if diags.HasErrors() {
		return nil, diags
	}
	content, d := f.Body.Content(fleetSchema)
	diags = append(diags, d...)
	fl := &Fleet{File: file}
	names := map[string]*parsedHost{}
	targets := map[machine.Target]*parsedHost{}
	for _, blk := range content.Blocks {
		h, d := parseHost(file, blk)
		diags = append(diags, d...)
		if h == nil {
			continue
		}
		if prev := names[h.Name]; prev != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate host",
				Detail:  fmt.Sprintf("host %q is declared at %s already.", h.Name, pos(prev.Range)),
				Subject: blk.LabelRanges[0].Ptr()})
			continue
		}
		names[h.Name] = h
		if h.Target != (machine.Target{}) {
			if prev := targets[h.Target]; prev != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate target",
					Detail:  fmt.Sprintf("hosts %q and %q both deploy to %s: one machine would get two systems.", prev.Name, h.Name, h.Target),
					Subject: h.targetRange.Ptr()})
			}
			targets[h.Target] = h
		}
		fl.Hosts = append(fl.Hosts, h.Host)
	}
	if len(content.Blocks) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No hosts",
			Detail:  `A fleet file declares its machines as hosts "NAME" { target = "root@HOST", config = "NAME.hcl" }.`,
			Subject: &hcl.Range{Filename: file, Start: hcl.InitialPos, End: hcl.InitialPos}})
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return fl, diags
}

// parsedHost is a Host with the ranges its checks need.
type parsedHost struct {
	*Host
	targetRange hcl.Range
}

func parseHost(file string, blk *hcl.Block) (*parsedHost, hcl.Diagnostics) {
	h := &parsedHost{Host: &Host{Name: blk.Labels[0], Range: blk.DefRange}}
	var diags hcl.Diagnostics
	if !validName(h.Name) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid host name",
			Detail:  fmt.Sprintf("%q: a host name is letters, digits, '-', '_' and '.', and does not start with '@' (that is how --on names tags).", h.Name),
			Subject: blk.LabelRanges[0].Ptr()})
	}
	content, d := blk.Body.Content(hostSchema)
	diags = append(diags, d...)
	if a := content.Attributes["target"]; a != nil {
		h.targetRange = a.Expr.Range()
		if s, ok := stringAttr(a, &diags); ok {
			t, err := machine.ParseTarget(s)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid target",
					Detail: err.Error() + ".", Subject: a.Expr.Range().Ptr()})
			}
			h.Target = t
		}
	}
	if a := content.Attributes["config"]; a != nil {
		if s, ok := stringAttr(a, &diags); ok {
			h.Config = s
			if !filepath.IsAbs(s) {
				h.Config = filepath.Join(filepath.Dir(file), s)
			}
			if _, err := os.Stat(h.Config); err != nil {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing configuration",
					Detail:  fmt.Sprintf("%s does not exist (config is relative to the fleet file's directory).", h.Config),
					Subject: a.Expr.Range().Ptr()})
			}
		}
	}
	if a := content.Attributes["tags"]; a != nil {
		h.Tags = tagsAttr(a, &diags)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return h, diags
}

func stringAttr(a *hcl.Attribute, diags *hcl.Diagnostics) (string, bool) {
	v, d := a.Expr.Value(nil)
	*diags = append(*diags, d...)
	if d.HasErrors() {
		return "", false
	}
	if v.Type() != cty.String || v.IsNull() || v.AsString() == "" {
		*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + a.Name,
			Detail: a.Name + " is a non-empty string.", Subject: a.Expr.Range().Ptr()})
		return "", false
	}
	return v.AsString(), true
}

func tagsAttr(a *hcl.Attribute, diags *hcl.Diagnostics) []string {
	v, d := a.Expr.Value(nil)
	*diags = append(*diags, d...)
	if d.HasErrors() {
		return nil
	}
	bad := func(detail string) []string {
		*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid tags",
			Detail: detail, Subject: a.Expr.Range().Ptr()})
		return nil
	}
	if v.IsNull() || !(v.Type().IsListType() || v.Type().IsTupleType()) {
		return bad(`tags is a list of names, e.g. ["web", "eu"].`)
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.Type() != cty.String || e.IsNull() {
			return bad(`tags is a list of names, e.g. ["web", "eu"].`)
		}
		if !validName(e.AsString()) {
			return bad(fmt.Sprintf("tag %q: a tag is letters, digits, '-', '_' and '.' (--on @TAG selects it).", e.AsString()))
		}
		if !slices.Contains(out, e.AsString()) {
			out = append(out, e.AsString())
		}
	}
	return out
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.", c)) {
			return false
		}
	}
	return true
}

func pos(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }

// Tags lists every tag of the fleet, sorted.
func (f *Fleet) Tags() []string {
	var out []string
	for _, h := range f.Hosts {
		for _, t := range h.Tags {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out
}
