package debian

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dirSource serves .debs from a directory by sha256, as a binary cache
// does (cache.DebSource); it counts what it served.
type dirSource struct {
	dir    string
	served int
}

func (d *dirSource) OpenDeb(_ context.Context, sha string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(d.dir, sha+".deb"))
	if err == nil {
		d.served++
	}
	return f, err
}

func (d *dirSource) String() string { return "dir " + d.dir }

// A lock realizes from a DebSource without any mirror; what it lacks
// comes from the mirror; a damaged .deb in it is refused, naming it.
func TestRealizeFromDebSource(t *testing.T) {
	f := newFixture(t)
	l := fixtureLock(t, f)
	// Fill a source with the locked .debs, fetched once from the mirror.
	warm := fixtureOpts(t, f)
	if err := Fetch(context.Background(), l.Packages, warm); err != nil {
		t.Fatal(err)
	}
	src := &dirSource{dir: t.TempDir()}
	for _, p := range l.Packages {
		b, err := os.ReadFile(warm.DebFile(p))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src.dir, p.SHA256+".deb"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	st := openStore(t, t.TempDir())
	paths, err := Realize(context.Background(), st, l, FetchOptions{Debs: src, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatalf("realize from the source alone: %v", err)
	}
	if src.served != len(l.Packages) || len(paths) != len(l.Packages) {
		t.Errorf("served %d of %d packages, realized %d", src.served, len(l.Packages), len(paths))
	}
	for _, p := range paths {
		if !st.Valid(p) {
			t.Errorf("%s not valid", p)
		}
	}

	hello, _ := l.Package("hello")
	os.Remove(filepath.Join(src.dir, hello.SHA256+".deb"))
	// Without a mirror: the one it lacks is an error that says so.
	_, err = Realize(context.Background(), openStore(t, t.TempDir()), l, FetchOptions{Debs: src, CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "hello") || !strings.Contains(err.Error(), "no mirror is set and no cache has sha256 "+hello.SHA256) {
		t.Errorf("realize without hello in the source and no mirror = %v", err)
	}
	// With a mirror: it comes from there.
	opts := fixtureOpts(t, f)
	opts.Debs = src
	if _, err := Realize(context.Background(), openStore(t, t.TempDir()), l, opts); err != nil {
		t.Errorf("realize with the mirror behind the source: %v", err)
	}

	// A tampered .deb in the source is refused, not unpacked.
	if err := os.WriteFile(filepath.Join(src.dir, hello.SHA256+".deb"), []byte(strings.Repeat("x", int(hello.Size))), 0o644); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, t.TempDir())
	_, err = Realize(context.Background(), st, l, FetchOptions{Debs: src, CacheDir: t.TempDir()})
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "from dir "+src.dir) {
		t.Fatalf("realize of a tampered .deb = %v, want a digest mismatch naming the source", err)
	}
	if sp, _ := hello.StorePath(); st.Valid(sp) {
		t.Errorf("tampered %s unpacked", sp)
	}
}
