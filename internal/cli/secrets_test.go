package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/kiln-os/kiln/internal/sshtest"
	"github.com/kiln-os/kiln/secrets"
)

// sshKeyPair writes NAME (an OpenSSH ed25519 private key) in dir and
// returns its file and public line.
func sshKeyPair(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sp, _ := ssh.NewPublicKey(pub)
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, name)
	if err := os.WriteFile(f, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return f, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

func TestSecretsEditRekeyHostKey(t *testing.T) {
	dir := t.TempDir()
	admin, adminPub := sshKeyPair(t, dir, "admin")
	second, secondPub := sshKeyPair(t, dir, "second")
	recipients := filepath.Join(dir, "secrets.recipients")
	os.WriteFile(recipients, []byte("# admins\n"+adminPub+" admin\n"), 0o644)
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("s3cret\n"), 0o600)
	file := filepath.Join(dir, "db.age")

	code, out, errs := runCLI(t, map[string]string{"EDITOR": "cp " + plain}, "secrets", "edit", "-i", admin, file)
	if code != ExitOK || !strings.Contains(out, "to 1 recipients") {
		t.Fatalf("edit: exit %d\n%s%s", code, out, errs)
	}
	ct, _ := os.ReadFile(file)
	if !secrets.IsEncrypted(ct) || strings.Contains(string(ct), "s3cret") {
		t.Fatalf("db.age is not ciphertext")
	}
	open := func(key string) string {
		ids, err := secrets.ReadIdentity(key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(file)
		p, err := secrets.Decrypt(b, ids)
		if err != nil {
			return "error: " + err.Error()
		}
		return string(p)
	}
	if got := open(admin); got != "s3cret\n" {
		t.Errorf("admin reads %q", got)
	}
	if got := open(second); !strings.HasPrefix(got, "error") {
		t.Errorf("second reads %q before the rekey", got)
	}
	// The editor leaving it as it is: unchanged.
	code, out, _ = runCLI(t, map[string]string{"EDITOR": "true"}, "secrets", "edit", "-i", admin, file)
	if code != ExitOK || !strings.Contains(out, "unchanged") {
		t.Errorf("unchanged edit: exit %d %s", code, out)
	}

	os.WriteFile(recipients, []byte(adminPub+"\n"+secondPub+"\n"), 0o644)
	code, out, errs = runCLI(t, nil, "secrets", "rekey", "-i", admin, dir)
	if code != ExitOK || !strings.Contains(out, "re-encrypted 1 files to 2 recipients") {
		t.Fatalf("rekey: exit %d\n%s%s", code, out, errs)
	}
	if got := open(second); got != "s3cret\n" {
		t.Errorf("second reads %q after the rekey", got)
	}

	// Errors a user sees.
	os.WriteFile(recipients, []byte(adminPub+"\nnot-a-key x\n"), 0o644)
	if code, _, errs := runCLI(t, nil, "secrets", "rekey", "-i", admin, file); code == ExitOK || !strings.Contains(errs, "secrets.recipients:2: unknown key type") {
		t.Errorf("bad recipients: exit %d %s", code, errs)
	}
	os.WriteFile(recipients, []byte(adminPub+"\n"), 0o644)
	if code, _, errs := runCLI(t, nil, "secrets", "rekey", file); code != ExitUsage || !strings.Contains(errs, "give -i FILE") {
		t.Errorf("no identity: exit %d %s", code, errs)
	}

	// host-key: from a root, and from an SSH server's key exchange.
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/ssh"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/ssh/ssh_host_ed25519_key.pub"), []byte(adminPub+" root@web1\n"), 0o644)
	if code, out, errs := runCLI(t, nil, "secrets", "host-key", "--root", root); code != ExitOK || out != adminPub+"\n" {
		t.Errorf("host-key --root: exit %d %q %s", code, out, errs)
	}
	srv := sshtest.Start(t, func(string, io.Reader, io.Writer, io.Writer) int { return 0 })
	want := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey)))
	if code, out, errs := runCLI(t, nil, "secrets", "host-key", "--target-host", srv.Addr); code != ExitOK || out != want+"\n" {
		t.Errorf("host-key --target-host: exit %d %q, want %q %s", code, out, want, errs)
	}
	if len(srv.Commands()) != 0 {
		t.Errorf("host-key ran commands: %v", srv.Commands())
	}
}
