package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/debian"
)

// TestPerHostLocks: two host files in one directory get a lock each and
// keep them; a directory's kiln.lock from before (version 1, no host) is
// still read; a lock written for another host is never overwritten;
// --lock FILE chooses the file; a new resolution says what changed (or
// that nothing did) and the index dates.
func TestPerHostLocks(t *testing.T) {
	a := newTestArchive(t)
	a.publish(t, basePackages()+testPackages, archiveTime)
	s := archiveTranscript(t, a)
	k := []string{"--keyring", "archive.asc"}
	s.write("web1.hcl", "packages = [pkgs.htop]\n")
	s.write("web2.hcl", "packages = [pkgs.curl]\n")
	s.run(append(k, "lock", "-c", "web1.hcl")...)
	s.run(append(k, "lock", "-c", "web2.hcl")...)
	s.run(append(k, "lock", "-c", "web1.hcl")...) // still up to date: web2 did not overwrite it
	s.run("why", "-c", "web2.hcl", "curl")

	// A kiln.lock of version 1 beside a host without its own lock is read.
	l, err := debian.ReadLock(filepath.Join(s.dir, "web1.lock"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v1 := strings.Replace(strings.Replace(string(data), `"version": 2`, `"version": 1`, 1), "  \"host\": \"web1.hcl\",\n", "", 1)
	s.write("old/kiln.lock", v1)
	s.write("old/web1.hcl", "packages = [pkgs.htop]\n")
	s.run(append(k, "lock", "-c", "old/web1.hcl")...)
	s.run("why", "-c", "old/web1.hcl", "htop")

	// A lock written for web2 is not overwritten for web1.
	s.run(append(k, "--lock", "web2.lock", "lock", "-c", "web1.hcl")...)
	s.run(append(k, "--lock", "shared.lock", "lock", "-c", "web1.hcl")...)
	s.run("--lock", "shared.lock", "why", "-c", "web1.hcl", "htop")

	// A new index: --update says what changed, or that nothing did.
	s.run(append(k, "lock", "-c", "web2.hcl", "--update")...)
	a.publish(t, basePackages()+strings.Replace(testPackages, "7.88.1-10", "7.88.1-10+deb12u5", 1), archiveTime.Add(24*time.Hour))
	s.run(append(k, "lock", "-c", "web2.hcl", "--update")...)

	// --update PKG updates that package only.
	newer := strings.NewReplacer("7.88.1-10+deb12u5", "7.88.1-10+deb12u6", "2.36-9", "2.36-9+deb12u4").Replace(
		strings.Replace(testPackages, "7.88.1-10", "7.88.1-10+deb12u5", 1))
	a.publish(t, basePackages()+newer, archiveTime.Add(48*time.Hour))
	s.run(append(k, "lock", "-c", "web2.hcl", "--update", "curl")...)
	s.run(append(k, "lock", "-c", "web2.hcl", "--update", "crul")...)
	s.run(append(k, "lock", "-c", "web2.hcl", "curl")...)
	s.run(append(k, "lock", "-c", "web2.hcl", "--update")...)
	if _, err := os.Stat(filepath.Join(s.dir, "kiln.lock")); err == nil {
		t.Error("a host file's lock was written to kiln.lock")
	}
	s.check("per_host_locks")
}

// TestSwitchUpgradeLocksFirst: switch --upgrade resolves the lock again
// (kiln lock --update) before it builds; here the build then fails, as
// the test archive has no .debs, and the new lock stays.
func TestSwitchUpgradeLocksFirst(t *testing.T) {
	a := newTestArchive(t)
	a.publish(t, basePackages()+testPackages, archiveTime)
	s := archiveTranscript(t, a)
	s.write("web1.hcl", "packages = [pkgs.curl]\n")
	s.run("--keyring", "archive.asc", "lock", "-c", "web1.hcl")
	a.publish(t, basePackages()+strings.Replace(testPackages, "7.88.1-10", "7.88.1-10+deb12u5", 1), archiveTime.Add(24*time.Hour))
	root := t.TempDir()
	code, out := s.run("--keyring", "archive.asc", "--store", filepath.Join(root, "kiln/store"), "switch", "--upgrade", "-c", "web1.hcl", "--root", root)
	if code == ExitOK || !strings.Contains(out, "~ curl 7.88.1-10 → 7.88.1-10+deb12u5\n") {
		t.Errorf("switch --upgrade: exit %d, stdout %q; want the lock update, then a failed build", code, out)
	}
	l, err := debian.ReadLock(filepath.Join(s.dir, "web1.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := l.Package("curl"); p.Version != "7.88.1-10+deb12u5" {
		t.Errorf("web1.lock pins curl %s", p.Version)
	}
	if code, _ := s.run("switch", "--upgrade", "--toplevel", "/kiln/store/x"); code != ExitUsage {
		t.Errorf("--upgrade --toplevel: exit %d", code)
	}
}
