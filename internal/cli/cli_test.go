package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCLI runs the real CLI in-process and returns its code and output.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), Env{
		Args: args, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, Dir: t.TempDir(),
	})
	return code, out.String(), errb.String()
}

func TestUnknownCommandSuggests(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "versoin")
	if code != ExitUsage {
		t.Fatalf("exit = %d, want %d", code, ExitUsage)
	}
	if !strings.Contains(stderr, `did you mean "version"`) {
		t.Fatalf("stderr = %q, want a suggestion", stderr)
	}
}

func TestHelpListsCommands(t *testing.T) {
	code, out, _ := runCLI(t, nil, "help")
	if code != ExitOK || !strings.Contains(out, "version") || !strings.Contains(out, "-store DIR") {
		t.Fatalf("help: code %d, output %q", code, out)
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	code, out, _ := runCLI(t, nil, "version", "-v")
	if code != ExitOK || !strings.HasPrefix(out, "kiln ") {
		t.Fatalf("version -v: code %d, output %q", code, out)
	}
}
