package cli

import "testing"

// TestUsageErrors: help exits 0 on stdout, an unknown verb, help topic,
// flag, eval path or why name gets a suggestion and a non-zero exit, and a
// flag missing its value never swallows the next argument.
func TestUsageErrors(t *testing.T) {
	s := newTranscript(t, nil)
	s.write("host.hcl", "networking {\n  host_name = \"web\"\n}\n")
	for _, args := range [][]string{
		{"help", "nosuch"},
		{"help", "versoin"},
		{"bulid"},
		{"--stor", "x", "version"},
		{"build", "--dryrun"},
		{"build", "-c"},
		{"build", "-c", "--dry-run"},
		{"eval", "-c", "host.hcl", "networking.host_nme"},
		{"eval", "-c", "host.hcl", "users.bob"},
		{"eval", "-c", "host.hcl", "--explain"},
	} {
		if code, _ := s.run(args...); code == ExitOK {
			t.Errorf("kiln %v: exit 0", args)
		}
	}
	s.check("usage_errors")
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"build", "--help"}, {"help", "build"}} {
		if code, out, _ := runCLI(t, nil, args...); code != ExitOK || out == "" {
			t.Errorf("kiln %v: exit %d, stdout %q; want 0 and the usage", args, code, out)
		}
	}
	if code, out, errs := runCLI(t, nil); code != ExitUsage || out != "" || errs == "" {
		t.Errorf("kiln: exit %d, stdout %q; want %d and the usage on stderr", code, out, ExitUsage)
	}
}
