package cache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// httpBackend reads a cache from any static web server or CDN that serves
// a cache directory (what file:// or s3:// wrote). It never writes.
type httpBackend struct {
	base   string // without a trailing slash
	client *http.Client
}

func newHTTPBackend(u *url.URL, c *http.Client) *httpBackend {
	if c == nil {
		c = http.DefaultClient
	}
	v := *u
	v.RawQuery, v.Fragment = "", ""
	return &httpBackend{base: strings.TrimSuffix(v.String(), "/"), client: c}
}

func (b *httpBackend) do(ctx context.Context, method, key string) (*http.Response, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+"/"+key, nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden && method == http.MethodHead:
		// S3 website endpoints and some CDNs answer 403 for a missing key.
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s", method, req.URL, resp.Status)
	}
	return resp, nil
}

func (b *httpBackend) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	resp, err := b.do(ctx, http.MethodGet, key)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (b *httpBackend) Stat(ctx context.Context, key string) (Object, error) {
	resp, err := b.do(ctx, http.MethodHead, key)
	if err != nil {
		return Object{}, err
	}
	resp.Body.Close()
	mod, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
	return Object{Key: key, Size: resp.ContentLength, ModTime: mod}, nil
}

func (b *httpBackend) Put(context.Context, string, io.Reader, int64) error {
	return fmt.Errorf("%s: %w (http and https caches are for reading; push to file:// or s3://)", b.base, ErrReadOnly)
}

func (b *httpBackend) List(context.Context, string, func(Object) error) error {
	return fmt.Errorf("%s: %w: a web server cannot list its objects", b.base, ErrReadOnly)
}

func (b *httpBackend) Delete(context.Context, string) error {
	return fmt.Errorf("%s: %w", b.base, ErrReadOnly)
}

func (b *httpBackend) String() string { return b.base }
