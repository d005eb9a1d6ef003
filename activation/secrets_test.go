package activation

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/kiln-os/kiln/secrets"
	"github.com/kiln-os/kiln/toplevel"
)

// hostKey writes an SSH host key under root and returns it as a
// recipient; other is a key of another machine.
func hostKey(t *testing.T, root string) (host, other []secrets.Recipient) {
	t.Helper()
	key := func(file string) []secrets.Recipient {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sp, _ := ssh.NewPublicKey(pub)
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			t.Fatal(err)
		}
		if file != "" {
			writeFiles(t, root, map[string]string{file: string(pem.EncodeToMemory(block))})
		}
		rs, err := secrets.ParseRecipients(ssh.MarshalAuthorizedKey(sp), "key")
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	return key(secrets.HostKeyFile), key("")
}

func encrypt(t *testing.T, plain string, rs []secrets.Recipient) []byte {
	t.Helper()
	b, err := secrets.Encrypt([]byte(plain), rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSwitchSecrets switches through generations whose secrets change:
// a new secret and a changed one restart exactly their running
// consumers, a re-encrypted one (rekey) restarts nothing, an undeclared
// one is removed, and a password hash can be one.
func TestSwitchSecrets(t *testing.T) {
	root := t.TempDir()
	host, other := hostKey(t, root)
	gen := func(name string, secs ...toplevel.Secret) string {
		spec := baseSpec()
		spec.Users = append(spec.Users, toplevel.User{Name: "app", Group: "users", Home: "/nonexistent", Shell: "/bin/sh", System: true})
		for i := range spec.Users {
			if spec.Users[i].Name == "alice" {
				spec.Users[i].HashedPasswordFile = "/run/secrets/alice-pw"
			}
		}
		spec.Secrets = secs
		return makeToplevel(t, root, name, spec, nil, nil)
	}
	db := func(plain string) toplevel.Secret {
		return toplevel.Secret{Name: "db", Age: encrypt(t, plain, host), Owner: "app", Group: "users", Mode: "0440", Units: []string{"app.service", "idle.service"}}
	}
	pw := toplevel.Secret{Name: "alice-pw", Age: encrypt(t, "$y$j9T$fromsecret\n", host), Owner: "root", Group: "root", Mode: "0400"}
	sd := newFakeSystemd("app.service", "bystander.service")
	switchTo := func(top string) *SwitchReport {
		t.Helper()
		sd.calls = nil
		rep, err := Switch(context.Background(), root, top, sd, SwitchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Errors) > 0 {
			t.Fatalf("switch to %s: %v", top, rep.Errors)
		}
		return rep
	}
	secretFile := func(name string) (string, os.FileInfo) {
		t.Helper()
		p := under(root, "/run/secrets/"+name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		return string(b), fi
	}

	// A new secret: written with its owner and mode, its running consumer
	// restarted (idle.service does not run: left alone).
	rep := switchTo(gen("gen1", db("one\n"), pw))
	if got := strings.Join(sd.calls, ","); got != "restart app.service" {
		t.Errorf("gen1: jobs %q, want restart app.service", got)
	}
	if s := rep.Plan.String(); !strings.Contains(s, "new       /run/secrets/db (app:users 0440), restarts app.service idle.service") {
		t.Errorf("gen1 plan:\n%s", s)
	}
	content, fi := secretFile("db")
	st := fi.Sys().(*syscall.Stat_t)
	uid, _ := lookupIDs(t, root, "app")
	if content != "one\n" || fi.Mode().Perm() != 0o440 || int(st.Uid) != uid || st.Gid != 100 {
		t.Errorf("/run/secrets/db = %q mode %v owner %d:%d, want \"one\\n\" 0440 %d:100", content, fi.Mode().Perm(), st.Uid, st.Gid, uid)
	}
	if dfi, _ := os.Stat(under(root, "/run/secrets")); dfi.Mode().Perm() != 0o751 {
		t.Errorf("/run/secrets mode %v, want 0751", dfi.Mode().Perm())
	}
	if shadow := readFile(t, root, "/etc/shadow"); !strings.Contains(shadow, "alice:$y$j9T$fromsecret:") {
		t.Errorf("alice's hash from her secret is not in shadow (written before the accounts):\n%s", shadow)
	}
	j, _ := json.Marshal(rep.Plan)
	if strings.Contains(string(j), "one\\n") || strings.Contains(string(j), "fromsecret") {
		t.Errorf("the plan's JSON (the journal's) holds a plaintext: %s", j)
	}

	// Re-encrypted (rekeyed), same plaintext: nothing restarts.
	rep = switchTo(gen("gen2", db("one\n"), pw))
	if len(sd.calls) != 0 {
		t.Errorf("gen2 (rekeyed): jobs %v, want none", sd.calls)
	}
	if s := rep.Plan.Secrets.String(); !strings.Contains(s, "unchanged /run/secrets/db") {
		t.Errorf("gen2 plan:\n%s", s)
	}

	// Changed: exactly its consumer restarts.
	rep = switchTo(gen("gen3", db("two\n"), pw))
	if got := strings.Join(sd.calls, ","); got != "restart app.service" {
		t.Errorf("gen3: jobs %q, want restart app.service", got)
	}
	if s := rep.Plan.String(); !strings.Contains(s, "restart  app.service (secret db changed)") {
		t.Errorf("gen3 plan does not show the restart:\n%s", s)
	}
	if content, _ := secretFile("db"); content != "two\n" {
		t.Errorf("/run/secrets/db = %q after the change", content)
	}
	ents, _ := os.ReadDir(under(root, "/run/secrets"))
	if len(ents) != 2 {
		t.Errorf("/run/secrets holds %d entries, want db and alice-pw (no temporary files)", len(ents))
	}

	// Undeclared: removed.
	rep = switchTo(gen("gen4", pw))
	if _, err := os.Stat(under(root, "/run/secrets/db")); !os.IsNotExist(err) {
		t.Errorf("/run/secrets/db still there: %v", err)
	}
	if s := rep.Plan.Secrets.String(); !strings.Contains(s, "remove    /run/secrets/db") {
		t.Errorf("gen4 plan:\n%s", s)
	}

	// Encrypted to another machine: an error that says what to do, and the
	// other secret is still written.
	bad := toplevel.Secret{Name: "db", Age: encrypt(t, "three\n", other), Owner: "root", Group: "root", Mode: "0400"}
	_, err := PlanActivation(root, gen("gen5", bad, pw))
	if err == nil || !strings.Contains(err.Error(), "secret db:") || !strings.Contains(err.Error(), "kiln secrets rekey") {
		t.Errorf("foreign secret: %v", err)
	}
}

// TestPlanSecretsNoHostKey: without a host key nothing can be decrypted.
func TestPlanSecretsNoHostKey(t *testing.T) {
	root := t.TempDir()
	_, other := hostKey(t, t.TempDir())
	spec := &toplevel.ActivationSpec{Secrets: []toplevel.Secret{{Name: "x", Age: encrypt(t, "x", other), Owner: "root", Group: "root", Mode: "0400"}}}
	_, err := PlanSecrets(root, spec, &idLookup{&table{name: "passwd"}, &table{name: "group"}})
	if err == nil || !strings.Contains(err.Error(), "host key") {
		t.Errorf("got %v", err)
	}
}

func lookupIDs(t *testing.T, root, user string) (int, int) {
	t.Helper()
	l, err := readIDLookup(root)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := l.uid(user)
	g, _ := l.gid(user)
	return u, g
}
