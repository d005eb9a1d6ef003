package cache

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/store"
)

// Two generations share a path; the old one's own paths and a .deb no
// lock pins go, the kept closure and its NARs stay and still substitute.
// old.data and cur.data have the same content (buildClosure seeds its
// noise with the tag's length), so one NAR object serves both: it stays.
func TestGC(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, "k", 1)
	src := openStore(t)
	old := buildClosure(t, src, "old")
	cur := buildClosure(t, src, "cur")
	shared := buildPath(t, src, "shared", []store.Path{old.base}, files{"x": "shared"})
	oldTop := buildPath(t, src, "top-old", []store.Path{old.app, shared}, files{"v": "1"})
	curTop := buildPath(t, src, "top-cur", []store.Path{cur.app, shared}, files{"v": "2"})
	dir := t.TempDir()
	keepDeb, dropDeb := writeDeb(t, dir, "kept"), writeDeb(t, dir, "dropped")
	for _, be := range backends {
		if be.name == "http" {
			continue // read-only
		}
		t.Run(be.name, func(t *testing.T) {
			c, _ := be.open(t)
			push(t, c, src, k, oldTop, curTop)
			if _, err := c.PushDebs(ctx, []Deb{keepDeb, dropDeb}, 2); err != nil {
				t.Fatal(err)
			}
			before := listKeys(t, c)
			now := newest(t, c).Add(time.Minute) // the objects' own clock
			opts := GCOptions{Keep: []store.Path{curTop}, KeepDebs: []string{keepDeb.SHA256}, Now: now, Grace: time.Second, DryRun: true}

			dry, err := c.GC(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			wantGone := sortedRefs([]store.Path{oldTop, old.app, old.lib, old.data})
			if !slices.Equal(dry.Deleted, wantGone) || dry.DeletedNARs != 3 || dry.DeletedDebs != 1 || dry.Kept != 7 || dry.Freed == 0 {
				t.Errorf("dry run = %+v, want %v (3 NARs, 1 deb) gone and 7 kept", dry, wantGone)
			}
			if after := listKeys(t, c); !slices.Equal(after, before) {
				t.Errorf("dry run changed the cache: %v -> %v", before, after)
			}

			opts.DryRun = false
			res, err := c.GC(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Deleted, dry.Deleted) || res.Freed != dry.Freed {
				t.Errorf("gc = %+v, want what the dry run said: %+v", res, dry)
			}
			after := listKeys(t, c)
			if len(after) != len(before)-8 {
				t.Errorf("%d objects before, %d after; want 8 fewer", len(before), len(after))
			}
			for _, key := range after {
				if strings.HasPrefix(key, "debs/") && key != debKey(keepDeb.SHA256) {
					t.Errorf("%s left", key)
				}
			}
			dst := openStore(t)
			sub, err := Substitute(ctx, dst, []store.Path{curTop}, SubstituteOptions{Caches: []*Cache{c}, Trusted: []PublicKey{k.Public()}})
			if err != nil || len(sub.Missing) != 0 || len(sub.Fetched) != 7 {
				t.Fatalf("substitute of the kept closure after gc = %+v, %v", sub, err)
			}
			checkSameIn(t, src, dst, curTop)
			sub, err = Substitute(ctx, openStore(t), []store.Path{oldTop}, SubstituteOptions{Caches: []*Cache{c}, Trusted: []PublicKey{k.Public()}})
			if err != nil || !slices.Equal(sub.Missing, []store.Path{oldTop}) {
				t.Errorf("substitute of the collected closure = %+v, %v; want it missing", sub, err)
			}
		})
	}
}

// Objects younger than the grace period stay (a push in flight uploads
// NARs before narinfos), and so do the NARs young narinfos name.
func TestGCGrace(t *testing.T) {
	ctx := context.Background()
	src := openStore(t)
	c := buildClosure(t, src, "g")
	cache := fileCache(t)
	push(t, cache, src, testKey(t, "k", 1), c.app)
	before := listKeys(t, cache)
	now := newest(t, cache).Add(time.Minute)
	res, err := cache.GC(ctx, GCOptions{Keep: nil, Now: now, Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 || res.DeletedNARs != 0 || !slices.Equal(listKeys(t, cache), before) {
		t.Errorf("gc within the grace period = %+v, left %v; want nothing deleted", res, listKeys(t, cache))
	}
	res, err = cache.GC(ctx, GCOptions{Keep: []store.Path{c.lib}, Now: now.Add(2 * time.Hour), Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if want := sortedRefs([]store.Path{c.app, c.data}); !slices.Equal(res.Deleted, want) || res.DeletedNARs != 2 {
		t.Errorf("gc after the grace period = %+v, want %v and their 2 NARs", res, want)
	}
}

func TestGCAbsentRootAndBadDeb(t *testing.T) {
	cache := fileCache(t)
	src := openStore(t)
	c := buildClosure(t, src, "a")
	push(t, cache, src, testKey(t, "k", 1), c.base)
	gone := mustPath(t, "0123456789abcdfghijklmnpqrsvwxyz-never-pushed")
	res, err := cache.GC(context.Background(), GCOptions{Keep: []store.Path{gone, c.base}, DryRun: true})
	if err != nil || !slices.Equal(res.Absent, []store.Path{gone}) || res.Kept != 1 {
		t.Errorf("gc = %+v, %v; want the unknown root reported absent and base kept", res, err)
	}
	if _, err := cache.GC(context.Background(), GCOptions{KeepDebs: []string{"abc"}}); err == nil || !strings.Contains(err.Error(), "not a sha256") {
		t.Errorf("gc with a bad deb sha256 = %v", err)
	}
	if _, err := fileCache(t).GC(context.Background(), GCOptions{}); err == nil || !strings.Contains(err.Error(), "not a kiln cache") {
		t.Errorf("gc of an empty directory = %v", err)
	}
}

// newest returns the modification time of the cache's newest object.
func newest(t testing.TB, c *Cache) time.Time {
	t.Helper()
	var last time.Time
	if err := c.b.List(context.Background(), "", func(o Object) error {
		if o.ModTime.After(last) {
			last = o.ModTime
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return last
}
