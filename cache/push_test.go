package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-os/kiln/store"
)

// recorder is a real backend that records the order of Puts and fails
// the Put of one key (a network failure in the middle of a push).
type recorder struct {
	Backend
	mu   sync.Mutex
	puts []string
	fail string // a key prefix
}

func (r *recorder) Put(ctx context.Context, key string, rd io.Reader, size int64) error {
	if r.fail != "" && strings.HasPrefix(key, r.fail) {
		return errors.New("connection reset by peer")
	}
	if err := r.Backend.Put(ctx, key, rd, size); err != nil {
		return err
	}
	r.mu.Lock()
	r.puts = append(r.puts, key)
	r.mu.Unlock()
	return nil
}

// A narinfo is written after its NAR and after the narinfos of its
// references, however the parallel uploads interleave.
func TestPushOrder(t *testing.T) {
	src := openStore(t)
	c := buildClosure(t, src, "o")
	for range 3 {
		rec := &recorder{Backend: fileCache(t).b}
		cache := New("recorded", rec)
		push(t, cache, src, testKey(t, "k", 1), c.app)
		at := map[string]int{}
		for i, k := range rec.puts {
			at[k] = i
		}
		for _, p := range c.all() {
			n, err := cache.NarInfo(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if at[n.URL] > at[narInfoKey(p)] {
				t.Errorf("%s: narinfo written before its NAR (%v)", p, rec.puts)
			}
			for _, r := range n.References {
				if r != p && at[narInfoKey(r)] > at[narInfoKey(p)] {
					t.Errorf("%s: narinfo written before that of its reference %s (%v)", p, r, rec.puts)
				}
			}
		}
	}
}

// A push that fails on one path writes no narinfo that refers to it: the
// cache stays a set of closures. The next push completes it.
func TestPushFailureLeavesClosures(t *testing.T) {
	src := openStore(t)
	c := buildClosure(t, src, "f")
	k := testKey(t, "k", 1)
	rec := &recorder{Backend: fileCache(t).b, fail: narInfoKey(c.lib)}
	cache := New("flaky", rec)
	res, err := cache.Push(context.Background(), src, []store.Path{c.app}, PushOptions{Key: k, Jobs: 4})
	if err == nil || !strings.Contains(err.Error(), "connection reset") || !strings.Contains(err.Error(), c.lib.String()) {
		t.Fatalf("push = %v, want the failure naming %s", err, c.lib)
	}
	if strings.Contains(err.Error(), c.app.String()) {
		t.Errorf("error %q also reports %s, which only waited for lib", err, c.app)
	}
	if got := sortedRefs(res.Uploaded); !slices.Equal(got, sortedRefs([]store.Path{c.base, c.data})) {
		t.Errorf("uploaded %v, want base and data only", res.Uploaded)
	}
	for _, p := range []store.Path{c.lib, c.app} {
		if has, _ := cache.Has(context.Background(), p); has {
			t.Errorf("%s has a narinfo though %s failed", p, c.lib)
		}
	}
	rec.fail = ""
	again := push(t, cache, src, k, c.app)
	if got := sortedRefs(again.Uploaded); !slices.Equal(got, sortedRefs([]store.Path{c.lib, c.app})) {
		t.Errorf("second push uploaded %v, want lib and app", again.Uploaded)
	}
}

func TestPushNeedsKeyAndValidPaths(t *testing.T) {
	src := openStore(t)
	cache := fileCache(t)
	if _, err := cache.Push(context.Background(), src, nil, PushOptions{}); err == nil || !strings.Contains(err.Error(), "no signing key") {
		t.Errorf("push without a key = %v", err)
	}
	missing := mustPath(t, "0123456789abcdfghijklmnpqrsvwxyz-gone")
	_, err := cache.Push(context.Background(), src, []store.Path{missing}, PushOptions{Key: testKey(t, "k", 1)})
	if !errors.Is(err, store.ErrNotValid) {
		t.Errorf("push of an invalid path = %v, want ErrNotValid", err)
	}
}

// A cache of another store, or of a newer layout, is not written to.
func TestPushRefusesForeignCache(t *testing.T) {
	src := openStore(t)
	c := buildClosure(t, src, "n")
	cache := fileCache(t)
	put(t, cache, cacheInfoKey, []byte("StoreDir: /nix/store\n"))
	_, err := cache.Push(context.Background(), src, []store.Path{c.base}, PushOptions{Key: testKey(t, "k", 1)})
	if err == nil || !strings.Contains(err.Error(), `for the store "/nix/store"`) {
		t.Fatalf("push to a Nix cache = %v", err)
	}
	if keys := listKeys(t, cache); !slices.Equal(keys, []string{cacheInfoKey}) {
		t.Errorf("the cache now holds %v", keys)
	}
}

// Paths no cache has are missing, not an error, and so is what refers to
// them; the caller builds those.
func TestSubstituteMissing(t *testing.T) {
	k := testKey(t, "k", 1)
	src := openStore(t)
	c := buildClosure(t, src, "m")
	first, second := fileCache(t), fileCache(t)
	push(t, first, src, k, c.base)  // base only
	push(t, second, src, k, c.data) // data only
	dst := openStore(t)
	plan, err := PlanSubstitute(context.Background(), dst, []store.Path{c.app, c.data}, SubstituteOptions{
		Caches: []*Cache{first, second}, Trusted: []PublicKey{k.Public()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plan.Missing, []store.Path{c.app}) {
		t.Errorf("missing %v, want app (in no cache, so its references are unknown)", plan.Missing)
	}
	// data comes from the second cache, for itself.
	var fetch []store.Path
	for _, f := range plan.Fetch {
		fetch = append(fetch, f.Path)
		if f.Path == c.data && f.Cache != second {
			t.Errorf("data planned from %s, want the second cache", f.Cache)
		}
	}
	if !slices.Equal(fetch, []store.Path{c.data}) {
		t.Errorf("plan fetches %v, want data", fetch)
	}
	res, err := plan.Apply(context.Background(), dst)
	if err != nil || !slices.Equal(res.Fetched, []store.Path{c.data}) {
		t.Fatalf("apply = %+v, %v", res, err)
	}
	checkSameIn(t, src, dst, c.data)

	// A path whose reference the cache lost cannot be had either; its
	// other references are fetched (a build of it needs them).
	broken := fileCache(t)
	push(t, broken, src, k, c.app)
	if err := broken.b.Delete(context.Background(), narInfoKey(c.lib)); err != nil {
		t.Fatal(err)
	}
	dst = openStore(t)
	res, err = Substitute(context.Background(), dst, []store.Path{c.app}, SubstituteOptions{Caches: []*Cache{broken}, Trusted: []PublicKey{k.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sortedRefs(res.Missing), sortedRefs([]store.Path{c.lib, c.app})) || !slices.Equal(res.Fetched, []store.Path{c.data}) {
		t.Errorf("substitute with lib gone = missing %v, fetched %v; want lib and app missing, data fetched", res.Missing, res.Fetched)
	}
	checkOnlyValid(t, dst, []store.Path{c.data})
}

// The first cache that has a path with a good signature serves it; one
// whose copy is refused is reported as a problem, not fatal.
func TestSubstituteFallsBackToNextCache(t *testing.T) {
	k := testKey(t, "k", 1)
	src := openStore(t)
	c := buildClosure(t, src, "b")
	bad, good := fileCache(t), fileCache(t)
	push(t, bad, src, testKey(t, "k", 99), c.base) // same name, another key
	push(t, good, src, k, c.base)
	unreachable, err := Open("http://127.0.0.1:1/cache", Options{})
	if err != nil {
		t.Fatal(err)
	}
	dst := openStore(t)
	plan, err := PlanSubstitute(context.Background(), dst, []store.Path{c.base}, SubstituteOptions{
		Caches: []*Cache{unreachable, bad, good}, Trusted: []PublicKey{k.Public()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Fetch) != 1 || plan.Fetch[0].Cache != good {
		t.Fatalf("plan %+v, want base from the good cache", plan.Fetch)
	}
	msgs := errors.Join(plan.Problems...).Error()
	for _, want := range []string{"bad signature by key k", "127.0.0.1:1"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("problems %q, want one with %q", msgs, want)
		}
	}
}

func TestSubstituteNeedsTrustedKeys(t *testing.T) {
	_, err := Substitute(context.Background(), openStore(t), nil, SubstituteOptions{Caches: []*Cache{fileCache(t)}})
	if err == nil || !strings.Contains(err.Error(), "no trusted public keys") {
		t.Fatalf("substitute without trusted keys = %v", err)
	}
}

func writeDeb(t testing.TB, dir, content string) Deb {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	sha := hex.EncodeToString(sum[:])
	name := filepath.Join(dir, sha+".deb")
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return Deb{SHA256: sha, File: name}
}

func TestDebs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := writeDeb(t, dir, "!<arch>\na"), writeDeb(t, dir, "!<arch>\nb")
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			write, read := be.open(t)
			res, err := write.PushDebs(ctx, []Deb{a, b}, 2)
			if err != nil || res.Uploaded != 2 || res.Bytes != 18 {
				t.Fatalf("PushDebs = %+v, %v", res, err)
			}
			if res, err := write.PushDebs(ctx, []Deb{a}, 2); err != nil || res.Present != 1 || res.Uploaded != 0 {
				t.Errorf("second PushDebs = %+v, %v; want it present", res, err)
			}
			src := DebSource{Caches: []*Cache{fileCache(t), read}}
			r, err := src.OpenDeb(ctx, a.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r)
			r.Close()
			if string(got) != "!<arch>\na" {
				t.Errorf("OpenDeb = %q", got)
			}
			if _, err := src.OpenDeb(ctx, strings.Repeat("0", 64)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("OpenDeb of a missing deb = %v, want fs.ErrNotExist", err)
			}
		})
	}
	// A damaged download is not spread.
	damaged := Deb{SHA256: a.SHA256, File: b.File}
	_, err := fileCache(t).PushDebs(ctx, []Deb{damaged}, 1)
	if err == nil || !strings.Contains(err.Error(), "a damaged download") {
		t.Errorf("PushDebs of a file with another sha256 = %v", err)
	}
}

func TestConfigure(t *testing.T) {
	pub := testKey(t, "k", 1).Public().String()
	o, err := Configure([]string{"file:///srv/cache", "https://cache.example.org"}, []string{pub + "\n"}, Options{})
	if err != nil || len(o.Caches) != 2 || len(o.Trusted) != 1 || o.Caches[1].URL != "https://cache.example.org" {
		t.Fatalf("Configure = %+v, %v", o, err)
	}
	if o, err := Configure(nil, nil, Options{}); err != nil || len(o.Caches) != 0 {
		t.Errorf("Configure of nothing = %+v, %v", o, err)
	}
	for _, tc := range []struct {
		subs, keys []string
		want       string
	}{
		{[]string{"ftp://x"}, []string{pub}, `substituters: cache URL "ftp://x": unsupported scheme`},
		{[]string{"file:///x"}, []string{"bad"}, "trusted_public_keys: trusted public key 1"},
		{[]string{"file:///x"}, nil, "trusted_public_keys is empty"},
	} {
		if _, err := Configure(tc.subs, tc.keys, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Configure(%v, %v) = %v, want %q", tc.subs, tc.keys, err, tc.want)
		}
	}
}

func TestOpenURLs(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"file:///srv/cache", ""},
		{"s3://bucket", ""},
		{"s3://bucket/a/prefix?endpoint=127.0.0.1:8333&scheme=http&region=us-east-1", ""},
		{"s3://bucket/p?endpoint=http://minio.lan:9000&profile=ci", ""},
		{"https://cache.example.org/kiln", ""},
		{"http://[::1]:8080/", ""},
		{"file://host/srv/cache", "a file:// URL names a local directory"},
		{"file:cache", "want file:///absolute/path"},
		{"/srv/cache", "want file:///dir, s3://bucket/prefix?endpoint=... or https://host/path"},
		{"s3:///prefix", "no bucket"},
		{"s3://bucket?endpont=x", `unknown parameter "endpont"`},
		{"s3://bucket?scheme=ftp", `scheme "ftp": want http or https`},
		{"s3://bucket?endpoint=ftp://x", "want HOST[:PORT] or http(s)://HOST[:PORT]"},
		{"https:///path", "no host"},
		{"gs://bucket", `unsupported scheme "gs"`},
	} {
		_, err := Open(tc.url, Options{})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Open(%q) = %v, want %q", tc.url, err, tc.want)
		}
	}
	// Keys cannot leave the cache's directory.
	for _, key := range []string{"../x", "a/../../x", "/etc/passwd", "a//b", "dir/"} {
		if err := checkKey(key); err == nil {
			t.Errorf("checkKey(%q) = nil", key)
		}
	}
}
