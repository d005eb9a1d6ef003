package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Backend is where a cache keeps its objects: a flat name space of keys
// such as "nix-cache-info", "<hash>.narinfo", "nar/<hash>.nar.zst" and
// "debs/<sha256>.deb". Implementations: a directory (file://), an S3
// bucket (s3://) and, read-only, a static web server (http://, https://).
type Backend interface {
	// Get opens key. A missing key is an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat reports key's size and time; ErrNotFound when missing.
	Stat(ctx context.Context, key string) (Object, error)
	// Put stores size bytes read from r as key. Readers never see part
	// of an object: they find the old one, the new one or none.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// List calls fn for every key that starts with prefix.
	List(ctx context.Context, prefix string, fn func(Object) error) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Object is one stored object.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Backend errors, for errors.Is.
var (
	ErrNotFound = errors.New("not in the cache")
	ErrReadOnly = errors.New("cache is read-only")
)

// Options configure how a cache is reached.
type Options struct {
	// Getenv reads the credentials of s3:// caches (AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE,
	// AWS_SHARED_CREDENTIALS_FILE, HOME). Nil: no variables.
	Getenv func(string) string
	// Client makes the HTTP requests of http(s):// and s3:// caches; nil:
	// http.DefaultClient's transport.
	Client *http.Client
}

func (o Options) getenv(k string) string {
	if o.Getenv == nil {
		return ""
	}
	return o.Getenv(k)
}

// openBackend picks the backend of a cache URL.
func openBackend(raw string, o Options) (Backend, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("cache URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("cache URL %q: a file:// URL names a local directory (file:///path)", raw)
		}
		if u.Path == "" || !strings.HasPrefix(u.Path, "/") {
			return nil, fmt.Errorf("cache URL %q: want file:///absolute/path", raw)
		}
		return &fileBackend{dir: u.Path}, nil
	case "s3":
		return openS3(u, o)
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("cache URL %q: no host", raw)
		}
		return newHTTPBackend(u, o.Client), nil
	case "":
		return nil, fmt.Errorf("cache URL %q: want file:///dir, s3://bucket/prefix?endpoint=... or https://host/path", raw)
	}
	return nil, fmt.Errorf("cache URL %q: unsupported scheme %q (want file, s3, http or https)", raw, u.Scheme)
}

// checkKey refuses keys that could leave the cache's directory or prefix.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return fmt.Errorf("bad object key %q", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("bad object key %q", key)
		}
	}
	return nil
}
