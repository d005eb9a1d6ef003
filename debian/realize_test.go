package debian

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/store"
)

// fixtureLock resolves hello (and the Essential base) from the fixture.
func fixtureLock(t *testing.T, f *fixture) *Lock {
	t.Helper()
	u, inputs, err := f.archive(t).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Packages: []string{"hello"}}
	res, err := Resolve(u, req)
	if err != nil {
		t.Fatal(err)
	}
	return NewLock(inputs, req, res)
}

func fixtureOpts(t *testing.T, f *fixture) FetchOptions {
	return FetchOptions{Mirror: f.mirror(), CacheDir: t.TempDir(), Jobs: 4}
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRealize(t *testing.T) {
	f := newFixture(t)
	l := fixtureLock(t, f)
	st := openStore(t, t.TempDir())
	opts := fixtureOpts(t, f)
	var last Progress
	opts.Progress = func(p Progress) { last = p }
	paths, err := Realize(context.Background(), st, l, opts)
	if err != nil {
		t.Fatal(err)
	}
	if last.Done != 3 || last.Total != 3 || last.BytesDone != last.BytesTotal || last.BytesTotal == 0 {
		t.Errorf("last progress %+v, want 3 of 3 packages and all bytes", last)
	}
	hello := st.Physical(paths["hello"])
	if want, _ := l.StorePath("hello"); paths["hello"] != want || !strings.HasSuffix(want.Name(), "hello-1_2.0_rc1-1") {
		t.Errorf("hello at %s, lock says %s", paths["hello"], want)
	}
	for name, want := range map[string]string{
		"usr/bin/hello":           "#!/bin/sh\necho hello\n",
		"usr/bin/hello-again":     "#!/bin/sh\necho hello\n",
		"usr/bin/hi":              "#!/bin/sh\necho hello\n", // through the symlink
		"etc/hello.conf":          "greeting=hello\n",
		ControlDir + "/postinst":  "#!/bin/sh\necho configured\n",
		ControlDir + "/conffiles": "/etc/hello.conf\n",
	} {
		got, err := os.ReadFile(filepath.Join(hello, name))
		if err != nil || string(got) != want {
			t.Errorf("%s: got %q (%v), want %q", name, got, err, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(hello, "usr/bin/hi")); err != nil || target != "hello" {
		t.Errorf("usr/bin/hi links to %q (%v), want hello", target, err)
	}
	for _, gone := range []string{"tmp", "run"} {
		if _, err := os.Lstat(filepath.Join(hello, gone)); !os.IsNotExist(err) {
			t.Errorf("%s/ was unpacked (%v)", gone, err)
		}
	}
	if st, err := os.Stat(filepath.Join(hello, "usr/bin/hello")); err != nil || st.Mode().Perm() != 0o555 {
		t.Errorf("usr/bin/hello mode %v (%v), want 0555", st.Mode(), err)
	}
	// The documentation went to its own output, named in DocMarker; the
	// copyright and locale.alias stayed.
	hp, _ := l.Package("hello")
	doc, err := hp.DocStorePath()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Valid(doc) || doc.Name() != "hello-1_2.0_rc1-1-doc" {
		t.Errorf("documentation output %s: valid %v", doc, st.Valid(doc))
	}
	if b, err := os.ReadFile(filepath.Join(hello, DocMarker)); err != nil || string(b) != doc.String()+"\n" {
		t.Errorf("%s = %q (%v), want %s", DocMarker, b, err, doc)
	}
	for name, in := range map[string]string{
		"usr/share/doc/hello/copyright":            hello,
		"usr/share/locale/locale.alias":            hello,
		"usr/share/doc/hello/x":                    st.Physical(doc),
		"usr/share/man/man1/hello.1.gz":            st.Physical(doc),
		"usr/share/locale/fr/LC_MESSAGES/hello.mo": st.Physical(doc),
	} {
		if _, err := os.Lstat(filepath.Join(in, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		other := hello
		if in == hello {
			other = st.Physical(doc)
		}
		if _, err := os.Lstat(filepath.Join(other, name)); err == nil {
			t.Errorf("%s is in both outputs", name)
		}
	}
	lh, _ := l.Package("libhello")
	if ld, _ := lh.DocStorePath(); st.Valid(ld) {
		t.Errorf("libhello has no documentation, yet %s is valid", ld)
	}
	if _, err := os.Lstat(filepath.Join(st.Physical(paths["libhello"]), DocMarker)); err == nil {
		t.Errorf("libhello has a %s", DocMarker)
	}
	for _, n := range []string{"libhello", "base"} {
		if !st.Valid(paths[n]) {
			t.Errorf("%s not valid", n)
		}
	}
	if _, err := os.Stat(filepath.Join(st.Physical(paths["libhello"]), "usr/lib/x86_64-linux-gnu/libhello.so.1")); err != nil {
		t.Errorf("libhello (zstd): %v", err)
	}
	// Everything valid: nothing is fetched, even with the mirror gone.
	f.srv.Close()
	if _, err := Realize(context.Background(), st, l, FetchOptions{Mirror: f.mirror(), CacheDir: t.TempDir()}); err != nil {
		t.Errorf("second Realize: %v", err)
	}
}

// TestRealizeRefusesBadDebs breaks one .deb in a different way each time
// and checks the error names it and nothing is cached or made valid.
func TestRealizeRefusesBadDebs(t *testing.T) {
	tests := []struct {
		name    string
		break_  func(f *fixture)
		wantErr error
		errHas  []string
	}{
		{"tampered", func(f *fixture) {
			p := f.file(f.debs["hello"])
			data, _ := os.ReadFile(p)
			data[len(data)-10] ^= 0x40
			os.WriteFile(p, data, 0o644)
		}, ErrDigestMismatch, []string{"fetch hello 1:2.0~rc1-1", "tampered or changed download"}},
		{"truncated", func(f *fixture) {
			f.setServe(func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, "/"+filepath.Base(f.debs["hello"])) {
					return false
				}
				data, _ := os.ReadFile(f.file(f.debs["hello"]))
				w.Header().Set("Content-Length", fmt.Sprint(len(data)/2))
				w.Write(data[:len(data)/2])
				return true
			})
		}, ErrDigestMismatch, []string{"fetch hello 1:2.0~rc1-1", "truncated"}},
		{"gone from the mirror", func(f *fixture) {
			os.Remove(f.file(f.debs["hello"]))
			os.Remove(f.file(f.debs["libhello"]))
		}, ErrNotOnMirror, []string{"hello 1:2.0~rc1-1, libhello 1.2", "kiln lock --update", "snapshot mirror"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			l := fixtureLock(t, f)
			tc.break_(f)
			st := openStore(t, t.TempDir())
			opts := fixtureOpts(t, f)
			_, err := Realize(context.Background(), st, l, opts)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			hello, _ := l.Package("hello")
			if _, err := os.Stat(opts.DebFile(hello)); !os.IsNotExist(err) {
				t.Errorf("bad .deb was cached (%v)", err)
			}
			if sp, _ := l.StorePath("hello"); st.Valid(sp) {
				t.Errorf("%s is valid", sp)
			}
			left, _ := filepath.Glob(filepath.Join(opts.CacheDir, "debs", ".tmp-*"))
			if len(left) > 0 {
				t.Errorf("temp files left: %v", left)
			}
		})
	}
}

// TestRealizeCorruptCache: a cached .deb that went bad after download is
// refused at unpack, dropped from the cache, and fetched again next time.
func TestRealizeCorruptCache(t *testing.T) {
	f := newFixture(t)
	l := fixtureLock(t, f)
	opts := fixtureOpts(t, f)
	hello, _ := l.Package("hello")
	if err := Fetch(context.Background(), l.Packages, opts); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(opts.DebFile(hello))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(opts.DebFile(hello), data, 0o644); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, t.TempDir())
	_, err = Realize(context.Background(), st, l, opts)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "realize hello") {
		t.Fatalf("got error %v, want one about hello", err)
	}
	if sp, _ := l.StorePath("hello"); st.Valid(sp) {
		t.Errorf("%s is valid after a corrupt unpack", sp)
	}
	if _, err := Realize(context.Background(), st, l, opts); err != nil {
		t.Errorf("Realize after the cache dropped the bad file: %v", err)
	}
}

// TestRealizeConcurrent realizes one lock into one store from two
// goroutines at once; the store serializes builders of a path.
func TestRealizeConcurrent(t *testing.T) {
	f := newFixture(t)
	l := fixtureLock(t, f)
	dir := t.TempDir()
	opts := fixtureOpts(t, f)
	var wg sync.WaitGroup
	results := make([]map[string]store.Path, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Realize(context.Background(), openStore(t, dir), l, opts)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Realize %d: %v", i, err)
		}
	}
	if fmt.Sprint(results[0]) != fmt.Sprint(results[1]) {
		t.Errorf("different results: %v and %v", results[0], results[1])
	}
}

