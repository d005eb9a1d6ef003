// Package tests holds kiln's end-to-end tests: they build the real kiln
// binary, build systems from HCL and the repository's kiln.lock into disk
// images, boot them under QEMU and drive them through testvm.
package tests

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/testvm"
)

// repoRoot is the repository root (this file is in tests/).
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// kilnBinary builds the static kiln binary once per test run.
func kilnBinary(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "kiln")
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", out, "./cmd/kiln")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// kiln runs the kiln binary in dir and returns its stdout.
func kiln(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("kiln %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	t.Logf("kiln %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return strings.TrimSpace(out.String())
}

// hostDir makes a directory with host.hcl and the repository's kiln.lock.
func hostDir(t *testing.T, hcl string) string {
	t.Helper()
	dir := t.TempDir()
	lockFile := filepath.Join(repoRoot(t), "kiln.lock")
	if f := os.Getenv("KILN_TEST_LOCK"); f != "" {
		lockFile = f // another lock, e.g. while the repository's is being updated
	}
	lock, err := os.ReadFile(lockFile)
	if err != nil {
		t.Fatalf("the repository's kiln.lock: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kiln.lock"), lock, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "host.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const testHost = `
networking {
  host_name = "kilntest"
}

testing {
  backdoor = true
}

ssh {
  enable = true
}

users "alice" {
  groups          = ["adm", "video"]
  authorized_keys = [%q]
}

services "hello" {
  description = "a declared oneshot"
  type        = "oneshot"
  exec_start  = "/bin/sh -c 'echo hello-from-kiln > /run/hello'"
}

mounts "/mnt/scratch" {
  device  = "tmpfs"
  fs_type = "tmpfs"
  options = ["size=16m"]
}

packages = [pkgs.diffutils]
`

// TestBootTestHost is the project's key test: the default system plus a
// test host, built into an image, booted under QEMU/OVMF, checked from
// inside and through SSH.
func TestBootTestHost(t *testing.T) {
	testenv.NeedVM(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	bin := kilnBinary(t)
	dir := hostDir(t, fmt.Sprintf(testHost, key))
	storeDir := filepath.Join(t.TempDir(), "store")

	top := kiln(t, bin, dir, "--store", storeDir, "build", "-c", "host.hcl")
	if again := kiln(t, bin, dir, "--store", storeDir, "build", "-c", "host.hcl"); again != top {
		t.Errorf("second build: %s, want the same toplevel %s", again, top)
	}
	img := filepath.Join(dir, "disk.img")
	kiln(t, bin, dir, "--store", storeDir, "image", "-c", "host.hcl", "-o", img)

	var serial bytes.Buffer
	m := testvm.Start(t, testvm.WithDisk(img), testvm.WithFreeHostPort(22), testvm.WithSerialLog(&serial))
	bootStart := time.Now()
	m.WaitForUnit("multi-user.target")
	t.Logf("multi-user.target reached %s after QEMU start", time.Since(bootStart).Round(time.Millisecond))

	if out := m.Succeed("systemctl --failed --no-legend --plain"); strings.TrimSpace(out) != "" {
		t.Errorf("failed units:\n%s", out)
	}
	t.Logf("systemd-analyze time: %s", strings.TrimSpace(m.Succeed("systemd-analyze time --no-pager")))
	checks := []struct{ name, cmd, want string }{
		{"host name", "hostname", "kilntest"},
		{"user", "id -un alice", "alice"},
		{"groups", "id -Gn alice | tr ' ' '\\n' | grep -vx alice | sort | paste -sd' '", "adm users video"},
		{"home", "stat -c '%U %a' /home/alice", "alice 700"},
		{"oneshot ran", "cat /run/hello", "hello-from-kiln"},
		{"mount", "findmnt -n -o FSTYPE /mnt/scratch", "tmpfs"},
		{"package on PATH", "command -v diff", "/usr/bin/diff"},
		// The catalog database kiln builds, linked into /var by tmpfiles.
		{"journal catalog", "journalctl --list-catalog --no-pager >/tmp/catalog && grep -c '^0e4284a0caca4bfc81c0bb6786972673 systemd: Unit skipped$' /tmp/catalog", "1"},
		{"journal", "journalctl -b -q --no-pager -t systemd | grep -c 'Reached target' | awk '$1>0{print \"yes\"}'", "yes"},
		{"networkd", "networkctl list --no-pager --no-legend | awk '$3 == \"ether\" {print $4, $5}'", "routable configured"},
		// networking.dhcp brings systemd-resolved: its stub is
		// resolv.conf, and it has the DNS server DHCP gave (QEMU's).
		{"resolv.conf", "readlink /etc/resolv.conf; grep '^nameserver' /etc/resolv.conf", "/run/systemd/resolve/stub-resolv.conf\nnameserver 127.0.0.53"},
		{"resolved DNS", "resolvectl dns --no-pager | grep -o '10\\.0\\.2\\.3' | head -1", "10.0.2.3"},
		{"ESP at /boot", "findmnt -n -o FSTYPE,LABEL /boot", "vfat   ESP"},
		{"boot entry", "ls /boot/loader/entries", "kiln-generation-1.conf"},
		// bootctl (Debian's systemd-boot, in the bootloader module) reads
		// the ESP mounted at /boot.
		{"bootctl list", "bootctl list --no-pager | awk '$1 == \"id:\" && $2 ~ /^kiln/ {print $2}'", "kiln-generation-1.conf"},
		{"current system", "readlink /run/current-system", top},
		{"sshd listens", "ss -Hltn 'sport = :22' | wc -l | awk '$1>0{print \"yes\"}'", "yes"},
	}
	for _, c := range checks {
		got := strings.TrimSpace(m.Succeed(c.cmd))
		if got != c.want {
			t.Errorf("%s: `%s` = %q, want %q", c.name, c.cmd, got, c.want)
		}
	}
	m.WaitForOpenPort(22)
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(m.ForwardedPort(22)))
	cfg := &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}
	var client *ssh.Client
	for deadline := time.Now().Add(2 * time.Minute); ; {
		client, err = ssh.Dial("tcp", addr, cfg)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		t.Fatalf("ssh alice@%s: %v", addr, err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.CombinedOutput("id -un; hostname")
	if err != nil || strings.TrimSpace(string(out)) != "alice\nkilntest" {
		t.Errorf("ssh command: %q, %v; want alice and kilntest", out, err)
	}
	if ms, ok := multiUserTime(serial.String()); ok {
		t.Logf("serial log: multi-user.target %s after the kernel started", ms)
	}
}

// multiUserTime finds, in a serial log, the kernel timestamp of systemd's
// "Reached target multi-user.target" log line ([   12.345678] prefix).
func multiUserTime(log string) (string, bool) {
	m := multiUserRE.FindStringSubmatch(log)
	if m == nil {
		return "", false
	}
	return m[1] + "s", true
}

var multiUserRE = regexp.MustCompile(`\[\s*([0-9]+\.[0-9]+)\] systemd\[1\]: Reached target multi-user\.target`)
