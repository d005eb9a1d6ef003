package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWhy(t *testing.T) {
	dir := t.TempDir()
	lock, err := os.ReadFile("../../debian/testdata/kiln.lock.golden")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kiln.lock"), lock, 0o644); err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(dir, "host.hcl")
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"why", "-c", host, "exim"}, ExitOK, "app → exim (wanted)\n", ""},
		{[]string{"why", "gcc-base", "-c", host}, ExitOK, "base → libc → gcc-base (Essential)\n", ""},
		{[]string{"why", "-c", host, "--json", "libfoo"}, ExitOK, `"version": "1.6"`, ""},
		{[]string{"why", "-c", host, "gawk"}, ExitFailure, "", `unknown package "gawk": not in the lock`},
		{[]string{"why", "-c", host}, ExitUsage, "", "want one package name"},
		{[]string{"why", "-c", filepath.Join(t.TempDir(), "h.hcl"), "x"}, ExitFailure, "", "run 'kiln lock -c "},
	}
	for _, tc := range tests {
		code, out, stderr := runCLI(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(stderr, tc.err) {
			t.Errorf("kiln %s: code %d, stdout %q, stderr %q; want code %d, stdout with %q, stderr with %q",
				strings.Join(tc.args, " "), code, out, stderr, tc.code, tc.out, tc.err)
		}
	}
}
