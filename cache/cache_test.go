package cache

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/kiln-os/kiln/internal/s3test"
	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/store"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// files is a tree to build: name -> content; "->target" makes a symlink,
// a name ending in "*" an executable.
type files map[string]string

func buildPath(t testing.TB, st *store.Store, name string, refs []store.Path, fs files) store.Path {
	t.Helper()
	k := store.NewKey("cache-test/1")
	for n, c := range fs {
		k.Add(n, c)
	}
	for _, r := range refs {
		k.AddPath("ref", r)
	}
	p, err := k.Path(name)
	if err != nil {
		t.Fatal(err)
	}
	err = st.Build(context.Background(), p, refs, func(tmp string) error {
		for n, c := range fs {
			mode := os.FileMode(0o644)
			if strings.HasSuffix(n, "*") {
				n, mode = strings.TrimSuffix(n, "*"), 0o755
			}
			name := filepath.Join(tmp, n)
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return err
			}
			if target, ok := strings.CutPrefix(c, "->"); ok {
				if err := os.Symlink(target, name); err != nil {
					return err
				}
				continue
			}
			if err := os.WriteFile(name, []byte(c), mode); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// closure is a small system: app -> lib -> base, app -> data (a few MiB
// that compress badly, to cross buffer and multipart sizes).
type closure struct {
	base, lib, data, app store.Path
}

func (c closure) all() []store.Path { return []store.Path{c.base, c.lib, c.data, c.app} }

func buildClosure(t testing.TB, st *store.Store, tag string) closure {
	t.Helper()
	var c closure
	c.base = buildPath(t, st, "base-"+tag, nil, files{"etc/os-release": "ID=kiln\n", "empty": ""})
	c.lib = buildPath(t, st, "lib-"+tag, []store.Path{c.base}, files{"lib/libx.so*": strings.Repeat("ELF", 5000), "lib/base": "->" + c.base.String() + "/etc"})
	noise := make([]byte, 3<<20)
	r := rand.New(rand.NewPCG(1, uint64(len(tag))))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	c.data = buildPath(t, st, "data-"+tag, nil, files{"blob": string(noise)})
	c.app = buildPath(t, st, "app-"+tag, []store.Path{c.lib, c.data}, files{"bin/app*": "#!/bin/sh\necho " + tag + "\n", "share/lib": "->" + c.lib.String()})
	return c
}

// backend is one way to reach a cache for the table tests: open returns
// a fresh, empty cache to write (push, tamper) and how substituters read it.
type backend struct {
	name string
	open func(t *testing.T) (write, read *Cache)
}

// backends are a directory, a directory served by a static web server
// (read through http://), and a bucket of a real S3 server.
var backends = []backend{
	{"file", func(t *testing.T) (*Cache, *Cache) {
		c := fileCache(t)
		return c, c
	}},
	{"http", func(t *testing.T) (*Cache, *Cache) {
		c := fileCache(t)
		srv := httptest.NewServer(http.FileServer(http.Dir(c.b.(*fileBackend).dir)))
		t.Cleanup(srv.Close)
		web, err := Open(srv.URL+"/", Options{})
		if err != nil {
			t.Fatal(err)
		}
		return c, web
	}},
	{"s3", func(t *testing.T) (*Cache, *Cache) {
		c := s3Cache(t, "fleet/prod")
		return c, c
	}},
}

func fileCache(t testing.TB) *Cache {
	c, err := Open("file://"+t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// One S3 server serves the package's tests (it takes seconds to start);
// TestMain stops it.
var (
	s3Once sync.Once
	s3Srv  *s3test.Server
	s3Stop func() string
	s3Err  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if s3Stop != nil {
		s3Stop()
	}
	os.Exit(code)
}

// s3Cache returns a cache in the shared S3 server's bucket, under a
// prefix of its own (the test's name, then prefix). One bucket for all:
// SeaweedFS gives each bucket volumes of its own.
func s3Cache(t testing.TB, prefix string) *Cache {
	t.Helper()
	weed := testenv.Weed(t)
	s3Once.Do(func() {
		dir, err := os.MkdirTemp("", "kiln-s3test-")
		if err != nil {
			s3Err = err
			return
		}
		s3Srv, s3Stop, s3Err = s3test.Launch(weed, dir)
		if s3Srv == nil {
			return
		}
		t.Logf("S3 server (weed %s) started in %v", testenv.SeaweedFSVersion, s3Srv.StartTime.Round(time.Millisecond))
		s3Err = s3Srv.CreateBucket("kiln-cache")
	})
	if s3Err != nil {
		t.Fatal(s3Err)
	}
	c, err := Open(s3Srv.URL("kiln-cache", strings.ReplaceAll(t.Name(), "/", "-")+"/"+prefix), Options{Getenv: s3Srv.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func push(t testing.TB, c *Cache, st *store.Store, k SecretKey, paths ...store.Path) PushResult {
	t.Helper()
	res, err := c.Push(context.Background(), st, paths, PushOptions{Key: k, Jobs: 3, TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return res
}

func TestPushSubstituteRoundTrip(t *testing.T) {
	k := testKey(t, "fleet-1", 1)
	src := openStore(t)
	c := buildClosure(t, src, "a")
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			write, read := b.open(t)
			var progress []Progress
			res, err := write.Push(context.Background(), src, []store.Path{c.app}, PushOptions{
				Key: k, Jobs: 3, TempDir: t.TempDir(), Progress: func(p Progress) { progress = append(progress, p) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := sortedRefs(res.Uploaded); !slices.Equal(got, sortedRefs(c.all())) {
				t.Fatalf("uploaded %v, want the closure %v", res.Uploaded, c.all())
			}
			if len(progress) != 4 || progress[3].Done != 4 || progress[3].Total != 4 || progress[3].Bytes != res.FileBytes {
				t.Errorf("progress %+v, want 4 steps ending at 4/4 and %d bytes", progress, res.FileBytes)
			}
			if res.FileBytes >= res.NarBytes || res.FileBytes < 3<<20 {
				t.Errorf("pushed %d compressed bytes of %d NAR bytes", res.FileBytes, res.NarBytes)
			}
			again := push(t, write, src, k, c.app)
			if len(again.Uploaded) != 0 || len(again.Present) != 4 {
				t.Errorf("second push uploaded %v, present %v; want nothing, all 4 present", again.Uploaded, again.Present)
			}

			dst := openStore(t)
			got, err := Substitute(context.Background(), dst, []store.Path{c.app}, SubstituteOptions{
				Caches: []*Cache{read}, Trusted: []PublicKey{k.Public()}, Jobs: 3,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Fetched) != 4 || len(got.Missing) != 0 || got.FileBytes != res.FileBytes {
				t.Fatalf("substitute = %+v, want the 4 paths and %d bytes", got, res.FileBytes)
			}
			checkSameIn(t, src, dst, c.all()...)
			// Fetched in reference order.
			pos := map[store.Path]int{}
			for i, p := range got.Fetched {
				pos[p] = i
			}
			if !(pos[c.base] < pos[c.lib] && pos[c.lib] < pos[c.app] && pos[c.data] < pos[c.app]) {
				t.Errorf("fetched in order %v: references must come first", got.Fetched)
			}
			again2, err := Substitute(context.Background(), dst, []store.Path{c.app}, SubstituteOptions{Caches: []*Cache{read}, Trusted: []PublicKey{k.Public()}})
			if err != nil || len(again2.Fetched) != 0 {
				t.Errorf("second substitute = %+v, %v; want nothing fetched", again2, err)
			}
		})
	}
}

// checkSameIn checks that paths are valid in dst with src's records, and
// that dst's store verifies.
func checkSameIn(t testing.TB, src, dst *store.Store, paths ...store.Path) {
	t.Helper()
	for _, p := range paths {
		want, err := src.Info(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dst.Info(p)
		if err != nil {
			t.Errorf("%s not valid after substitute: %v", p, err)
			continue
		}
		if got.NarHash != want.NarHash || got.NarSize != want.NarSize || !slices.Equal(got.Refs, want.Refs) {
			t.Errorf("%s: substituted %s %d %v, want %s %d %v", p, got.NarHash, got.NarSize, got.Refs, want.NarHash, want.NarSize, want.Refs)
		}
	}
	if problems, err := dst.Verify(context.Background()); err != nil || len(problems) > 0 {
		t.Errorf("verify after substitute: %v %v", problems, err)
	}
}

// Everything an attacker with write access to the bucket (or a broken
// disk, or a cut download) can do is refused, with the path and the cache
// named, and the refused path does not enter the store.
func TestSubstituteRefuses(t *testing.T) {
	k := testKey(t, "fleet-1", 1)
	src := openStore(t)
	c := buildClosure(t, src, "t")
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			write, read := b.open(t)
			push(t, write, src, k, c.app)
			pristine := snapshot(t, write)
			appInfo, err := write.NarInfo(ctx, c.app)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name    string
				tamper  func(t *testing.T)
				trusted []PublicKey
				want    []string
			}{
				{"NAR replaced by another valid NAR", func(t *testing.T) {
					// The compressed NAR of another path (a valid zstd stream, a valid NAR).
					other := mustGet(t, write, narURL(t, write, c.lib))
					put(t, write, appInfo.URL, other)
				}, nil, []string{"NAR hash mismatch"}},
				{"truncated NAR", func(t *testing.T) {
					body := mustGet(t, write, appInfo.URL)
					put(t, write, appInfo.URL, body[:len(body)/2])
				}, nil, []string{"unexpected EOF"}},
				{"flipped byte in the compressed NAR", func(t *testing.T) {
					body := mustGet(t, write, appInfo.URL)
					body[len(body)/2] ^= 0x40
					put(t, write, appInfo.URL, body)
				}, nil, []string{""}},
				{"data after the NAR", func(t *testing.T) {
					put(t, write, appInfo.URL, compressNAR(t, src, c.app, "trailing junk"))
				}, nil, []string{"after the NAR: NAR hash mismatch: more bytes than the narinfo's NarSize"}},
				{"bytes appended to the compressed file", func(t *testing.T) {
					put(t, write, appInfo.URL, append(mustGet(t, write, appInfo.URL), "appended"...))
				}, nil, []string{"after the NAR"}},
				{"narinfo with a changed NarHash", func(t *testing.T) {
					n := *appInfo
					n.NarHash = mustInfo(t, src, c.lib).NarHash
					put(t, write, narInfoKey(c.app), n.Marshal())
				}, nil, []string{"bad signature by key fleet-1"}},
				{"narinfo with a reference dropped", func(t *testing.T) {
					n := *appInfo
					n.References = []store.Path{c.lib}
					put(t, write, narInfoKey(c.app), n.Marshal())
				}, nil, []string{"bad signature by key fleet-1"}},
				{"narinfo re-signed by an attacker's key", func(t *testing.T) {
					n := *appInfo
					n.Sigs = nil
					n.Sign(testKey(t, "fleet-1", 66))
					put(t, write, narInfoKey(c.app), n.Marshal())
				}, nil, []string{"bad signature by key fleet-1"}},
				{"wrong trusted key of the same name", func(*testing.T) {}, []PublicKey{testKey(t, "fleet-1", 2).Public()}, []string{"bad signature by key fleet-1"}},
				{"unknown key", func(*testing.T) {}, []PublicKey{testKey(t, "other-1", 1).Public()}, []string{"signed by no trusted key: signed by fleet-1"}},
				{"garbage narinfo", func(t *testing.T) { put(t, write, narInfoKey(c.app), []byte("hello\n")) }, nil, []string{"malformed narinfo"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					restore(t, write, pristine)
					tc.tamper(t)
					trusted := tc.trusted
					if trusted == nil {
						trusted = []PublicKey{k.Public()}
					}
					dst := openStore(t)
					res, err := Substitute(ctx, dst, []store.Path{c.app}, SubstituteOptions{Caches: []*Cache{read}, Trusted: trusted})
					if err == nil {
						t.Fatalf("substitute of a tampered cache succeeded: %+v", res)
					}
					t.Logf("refused: %v", err)
					where, _, _ := strings.Cut(read.URL, "?")
					for _, w := range append(tc.want, c.app.String(), where) {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("error %q does not contain %q", err, w)
						}
					}
					if dst.Valid(c.app) {
						t.Errorf("%s entered the store", c.app)
					}
					checkOnlyValid(t, dst, res.Fetched)
				})
			}
		})
	}
}

// checkOnlyValid checks that the store holds exactly want, and that they verify.
func checkOnlyValid(t testing.TB, st *store.Store, want []store.Path) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(st.StateDir, "db", "paths"))
	var got []string
	for _, e := range ents {
		got = append(got, strings.TrimSuffix(e.Name(), ".json"))
	}
	var wantBases []string
	for _, p := range want {
		wantBases = append(wantBases, p.Base())
	}
	slices.Sort(got)
	slices.Sort(wantBases)
	if !slices.Equal(got, wantBases) {
		t.Errorf("store holds %v, want %v", got, wantBases)
	}
	if problems, err := st.Verify(context.Background()); err != nil || len(problems) > 0 {
		t.Errorf("verify: %v %v", problems, err)
	}
}

func mustInfo(t testing.TB, st *store.Store, p store.Path) store.Info {
	t.Helper()
	i, err := st.Info(p)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func narURL(t testing.TB, c *Cache, p store.Path) string {
	t.Helper()
	n, err := c.NarInfo(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return n.URL
}

func mustGet(t testing.TB, c *Cache, key string) []byte {
	t.Helper()
	b, err := c.getSmall(context.Background(), key, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t testing.TB, c *Cache, key string, data []byte) {
	t.Helper()
	if err := c.b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

// snapshot reads every object of a cache.
func snapshot(t testing.TB, c *Cache) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := c.b.List(context.Background(), "", func(o Object) error {
		out[o.Key] = nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k := range out {
		out[k] = mustGet(t, c, k)
	}
	return out
}

func restore(t testing.TB, c *Cache, objs map[string][]byte) {
	t.Helper()
	for k, v := range objs {
		put(t, c, k, v)
	}
}

func listKeys(t testing.TB, c *Cache) []string {
	t.Helper()
	var keys []string
	if err := c.b.List(context.Background(), "", func(o Object) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// compressNAR is p's NAR followed by extra, zstd-compressed.
func compressNAR(t testing.TB, st *store.Store, p store.Path, extra string) []byte {
	t.Helper()
	var b bytes.Buffer
	enc, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ExportNAR(enc, p); err != nil {
		t.Fatal(err)
	}
	enc.Write([]byte(extra))
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
