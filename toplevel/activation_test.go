package toplevel

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func intp(i int) *int { return &i }

func TestParseActivationSpec(t *testing.T) {
	tests := []struct {
		name, json, wantErr string
	}{
		{"minimal", `{"version":1}`, ""},
		{"full", `{"version":1,
 "etc":[{"path":"hostname","kind":"link"},
        {"path":"sudoers","kind":"copy","mode":"0440","user":"root","group":"root"},
        {"path":"systemd/system/default.target","kind":"symlink","target":"/usr/lib/systemd/system/multi-user.target"}],
 "users":[{"name":"alice","uid":null,"group":"users","groups":["wheel"],"home":"/home/alice","shell":"/bin/bash","system":false,"create_home":true,"description":"Alice","hashed_password_file":"/var/lib/secrets/alice"}],
 "groups":[{"name":"wheel","gid":10,"members":[]}],
 "wrappers":[{"name":"su","source":"/usr/bin/su","owner":"root","group":"root","mode":"4755"}]}`, ""},
		{"future version", `{"version":4}`, "version 4 not supported"},
		{"no version", `{}`, "version 0 not supported"},
		{"unknown field", `{"version":1,"bogus":1}`, "unknown field"},
		{"bad kind", `{"version":1,"etc":[{"path":"a","kind":"hardlink"}]}`, `unknown kind "hardlink"`},
		{"absolute etc path", `{"version":1,"etc":[{"path":"/etc/a","kind":"link"}]}`, "clean relative path"},
		{"unclean etc path", `{"version":1,"etc":[{"path":"a/../b","kind":"link"}]}`, "clean relative path"},
		{"static", `{"version":1,"etc":[{"path":"static/x","kind":"link"}]}`, "outside static"},
		{"dup etc", `{"version":1,"etc":[{"path":"a","kind":"link"},{"path":"a","kind":"link"}]}`, "declared twice"},
		{"passwd in etc", `{"version":1,"etc":[{"path":"passwd","kind":"copy"}]}`, "written by activation"},
		{"symlink without target", `{"version":1,"etc":[{"path":"a","kind":"symlink"}]}`, "without target"},
		{"bad copy mode", `{"version":1,"etc":[{"path":"a","kind":"copy","mode":"rw"}]}`, "want octal"},
		{"dup user", `{"version":1,"users":[{"name":"a"},{"name":"a"}]}`, `user "a": declared twice`},
		{"bad user name", `{"version":1,"users":[{"name":"a:b"}]}`, "invalid name"},
		{"uid range", `{"version":1,"users":[{"name":"a","uid":70000}]}`, "out of range"},
		{"dup group", `{"version":1,"groups":[{"name":"g"},{"name":"g"}]}`, `group "g": declared twice`},
		{"wrapper relative", `{"version":1,"wrappers":[{"name":"su","source":"su","mode":"4755"}]}`, "not absolute"},
		{"wrapper mode", `{"version":1,"wrappers":[{"name":"su","source":"/usr/bin/su","mode":"99"}]}`, "want octal"},
		// A spec read from the store is not trusted (issue 9, item 1).
		{"shell adds a root account", `{"version":2,"users":[{"name":"bob","group":"users","shell":"/bin/bash\nevil2::0:0::/:/bin/sh"}]}`,
			`user "bob": shell: "/bin/bash\nevil2::0:0::/:/bin/sh" contains a newline, which an account file (passwd, group, shadow) cannot carry`},
		{"home with a colon", `{"version":2,"users":[{"name":"bob","group":"users","home":"/home/a:b"}]}`,
			`user "bob": home: "/home/a:b" contains a colon`},
		{"relative hashed_password_file", `{"version":2,"users":[{"name":"bob","group":"users","hashed_password_file":"pw"}]}`,
			`user "bob": hashed_password_file "pw": not an absolute path`},
		{"member with a comma", `{"version":2,"groups":[{"name":"wheel","members":["a,b"]}]}`, `group "wheel": member "a,b": invalid name`},
		{"etc name with a newline", `{"version":2,"etc":[{"path":"x\ny","kind":"link"}]}`, `etc "x\ny": contains the control character '\n'`},
		// "YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==" is "age-encryption.org/v1\n".
		{"secret", `{"version":3,"secrets":[{"name":"db","age":"YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==","owner":"root","group":"root","mode":"0400","units":["x.service"]}]}`, ""},
		{"secret plaintext", `{"version":3,"secrets":[{"name":"db","age":"aHVudGVyMgo=","mode":"0400"}]}`, "not an age-encrypted file"},
		{"secret name", `{"version":3,"secrets":[{"name":"../x","age":"YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==","mode":"0400"}]}`, "invalid name"},
		{"secret mode", `{"version":3,"secrets":[{"name":"db","age":"YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==","mode":"r"}]}`, "want octal"},
		{"dup secret", `{"version":3,"secrets":[{"name":"db","age":"YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==","mode":"0400"},{"name":"db","age":"YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==","mode":"0400"}]}`, "declared twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseActivationSpec([]byte(tc.json))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestActivationSpecEncodeRoundTrip(t *testing.T) {
	s := &ActivationSpec{
		Version: 1,
		Etc: []EtcEntry{
			{Path: "zz", Kind: EtcLink},
			{Path: "aa", Kind: EtcCopy, Mode: "0600"},
		},
		Users:  []User{{Name: "bob", UID: intp(1001), Group: "users"}, {Name: "alice", Group: "users"}},
		Groups: []Group{{Name: "users", GID: intp(100)}},
	}
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseActivationSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Etc[0].Path != "aa" || got.Users[0].Name != "alice" {
		t.Errorf("encode did not sort: etc %v users %v", got.Etc, got.Users)
	}
	b2, err := got.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(b), string(b2)); diff != "" {
		t.Errorf("re-encoding changed bytes (-first +second):\n%s", diff)
	}
}
