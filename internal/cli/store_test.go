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
