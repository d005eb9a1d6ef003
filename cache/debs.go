package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// Debian packages travel beside the store paths, as debs/<sha256>.deb: the
// sha256 a lock pins names them, so they need no signature (the lock is
// the trust) and a fleet without a Debian mirror can still realize its
// lock from the cache.

// Deb is one .deb file to push.
type Deb struct {
	SHA256 string // hex, as the lock pins it
	File   string // a local copy (the download cache)
}

func debKey(sha string) string { return "debs/" + sha + ".deb" }

func checkSHA256(s string) error {
	if len(s) != 64 || strings.Trim(s, "0123456789abcdef") != "" {
		return fmt.Errorf("%q is not a sha256 in hex", s)
	}
	return nil
}

// DebsResult says what PushDebs did.
type DebsResult struct {
	Uploaded, Present int
	Bytes             int64
}

// PushDebs uploads the .debs the cache lacks, jobs at a time. Each file
// must have the sha256 it is pushed as: a damaged download cache is
// refused, not spread.
func (c *Cache) PushDebs(ctx context.Context, debs []Deb, jobs int) (DebsResult, error) {
	var res DebsResult
	if err := c.init(ctx); err != nil {
		return res, fmt.Errorf("push debs: %w", err)
	}
	var mu sync.Mutex
	errs := runOrdered(ctx, len(debs), max(jobs, 1), func(int) []int { return nil }, func(ctx context.Context, i int, _ func() error) error {
		d := debs[i]
		if err := checkSHA256(d.SHA256); err != nil {
			return fmt.Errorf("push %s: %w", d.File, err)
		}
		st, err := os.Stat(d.File)
		if err != nil {
			return fmt.Errorf("push deb: %w", err)
		}
		if obj, err := c.b.Stat(ctx, debKey(d.SHA256)); err == nil && obj.Size == st.Size() {
			mu.Lock()
			res.Present++
			mu.Unlock()
			return nil
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("push %s to %s: %w", d.File, c.URL, err)
		}
		if got, err := fsutil.SHA256(d.File); err != nil {
			return fmt.Errorf("push deb: %w", err)
		} else if got != d.SHA256 {
			return fmt.Errorf("push %s: its sha256 is %s, not %s (a damaged download: remove it and fetch again)", d.File, got, d.SHA256)
		}
		f, err := os.Open(d.File)
		if err != nil {
			return fmt.Errorf("push deb: %w", err)
		}
		defer f.Close()
		if err := c.b.Put(ctx, debKey(d.SHA256), f, st.Size()); err != nil {
			return fmt.Errorf("push %s to %s: %w", d.File, c.URL, err)
		}
		mu.Lock()
		res.Uploaded++
		res.Bytes += st.Size()
		mu.Unlock()
		return nil
	})
	return res, firstErrors(errs)
}

// DebSource reads .debs from caches, in order: what debian.FetchOptions
// calls before it asks a mirror.
type DebSource struct{ Caches []*Cache }

// OpenDeb opens the .deb with this sha256 from the first cache that has
// it. When none has it, the error wraps fs.ErrNotExist. The caller checks
// the bytes against the sha256.
func (s DebSource) OpenDeb(ctx context.Context, sha string) (io.ReadCloser, error) {
	if err := checkSHA256(sha); err != nil {
		return nil, err
	}
	var problems []error
	for _, c := range s.Caches {
		r, err := c.b.Get(ctx, debKey(sha))
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ErrNotFound) {
			problems = append(problems, fmt.Errorf("cache %s: %w", c.URL, err))
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return nil, fmt.Errorf("%s.deb in no cache: %w", sha, fs.ErrNotExist)
}

func (s DebSource) String() string {
	names := make([]string, len(s.Caches))
	for i, c := range s.Caches {
		names[i] = c.URL
	}
	return strings.Join(names, ", ")
}
