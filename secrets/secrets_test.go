package secrets

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

// sshKey writes an OpenSSH ed25519 private key and returns its file and
// its public key line.
func sshKey(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
	if err := os.WriteFile(file+".pub", []byte(line+" "+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, line
}

func ids(t *testing.T, file string) []age.Identity {
	t.Helper()
	id, err := ReadIdentity(file)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestParseRecipientsErrors(t *testing.T) {
	dir := t.TempDir()
	_, host := sshKey(t, dir, "host")
	x, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	ok := "# machines\n" + host + " web1\n\n" + x.Recipient().String() + "\n"
	rs, err := ParseRecipients([]byte(ok), "secrets.recipients")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Line != 2 || rs[1].Line != 4 || rs[0].Text != host {
		t.Errorf("got %+v", rs)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "# nothing\n", "secrets.recipients: no recipients"},
		{"unknown", host + "\nfoo bar\n", `secrets.recipients:2: unknown key type "foo"`},
		{"private", x.String() + "\n", "secrets.recipients:1: a private key, not a public one"},
		{"bad ssh", "ssh-ed25519 AAAA\n", "secrets.recipients:1: ssh key:"},
		{"bad age", "age1xyz\n", "secrets.recipients:1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRecipients([]byte(tc.text), "secrets.recipients")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestEncryptDecryptHostKey(t *testing.T) {
	dir := t.TempDir()
	hostKey, host := sshKey(t, dir, "host")
	adminKey, admin := sshKey(t, dir, "admin")
	otherKey, _ := sshKey(t, dir, "other")
	rs, err := ParseRecipients([]byte(host+"\n"+admin+"\n"), "r")
	if err != nil {
		t.Fatal(err)
	}
	ct, err := Encrypt([]byte("hunter2\n"), rs)
	if err != nil {
		t.Fatal(err)
	}
	if !IsEncrypted(ct) || IsEncrypted([]byte("hunter2\n")) || bytes.Contains(ct, []byte("hunter2")) {
		t.Fatalf("ciphertext not an age file or holds the plaintext")
	}
	for _, k := range []string{hostKey, adminKey} {
		got, err := Decrypt(ct, ids(t, k))
		if err != nil || string(got) != "hunter2\n" {
			t.Errorf("decrypt with %s: %q, %v", filepath.Base(k), got, err)
		}
	}
	if _, err := Decrypt(ct, ids(t, otherKey)); err == nil {
		t.Errorf("a key that is no recipient decrypted")
	}
	if got, err := HostRecipient(dir + "/../" + filepath.Base(dir)); err == nil {
		t.Errorf("HostRecipient of a root without a host key = %q", got)
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/ssh"), 0o755)
	b, _ := os.ReadFile(hostKey + ".pub")
	os.WriteFile(filepath.Join(root, HostKeyFile+".pub"), b, 0o644)
	if got, err := HostRecipient(root); err != nil || got != host {
		t.Errorf("HostRecipient = %q, %v; want %q", got, err, host)
	}
}

func TestEditAndRekey(t *testing.T) {
	dir := t.TempDir()
	adminKey, admin := sshKey(t, dir, "admin")
	newKey, newAdmin := sshKey(t, dir, "new")
	rs, _ := ParseRecipients([]byte(admin+"\n"), "r")
	file := filepath.Join(dir, "db.age")
	tmpBase := t.TempDir()
	var seen string
	write := func(text string) func(string) error {
		return func(f string) error {
			seen = f
			return os.WriteFile(f, []byte(text), 0o600)
		}
	}
	wrote, err := Edit(file, EditOptions{Recipients: rs, Editor: write("one\n"), TempDir: tmpBase})
	if err != nil || !wrote {
		t.Fatalf("create: %v, %v", wrote, err)
	}
	if _, err := os.Stat(seen); !os.IsNotExist(err) {
		t.Errorf("the plaintext file %s is left: %v", seen, err)
	}
	if ents, _ := os.ReadDir(tmpBase); len(ents) != 0 {
		t.Errorf("temporary directory left: %v", ents)
	}
	ct, _ := os.ReadFile(file)
	if got, err := Decrypt(ct, ids(t, adminKey)); err != nil || string(got) != "one\n" {
		t.Fatalf("after create: %q, %v", got, err)
	}
	// An edit that changes nothing leaves the file.
	if wrote, err := Edit(file, EditOptions{Recipients: rs, Identities: ids(t, adminKey), Editor: func(string) error { return nil }, TempDir: tmpBase}); err != nil || wrote {
		t.Errorf("unchanged edit: wrote %v, %v", wrote, err)
	}
	if ct2, _ := os.ReadFile(file); !bytes.Equal(ct, ct2) {
		t.Errorf("unchanged edit rewrote the file")
	}
	// Without an identity that opens it, nothing changes.
	if _, err := Edit(file, EditOptions{Recipients: rs, Identities: ids(t, newKey), Editor: write("x")}); err == nil {
		t.Errorf("edit with a foreign key succeeded")
	}
	// Rekey to both keys: the new admin opens it, the plaintext is the same.
	rs2, _ := ParseRecipients([]byte(admin+"\n"+newAdmin+"\n"), "r")
	if err := Rekey([]string{file}, rs2, ids(t, adminKey)); err != nil {
		t.Fatal(err)
	}
	ct, _ = os.ReadFile(file)
	if got, err := Decrypt(ct, ids(t, newKey)); err != nil || string(got) != "one\n" {
		t.Errorf("after rekey, the new key reads %q, %v", got, err)
	}
	if err := Rekey([]string{filepath.Join(dir, "missing.age")}, rs2, ids(t, adminKey)); err == nil {
		t.Errorf("rekey of a missing file succeeded")
	}
}
