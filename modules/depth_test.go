package modules

import (
	"strings"
	"testing"
)

// Issue 9, item 9: 70,000 nested brackets crashed HCL's parser (a stack
// overflow, rc 2, 1.1 GB). The file is refused before parsing, at the
// first bracket beyond the limit.
func TestDeepNestingRefused(t *testing.T) {
	const depth = 70000
	src := "# deep\nkernel {\n  params = " + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "\n}\n"
	extra := Source{Filename: "deep.hcl", Data: []byte(src)}
	_, diags := Load("", LoadOptions{Extra: []Source{extra}})
	if !diags.HasErrors() {
		t.Fatal("Load accepted 70,000 nested brackets")
	}
	d := diags[0]
	if d.Summary != "Nesting too deep" || d.Subject == nil || d.Subject.Filename != "deep.hcl" || d.Subject.Start.Line != 3 {
		t.Fatalf("got %s", DiagnosticText(diags, 0, extra))
	}
	// The limit leaves room for real configurations: 50 levels load.
	ok := "kernel {\n  sysctl = " + strings.Repeat("merge(", 50) + `{"vm.swappiness" = "1"}` + strings.Repeat(")", 50) + "\n}\n"
	if _, diags := Load("", LoadOptions{Extra: []Source{{Filename: "ok.hcl", Data: []byte(ok)}}}); diags.HasErrors() {
		t.Fatalf("50 levels: %s", DiagnosticText(diags, 0))
	}
}

// Issue 9, item 12: a diagnostic quotes the user's source; the escape
// sequences in it (here one that clears the screen, raw in the file) are
// shown, not sent to the terminal.
func TestDiagnosticTextEscapesControlBytes(t *testing.T) {
	extra := Source{Filename: "esc.hcl", Data: []byte("ssh {\n  port = \"\x1b[2J\x1b]0;owned\x07\xc2\x9b\"\n}\n")}
	_, diags := Load("", LoadOptions{Extra: []Source{extra}})
	if !diags.HasErrors() {
		t.Fatal("Load accepted a string port")
	}
	got := DiagnosticText(diags, 0, extra)
	if strings.ContainsAny(got, "\x1b\x07") || strings.Contains(got, "\xc2\x9b") {
		t.Fatalf("raw control bytes reach the terminal:\n%q", got)
	}
	if want := `port = "\x1b[2J\x1b]0;owned\x07\xc2\x9b"`; !strings.Contains(got, want) {
		t.Fatalf("got:\n%s\nwant it to show %s", got, want)
	}
}
