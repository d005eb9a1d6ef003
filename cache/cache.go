package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/store"
)

// Cache is one binary cache: a Backend and the URL it was opened from.
type Cache struct {
	URL string
	b   Backend
}

// Open returns the cache at a URL (file:///dir, s3://bucket/prefix?...,
// http(s)://host/path). It checks the URL only; nothing is read until the
// cache is used.
func Open(url string, o Options) (*Cache, error) {
	b, err := openBackend(url, o)
	if err != nil {
		return nil, err
	}
	return &Cache{URL: url, b: b}, nil
}

// OpenAll opens every URL, in order (a config's substituters).
func OpenAll(urls []string, o Options) ([]*Cache, error) {
	out := make([]*Cache, 0, len(urls))
	for _, u := range urls {
		c, err := Open(u, o)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// New returns a cache on any Backend (tests, or a backend kiln does not
// name by URL).
func New(name string, b Backend) *Cache { return &Cache{URL: name, b: b} }

// Backend returns the cache's backend.
func (c *Cache) Backend() Backend { return c.b }

func (c *Cache) String() string { return c.URL }

// object names an object of the cache in messages: the URL without its
// query, then the key.
func (c *Cache) object(key string) string {
	base, _, _ := strings.Cut(c.URL, "?")
	return strings.TrimSuffix(base, "/") + "/" + key
}

// The cache's description, nix-cache-info, as Nix reads it ("Key: value"
// lines; unknown keys ignored), with one line of kiln's:
//
//	StoreDir: /kiln/store
//	WantMassQuery: 1
//	Priority: 40
//	KilnCache: 1
//
// StoreDir must be kiln's: a Nix cache for /nix/store is refused. KilnCache
// is the version of the layout (narinfo, nar/, debs/): readers accept every
// version up to theirs and refuse newer ones; a cache without it (made by
// Nix for a /kiln/store) reads as version 1.
const (
	cacheInfoKey = "nix-cache-info"
	cacheVersion = 1
)

// Info is what nix-cache-info says.
type Info struct {
	StoreDir string
	Priority int
	Version  int
}

func (i Info) marshal() []byte {
	return fmt.Appendf(nil, "StoreDir: %s\nWantMassQuery: 1\nPriority: %d\nKilnCache: %d\n", i.StoreDir, i.Priority, i.Version)
}

func parseCacheInfo(b []byte, whence string) (Info, error) {
	info := Info{Version: 1, Priority: 50}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "StoreDir":
			info.StoreDir = v
		case "Priority":
			if n, err := strconv.Atoi(v); err == nil {
				info.Priority = n
			}
		case "KilnCache":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return Info{}, fmt.Errorf("%s: KilnCache %q is not a version", whence, v)
			}
			info.Version = n
		}
	}
	switch {
	case info.StoreDir != store.LogicalDir:
		return Info{}, fmt.Errorf("%s is a cache for the store %q, not %s", whence, info.StoreDir, store.LogicalDir)
	case info.Version > cacheVersion:
		return Info{}, fmt.Errorf("%s has layout version %d; this kiln reads 1 to %d (upgrade kiln)", whence, info.Version, cacheVersion)
	}
	return info, nil
}

// ErrBadNarInfo reports a narinfo that does not parse or describes
// another path.
var ErrBadNarInfo = errors.New("malformed narinfo")

// ErrNotACache reports a URL without nix-cache-info.
var ErrNotACache = errors.New("not a kiln cache (no nix-cache-info): push to it first")

// Info reads and checks nix-cache-info.
func (c *Cache) Info(ctx context.Context) (Info, error) {
	b, err := c.getSmall(ctx, cacheInfoKey, 64<<10)
	if errors.Is(err, ErrNotFound) {
		return Info{}, fmt.Errorf("cache %s: %w", c.URL, ErrNotACache)
	}
	if err != nil {
		return Info{}, fmt.Errorf("cache %s: %w", c.URL, err)
	}
	return parseCacheInfo(b, c.object(cacheInfoKey))
}

// init makes sure a cache about to be written describes itself, and that
// an existing description is one kiln may write to.
func (c *Cache) init(ctx context.Context) error {
	_, err := c.Info(ctx)
	if !errors.Is(err, ErrNotACache) {
		return err
	}
	info := Info{StoreDir: store.LogicalDir, Priority: 40, Version: cacheVersion}.marshal()
	if err := c.b.Put(ctx, cacheInfoKey, bytes.NewReader(info), int64(len(info))); err != nil {
		return fmt.Errorf("cache %s: %w", c.URL, err)
	}
	return nil
}

// getSmall reads a whole object of at most max bytes.
func (c *Cache) getSmall(ctx context.Context, key string, max int64) ([]byte, error) {
	r, err := c.b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("read %s: more than %d bytes", key, max)
	}
	return b, nil
}

// NarInfo reads p's narinfo; ErrNotFound when the cache lacks p. It does
// not check signatures (Substitute does).
func (c *Cache) NarInfo(ctx context.Context, p store.Path) (*NarInfo, error) {
	key := narInfoKey(p)
	b, err := c.getSmall(ctx, key, maxNarInfo)
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", c.URL, err)
	}
	n, err := ParseNarInfo(b, c.object(key))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadNarInfo, err)
	}
	if n.StorePath != p {
		return nil, fmt.Errorf("%w: %s describes %s, not %s", ErrBadNarInfo, c.object(key), n.StorePath, p)
	}
	return n, nil
}

// Has reports whether the cache has p's narinfo.
func (c *Cache) Has(ctx context.Context, p store.Path) (bool, error) {
	_, err := c.b.Stat(ctx, narInfoKey(p))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cache %s: %w", c.URL, err)
	}
	return true, nil
}

// Configure makes the SubstituteOptions of a config's substituters and
// trusted_public_keys (modules.System.Substituters, TrustedPublicKeys):
// what the build, `kiln store receive` and a deploy's target pass to
// Substitute. No substituters: the zero options (Substitute fetches
// nothing).
func Configure(substituters, trustedKeys []string, o Options) (SubstituteOptions, error) {
	if len(substituters) == 0 {
		return SubstituteOptions{}, nil
	}
	caches, err := OpenAll(substituters, o)
	if err != nil {
		return SubstituteOptions{}, fmt.Errorf("substituters: %w", err)
	}
	keys, err := ParsePublicKeys(trustedKeys)
	if err != nil {
		return SubstituteOptions{}, fmt.Errorf("trusted_public_keys: %w", err)
	}
	if len(keys) == 0 {
		return SubstituteOptions{}, errors.New("substituters are set but trusted_public_keys is empty: no path could be taken from them")
	}
	return SubstituteOptions{Caches: caches, Trusted: keys}, nil
}
