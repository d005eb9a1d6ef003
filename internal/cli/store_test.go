package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/store"
)

// storeFixture makes a store with a rooted path and a garbage path.
func storeFixture(t *testing.T) (s *store.Store, kept, garbage store.Path) {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name, content string) store.Path {
		p, err := store.NewKey("cli-test/1").Add("c", content).Path(name)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Build(context.Background(), p, nil, func(tmp string) error {
			return os.WriteFile(tmp, []byte(content), 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	kept, garbage = mk("kept", "k"), mk("garbage", strings.Repeat("g", 10000))
	if err := s.AddRoot(filepath.Join(t.TempDir(), "result"), kept); err != nil {
		t.Fatal(err)
	}
	// Drop the temporary roots: garbage is rooted by nothing now.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return s, kept, garbage
}

func TestStoreVerify(t *testing.T) {
	s, kept, _ := storeFixture(t)
	code, out, stderr := runCLI(t, nil, "--store", s.Dir, "store", "verify")
	if code != ExitOK || !strings.Contains(out, "no problems") {
		t.Fatalf("verify of a good store: code %d, out %q, err %q", code, out, stderr)
	}
	f := s.Physical(kept)
	os.Chmod(f, 0o644)
	if err := os.WriteFile(f, []byte("K"), 0o444); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runCLI(t, nil, "--store", s.Dir, "store", "verify")
	if code != ExitFailure || !strings.Contains(out, "changed") || !strings.Contains(out, kept.String()) || !strings.Contains(stderr, "1 damaged") {
		t.Fatalf("verify after a change: code %d, out %q, err %q", code, out, stderr)
	}
	code, out, _ = runCLI(t, nil, "store", "verify", "--store", s.Dir, "--json")
	var got struct {
		Problems []struct{ Path, Kind string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != ExitFailure {
		t.Fatalf("verify --json: code %d, %v in %q", code, err, out)
	}
	if len(got.Problems) != 1 || got.Problems[0].Path != kept.String() || got.Problems[0].Kind != "changed" {
		t.Fatalf("verify --json problems = %+v", got.Problems)
	}
	if code, _, _ := runCLI(t, nil, "--store", s.Dir, "store", "fix"); code != ExitUsage {
		t.Fatalf("store fix: code %d, want usage error", code)
	}
}

func TestGC(t *testing.T) {
	s, kept, garbage := storeFixture(t)
	code, out, stderr := runCLI(t, nil, "--store", s.Dir, "gc", "--dry-run")
	if code != ExitOK || !strings.Contains(out, "would delete "+garbage.String()) || strings.Contains(out, kept.String()) {
		t.Fatalf("gc --dry-run: code %d, out %q, err %q", code, out, stderr)
	}
	if !s.Valid(garbage) {
		t.Fatal("gc --dry-run deleted")
	}
	code, out, _ = runCLI(t, nil, "--store", s.Dir, "--json", "gc")
	var got struct {
		Version int      `json:"version"`
		DryRun  bool     `json:"dry_run"`
		Deleted []string `json:"deleted"`
		Freed   int64    `json:"freed_bytes"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != ExitOK || got.Version != 1 {
		t.Fatalf("gc --json: code %d, %v in %q", code, err, out)
	}
	if len(got.Deleted) != 1 || got.Deleted[0] != garbage.String() || got.Freed < 10000 || got.DryRun {
		t.Fatalf("gc --json = %+v", got)
	}
	if s.Valid(garbage) || !s.Valid(kept) {
		t.Fatalf("after gc: garbage valid %v, kept valid %v", s.Valid(garbage), s.Valid(kept))
	}
}

func TestGCBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1536, "1.5 KiB"}, {5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}} {
		if got := store.FormatBytes(tc.n); got != tc.want {
			t.Errorf("store.FormatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestStoreInfoAndRoots(t *testing.T) {
	s, kept, _ := storeFixture(t)
	result := filepath.Join(t.TempDir(), "result")
	if err := s.AddRoot(result, kept); err != nil {
		t.Fatal(err)
	}
	s.Close()
	code, out, stderr := runCLI(t, nil, "--store", s.Dir, "store", "roots")
	if code != ExitOK || strings.TrimSpace(out) != kept.String() {
		t.Fatalf("store roots: code %d, out %q, err %q; want %s", code, out, stderr, kept)
	}
	for _, arg := range []string{kept.String(), s.Physical(kept), result} {
		code, out, stderr = runCLI(t, nil, "--store", s.Dir, "--json", "store", "info", arg)
		var v struct {
			Version int `json:"version"`
			Paths   []struct {
				Path         string `json:"path"`
				NarHash      string `json:"nar_hash"`
				ClosurePaths int    `json:"closure_paths"`
			} `json:"paths"`
		}
		err := json.Unmarshal([]byte(out), &v)
		got := v.Paths
		if err != nil || code != ExitOK || v.Version != 1 {
			t.Fatalf("store info %s: code %d, %v, out %q, err %q", arg, code, err, out, stderr)
		}
		if len(got) != 1 || got[0].Path != kept.String() || got[0].ClosurePaths != 1 || !strings.HasPrefix(got[0].NarHash, "sha256:") {
			t.Errorf("store info %s = %+v", arg, got)
		}
	}
	if code, _, _ := runCLI(t, nil, "--store", s.Dir, "store", "info", "/etc/passwd"); code != ExitFailure {
		t.Errorf("store info of a non-store file: code %d, want %d", code, ExitFailure)
	}
}

// Two stores in one parent would share its var: the second is refused,
// naming the store the state belongs to, and gc there deletes nothing of
// the first (it once deregistered all of it). A state made before
// identities is refused to a store that holds none of its paths.
func TestSiblingStoreRefused(t *testing.T) {
	s, kept, garbage := storeFixture(t)
	parent := filepath.Dir(s.Dir)
	sibling := filepath.Join(parent, "other")
	want := "is the state of the store " + s.Dir + ", not of " + sibling
	for _, args := range [][]string{{"gc"}, {"store", "verify"}, {"store", "info", kept.String()}} {
		code, _, stderr := runCLI(t, nil, append([]string{"--store", sibling}, args...)...)
		if code != ExitFailure || !strings.Contains(stderr, want) {
			t.Errorf("%v on a sibling store: exit %d, stderr %q; want %q", args, code, stderr, want)
		}
	}
	if !s.Valid(kept) || !s.Valid(garbage) {
		t.Fatal("the sibling's gc took the first store's paths")
	}
	if code, out, stderr := runCLI(t, nil, "--store", s.Dir, "store", "verify"); code != ExitOK {
		t.Fatalf("verify of the first store: exit %d\n%s%s", code, out, stderr)
	}

	// As before identities: neither directory has an id.
	os.Remove(filepath.Join(parent, "var", "store.json"))
	os.Remove(filepath.Join(s.Dir, ".kiln-store-id"))
	code, _, stderr := runCLI(t, nil, "--store", sibling, "gc")
	if code != ExitFailure || !strings.Contains(stderr, "records 2 paths and "+sibling+" holds none of them") {
		t.Errorf("gc on a sibling of a store made before identities: exit %d, %q", code, stderr)
	}
	if code, out, stderr := runCLI(t, nil, "--store", s.Dir, "store", "verify"); code != ExitOK {
		t.Fatalf("the first store adopts its old state: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "--store", sibling, "gc"); code != ExitFailure || !strings.Contains(stderr, want) {
		t.Errorf("after adoption, gc on the sibling: exit %d, %q", code, stderr)
	}
}

// store verify reports a registered path whose content is gone and a path
// in the store without a record (what a shared database left behind).
func TestStoreVerifyMissingAndUnregistered(t *testing.T) {
	s, kept, garbage := storeFixture(t)
	os.Remove(filepath.Join(filepath.Dir(s.Dir), "var", "db", "paths", garbage.Base()+".json"))
	os.Remove(s.Physical(kept))
	code, out, stderr := runCLI(t, nil, "--store", s.Dir, "store", "verify")
	for _, want := range []string{
		"missing       " + kept.String() + ": missing: " + s.Physical(kept),
		"unregistered  " + garbage.String() + ": unregistered: " + s.Physical(garbage) + " has no record in ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify lacks %q:\n%s", want, out)
		}
	}
	if code != ExitFailure || !strings.Contains(stderr, "2 damaged store path(s)") {
		t.Errorf("verify: exit %d, stderr %q", code, stderr)
	}
	if code, out, _ := runCLI(t, nil, "--store", s.Dir, "gc"); code != ExitOK || !strings.Contains(out, "deleting "+garbage.String()) {
		t.Errorf("gc of the unregistered path: exit %d\n%s", code, out)
	}
}
