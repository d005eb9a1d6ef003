package system

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

func TestPlanSecrets(t *testing.T) {
	dir := t.TempDir()
	enc := filepath.Join(dir, "db.age")
	// A header is all the builder looks at; the machine decrypts.
	cipher := "age-encryption.org/v1\n-> X25519 abc\nxyz\n--- mac\n\x00\x01"
	if err := os.WriteFile(enc, []byte(cipher), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("hunter2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := func() *modules.System {
		return &modules.System{
			Secrets: map[string]modules.Secret{"db": {File: enc, Owner: "postgres", Group: "postgres", Mode: "0440"}},
			Services: map[string]modules.Service{
				"app":  {Enable: true, Secrets: []string{"db"}},
				"off":  {Enable: false, Secrets: []string{"db"}},
				"none": {Enable: true},
			},
			Units: map[string]modules.Unit{"sync.timer": {Secrets: []string{"db"}}},
		}
	}
	got, err := planSecrets(base())
	if err != nil {
		t.Fatal(err)
	}
	want := toplevel.Secret{Name: "db", Age: []byte(cipher), Owner: "postgres", Group: "postgres", Mode: "0440", Units: []string{"app.service", "sync.timer"}}
	if len(got) != 1 || string(got[0].Age) != cipher || got[0].Owner != want.Owner || got[0].Mode != want.Mode || strings.Join(got[0].Units, " ") != "app.service sync.timer" {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		name string
		edit func(*modules.System)
		want string
	}{
		{"plaintext", func(s *modules.System) { s.Secrets["db"] = modules.Secret{File: plain, Mode: "0400"} }, "is not age-encrypted, and would enter the world-readable store"},
		{"undeclared", func(s *modules.System) { s.Services["app"] = modules.Service{Enable: true, Secrets: []string{"dbx"}} }, `services.app.secrets: secret "dbx" is not declared`},
		{"no file", func(s *modules.System) { s.Secrets["db"] = modules.Secret{Mode: "0400"} }, `secrets "db": file is not set`},
		{"missing file", func(s *modules.System) { s.Secrets["db"] = modules.Secret{File: dir + "/nope.age", Mode: "0400"} }, "nope.age: no such file"},
		{"mode", func(s *modules.System) { s.Secrets["db"] = modules.Secret{File: enc, Mode: "rw"} }, "want octal"},
		{"name", func(s *modules.System) {
			s.Secrets = map[string]modules.Secret{"a/b": {File: enc, Mode: "0400"}}
			s.Services = nil
			s.Units = nil
		}, "invalid name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.edit(s)
			_, err := planSecrets(s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}