// TestRealizeFullDisk unpacks into a store on a tiny tmpfs: the error
// surfaces and no path becomes valid.
func TestRealizeFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "%v", "mounting a tmpfs needs root")
	}
	f := newFixture(t)
	// A big incompressible file makes the unpack overflow the tmpfs.
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = byte(i*7919 + i>>8)
	}
	d := fixtureDeb{name: "bigpkg", version: "1", compress: "xz", files: map[string]string{"usr/share/big": string(big)}}
	stanza := f.buildDeb(t, d)
	data, _ := os.ReadFile(f.file(f.debs["bigpkg"]))
	var pkgs []*Package
	pp, err := ParsePackages([]byte(stanza), "bookworm")
	if err != nil {
		t.Fatal(err)
	}
	pkgs = append(pkgs, pp...)
	res, err := Resolve(NewUniverse(pkgs), Request{Packages: []string{"bigpkg"}})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLock(nil, Request{Packages: []string{"bigpkg"}}, res)
	mnt := t.TempDir()
	// Room for the store's own files (its identity, a few pages), not for
	// the 2 MiB the package unpacks to.
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%d", max(len(data)/2, 1<<20))); err != nil {
		testenv.SkipOrFail(t, "mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	st := openStore(t, mnt)
	_, err = Realize(context.Background(), st, l, fixtureOpts(t, f))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("got error %v, want ENOSPC", err)
	}
	if sp, _ := l.StorePath("bigpkg"); st.Valid(sp) {
		t.Errorf("%s valid after a full disk", sp)
	}
	if left, _ := filepath.Glob(filepath.Join(st.Dir, ".tmp", "*")); len(left) > 0 {
		t.Errorf("temp dirs left: %v", left)
	}
}

