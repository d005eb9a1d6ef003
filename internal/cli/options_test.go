package cli

import (
	"strings"
	"testing"
)

// TestOptionsSearch: kiln options finds a path case-insensitively with a
// block's name standing for <name>, searches descriptions, suggests near
// paths, and its JSON carries typed defaults.
func TestOptionsSearch(t *testing.T) {
	s := newTranscript(t, nil)
	for _, args := range [][]string{
		{"options", "users.alice.shell"},
		{"options", "TIME_ZONE"},
		{"options", "networking.hostname"},
		{"options", "users.alice.shel"},
		{"options", "sshd", "listens"},
		{"options", "--json", "ssh.port"},
		{"options", "--json", "users.<name>.groups"},
	} {
		s.run(args...)
	}
	s.check("options_search")
	code, out, _ := runCLI(t, nil, "options", "SSH")
	if code != ExitOK || !strings.Contains(out, "ssh.port (number) = 22\n") {
		t.Errorf("options SSH: exit %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, nil, "options", "port")
	if code != ExitOK || !strings.Contains(out, "ssh.port (number) = 22\n") {
		t.Errorf("options port (a description search): exit %d:\n%s", code, out)
	}
}
