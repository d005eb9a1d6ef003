package machine

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestResolveTarget: an alias of ~/.ssh/config gives the host name, user,
// port and identity files, first value wins, an explicit USER@ or :PORT
// wins over the file, and the user is root by default.
func TestResolveTarget(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(home, ".ssh", "config")
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	src := `Host web1
  HostName 10.0.0.1
  User deploy
  Port 2222
  IdentityFile ~/.ssh/fleet
Host web*
  User ignored
  IdentityFile=~/.ssh/web
Host db !db2
  HostName db.internal
Host *
  Port 2200
`
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in, want string
		ids      []string
	}{
		{"web1", "deploy@10.0.0.1:2222", []string{home + "/.ssh/fleet", home + "/.ssh/web"}},
		{"alice@web1:22", "alice@10.0.0.1:22", []string{home + "/.ssh/fleet", home + "/.ssh/web"}},
		{"web3", "ignored@web3:2200", []string{home + "/.ssh/web"}},
		{"db", "root@db.internal:2200", nil},
		{"db2", "root@db2:2200", nil},
		{"10.1.2.3", "root@10.1.2.3:2200", nil},
	} {
		got, ids, err := ResolveTarget(tc.in, cfg)
		if err != nil || got.String() != tc.want || !slices.Equal(ids, tc.ids) {
			t.Errorf("ResolveTarget(%q) = %v, %v, %v; want %s, %v", tc.in, got, ids, err, tc.want, tc.ids)
		}
	}
}
