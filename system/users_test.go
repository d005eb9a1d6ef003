package system

import (
	"testing"

	"github.com/kiln-os/kiln/modules"
)

// Issue 9, items 10 and 12, where the packages' accounts are known: a
// service user nothing declares, and a configured uid that a package's
// user already has (the configuration's own duplicates are refused at
// evaluation, with both definitions' lines).
func TestCheckReferences(t *testing.T) {
	uid := func(n int) *int { return &n }
	base := func() *accounts {
		a := newAccounts()
		if _, err := a.parseSysusers("g users 100\nu root 0:0 \"root\" /root /bin/sh\nu www-data 33 - /var/www\n"); err != nil {
			t.Fatal(err)
		}
		return a
	}
	cases := []struct {
		name string
		sys  modules.System
		want string
	}{
		{"package user", modules.System{Services: map[string]modules.Service{"web": {User: "www-data"}}}, ""},
		{"numeric user", modules.System{Services: map[string]modules.Service{"web": {User: "33"}}}, ""},
		{"configured user", modules.System{Users: map[string]modules.User{"app": {}},
			Services: map[string]modules.Service{"web": {User: "app"}}}, ""},
		{"undeclared user", modules.System{Services: map[string]modules.Service{"web": {User: "nobodyhere"}}},
			`services "web": user "nobodyhere": no users block and no package in the closure declares it`},
		{"uid of a package user", modules.System{Users: map[string]modules.User{"bob": {UID: uid(0)}}},
			`users "root": uid 0 is also user bob's`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := base()
			if err := a.applyConfig(&tc.sys); err != nil {
				t.Fatal(err)
			}
			err := a.checkReferences(&tc.sys)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || err.Error() != tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
