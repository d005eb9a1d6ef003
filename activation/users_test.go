package activation

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kiln-os/kiln/toplevel"
)

const debianPasswd = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
admin:x:1000:1000:Local admin:/home/admin:/bin/bash
`
const debianGroup = `root:x:0:
daemon:x:1:
shadow:x:42:
users:x:100:
admin:x:1000:
`
const debianShadow = `root:$y$j9T$roothash:19700:0:99999:7:::
daemon:*:19700:0:99999:7:::
admin:$y$j9T$adminhash:19700:0:99999:7:::
`

func baseSpec() *toplevel.ActivationSpec {
	return &toplevel.ActivationSpec{Version: 1,
		Groups: []toplevel.Group{
			{Name: "root", GID: intp(0)},
			{Name: "shadow", GID: intp(42)},
			{Name: "users", GID: intp(100)},
			{Name: "wheel"},
			{Name: "sshd"},
			{Name: "alice"},
		},
		Users: []toplevel.User{
			{Name: "root", UID: intp(0), Group: "root", Home: "/root", Shell: "/bin/sh", System: true, HashedPasswordFile: "/var/lib/secrets/root"},
			{Name: "sshd", Group: "sshd", Home: "/run/sshd", System: true},
			{Name: "alice", Group: "alice", Groups: []string{"wheel", "users"}, Home: "/home/alice", Shell: "/bin/bash", CreateHome: true,
				Description: "Alice", HashedPasswordFile: "/var/lib/secrets/alice"},
		},
	}
}

func withoutUser(s *toplevel.ActivationSpec, name string) *toplevel.ActivationSpec {
	c := *s
	c.Users = nil
	for _, u := range s.Users {
		if u.Name != name {
			c.Users = append(c.Users, u)
		}
	}
	return &c
}

func withUser(s *toplevel.ActivationSpec, u toplevel.User) *toplevel.ActivationSpec {
	c := *withoutUser(s, u.Name)
	c.Users = append(c.Users, u)
	return &c
}

func TestPlanUsers(t *testing.T) {
	secrets := map[string]string{
		"/var/lib/secrets/root":  "$y$j9T$newroothash\n",
		"/var/lib/secrets/alice": "$y$j9T$alicehash\n",
	}
	tests := []struct {
		name    string
		machine map[string]string        // files before
		before  *toplevel.ActivationSpec // activated first
		spec    *toplevel.ActivationSpec
		wantErr string
		check   func(t *testing.T, root string)
	}{
		{name: "fresh", machine: secrets, spec: baseSpec(), check: func(t *testing.T, root string) {
			wantLine(t, root, "/etc/passwd", "alice:x:1000:1000:Alice:/home/alice:/bin/bash")
			wantLine(t, root, "/etc/passwd", "sshd:x:999:999::/run/sshd:/usr/sbin/nologin")
			wantLine(t, root, "/etc/group", "wheel:x:998:alice")
			wantLine(t, root, "/etc/group", "users:x:100:alice")
			wantLine(t, root, "/etc/shadow", "alice:$y$j9T$alicehash:::::::")
			wantLine(t, root, "/etc/shadow", "root:$y$j9T$newroothash:::::::")
			wantLine(t, root, "/etc/gshadow", "wheel:!::alice")
			wantMode(t, root, "/etc/shadow", 0o640, 0, 42)
			wantMode(t, root, "/etc/gshadow", 0o640, 0, 42)
			wantMode(t, root, "/etc/passwd", 0o644, 0, 0)
			wantMode(t, root, "/home/alice", os.ModeDir|0o700, 1000, 1000)
		}},
		{name: "existing-machine", spec: baseSpec(),
			machine: merge(secrets, map[string]string{"/etc/passwd": debianPasswd, "/etc/group": debianGroup, "/etc/shadow": debianShadow}),
			check: func(t *testing.T, root string) {
				// admin holds 1000 (not kiln's: untouched), so alice gets 1001.
				wantLine(t, root, "/etc/passwd", "admin:x:1000:1000:Local admin:/home/admin:/bin/bash")
				wantLine(t, root, "/etc/shadow", "admin:$y$j9T$adminhash:19700:0:99999:7:::")
				wantLine(t, root, "/etc/passwd", "alice:x:1001:1001:Alice:/home/alice:/bin/bash")
				wantLine(t, root, "/etc/passwd", "root:x:0:0::/root:/bin/sh")
				wantLine(t, root, "/etc/shadow", "root:$y$j9T$newroothash:19700:0:99999:7:::")
				wantLine(t, root, "/etc/passwd", "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin")
			}},
		{name: "reactivate", machine: secrets, before: baseSpec(), spec: baseSpec()},
		{name: "kept-id", machine: merge(secrets, map[string]string{"/etc/passwd": "alice:x:1500:1500::/home/alice:/bin/bash\n", "/etc/group": "alice:x:1500:\n"}),
			spec: baseSpec(), check: func(t *testing.T, root string) {
				wantLine(t, root, "/etc/passwd", "alice:x:1500:1500:Alice:/home/alice:/bin/bash")
				ids, _ := ReadIDs(root)
				if ids.UIDs["alice"] != 1500 || ids.GIDs["alice"] != 1500 {
					t.Errorf("ids.json: alice %d/%d, want 1500/1500", ids.UIDs["alice"], ids.GIDs["alice"])
				}
			}},
		{name: "removed-user-locked", machine: secrets, before: baseSpec(), spec: withoutUser(baseSpec(), "alice"),
			check: func(t *testing.T, root string) {
				wantLine(t, root, "/etc/passwd", "alice:x:1000:1000:Alice:/home/alice:/usr/sbin/nologin")
				wantLine(t, root, "/etc/shadow", "alice:!$y$j9T$alicehash:::::::")
				if !exists(under(root, "/home/alice")) {
					t.Errorf("home of the locked user was removed")
				}
			}},
		{name: "ids-never-reused", machine: secrets, before: withUser(baseSpec(), toplevel.User{Name: "bob", Group: "users"}),
			spec: withUser(withoutUser(baseSpec(), "alice"), toplevel.User{Name: "carol", Group: "users"}),
			check: func(t *testing.T, root string) {
				// alice had 1000 and bob 1001: carol gets 1002, though
				// alice is gone from the spec.
				wantLine(t, root, "/etc/passwd", "carol:x:1002:100::/home/carol:/bin/sh")
			}},
		{name: "missing-password-file", spec: baseSpec(), check: func(t *testing.T, root string) {
			wantLine(t, root, "/etc/shadow", "alice:!:::::::")
		}},
		{name: "declared-id-collision", machine: map[string]string{"/etc/passwd": debianPasswd, "/etc/group": debianGroup},
			spec:    withUser(baseSpec(), toplevel.User{Name: "alice", UID: intp(1000), Group: "users"}),
			wantErr: "user alice: uid 1000 is already used by user admin in /etc/passwd"},
		{name: "declared-gid-collision", machine: map[string]string{"/etc/group": debianGroup},
			spec:    &toplevel.ActivationSpec{Version: 1, Groups: []toplevel.Group{{Name: "video", GID: intp(42)}}},
			wantErr: "group video: gid 42 is already used by group shadow in /etc/group"},
		{name: "unknown-primary-group", spec: &toplevel.ActivationSpec{Version: 1, Users: []toplevel.User{{Name: "x", Group: "nope"}}},
			wantErr: "user x: primary group nope is neither declared nor in /etc/group"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tc.machine)
			if tc.before != nil {
				applyUsers(t, root, tc.before)
			}
			plan, err := PlanUsers(root, tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			text := plan.String()
			if strings.Contains(text, "$y$") {
				t.Errorf("plan text shows a password hash:\n%s", text)
			}
			golden(t, "users-"+tc.name, text)
			if err := ApplyUsers(root, plan); err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, root)
			}
			again, err := PlanUsers(root, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !again.Empty() {
				t.Errorf("second plan is not empty:\n%s", again)
			}
			before := snapshot(t, root)
			if err := ApplyUsers(root, again); err != nil {
				t.Fatal(err)
			}
			if after := snapshot(t, root); after != before {
				t.Errorf("re-applying changed the account files:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func applyUsers(t *testing.T, root string, s *toplevel.ActivationSpec) {
	t.Helper()
	p, err := PlanUsers(root, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyUsers(root, p); err != nil {
		t.Fatal(err)
	}
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func wantLine(t *testing.T, root, file, line string) {
	t.Helper()
	content := readFile(t, root, file)
	for _, l := range strings.Split(content, "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("%s lacks line %q; it holds:\n%s", file, line, content)
}

func wantMode(t testing.TB, root, p string, mode os.FileMode, uid, gid int) {
	t.Helper()
	fi, err := os.Lstat(under(root, p))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s: %v %d:%d, want %v %d:%d", p, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
}

// snapshot is the account files and ids.json with their inode numbers, so
// a rewrite shows even with equal content.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", IDsFile} {
		fi, err := os.Stat(under(root, p))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(p + " " + fi.Mode().String() + " ino " + strconv.FormatUint(fi.Sys().(*syscall.Stat_t).Ino, 10) + "\n" + readFile(t, root, p))
	}
	return b.String()
}

// The account files' writer is the last line of defence: a row kiln makes
// with a field that would add a record is refused, a line read from the
// machine (a NIS "+" entry) is written back as it was.
func TestTableRefusesInjectedRow(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(root+"/etc", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root+"/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n+::::::\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb, err := readTable(root, "passwd", 7)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := tb.bytes(); err != nil || string(b) != "root:x:0:0:root:/root:/bin/sh\n+::::::\n" {
		t.Fatalf("read back %q, %v", b, err)
	}
	tb.set([]string{"bob", "x", "1000", "100", "", "/home/bob", "/bin/bash\nevil2::0:0::/:/bin/sh"})
	_, err = tb.bytes()
	if want := `/etc/passwd entry "bob": field 7: "/bin/bash\nevil2::0:0::/:/bin/sh" contains a newline`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}
