package modules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary host files to the loader: it must return a
// config or diagnostics, never panic or hang. Imports and file() are off
// (the host is loaded like an embedded module) so the fuzzer cannot wander
// the file system.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.hcl")
	seeds = append(seeds, "default.hcl")
	builtins, _ := filepath.Glob("builtin/*.hcl")
	for _, s := range append(seeds, builtins...) {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`x = config`,
		`networking { host_name = config.networking.host_name }`,
		`kernel { sysctl = mkForce({ a = mkDefault("1") }) }`,
		`packages = [pkgs.vim, pkgs]`,
		`users "a" { uid = config.users.a.uid }`,
		`option "a.<name>.b" { type = list(any) }` + "\n" + `a "x" { b = [1, "2", true] }`,
		`option "a.<name>.<name>" { type = string }`,
		`config { when = config.testing.backdoor
		  testing { backdoor = true } }`,
		`locale = mkOverride(-1, "x")`,
		`etc "x" { source = "../../../etc/passwd" }`,
	} {
		f.Add([]byte(s))
	}
	pkgs := packageSet()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, diags := load(Source{Filename: "fuzz.hcl", Data: data}, "", LoadOptions{Packages: pkgs})
		_ = DiagnosticText(diags, 0)
		if diags.HasErrors() {
			if cfg != nil {
				t.Fatal("config returned with errors")
			}
			return
		}
		if cfg == nil {
			t.Fatal("no config and no errors")
		}
		if _, err := cfg.JSON(); err != nil {
			t.Fatalf("JSON: %v", err)
		}
		_ = cfg.Explain("")
		if _, err := cfg.Value("networking.host_name"); err != nil {
			t.Fatalf("Value: %v", err)
		}
	})
}

// TestListOfAnyMerge: definitions of a list(any) option are converted one
// by one, so their elements may differ in type; merging them must unify
// (or report), not panic.
func TestListOfAnyMerge(t *testing.T) {
	src := `option "a.b" { type = list(any) }` + "\n" + `a { b = ["x"] }` + "\nconfig {\n  a {\n    b = [1]\n  }\n}\n"
	cfg, diags := load(Source{Filename: "any.hcl", Data: []byte(src)}, "", LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(DiagnosticText(diags, 0))
	}
	v, err := cfg.Value("a.b")
	if err != nil {
		t.Fatal(err)
	}
	if got := valueText(v); got != `["x", "1"]` {
		t.Errorf("a.b = %s, want [\"x\", \"1\"]", got)
	}
	src = `option "a.b" { type = list(any) }` + "\n" + `a { b = ["x"] }` + "\nconfig {\n  a {\n    b = [[1]]\n  }\n}\n"
	_, diags = load(Source{Filename: "any.hcl", Data: []byte(src)}, "", LoadOptions{})
	if !diags.HasErrors() || diags[0].Summary != `Wrong type for option "a.b"` {
		t.Errorf("diags = %v, want a wrong type", diags)
	}
}

func TestFunctionLimits(t *testing.T) {
	tests := []struct{ expr, want string }{
		{`length(range(10))`, ""},
		{`length(range(1000000000))`, "range of more than 100000 elements"},
		{`format("%5d", 1)`, ""},
		{`format("port 65536000 %d", 1)`, ""},
		{`format("%%99999999 %.2f", 1)`, ""},
		{`format("%999999999d", 1)`, "format width or precision above 10000"},
		{`indent(99999999, "a\nb")`, "indent wider than 10000"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			src := "locale = tostring(" + tc.expr + ")\n"
			_, diags := load(Source{Filename: "limits.hcl", Data: []byte(src)}, "", LoadOptions{})
			got := ""
			if diags.HasErrors() {
				got = diags[0].Detail
			}
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("diagnostic %q, want one containing %q", got, tc.want)
			}
		})
	}
}
