// Package testdriver runs declarative VM tests (`kiln test tests/NAME.hcl`):
// an HCL file names one or more machines, each built from a host
// configuration (or given as a disk image), and an ordered list of steps
// in the NixOS test driver's verbs. Parse checks a file and reports errors
// against its lines; Run executes a parsed test against machines that the
// caller knows how to build and boot, printing go test -v style output.
// It does not build images or start QEMU itself: both are injected.
package testdriver

import (
	"fmt"
	"github.com/kiln-os/kiln/internal/suggest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/gocty"
)

// Test is a parsed test file.
type Test struct {
	File     string        // as given to Parse
	Timeout  time.Duration // default bound of each step
	Machines []*MachineSpec
	Steps    []*Step
}

// MachineSpec declares one machine.
type MachineSpec struct {
	Name     string
	Config   string // host configuration, resolved against the test file's directory
	Image    string // or a ready disk image, resolved likewise
	MemoryMB int    // 0: the harness default
	CPUs     int    // 0: the harness default
	Range    hcl.Range
}

// Kind is a step's verb.
type Kind string

// The step kinds, named as the NixOS test driver names its verbs.
const (
	WaitForUnit        Kind = "wait_for_unit"
	Succeed            Kind = "succeed"
	Fail               Kind = "fail"
	WaitUntilSucceeds  Kind = "wait_until_succeeds"
	WaitUntilFails     Kind = "wait_until_fails"
	WaitForOpenPort    Kind = "wait_for_open_port"
	WaitForConsoleText Kind = "wait_for_console_text"
	Reboot             Kind = "reboot"
	SelectGeneration   Kind = "select_generation"
	Shutdown           Kind = "shutdown"
	Start              Kind = "start"
	Crash              Kind = "crash"
)

// stepAttrs lists each kind's own attributes (besides machine, name and
// timeout, which every step takes) and whether each is required.
var stepAttrs = map[Kind]map[string]bool{
	WaitForUnit:        {"unit": true},
	Succeed:            {"command": true, "expect": false},
	Fail:               {"command": true, "expect": false},
	WaitUntilSucceeds:  {"command": true},
	WaitUntilFails:     {"command": true},
	WaitForOpenPort:    {"port": true},
	WaitForConsoleText: {"regexp": true},
	Reboot:             {},
	SelectGeneration:   {"generation": true},
	Shutdown:           {},
	Start:              {},
	Crash:              {},
}

// Kinds lists the step kinds, sorted.
func Kinds() []Kind {
	ks := make([]Kind, 0, len(stepAttrs))
	for k := range stepAttrs {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}

// Step is one step of a test.
type Step struct {
	Index      int // 1-based
	Kind       Kind
	Machine    string
	Name       string // optional description
	Unit       string
	Command    string
	Expect     *regexp.Regexp
	Regexp     string
	Port       int
	Generation int
	Timeout    time.Duration // 0: the test's default
	Range      hcl.Range

	machineRange hcl.Range
}

// DefaultTimeout bounds a step when neither it nor the file says.
const DefaultTimeout = 5 * time.Minute

var fileSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "timeout"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "machine", LabelNames: []string{"name"}},
		{Type: "step", LabelNames: []string{"kind"}},
	},
}

var machineSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "config"}, {Name: "image"}, {Name: "memory"}, {Name: "cpus"}},
}

// Load reads and parses a test file.
func Load(path string) (*Test, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read test file", Detail: err.Error()}}
	}
	return Parse(path, src)
}

