package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
)

// gcAtPart is a build's stderr that runs a whole `kiln gc` of the same
// store, in this process, when the build logs its k-th part: a
// collection at a known moment of a running build, every time.
type gcAtPart struct {
	t     *testing.T
	store string
	k     int

	mu    sync.Mutex
	buf   bytes.Buffer
	lines int
	gc    string // what the collection printed
}

func (w *gcAtPart) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	for _, c := range b {
		if c != '\n' {
			continue
		}
		w.lines++
		if w.lines == w.k {
			code, out, errs := runCLIIn(w.t, w.t.TempDir(), "--store", w.store, "gc")
			w.gc = fmt.Sprintf("gc exit %d: %s%s", code, lastLine(out), errs)
		}
	}
	return len(b), nil
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// TestGCDuringBuild: `kiln build` with `kiln gc` running in the middle of
// it, at each of the build's steps in turn, on a store where nothing is
// rooted but the build's own protection. Each build still succeeds, its
// result is valid and the store verifies; each collection deletes the
// previous build's unrooted parts. Before builds protected what they
// read and reuse, 7 of 11 such runs failed (issue 9, item 5).
func TestGCDuringBuild(t *testing.T) {
	testenv.Slow(t, "builds a whole system a dozen times")
	lock, host := defaultSystemFiles(t)
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	os.WriteFile(filepath.Join(dir, "kiln.lock"), lock, 0o644)
	hostFile := filepath.Join(dir, "host.hcl")
	cache := userDebCache(t)
	build := func(name string, stderr *gcAtPart) (int, string) {
		t.Helper()
		os.WriteFile(hostFile, bytes.Replace(host, []byte(`host_name = "kiln"`), []byte(`host_name = "`+name+`"`), 1), 0o644)
		var out strings.Builder
		code := Main(context.Background(), Env{
			Args:  []string{"--store", storeDir, "-v", "build", "-c", hostFile},
			Stdin: strings.NewReader(""), Stdout: &out, Stderr: stderr,
			Getenv: func(k string) string {
				if k == "XDG_CACHE_HOME" {
					return cache
				}
				return ""
			},
			Dir: dir,
		})
		return code, out.String()
	}
	first := &gcAtPart{t: t, store: storeDir}
	if code, out := build("kiln", first); code != ExitOK {
		t.Fatalf("first build: exit %d\n%s%s", code, out, first.buf.String())
	}
	// A failed -o registers no root (issue 9, item 12).
	code, _, stderr := runCLIIn(t, dir, "--store", storeDir, "build", "-c", hostFile, "-o", "/")
	if code != ExitFailure || !strings.Contains(stderr, "link /: add root /: / exists and is not a symlink") {
		t.Errorf("build -o /: exit %d, %q", code, stderr)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "var", "gcroots", "auto")); len(ents) != 1 {
		t.Errorf("after build -o /, %d indirect roots, want only ./result's", len(ents))
	}
	// A warm build (its packages in the store) logs fewer lines than the
	// first: count those of one, each later build's steps.
	os.Remove(filepath.Join(dir, "result"))
	warm := &gcAtPart{t: t, store: storeDir}
	if code, out := build("warm", warm); code != ExitOK {
		t.Fatalf("warm build: exit %d\n%s%s", code, out, warm.buf.String())
	}
	parts := strings.Count(warm.buf.String(), "\n")
	t.Logf("a warm build logs %d lines", parts)
	for k := 1; k <= max(parts, 11); k++ {
		// Only the build's protection keeps anything: the previous
		// result is no root any more.
		os.Remove(filepath.Join(dir, "result"))
		w := &gcAtPart{t: t, store: storeDir, k: 1 + (k-1)%parts}
		code, out := build(fmt.Sprintf("gc%d", k), w)
		if code != ExitOK || w.gc == "" {
			t.Errorf("build with gc at line %d: exit %d\n%s%s\n%s", w.k, code, out, w.buf.String(), w.gc)
			continue
		}
		if !strings.HasPrefix(w.gc, "gc exit 0: ") || strings.HasPrefix(w.gc, "gc exit 0: 0 store paths") {
			t.Errorf("gc at line %d deleted nothing of the previous build, or failed: %s", w.k, w.gc)
		}
		if code, vout, verr := runCLIIn(t, dir, "--store", storeDir, "store", "verify"); code != ExitOK {
			t.Errorf("verify after gc at line %d: exit %d\n%s%s", w.k, code, vout, verr)
		}
		t.Logf("gc at line %d: %s", w.k, w.gc)
	}
}
