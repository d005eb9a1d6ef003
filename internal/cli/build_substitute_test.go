package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/store"
)

// A configuration with substituters builds from them: a fresh store with
// no mirror and no download cache takes every path of a pushed system
// from a file:// cache (the same toplevel, nothing built; the kernel
// package, which no toplevel refers to, from the cached .debs); a cache whose
// NAR was tampered with is refused naming the path, and the path does not
// enter the store.
func TestBuildSubstitutes(t *testing.T) {
	testenv.Slow(t, "builds a whole system")
	lock, host := defaultSystemFiles(t)
	keys := keyPair(t, "fleet-1")
	cacheDir := t.TempDir()
	url := "file://" + cacheDir
	cfg := t.TempDir()
	os.WriteFile(filepath.Join(cfg, "kiln.lock"), lock, 0o644)
	hostFile := filepath.Join(cfg, "host.hcl")
	os.WriteFile(hostFile, host, 0o644)
	subFile := filepath.Join(cfg, "sub.hcl")
	os.WriteFile(subFile, append(host, []byte("\nsubstituters = [\""+url+"\"]\ntrusted_public_keys = [file(\""+filepath.Join(keys, "fleet-1.public")+"\")]\n")...), 0o644)
	userCache, _ := os.UserCacheDir()
	run := func(env map[string]string, args ...string) (int, string, string) {
		t.Helper()
		return runCLIWith(t, nil, env, args...)
	}
	builder := filepath.Join(t.TempDir(), "store")
	code, out, errs := run(map[string]string{"XDG_CACHE_HOME": userCache}, "--store", builder, "build", "-o", "", "-c", hostFile)
	if code != ExitOK {
		testenv.SkipOrFail(t, "build the default system: %d %s", code, errs)
	}
	top := strings.TrimSpace(out)
	// cache push --fleet builds the fleet's hosts (reused here) and pushes
	// each system and its lock's .debs.
	fleetFile := filepath.Join(cfg, "fleet.hcl")
	os.WriteFile(fleetFile, []byte("hosts \"a\" {\n  target = \"root@a\"\n  config = \"host.hcl\"\n}\nhosts \"b\" {\n  target = \"root@b\"\n  config = \"host.hcl\"\n}\n"), 0o644)
	code, out, errs = run(map[string]string{"XDG_CACHE_HOME": userCache}, "--store", builder, "cache", "push", "--key", filepath.Join(keys, "fleet-1.secret"), "--fleet", fleetFile, url)
	if code != ExitOK {
		t.Fatalf("cache push --fleet: %d %s", code, errs)
	}
	if !strings.Contains(out, " .debs (") {
		t.Errorf("cache push --fleet printed %q, want the lock's .debs pushed", out)
	}

	// No mirror, no download cache: only the substituter can serve it.
	noMirror := map[string]string{"XDG_CACHE_HOME": t.TempDir()}
	fresh := filepath.Join(t.TempDir(), "store")
	code, out, errs = run(noMirror, "--store", fresh, "--mirror", "http://127.0.0.1:9/debian", "-v", "build", "-o", "", "-c", subFile)
	if code != ExitOK {
		t.Fatalf("build from the substituter: %d\n%s", code, errs)
	}
	if got := strings.TrimSpace(out); got != top {
		t.Errorf("substituted build made %s, want %s", got, top)
	}
	if !strings.Contains(errs, "substituted ") || !strings.Contains(errs, "built 0 of ") {
		t.Errorf("stderr %q: want every path substituted and nothing built", errs)
	}
	st, err := store.Open(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := st.Verify(t.Context()); err != nil || len(problems) > 0 {
		t.Errorf("verify the substituted store: %v %v", problems, err)
	}
	st.Close()

	// Tamper with the toplevel's NAR: the build refuses it, names it, and
	// the toplevel stays out of the store.
	tp, _ := store.ParsePath(top)
	info, err := os.ReadFile(filepath.Join(cacheDir, tp.Hash()+".narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	nar := ""
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "URL: "); ok {
			nar = filepath.Join(cacheDir, v)
		}
	}
	b, err := os.ReadFile(nar)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "store")
	b[len(b)/2] ^= 0xff
	os.WriteFile(nar, b, 0o644)
	code, _, errs = run(noMirror, "--store", other, "--mirror", "http://127.0.0.1:9/debian", "build", "-o", "", "-c", subFile)
	if code == ExitOK {
		t.Fatal("a tampered NAR was accepted")
	}
	if !strings.Contains(errs, tp.String()) || !strings.Contains(errs, "substitut") {
		t.Errorf("tampered NAR: stderr %q, want an error naming %s", errs, tp)
	}
	st, err = store.Open(other)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Valid(tp) {
		t.Errorf("the tampered toplevel entered the store")
	}
}