// Parse parses and validates a test file. Relative paths in it are
// resolved against the directory of filename.
func Parse(filename string, src []byte) (*Test, hcl.Diagnostics) {
	f, diags := hclsyntax.ParseConfig(src, filename, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return nil, diags
	}
	content, d := f.Body.Content(fileSchema)
	diags = append(diags, d...)
	t := &Test{File: filename, Timeout: DefaultTimeout}
	if a, ok := content.Attributes["timeout"]; ok {
		t.Timeout = durationAttr(a, &diags)
	}
	p := parser{dir: filepath.Dir(filename), machines: map[string]*MachineSpec{}}
	for _, b := range content.Blocks {
		switch b.Type {
		case "machine":
			if m := p.machine(b, &diags); m != nil {
				t.Machines = append(t.Machines, m)
			}
		case "step":
			if s := p.step(b, len(t.Steps)+1, &diags); s != nil {
				t.Steps = append(t.Steps, s)
			}
		}
	}
	whole := f.Body.(*hclsyntax.Body).SrcRange
	if len(t.Machines) == 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No machine",
			Detail: `A test needs at least one machine "NAME" { config = "host.hcl" } block.`, Subject: whole.Ptr()})
	}
	if len(t.Steps) == 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No step",
			Detail: `A test needs at least one step block, e.g. step "wait_for_unit" { unit = "multi-user.target" }.`, Subject: whole.Ptr()})
	}
	p.resolveMachines(t, &diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return t, diags
}

type parser struct {
	dir      string
	machines map[string]*MachineSpec
}

func (p *parser) machine(b *hcl.Block, diags *hcl.Diagnostics) *MachineSpec {
	name := b.Labels[0]
	if prev, dup := p.machines[name]; dup {
		*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate machine",
			Detail: fmt.Sprintf("Machine %q is already declared at %s.", name, pos(prev.Range)), Subject: b.LabelRanges[0].Ptr()})
		return nil
	}
	content, d := b.Body.Content(machineSchema)
	*diags = append(*diags, d...)
	m := &MachineSpec{Name: name, Range: b.DefRange}
	p.machines[name] = m
	if a, ok := content.Attributes["config"]; ok {
		m.Config = p.path(stringAttr(a, diags))
	}
	if a, ok := content.Attributes["image"]; ok {
		m.Image = p.path(stringAttr(a, diags))
	}
	if (m.Config == "") == (m.Image == "") {
		*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Machine needs config or image",
			Detail: fmt.Sprintf("Machine %q must set exactly one of config (a host file to build) and image (a disk image).", name), Subject: b.DefRange.Ptr()})
	}
	if a, ok := content.Attributes["memory"]; ok {
		m.MemoryMB = intAttr(a, 64, 1<<20, diags)
	}
	if a, ok := content.Attributes["cpus"]; ok {
		m.CPUs = intAttr(a, 1, 64, diags)
	}
	return m
}

func (p *parser) path(s string) string {
	if s == "" || filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(p.dir, s)
}

func (p *parser) step(b *hcl.Block, index int, diags *hcl.Diagnostics) *Step {
	kind := Kind(b.Labels[0])
	own, ok := stepAttrs[kind]
	if !ok {
		*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown step kind",
			Detail: fmt.Sprintf("%q is not a step kind%s. Kinds: %s.", kind, suggestKind(string(kind)), kindList()), Subject: b.LabelRanges[0].Ptr()})
		return nil
	}
	schema := &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "machine"}, {Name: "name"}, {Name: "timeout"}}}
	names := make([]string, 0, len(own))
	for n := range own {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: n, Required: own[n]})
	}
	content, d := b.Body.Content(schema)
	*diags = append(*diags, d...)
	s := &Step{Index: index, Kind: kind, Range: b.DefRange}
	attrs := make([]*hcl.Attribute, 0, len(content.Attributes))
	for _, a := range content.Attributes {
		attrs = append(attrs, a)
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].Range.Start.Byte < attrs[j].Range.Start.Byte })
	for _, a := range attrs {
		switch a.Name {
		case "machine":
			s.Machine = stringAttr(a, diags)
		case "name":
			s.Name = stringAttr(a, diags)
		case "timeout":
			s.Timeout = durationAttr(a, diags)
		case "unit":
			s.Unit = stringAttr(a, diags)
		case "command":
			s.Command = stringAttr(a, diags)
		case "expect":
			s.Expect = regexpAttr(a, diags)
		case "regexp":
			if re := regexpAttr(a, diags); re != nil {
				s.Regexp = re.String()
			}
		case "port":
			s.Port = intAttr(a, 1, 65535, diags)
		case "generation":
			s.Generation = intAttr(a, 1, 1<<20, diags)
		}
	}
	s.machineRange = b.DefRange
	if a, ok := content.Attributes["machine"]; ok {
		s.machineRange = a.Expr.Range()
	}
	return s
}

