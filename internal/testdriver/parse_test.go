package testdriver

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/golden"
)

// dump renders a parsed test for golden comparison.
func dump(t *Test) string {
	var b strings.Builder
	fmt.Fprintf(&b, "file %s, timeout %v\n", t.File, t.Timeout)
	for _, m := range t.Machines {
		fmt.Fprintf(&b, "machine %s (%s): config=%q image=%q memory=%d cpus=%d\n", m.Name, pos(m.Range), m.Config, m.Image, m.MemoryMB, m.CPUs)
	}
	for _, s := range t.Steps {
		fmt.Fprintf(&b, "%s (%s)", s, pos(s.Range))
		if s.Timeout != 0 {
			fmt.Fprintf(&b, " timeout %v", s.Timeout)
		}
		if strings.Contains(s.Command, "\n") {
			fmt.Fprintf(&b, " command %q", s.Command)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestParseGolden parses every testdata/parse/*.hcl: a valid file
// renders as its parsed form, an invalid one as its diagnostics.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "parse", "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".hcl")
		t.Run(name, func(t *testing.T) {
			test, diags := Load(f)
			var got string
			switch {
			case diags.HasErrors():
				got = FormatDiagnostics(diags)
				if test != nil {
					t.Error("a test came back with errors")
				}
			default:
				got = dump(test)
			}
			if strings.HasPrefix(name, "ok-") == diags.HasErrors() {
				t.Errorf("%s: errors = %v, want errors only for err-* files:\n%s", f, diags.HasErrors(), got)
			}
			golden.Check(t, strings.TrimSuffix(f, ".hcl")+".golden", []byte(got))
		})
	}
}

// TestEveryKindParses keeps the kind table, the parser and the runner in
// step: each kind parses from its required attributes alone.
func TestEveryKindParses(t *testing.T) {
	values := map[string]string{"unit": `"a.service"`, "command": `"true"`, "port": "22", "regexp": `"x"`, "generation": "2"}
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			var attrs strings.Builder
			for name, required := range stepAttrs[k] {
				if required {
					fmt.Fprintf(&attrs, "  %s = %s\n", name, values[name])
				}
			}
			src := fmt.Sprintf("machine \"m\" {\n  image = \"m.img\"\n}\nstep %q {\n%s}\n", k, attrs.String())
			test, diags := Parse("k.hcl", []byte(src))
			if diags.HasErrors() {
				t.Fatalf("%s\n%s", FormatDiagnostics(diags), src)
			}
			if s := test.Steps[0]; s.Kind != k || s.Machine != "m" {
				t.Errorf("step = %+v", s)
			}
		})
	}
}
