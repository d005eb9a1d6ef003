package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/internal/testenv"
)

// TestEveryVerbHasExamples: kiln help VERB shows an EXAMPLES section for
// every verb, and so does its man page.
func TestEveryVerbHasExamples(t *testing.T) {
	for _, n := range commandNames() {
		var b strings.Builder
		commandUsage(&b, commands[n])
		if !strings.Contains(b.String(), "\nEXAMPLES\n  kiln ") && !strings.Contains(b.String(), "\nEXAMPLES\n  source ") {
			t.Errorf("kiln help %s has no EXAMPLES (add them to its usage or to examples.go)", n)
		}
		if page := manPage(commands[n]); !strings.Contains(page, "\n.SH EXAMPLES\n") || !strings.Contains(page, "\n.SH OPTIONS\n") && commands[n].flags != nil {
			t.Errorf("man page of %s lacks EXAMPLES or OPTIONS", n)
		}
	}
}

// TestManPages: kiln man writes a page per verb and kiln.1; man renders
// them without warnings. kiln-search.1 is a golden file.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runCLI(t, nil, "man", dir); code != ExitOK {
		t.Fatal(errs)
	}
	page, err := os.ReadFile(filepath.Join(dir, "kiln-search.1"))
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/kiln-search.1.golden", page)
	testenv.NeedTools(t, "groff")
	for _, n := range append(commandNames(), "") {
		file := filepath.Join(dir, "kiln-"+n+".1")
		if n == "" {
			file = filepath.Join(dir, "kiln.1")
		}
		out, err := exec.Command("groff", "-k", "-man", "-Tutf8", "-ww", "-z", file).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("groff %s: %v\n%s", filepath.Base(file), err, out)
		}
	}
}

// TestCompletion: the bash script completes verbs and a verb's flags in
// a real bash (past a global flag's value), and zsh and fish get theirs.
func TestCompletion(t *testing.T) {
	code, script, _ := runCLI(t, nil, "completion", "bash")
	if code != ExitOK {
		t.Fatalf("completion bash: exit %d", code)
	}
	golden.Check(t, "testdata/completion.bash.golden", []byte(script))
	for _, sh := range []string{"zsh", "fish"} {
		if code, out, _ := runCLI(t, nil, "completion", sh); code != ExitOK || !strings.Contains(out, "switch") {
			t.Errorf("completion %s: exit %d", sh, code)
		}
	}
	if code, _, errs := runCLI(t, nil, "completion", "tcsh"); code != ExitUsage || !strings.Contains(errs, "want bash, zsh or fish") {
		t.Errorf("completion tcsh: exit %d, %q", code, errs)
	}
	testenv.NeedTools(t, "bash")
	file := filepath.Join(t.TempDir(), "kiln.bash")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ words, want string }{
		{"kiln bui", "build"},
		{"kiln --store /x build --dr", "--dry-run"},
		{"kiln switch --no-b", "--no-boot"},
		{"kiln switch --no-c", "--no-confirm"},
		{"kiln gen", "generations"},
	} {
		words := strings.Fields(tc.words)
		src := "source " + file + "; COMP_WORDS=(" + tc.words + "); COMP_CWORD=" + strconv.Itoa(len(words)-1) + "; _kiln; echo \"${COMPREPLY[*]}\""
		out, err := exec.Command("bash", "-c", src).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tc.want {
			t.Errorf("complete %q: %q, %v; want %q", tc.words, out, err, tc.want)
		}
	}
}
