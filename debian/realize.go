package debian

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/internal/parallel"
	"github.com/kiln-os/kiln/store"
)

// Realize makes every locked package a valid store path and returns name
// → store path. Paths already valid cost one check each; the rest are
// downloaded (unless cached) and unpacked, Jobs at a time. The store makes
// each path atomic: an unpack that fails (bad digest, full disk, a kill)
// leaves no valid path behind.
func Realize(ctx context.Context, st *store.Store, l *Lock, opts FetchOptions) (map[string]store.Path, error) {
	out := make(map[string]store.Path, len(l.Packages))
	protect := make([]store.Path, 0, 2*len(l.Packages))
	for _, p := range l.Packages {
		sp, err := p.StorePath()
		if err != nil {
			return nil, fmt.Errorf("store path of %s: %w", p.Name, err)
		}
		doc, err := p.DocStorePath()
		if err != nil {
			return nil, fmt.Errorf("store path of %s's documentation: %w", p.Name, err)
		}
		out[p.Name] = sp
		protect = append(protect, sp, doc)
	}
	// Protect before looking: a collection running now must not take a
	// package this build finds valid and reads later.
	if err := st.Protect(ctx, protect...); err != nil {
		return nil, err
	}
	var todo []LockedPackage
	for _, p := range l.Packages {
		sp := out[p.Name]
		if !st.Valid(sp) || opts.Documentation && docMissing(st, p, sp) {
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		return out, nil
	}
	// Biggest first: the kernel alone takes about as long as the rest.
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].Size > todo[j].Size })
	pr := &progress{fn: opts.Progress}
	pr.p.Total = len(todo)
	for _, p := range todo {
		if !opts.cached(p) {
			pr.p.BytesTotal += p.Size
		}
	}
	errs := parallel.Do(len(todo), opts.jobs(), func(i int) error {
		p := todo[i]
		err := realizeOne(ctx, st, p, out[p.Name], &opts, pr)
		pr.add(0, 1, p.Name)
		return err
	})
	if err := joinFetchErrors(todo, errs); err != nil {
		return nil, err
	}
	return out, nil
}

func realizeOne(ctx context.Context, st *store.Store, p LockedPackage, sp store.Path, o *FetchOptions, pr *progress) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !o.cached(p) {
		if err := downloadRetry(ctx, p, o, pr); err != nil {
			return err
		}
	}
	doc, err := p.DocStorePath()
	if err != nil {
		return err
	}
	// The documentation output is built inside the main one's fill, so
	// that it is valid before the main output names it in DocMarker.
	buildDoc := func(staged string) error {
		return st.Build(ctx, doc, nil, func(tmp string) error { return os.Rename(staged, tmp) })
	}
	// Validity is read once: read again per case, a path another
	// goroutine or process finished between the two reads would look
	// like one whose documentation output is missing.
	valid := st.Valid(sp)
	switch {
	case valid && !docMissing(st, p, sp):
		return nil // made meanwhile by another process
	case valid:
		// Only the documentation is missing: unpack again beside it.
		err = st.Build(ctx, doc, nil, func(tmp string) error {
			full := tmp + ".full"
			defer os.RemoveAll(full)
			if err := o.Unpack.UnpackDeb(o.DebFile(p), full, p.SHA256); err != nil {
				return err
			}
			has, err := SplitDocs(full, tmp)
			if err == nil && !has {
				err = fmt.Errorf("%s names %s, but the package has no documentation", DocMarker, doc)
			}
			return err
		})
	default:
		err = st.Build(ctx, sp, nil, func(tmp string) error {
			if err := o.Unpack.UnpackDeb(o.DebFile(p), tmp, p.SHA256); err != nil {
				return err
			}
			staged := tmp + ".doc"
			defer os.RemoveAll(staged)
			has, err := SplitDocs(tmp, staged)
			if err != nil || !has {
				return err
			}
			if err := buildDoc(staged); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(tmp, DocMarker), []byte(doc.String()+"\n"), 0o644)
		})
	}
	if err != nil {
		// A cached file that went bad after download fails anywhere in
		// the unpack: check it, and drop it so the next run fetches it.
		if !errors.Is(err, ErrDigestMismatch) {
			if got, herr := fsutil.SHA256(o.DebFile(p)); herr == nil && got != p.SHA256 {
				err = fmt.Errorf("%w: cached %s has sha256 %s, the lock says %s (removed from the cache): %v", ErrDigestMismatch, o.DebFile(p), got, p.SHA256, err)
			}
		}
		if errors.Is(err, ErrDigestMismatch) {
			removeQuiet(o.DebFile(p))
		}
		return fmt.Errorf("realize %s %s: %w", p.Name, p.Version, err)
	}
	return nil
}

// docMissing reports whether the main output sp names a documentation
// output that is not valid.
func docMissing(st *store.Store, p LockedPackage, sp store.Path) bool {
	b, err := os.ReadFile(filepath.Join(st.Physical(sp), DocMarker))
	if err != nil {
		return false
	}
	doc, err := store.ParsePath(strings.TrimSpace(string(b)))
	return err == nil && !st.Valid(doc)
}

// RealizePlan is what Realize would do for a lock, computed without
// changing anything: the packages the store lacks, and which of their
// .debs must be downloaded (the others are in the cache).
type RealizePlan struct {
	Missing       []LockedPackage // sorted by name
	Download      []bool          // per Missing: not in the .deb cache
	DownloadBytes int64
	CachedBytes   int64
}

// PlanRealize returns what Realize(st, l, opts) would fetch and unpack.
func PlanRealize(st *store.Store, l *Lock, opts FetchOptions) (*RealizePlan, error) {
	rp := &RealizePlan{}
	for _, p := range l.Packages {
		sp, err := p.StorePath()
		if err != nil {
			return nil, fmt.Errorf("store path of %s: %w", p.Name, err)
		}
		if st.Valid(sp) && !(opts.Documentation && docMissing(st, p, sp)) {
			continue
		}
		dl := !opts.cached(p)
		rp.Missing, rp.Download = append(rp.Missing, p), append(rp.Download, dl)
		if dl {
			rp.DownloadBytes += p.Size
		} else {
			rp.CachedBytes += p.Size
		}
	}
	return rp, nil
}
