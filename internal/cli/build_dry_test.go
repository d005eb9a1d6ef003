package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildDryRunChangesNothing: build --dry-run with packages missing
// from the store lists what would be fetched with sizes (downloaded or
// from the .deb cache), and downloads, unpacks and builds nothing.
func TestBuildDryRunChangesNothing(t *testing.T) {
	a := newTestArchive(t)
	a.publish(t, basePackages()+testPackages, archiveTime)
	s := archiveTranscript(t, a)
	s.write("web1.hcl", "packages = [pkgs.htop]\n")
	s.run("--keyring", "archive.asc", "lock", "-c", "web1.hcl")
	// one .deb already in the cache
	s.write("cache/kiln/debs/"+sha256Of("htop3.2.2-2")+".deb", strings.Repeat("x", 123456))
	s.env["XDG_CACHE_HOME"] = filepath.Join(s.dir, "cache")
	st := filepath.Join(s.dir, "store")
	if code, _ := s.run("--store", "store", "build", "-c", "web1.hcl", "--dry-run"); code != ExitOK {
		t.Fatalf("build --dry-run failed:\n%s", s.buf.String())
	}
	s.run("--store", "store", "build", "-c", "web1.hcl", "--dry-run", "--json")
	s.check("build_dry_run")
	entries, _ := os.ReadDir(st)
	for _, e := range entries {
		if e.Name() != ".tmp" && e.Name() != "var" && e.Name() != ".kiln-store-id" { // the store's skeleton
			t.Errorf("the dry run put %s in the store", e.Name())
		}
	}
	debs, _ := os.ReadDir(filepath.Join(s.dir, "cache/kiln/debs"))
	if len(debs) != 1 {
		t.Errorf("the dry run downloaded: %d .debs in the cache", len(debs))
	}
}