// resolveMachines checks every step's machine, which may be left out
// when the test has only one.
func (p *parser) resolveMachines(t *Test, diags *hcl.Diagnostics) {
	for _, s := range t.Steps {
		if s.Machine == "" {
			if len(t.Machines) == 1 {
				s.Machine = t.Machines[0].Name
				continue
			}
			if len(t.Machines) > 1 {
				*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Step needs a machine",
					Detail: fmt.Sprintf("The test has %d machines (%s); say which with machine = \"NAME\".", len(t.Machines), machineNames(t)), Subject: s.Range.Ptr()})
			}
			continue
		}
		if _, ok := p.machines[s.Machine]; !ok {
			*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown machine",
				Detail: fmt.Sprintf("No machine %q is declared; machines: %s.", s.Machine, machineNames(t)), Subject: s.machineRange.Ptr()})
		}
	}
}

func machineNames(t *Test) string {
	names := make([]string, len(t.Machines))
	for i, m := range t.Machines {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

func kindList() string {
	var ks []string
	for _, k := range Kinds() {
		ks = append(ks, string(k))
	}
	return strings.Join(ks, ", ")
}

// suggest returns ` (did you mean "X"?)` for a near kind.
func suggestKind(s string) string {
	kinds := make([]string, 0, len(Kinds()))
	for _, k := range Kinds() {
		kinds = append(kinds, string(k))
	}
	if best := suggest.Closest(s, kinds, 3); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// value evaluates a literal attribute (no variables or functions).
func value(a *hcl.Attribute, diags *hcl.Diagnostics) (cty.Value, bool) {
	v, d := a.Expr.Value(nil)
	*diags = append(*diags, d...)
	if d.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() || !v.IsKnown() {
		*diags = append(*diags, attrError(a, "Invalid value", fmt.Sprintf("%s must not be null.", a.Name)))
		return cty.NilVal, false
	}
	return v, true
}

func attrError(a *hcl.Attribute, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: a.Expr.Range().Ptr()}
}

func stringAttr(a *hcl.Attribute, diags *hcl.Diagnostics) string {
	v, ok := value(a, diags)
	if !ok {
		return ""
	}
	if v.Type() != cty.String {
		*diags = append(*diags, attrError(a, "Invalid value", fmt.Sprintf("%s must be a string, not %s.", a.Name, v.Type().FriendlyName())))
		return ""
	}
	return v.AsString()
}

func intAttr(a *hcl.Attribute, lo, hi int, diags *hcl.Diagnostics) int {
	v, ok := value(a, diags)
	if !ok {
		return 0
	}
	var n int
	if v.Type() != cty.Number || gocty.FromCtyValue(v, &n) != nil {
		*diags = append(*diags, attrError(a, "Invalid value", fmt.Sprintf("%s must be a whole number.", a.Name)))
		return 0
	}
	if n < lo || n > hi {
		*diags = append(*diags, attrError(a, "Value out of range", fmt.Sprintf("%s must be between %d and %d, not %d.", a.Name, lo, hi, n)))
		return 0
	}
	return n
}

func durationAttr(a *hcl.Attribute, diags *hcl.Diagnostics) time.Duration {
	s := stringAttr(a, diags)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		*diags = append(*diags, attrError(a, "Invalid duration", fmt.Sprintf("%s must be a positive duration such as \"90s\" or \"10m\", not %q.", a.Name, s)))
		return 0
	}
	return d
}

func regexpAttr(a *hcl.Attribute, diags *hcl.Diagnostics) *regexp.Regexp {
	s := stringAttr(a, diags)
	re, err := regexp.Compile(s)
	if err != nil {
		*diags = append(*diags, attrError(a, "Invalid regular expression", fmt.Sprintf("%s: %v.", a.Name, err)))
		return nil
	}
	return re
}

// FormatDiagnostics renders diagnostics one per line as
// "file:line,col: summary; detail".
func FormatDiagnostics(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s:%d,%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		b.WriteString(d.Summary)
		if d.Detail != "" {
			b.WriteString("; " + d.Detail)
		}
		b.WriteString("\n")
	}
	return b.String()
}