// TestRealizeKilled kills a process with kill -9 while it unpacks; the
// path is not valid afterwards, and the next Realize makes it.
func TestRealizeKilled(t *testing.T) {
	if dir := os.Getenv("KILN_TEST_KILL_STORE"); dir != "" {
		realizeAndHang(t, dir)
		return
	}
	f := newFixture(t)
	l := fixtureLock(t, f)
	dir := t.TempDir()
	opts := fixtureOpts(t, f)
	if err := l.Write(filepath.Join(dir, "kiln.lock")); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "unpacking")
	cmd := exec.Command(os.Args[0], "-test.run=^TestRealizeKilled$", "-test.v")
	cmd.Env = append(os.Environ(), "KILN_TEST_KILL_STORE="+dir, "KILN_TEST_MIRROR="+f.srv.URL, "KILN_TEST_CACHE="+opts.CacheDir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child never started unpacking:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	sp, _ := l.StorePath("hello")
	st := openStore(t, dir) // Open clears what the dead builder left
	if st.Valid(sp) {
		t.Fatalf("%s valid after kill -9 during its unpack", sp)
	}
	if left, _ := filepath.Glob(filepath.Join(st.Dir, ".tmp", "*")); len(left) > 0 {
		t.Errorf("temp dirs left after Open: %v", left)
	}
	if _, err := Realize(context.Background(), st, l, opts); err != nil {
		t.Fatal(err)
	}
	if !st.Valid(sp) {
		t.Errorf("%s not valid after a new Realize", sp)
	}
}

