package tests

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/testvm"
)

// secretsHost is the issue 16 secrets scenario: generation 1 has no secret
// (the machine's host key is not known before its first boot); host2.hcl
// adds the secret db, read by reader.service as the system user app, and
// bystander.service, which reads none.
func secretsHost(key string, withSecret bool) string {
	return secretsHostWith(key, withSecret, false)
}

// secretsHostWith adds, when ephemeral, the ephemeral root (host3.hcl):
// / a tmpfs, /var/lib/keep persisted.
func secretsHostWith(key string, withSecret, ephemeral bool) string {
	s := fmt.Sprintf(`
networking {
  host_name = "kilnsecrets"
}

testing {
  backdoor = true
}

ssh {
  enable = true
}

bootloader {
  timeout = 1
}

users "root" {
  authorized_keys = [%q]
}

services "bystander" {
  exec_start = "/bin/sleep infinity"
}
`, key)
	if withSecret {
		s += `
users "app" {
  system = true
  group  = "app"
}

groups "app" {}

secrets "db" {
  file  = "db.age"
  owner = "app"
  group = "app"
  mode  = "0400"
}

services "reader" {
  user       = "app"
  exec_start = "/bin/sh -c 'sha256sum < /run/secrets/db > /tmp/reader.sum; exec /bin/sleep infinity'"
  secrets    = ["db"]
}
`
	}
	if ephemeral {
		s += `
impermanence {
  enable      = true
  directories = ["/var/lib/keep"]
}
`
	}
	return s
}

// randomSecret is a plaintext no file anywhere holds by chance.
func randomSecret(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "kiln-secret-" + hex.EncodeToString(b) + "\n"
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:]) + "  -"
}

