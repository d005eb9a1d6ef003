package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/golden"
)

// transcript runs the real CLI in one working directory and records each
// command with what it printed and its exit code, as a user would see it
// in a terminal; the directory reads as $DIR. Its text is a golden file
// (testdata/NAME.golden).
type transcript struct {
	t   *testing.T
	dir string
	env map[string]string
	buf bytes.Buffer
}

func newTranscript(t *testing.T, env map[string]string) *transcript {
	return &transcript{t: t, dir: t.TempDir(), env: env}
}

// write creates a file in the directory.
func (s *transcript) write(name, content string) {
	s.t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// run runs kiln ARGS, records it and returns its exit code and stdout.
func (s *transcript) run(args ...string) (int, string) {
	s.t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), Env{
		Args: args, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return s.env[k] }, Dir: s.dir,
	})
	fmt.Fprintf(&s.buf, "$ kiln %s\n", strings.Join(args, " "))
	s.buf.WriteString(s.clean(out.String()))
	if errb.Len() > 0 {
		for _, l := range strings.SplitAfter(s.clean(errb.String()), "\n") {
			if l != "" {
				s.buf.WriteString("stderr: " + l)
			}
		}
	}
	if code != ExitOK {
		fmt.Fprintf(&s.buf, "[exit %d]\n", code)
	}
	s.buf.WriteString("\n")
	return code, out.String()
}

func (s *transcript) clean(text string) string {
	for k, v := range s.env {
		if strings.HasPrefix(v, "/") || strings.HasPrefix(v, "file:///") {
			text = strings.ReplaceAll(text, v, "$"+k)
		}
	}
	return strings.ReplaceAll(text, s.dir, "$DIR")
}

// check compares the transcript with testdata/NAME.golden.
func (s *transcript) check(name string) {
	s.t.Helper()
	golden.Check(s.t, filepath.Join("testdata", name+".golden"), s.buf.Bytes())
}
