package cache

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kiln-os/kiln/store"
)

// GCOptions say what a cache collection keeps.
type GCOptions struct {
	// Keep are the roots: they and every path their narinfos reach
	// (through References) stay. A lock's package paths belong here.
	Keep []store.Path
	// KeepDebs are the sha256s of .debs that stay (a lock's packages).
	KeepDebs []string
	DryRun   bool
	// Grace keeps objects younger than it whatever reaches them: a push
	// uploads a NAR before the narinfo naming it, and a collection
	// between the two must not take the NAR. 0: one hour; negative: none.
	Grace time.Duration
	// Now is the collection's time (a test's fixed clock); zero: now.
	Now time.Time
	// Jobs bounds parallel reads and deletes; 0: 8.
	Jobs int
}

// GCResult says what a collection deleted (or, dry, would delete).
type GCResult struct {
	Kept        int          // narinfos kept
	Deleted     []store.Path // paths whose narinfo went
	DeletedNARs int
	DeletedDebs int
	Freed       int64 // bytes of the objects deleted
	// Absent lists kept paths the cache does not have (a root never
	// pushed, a reference a foreign pusher left out).
	Absent []store.Path
}

// GC deletes from c every narinfo not reachable from o.Keep, then every
// NAR no kept narinfo names and every .deb not in o.KeepDebs, except
// objects younger than the grace period. Narinfos go before their NARs,
// so a reader never finds a narinfo without its NAR.
func (c *Cache) GC(ctx context.Context, o GCOptions) (GCResult, error) {
	var res GCResult
	now, grace, jobs := o.Now, o.Grace, o.Jobs
	if now.IsZero() {
		now = time.Now()
	}
	if grace == 0 {
		grace = time.Hour
	}
	if jobs <= 0 {
		jobs = 8
	}
	young := func(obj Object) bool { return grace > 0 && now.Sub(obj.ModTime) < grace }
	for _, sha := range o.KeepDebs {
		if err := checkSHA256(sha); err != nil {
			return res, fmt.Errorf("gc %s: keep deb: %w", c.URL, err)
		}
	}
	if _, err := c.Info(ctx); err != nil {
		return res, fmt.Errorf("gc: %w", err)
	}
	var narinfos, nars, debs []Object
	err := c.b.List(ctx, "", func(obj Object) error {
		switch {
		case strings.HasSuffix(obj.Key, ".narinfo") && !strings.Contains(obj.Key, "/"):
			narinfos = append(narinfos, obj)
		case strings.HasPrefix(obj.Key, "nar/"):
			nars = append(nars, obj)
		case strings.HasPrefix(obj.Key, "debs/") && strings.HasSuffix(obj.Key, ".deb"):
			debs = append(debs, obj)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("gc %s: list: %w", c.URL, err)
	}
	byHash := make(map[string]Object, len(narinfos))
	for _, obj := range narinfos {
		byHash[strings.TrimSuffix(obj.Key, ".narinfo")] = obj
	}

	// Mark: walk the references from the roots through the narinfos.
	kept := map[string]*NarInfo{} // by hash part
	todo := append([]store.Path(nil), o.Keep...)
	for len(todo) > 0 {
		var level []store.Path
		for _, p := range todo {
			if _, seen := kept[p.Hash()]; seen {
				continue
			}
			kept[p.Hash()] = nil
			if _, ok := byHash[p.Hash()]; !ok {
				res.Absent = append(res.Absent, p)
				continue
			}
			level = append(level, p)
		}
		infos := make([]*NarInfo, len(level))
		errs := runOrdered(ctx, len(level), jobs, func(int) []int { return nil }, func(ctx context.Context, i int, _ func() error) error {
			var err error
			infos[i], err = c.NarInfo(ctx, level[i])
			return err
		})
		if err := firstErrors(errs); err != nil {
			return res, fmt.Errorf("gc %s: %w (nothing deleted)", c.URL, err)
		}
		todo = todo[:0]
		for i, n := range infos {
			kept[level[i].Hash()] = n
			todo = append(todo, n.References...)
		}
	}
	keptNARs := map[string]bool{}
	for _, n := range kept {
		if n != nil {
			keptNARs[n.URL] = true
		}
	}
	keptDebs := map[string]bool{}
	for _, sha := range o.KeepDebs {
		keptDebs[debKey(sha)] = true
	}

	// Sweep, narinfos first.
	var dead, deadFiles []Object
	for _, obj := range narinfos {
		if _, ok := kept[strings.TrimSuffix(obj.Key, ".narinfo")]; ok || young(obj) {
			res.Kept++
			continue
		}
		dead = append(dead, obj)
	}
	for _, obj := range nars {
		if !keptNARs[obj.Key] && !young(obj) {
			deadFiles = append(deadFiles, obj)
			res.DeletedNARs++
		}
	}
	for _, obj := range debs {
		if !keptDebs[obj.Key] && !young(obj) {
			deadFiles = append(deadFiles, obj)
			res.DeletedDebs++
		}
	}
	// A young narinfo kept (a push in flight) keeps its NAR: it may have
	// been pushed before this listing.
	deadFiles = c.keepNamedByYoung(ctx, deadFiles, narinfos, kept, young, &res)
	deadPaths := make([]store.Path, len(dead))
	runOrdered(ctx, len(dead), jobs, func(int) []int { return nil }, func(ctx context.Context, i int, _ func() error) error {
		deadPaths[i], _ = c.pathOf(ctx, dead[i]) // for the report only
		return nil
	})
	for i, obj := range dead {
		if !deadPaths[i].IsZero() {
			res.Deleted = append(res.Deleted, deadPaths[i])
		}
		res.Freed += obj.Size
	}
	for _, obj := range deadFiles {
		res.Freed += obj.Size
	}
	sort.Slice(res.Deleted, func(i, j int) bool { return res.Deleted[i].Base() < res.Deleted[j].Base() })
	if o.DryRun {
		return res, nil
	}
	for _, batch := range [][]Object{dead, deadFiles} {
		errs := runOrdered(ctx, len(batch), jobs, func(int) []int { return nil }, func(ctx context.Context, i int, _ func() error) error {
			return c.b.Delete(ctx, batch[i].Key)
		})
		if err := firstErrors(errs); err != nil {
			return res, fmt.Errorf("gc %s: %w", c.URL, err)
		}
	}
	return res, nil
}

// keepNamedByYoung drops from files the NARs that young, unkept narinfos
// name.
func (c *Cache) keepNamedByYoung(ctx context.Context, files, narinfos []Object, kept map[string]*NarInfo, young func(Object) bool, res *GCResult) []Object {
	named := map[string]bool{}
	for _, obj := range narinfos {
		if _, ok := kept[strings.TrimSuffix(obj.Key, ".narinfo")]; ok || !young(obj) {
			continue
		}
		if b, err := c.getSmall(ctx, obj.Key, maxNarInfo); err == nil {
			if n, err := ParseNarInfo(b, obj.Key); err == nil {
				named[n.URL] = true
			}
		}
	}
	out := files[:0]
	for _, f := range files {
		if named[f.Key] {
			res.DeletedNARs--
			continue
		}
		out = append(out, f)
	}
	return out
}

// pathOf reads the store path a narinfo describes (for the report).
func (c *Cache) pathOf(ctx context.Context, obj Object) (store.Path, error) {
	b, err := c.getSmall(ctx, obj.Key, maxNarInfo)
	if err != nil {
		return store.Path{}, err
	}
	n, err := ParseNarInfo(b, obj.Key)
	if err != nil {
		return store.Path{}, errors.New("unreadable")
	}
	return n.StorePath, nil
}