// TestSecretsAndEphemeralRoot boots a machine, reads its host key over
// SSH, encrypts a secret to it and an admin key, and switches: the service
// reads its secret; the plaintext is in /run/secrets only (not in the
// store, the image or the machine's disk); a rekey for a second admin key
// restarts nothing; a changed secret restarts exactly its consumer. Then
// the same machine switches to an ephemeral root and reboots twice: a
// stray file under / is listed by kiln state audit and gone after the
// reboot, one in a persisted directory stays, machine-id and host keys
// stay, and the secret is decrypted again at boot.
func TestSecretsAndEphemeralRoot(t *testing.T) {
	testenv.NeedVM(t)
	key, keyFile := sshKey(t)
	bin := kilnBinary(t)
	dir := hostDir(t, secretsHost(key, false))
	if err := os.WriteFile(filepath.Join(dir, "host2.hcl"), []byte(secretsHost(key, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "host3.hcl"), []byte(secretsHostWith(key, true, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	storeDir := filepath.Join(t.TempDir(), "store")
	home := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	kiln(t, bin, dir, "--store", storeDir, "image", "-c", "host.hcl", "-o", img)

	m := testvm.Start(t, testvm.WithDisk(img), testvm.WithFreeHostPort(22))
	g := guest{t, m}
	m.WaitForUnit("multi-user.target")
	m.WaitUntilSucceeds("test -s /etc/ssh/ssh_host_ed25519_key.pub")
	target := fmt.Sprintf("127.0.0.1:%d", m.ForwardedPort(22))
	env := []string{"HOME=" + home, "SSH_AUTH_SOCK="}
	host := func(args ...string) kilnResult {
		t.Helper()
		res := kilnRun(t, bin, dir, env, append([]string{"--store", storeDir}, args...)...)
		if res.code != 0 {
			t.Fatalf("kiln %s: exit %d\n%s%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
		}
		return res
	}
	hostFile := "host2.hcl"
	remote := func(args ...string) kilnResult {
		t.Helper()
		return host(append([]string{"switch", "--target-host", "root@" + target, "-i", keyFile, "--accept-new-host-key", "-c", hostFile}, args...)...)
	}

	// The host key, from the SSH key exchange, is the machine's.
	hostKey := strings.TrimSpace(host("secrets", "host-key", "--target-host", target).stdout)
	if onMachine := g.out("cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub"); hostKey != onMachine {
		t.Fatalf("kiln secrets host-key = %q, the machine has %q", hostKey, onMachine)
	}
	_, admin1 := sshKeyPair(t)
	_, admin2 := sshKeyPair(t)
	recipients := filepath.Join(dir, "secrets.recipients")
	writeFile(t, recipients, "# kilnsecrets\n"+hostKey+"\n# admins\n"+admin1.pub+"\n")

	one := randomSecret(t)
	plain := filepath.Join(t.TempDir(), "plain")
	writeFile(t, plain, one)
	edit := func(text string) {
		t.Helper()
		writeFile(t, plain, text)
		res := kilnRun(t, bin, dir, append(env, "EDITOR=cp "+plain), "secrets", "edit", "-i", admin1.file, "db.age")
		if res.code != 0 {
			t.Fatalf("kiln secrets edit: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
		os.Remove(plain)
	}
	edit(one)

	t.Run("service reads its secret", func(t *testing.T) {
		g := guest{t, m}
		dry := remote("--dry-run")
		t.Logf("plan:\n%s", dry.stdout)
		if !strings.Contains(dry.stdout, "new       /run/secrets/db (app:app 0400), restarts reader.service") {
			t.Errorf("the plan does not show the new secret:\n%s", dry.stdout)
		}
		remote()
		m.WaitUntilSucceeds("test -s /tmp/reader.sum")
		g.expect("secret installed", [][3]string{
			{"reader runs", "systemctl is-active reader.service", "active"},
			{"reader read it", "cat /tmp/reader.sum", sum(one)},
			{"file", "stat -c '%U:%G %a' /run/secrets/db", "app:app 400"},
			{"dir", "stat -c '%U:%G %a' /run/secrets", "root:root 751"},
			{"ramfs", "stat -f -c %T /run/secrets", "ramfs"},
			{"content", "sha256sum < /run/secrets/db", sum(one)},
		})
		g.noFailedUnits("secret installed")
	})
	if t.Failed() {
		return
	}

	t.Run("plaintext only in /run/secrets", func(t *testing.T) {
		g := guest{t, m}
		needle := strings.TrimSpace(one)
		img2 := filepath.Join(dir, "disk2.img")
		host("image", "-c", "host2.hcl", "-o", img2)
		for _, where := range []string{storeDir, dir, img2} {
			if out, err := grepTree(where, needle); err != nil || out != "" {
				t.Errorf("the plaintext is in %s: %s %v", where, out, err)
			}
		}
		// On the machine: its whole disk, every block, after a sync: the
		// image it booted and the overlay that took every write (grepped
		// here, on the host: under TCG the guest reads 2 GiB too slowly).
		// The ramfs holds it.
		g.m.Succeed("sync")
		for _, f := range []string{m.Plan().Disk, m.Plan().Overlay} {
			if f == "" {
				continue
			}
			if out, err := grepTree(f, needle); err != nil || out != "" {
				t.Errorf("the plaintext is on the machine's disk (%s): %s %v", f, out, err)
			}
		}
		if got := g.out("grep -rlF " + needle + " /run/secrets"); got != "/run/secrets/db" {
			t.Errorf("grep /run/secrets: %q", got)
		}
	})

	t.Run("rekey keeps the service running", func(t *testing.T) {
		g := guest{t, m}
		pid := g.pid("reader.service")
		writeFile(t, recipients, hostKey+"\n"+admin1.pub+"\n"+admin2.pub+"\n")
		before, _ := os.ReadFile(filepath.Join(dir, "db.age"))
		host("secrets", "rekey", "-i", admin1.file, "db.age")
		after, _ := os.ReadFile(filepath.Join(dir, "db.age"))
		if string(before) == string(after) {
			t.Fatalf("rekey did not rewrite db.age")
		}
		// The new admin opens it now.
		if res := kilnRun(t, bin, dir, append(env, "EDITOR=true"), "secrets", "edit", "-i", admin2.file, "db.age"); res.code != 0 || !strings.Contains(res.stdout, "unchanged") {
			t.Errorf("the second admin cannot open the rekeyed secret: exit %d %s%s", res.code, res.stdout, res.stderr)
		}
		sw := remote()
		t.Logf("switch after the rekey:\n%s%s", sw.stdout, sw.stderr)
		g.expect("after the rekey", [][3]string{
			{"reader runs", "systemctl is-active reader.service", "active"},
			{"reader not restarted", "systemctl show -p MainPID --value reader.service", pid},
			{"content", "sha256sum < /run/secrets/db", sum(one)},
		})
	})

	t.Run("changed secret restarts its consumer", func(t *testing.T) {
		g := guest{t, m}
		reader, bystander := g.pid("reader.service"), g.pid("bystander.service")
		two := randomSecret(t)
		edit(two)
		dry := remote("--dry-run")
		if !strings.Contains(dry.stdout, "restart  reader.service (secret db changed)") || strings.Contains(dry.stdout, "bystander") {
			t.Errorf("the plan does not restart exactly reader.service:\n%s", dry.stdout)
		}
		g.m.Succeed("rm -f /tmp/reader.sum")
		remote()
		m.WaitUntilSucceeds("test -s /tmp/reader.sum")
		g.expect("after the change", [][3]string{
			{"reader read the new one", "cat /tmp/reader.sum", sum(two)},
			{"content", "sha256sum < /run/secrets/db", sum(two)},
			{"bystander not restarted", "systemctl show -p MainPID --value bystander.service", bystander},
		})
		if got := g.pid("reader.service"); got == reader {
			t.Errorf("reader.service kept PID %s: not restarted", got)
		}
		g.noFailedUnits("after the change")
	})
	if t.Failed() {
		return
	}

	// The ephemeral root, on the same machine.
	identity := "cat /etc/machine-id; sha256sum /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub"
	ident := g.out(identity)
	secretSum := g.out("sha256sum < /run/secrets/db")
	ephemeralChecks := func(what string) {
		t.Helper()
		g.expect(what, [][3]string{
			{"root is a tmpfs", "findmnt -no FSTYPE /", "tmpfs"},
			{"disk at /persist", "findmnt -no FSTYPE /persist", "ext4"},
			{"kiln from the disk", "findmnt -no FSTYPE /kiln", "ext4"},
			{"persisted dir bound", "findmnt -no FSTYPE /var/lib/keep", "ext4"},
			{"machine-id and host keys", identity, ident},
			{"secret decrypted at boot", "sha256sum < /run/secrets/db", secretSum},
			{"reader runs", "systemctl is-active reader.service", "active"},
			{"ssh runs", "systemctl is-active ssh.service", "active"},
		})
	}
	t.Run("ephemeral root", func(t *testing.T) {
		g := guest{t, m}
		hostFile = "host3.hcl"
		sw := remote()
		t.Logf("switch to the ephemeral root:\n%s%s", sw.stdout, sw.stderr)
		start := time.Now()
		m.Reboot()
		m.WaitForUnit("multi-user.target")
		t.Logf("reboot into the ephemeral root: %s", time.Since(start).Round(time.Second))
		ephemeralChecks("first ephemeral boot")
		if out := g.out("systemctl --failed --no-legend --plain"); out != "" {
			t.Errorf("failed units on the ephemeral root:\n%s", out)
		}

		g.m.Succeed("echo stray > /root/stray && echo kept > /var/lib/keep/file && sync")
		audit := g.mustKiln("state audit")
		t.Logf("kiln state audit before the reboot:\n%s", audit)
		lines := strings.Split(strings.TrimSpace(audit), "\n")
		if !slicesContains(lines, "/root/stray") {
			t.Errorf("kiln state audit does not list /root/stray")
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "/var/lib/keep") || strings.HasPrefix(l, "/kiln") || strings.HasPrefix(l, "/persist") || strings.HasPrefix(l, "/etc/ssh/ssh_host") {
				t.Errorf("kiln state audit lists persisted %s", l)
			}
		}

		m.Reboot()
		m.WaitForUnit("multi-user.target")
		ephemeralChecks("second ephemeral boot")
		g.expect("after the reboot", [][3]string{
			{"stray gone", "test -e /root/stray && echo there", ""},
			{"persisted file kept", "cat /var/lib/keep/file", "kept"},
		})
		if audit := g.mustKiln("state audit"); strings.Contains(audit, "/root/stray") {
			t.Errorf("kiln state audit after the reboot lists /root/stray:\n%s", audit)
		}
	})
}

func slicesContains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

type keyPair struct{ file, pub string }

func sshKeyPair(t *testing.T) (string, keyPair) {
	pub, file := sshKey(t)
	return file, keyPair{file: file, pub: pub}
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// grepTree reports the files under root (a directory or one file) that
// contain needle, reading every byte (grep -r -a).
func grepTree(root, needle string) (string, error) {
	out, err := exec.Command("grep", "-r", "-a", "-l", "-F", needle, root).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return "", nil
	}
	if err != nil {
		return string(out), err
	}
	return strings.TrimSpace(string(out)), nil
}
