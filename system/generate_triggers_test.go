package system

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/modules"
)

// TestSshdConfigReloadsSsh: what sshd reads in /etc (sshd_config and its
// drop-ins, generated or the user's, text or source) is hashed into
// ssh.service's X-Reload-Triggers, so a switch that changes only the file
// reloads sshd (activation reloads a unit whose triggers alone changed).
func TestSshdConfigReloadsSsh(t *testing.T) {
	src := filepath.Join(t.TempDir(), "extra.conf")
	write := func(s string) {
		if err := os.WriteFile(src, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("MaxStartups 10\n")
	dropIn := func(t *testing.T, sys modules.System) string {
		t.Helper()
		entries, err := GenerateEtc(&sys, fakePackages(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Path == "systemd/system/ssh.service.d/kiln-triggers.conf" {
				return string(e.Data)
			}
		}
		return ""
	}
	base := modules.System{SSH: modules.SSH{Enable: true}}
	port := base
	port.SSH.Port = 2222
	user := base
	user.Etc = map[string]modules.EtcFile{"ssh/sshd_config.d/x.conf": {Text: "MaxStartups 10\n"}}
	source := base
	source.Etc = map[string]modules.EtcFile{"ssh/sshd_config.d/x.conf": {Source: src}}
	other := base
	other.Etc = map[string]modules.EtcFile{"motd": {Text: "hello\n"}}

	b := dropIn(t, base)
	if !strings.Contains(b, "X-Reload-Triggers=ssh/sshd_config=") || !strings.Contains(b, "X-Reload-Triggers=ssh/sshd_config.d/=none\n") {
		t.Fatalf("ssh.service's drop-in:\n%s", b)
	}
	if got := dropIn(t, other); got != b {
		t.Errorf("a file sshd does not read changed the triggers:\n%s\nwas\n%s", got, b)
	}
	p, u, s := dropIn(t, port), dropIn(t, user), dropIn(t, source)
	line := func(s, key string) string {
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "X-Reload-Triggers="+key+"=") {
				return l
			}
		}
		return ""
	}
	if line(p, "ssh/sshd_config") == line(b, "ssh/sshd_config") || line(p, "ssh/sshd_config.d/") != line(b, "ssh/sshd_config.d/") {
		t.Errorf("port moved: the triggers do not name sshd_config alone:\n%s\nwas\n%s", p, b)
	}
	if line(u, "ssh/sshd_config.d/") == line(b, "ssh/sshd_config.d/") || line(u, "ssh/sshd_config") != line(b, "ssh/sshd_config") {
		t.Errorf("a user's drop-in: the triggers do not name sshd_config.d/ alone:\n%s\nwas\n%s", u, b)
	}
	if s != u {
		t.Errorf("a source file and the same text differ:\n%s\n%s", s, u)
	}
	write("MaxStartups 20\n")
	if got := dropIn(t, source); got == s {
		t.Errorf("the source file's content changed, the triggers did not:\n%s", got)
	}
	if got := dropIn(t, modules.System{}); got != "" {
		t.Errorf("no ssh server, yet a drop-in:\n%s", got)
	}
}
