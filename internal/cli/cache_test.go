package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/cache"
	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/internal/s3test"
	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/store"
)

// cacheFixture is a store with lib <- app, the closure to push.
func cacheFixture(t *testing.T) (s *store.Store, lib, app store.Path) {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mk := func(name, content string, refs ...store.Path) store.Path {
		p, err := store.NewKey("cli-cache-test/1").Add("c", content).Path(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Build(context.Background(), p, refs, func(tmp string) error {
			return os.WriteFile(tmp, []byte(content), 0o644)
		}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lib = mk("lib", strings.Repeat("library ", 1000))
	app = mk("app", "uses "+lib.String(), lib)
	return s, lib, app
}

func keyPair(t *testing.T, name string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	if code, out, errs := runCLI(t, nil, "key", "generate", "-o", dir, name); code != ExitOK {
		t.Fatalf("key generate: %d %s %s", code, out, errs)
	}
	return dir
}

func TestKeyGenerate(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := runCLI(t, nil, "key", "generate", "-o", dir, "cache.example.org-1")
	if code != ExitOK || !strings.Contains(out, "cache.example.org-1.secret") || !strings.Contains(out, "cache.example.org-1:") {
		t.Fatalf("key generate: code %d, out %q, err %q", code, out, stderr)
	}
	st, err := os.Stat(filepath.Join(dir, "cache.example.org-1.secret"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret key file: %v %v, want mode 0600", st, err)
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "cache.example.org-1.public"))
	if !strings.Contains(out, strings.TrimSpace(string(pub))) {
		t.Errorf("output %q does not show the public key %q", out, pub)
	}
	if code, _, stderr := runCLI(t, nil, "key", "generate", "-o", dir, "cache.example.org-1"); code != ExitFailure || !strings.Contains(stderr, "never replaced") {
		t.Errorf("second key generate: code %d, err %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "key", "generate", "a:b"); code != ExitUsage || !strings.Contains(stderr, "without colons") {
		t.Errorf("key generate a:b: code %d, err %q", code, stderr)
	}
}

// Push a closure, substitute it into a fresh store through the CLI,
// refuse it with another key, collect the cache.
func TestCachePushSubstituteGC(t *testing.T) {
	s, lib, app := cacheFixture(t)
	keys := keyPair(t, "fleet-1")
	secret, public := filepath.Join(keys, "fleet-1.secret"), filepath.Join(keys, "fleet-1.public")
	url := "file://" + t.TempDir()

	code, out, stderr := runCLI(t, nil, "--store", s.Dir, "cache", "push", "--key", secret, url, app.String())
	if code != ExitOK || !strings.Contains(out, "pushed 2 paths") || !strings.Contains(out, "0 already there") {
		t.Fatalf("cache push: code %d, out %q, err %q", code, out, stderr)
	}
	code, out, _ = runCLI(t, nil, "--store", s.Dir, "--json", "cache", "push", "--key", secret, url, app.String())
	var pushed struct {
		Uploaded []string
		Present  int
	}
	if err := json.Unmarshal([]byte(out), &pushed); err != nil || code != ExitOK || len(pushed.Uploaded) != 0 || pushed.Present != 2 {
		t.Fatalf("second cache push --json: code %d, %v, %q", code, err, out)
	}

	// The target side: only the list of paths, on stdin.
	dst := filepath.Join(t.TempDir(), "store")
	code, out, stderr = runCLIWith(t, strings.NewReader(app.String()+"\n"), nil,
		"--store", dst, "store", "substitute", "--from", url, "--trusted-key", public, "--dry-run")
	if code != ExitOK || !strings.Contains(out, "would fetch 2 paths") {
		t.Fatalf("store substitute --dry-run: code %d, out %q, err %q", code, out, stderr)
	}
	if entries, _ := os.ReadDir(filepath.Join(filepath.Dir(dst), "var", "db", "paths")); len(entries) != 0 {
		t.Fatalf("dry run registered %d paths", len(entries))
	}
	other := keyPair(t, "fleet-1")
	code, _, stderr = runCLIWith(t, strings.NewReader(app.String()+"\n"), nil,
		"--store", dst, "store", "substitute", "--from", url, "--trusted-key", filepath.Join(other, "fleet-1.public"))
	if code != ExitFailure || !strings.Contains(stderr, "bad signature by key fleet-1") || !strings.Contains(stderr, app.String()) {
		t.Fatalf("store substitute with another key: code %d, err %q", code, stderr)
	}
	pubText, _ := os.ReadFile(public)
	code, out, stderr = runCLIWith(t, strings.NewReader(app.String()+"\n"), nil,
		"--store", dst, "store", "substitute", "--from", url, "--trusted-key", strings.TrimSpace(string(pubText)))
	if code != ExitOK || !strings.Contains(out, "fetched "+lib.String()) || !strings.Contains(out, "fetched 2 paths") {
		t.Fatalf("store substitute: code %d, out %q, err %q", code, out, stderr)
	}
	if code, out, _ := runCLI(t, nil, "--store", dst, "store", "verify"); code != ExitOK {
		t.Errorf("verify after substitute: %d %s", code, out)
	}
	missing := "/kiln/store/0123456789abcdfghijklmnpqrsvwxyz-nowhere"
	code, _, stderr = runCLI(t, nil, "--store", dst, "store", "substitute", "--from", url, "--trusted-key", public, missing)
	if code != ExitFailure || !strings.Contains(stderr, "in no substituter: "+missing) {
		t.Errorf("store substitute of a path no cache has: code %d, err %q", code, stderr)
	}

	// gc: keep lib, and the repository's lock (its packages are not here).
	if code, _, stderr := runCLI(t, nil, "cache", "gc", url); code != ExitUsage || !strings.Contains(stderr, "needs --keep") {
		t.Errorf("cache gc without --keep: code %d, err %q", code, stderr)
	}
	lock, _ := filepath.Abs("../../kiln.lock")
	code, out, stderr = runCLI(t, nil, "--store", s.Dir, "cache", "gc", "--grace", "0", "--keep", lib.String(), "--keep", lock, url)
	if code != ExitOK || !strings.Contains(out, "deleting "+app.String()) || strings.Contains(out, lib.String()) || !strings.Contains(out, "1 paths kept") {
		t.Fatalf("cache gc: code %d, out %q, err %q", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "cache", "gc", "--keep", "/nonexistent/x", url); code != ExitFailure || !strings.Contains(stderr, "no such file, and not a store path") {
		t.Errorf("cache gc --keep of nothing: code %d, err %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "cache", "push", "--key", secret, "--dry-run", url, app.String()); code != ExitUsage || !strings.Contains(stderr, "flags of cache gc") {
		t.Errorf("cache push --dry-run: code %d, err %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "cache", "push", "--key", secret, "ftp://x/y", app.String()); code != ExitUsage || !strings.Contains(stderr, `unsupported scheme "ftp"`) {
		t.Errorf("cache push ftp://: code %d, err %q", code, stderr)
	}
}

// The same through a real S3 server, credentials from the environment.
func TestCachePushSubstituteS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(t, "kiln-cache")
	s, _, app := cacheFixture(t)
	keys := keyPair(t, "fleet-1")
	env := map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey}
	url := srv.URL("kiln-cache", "prod")
	code, out, stderr := runCLI(t, env, "--store", s.Dir, "cache", "push", "--key", filepath.Join(keys, "fleet-1.secret"), url, app.String())
	if code != ExitOK || !strings.Contains(out, "pushed 2 paths") {
		t.Fatalf("cache push to S3: code %d, out %q, err %q", code, out, stderr)
	}
	code, _, stderr = runCLI(t, nil, "--store", s.Dir, "cache", "push", "--key", filepath.Join(keys, "fleet-1.secret"), url, app.String())
	t.Logf("without credentials: %s", stderr)
	if code != ExitFailure || !strings.Contains(stderr, "Access Denied") || !strings.Contains(stderr, "nix-cache-info") {
		t.Errorf("cache push without credentials: code %d, err %q", code, stderr)
	}
	dst := filepath.Join(t.TempDir(), "store")
	code, out, stderr = runCLI(t, env, "--store", dst, "store", "substitute", "--from", url, "--trusted-key", filepath.Join(keys, "fleet-1.public"), app.String())
	if code != ExitOK || !strings.Contains(out, "fetched 2 paths") {
		t.Fatalf("store substitute from S3: code %d, out %q, err %q", code, out, stderr)
	}
}

// Real Debian packages through a real S3 server, the air-gapped way: push
// their closures and the .debs of the repository's lock (--lock), then a
// fresh store takes the paths by substitution, and another, with no mirror
// at all, realizes them from the cache's .debs and gets the same paths,
// byte for byte.
func TestCacheRealPackagesS3(t *testing.T) {
	testenv.Slow(t, "pushes real Debian packages through a real S3 server")
	srv := s3test.Start(t)
	srv.MakeBucket(t, "fleet")
	s, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs := realPackages(t, s, closurePackages...)
	lock, err := debian.ReadLock(filepath.Join("..", "..", "kiln.lock"))
	if err != nil {
		t.Fatal(err)
	}
	sub := *lock
	sub.Packages = nil
	for _, n := range closurePackages {
		p, _ := lock.Package(n)
		sub.Packages = append(sub.Packages, p)
	}
	lockFile, _ := filepath.Abs(filepath.Join("..", "..", "kiln.lock"))
	keys := keyPair(t, "fleet-1")
	env := map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey, "XDG_CACHE_HOME": userCache(t)}
	url := srv.URL("fleet", "prod")
	args := []string{"--store", s.Dir, "cache", "push", "--key", filepath.Join(keys, "fleet-1.secret"), "--lock", lockFile, url}
	for _, p := range pkgs {
		args = append(args, p.String())
	}
	code, out, stderr := runCLI(t, env, args...)
	if code != ExitOK || !strings.Contains(out, fmt.Sprintf("; %d .debs", len(lock.Packages))) {
		t.Fatalf("cache push: code %d, out %q, err %q", code, out, stderr)
	}
	t.Logf("%s", out)

	dst := filepath.Join(t.TempDir(), "store")
	args = []string{"--store", dst, "store", "substitute", "--from", url, "--trusted-key", filepath.Join(keys, "fleet-1.public")}
	for _, p := range pkgs {
		args = append(args, p.String())
	}
	code, out, stderr = runCLI(t, env, args...)
	if code != ExitOK {
		t.Fatalf("store substitute: code %d, out %q, err %q", code, out, stderr)
	}
	t.Logf("%s", out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	subst, err := store.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	// Air-gapped: no mirror, an empty download cache, the .debs from S3.
	gapped, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(url, cache.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	realized, err := debian.Realize(context.Background(), gapped, &sub, debian.FetchOptions{Debs: cache.DebSource{Caches: []*cache.Cache{c}}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatalf("realize from the cache's .debs with no mirror: %v", err)
	}
	for _, p := range pkgs {
		want, _ := s.Info(p)
		for name, st := range map[string]*store.Store{"substituted": subst, "realized from cached .debs": gapped} {
			got, err := st.Info(p)
			if err != nil || got.NarHash != want.NarHash || got.NarSize != want.NarSize {
				t.Errorf("%s %s: %+v, %v; want NAR %s", name, p, got, err, want.NarHash)
			}
		}
	}
	if len(realized) != len(closurePackages) {
		t.Errorf("realized %d packages, want %d", len(realized), len(closurePackages))
	}
	if code, out, _ := runCLI(t, nil, "--store", dst, "store", "verify"); code != ExitOK {
		t.Errorf("verify of the substituted store: %s", out)
	}
}

// userCache is where realPackages found the .debs (the user's kiln cache's
// parent), so that push --lock finds them there too.
func userCache(t *testing.T) string {
	d, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
