package cli

import "testing"

// TestEvalSaysUnlocked: kiln eval warns about a pkgs.NAME the lock does
// not pin (its path is a placeholder) and suggests the locked name.
func TestEvalSaysUnlocked(t *testing.T) {
	a := newTestArchive(t)
	a.publish(t, basePackages()+testPackages, archiveTime)
	s := archiveTranscript(t, a)
	s.write("web1.hcl", "packages = [pkgs.htop]\n")
	s.run("eval", "-c", "web1.hcl", "networking.host_name")
	s.run("--keyring", "archive.asc", "lock", "-c", "web1.hcl")
	s.write("web1.hcl", "packages = [pkgs.htpo, pkgs.curl]\n")
	s.run("eval", "-c", "web1.hcl", "packages")
	s.check("eval_unlocked")
}
