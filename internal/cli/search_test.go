package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// archiveTranscript is a transcript whose directory holds the test
// archive's keyring (archive.asc) and whose env points kiln at it.
func archiveTranscript(t *testing.T, a *testArchive) *transcript {
	s := newTranscript(t, a.env(t))
	key, err := os.ReadFile(a.keyring)
	if err != nil {
		t.Fatal(err)
	}
	s.write("archive.asc", string(key))
	return s
}

// TestSearchShow: kiln search and show read the indices the lock pins
// from the cache with no network (the archive is removed after the lock),
// say what is locked, suggest near names, and print JSON.
func TestSearchShow(t *testing.T) {
	a := newTestArchive(t)
	a.publish(t, basePackages()+testPackages, archiveTime)
	s := archiveTranscript(t, a)
	s.write("web1.hcl", "packages = [pkgs.htop]\n")
	s.run("--keyring", "archive.asc", "search", "htop") // no lock yet: fetched and verified
	if code, _ := s.run("--keyring", "archive.asc", "lock", "-c", "web1.hcl"); code != ExitOK {
		t.Fatalf("kiln lock failed:\n%s", s.buf.String())
	}
	if err := os.RemoveAll(filepath.Join(a.root, "dists")); err != nil {
		t.Fatal(err)
	}
	s.run("search", "-c", "web1.hcl", "process")
	s.run("search", "-c", "web1.hcl", "LIBRARY")
	s.run("search", "-c", "web1.hcl", "htpo")
	s.run("show", "-c", "web1.hcl", "htop")
	s.run("show", "-c", "web1.hcl", "curl")
	s.run("show", "-c", "web1.hcl", "awk")
	s.run("show", "-c", "web1.hcl", "htpo")
	s.run("show", "-c", "web1.hcl")
	code, out := s.run("show", "-c", "web1.hcl", "htop", "--json")
	var v struct {
		Version int `json:"version"`
		Package struct {
			Name          string  `json:"name"`
			LockedVersion *string `json:"locked_version"`
		} `json:"package"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != ExitOK {
		t.Fatalf("show --json: exit %d, %v", code, err)
	}
	if v.Version != 1 || v.Package.Name != "htop" || v.Package.LockedVersion == nil || *v.Package.LockedVersion != "3.2.2-2" {
		t.Errorf("show --json = %+v", v)
	}
	s.run("search", "-c", "web1.hcl", "curl", "--json")
	s.check("search_show")
}