// realizeAndHang runs in the child of TestRealizeKilled: it unpacks hello
// and stops in the middle, after writing a marker file.
func realizeAndHang(t *testing.T, dir string) {
	l, err := ReadLock(filepath.Join(dir, "kiln.lock"))
	if err != nil {
		t.Fatal(err)
	}
	hang := func(name string) {
		if name == "usr/bin/hello-again" {
			os.WriteFile(filepath.Join(dir, "unpacking"), nil, 0o644)
			select {} // wait for the kill
		}
	}
	m, _ := ParseMirror(os.Getenv("KILN_TEST_MIRROR"))
	Realize(context.Background(), openStore(t, dir), l, FetchOptions{Mirror: m, CacheDir: os.Getenv("KILN_TEST_CACHE"), Jobs: 1, Unpack: Unpacker{Hook: hang}})
	t.Fatal("Realize returned; it should have been killed")
}

// TestRealizeRetriesTransportErrors: a mirror that fails twice with 503
// (and once cuts the body short) still yields the package.
func TestRealizeRetriesTransportErrors(t *testing.T) {
	f := newFixture(t)
	l := fixtureLock(t, f)
	var mu sync.Mutex
	fails := 0
	f.setServe(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/"+filepath.Base(f.debs["hello"])) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if fails < 2 {
			fails++
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	st := openStore(t, t.TempDir())
	opts := fixtureOpts(t, f)
	var last Progress
	opts.Progress = func(p Progress) { last = p }
	if _, err := Realize(context.Background(), st, l, opts); err != nil {
		t.Fatal(err)
	}
	if fails != 2 {
		t.Errorf("server failed %d times, want 2", fails)
	}
	if last.BytesDone != last.BytesTotal {
		t.Errorf("progress ends at %d of %d bytes", last.BytesDone, last.BytesTotal)
	}
}

// TestRealizeRestoresDocs: a collection that kept a package but took its
// documentation output (nothing referred to it) is undone by Realize with
// Documentation set, from the cached .deb; without it, nothing happens.
func TestRealizeRestoresDocs(t *testing.T) {
	f := newFixture(t)
	l := fixtureLock(t, f)
	dir := t.TempDir()
	st := openStore(t, dir)
	opts := fixtureOpts(t, f)
	paths, err := Realize(context.Background(), st, l, opts)
	if err != nil {
		t.Fatal(err)
	}
	hp, _ := l.Package("hello")
	doc, _ := hp.DocStorePath()
	st.Close()
	st = openStore(t, dir)
	for n, p := range paths {
		if err := st.AddRoot(filepath.Join(dir, "root-"+n), p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.GC(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if st.Valid(doc) || !st.Valid(paths["hello"]) {
		t.Fatalf("after GC: doc valid %v, hello valid %v; want only hello", st.Valid(doc), st.Valid(paths["hello"]))
	}
	if _, err := Realize(context.Background(), st, l, opts); err != nil {
		t.Fatal(err)
	}
	if st.Valid(doc) {
		t.Errorf("Realize without Documentation restored %s", doc)
	}
	f.srv.Close() // from the cache
	opts.Documentation = true
	if _, err := Realize(context.Background(), st, l, opts); err != nil {
		t.Fatal(err)
	}
	if !st.Valid(doc) {
		t.Fatalf("Realize with Documentation did not restore %s", doc)
	}
	if _, err := os.Stat(filepath.Join(st.Physical(doc), "usr/share/doc/hello/x")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(st.Physical(doc), "usr/share/doc/hello/copyright")); err == nil {
		t.Error("the restored documentation output has the copyright")
	}
}
