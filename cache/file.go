package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// fileBackend keeps objects as files under dir (file:///dir). Any static
// web server serving dir makes it an http(s):// cache.
type fileBackend struct{ dir string }

func (b *fileBackend) name(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(b.dir, filepath.FromSlash(key)), nil
}

func (b *fileBackend) Get(_ context.Context, key string) (io.ReadCloser, error) {
	name, err := b.name(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return f, err
}

func (b *fileBackend) Stat(_ context.Context, key string) (Object, error) {
	name, err := b.name(key)
	if err != nil {
		return Object{}, err
	}
	st, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

func (b *fileBackend) Put(_ context.Context, key string, r io.Reader, size int64) error {
	name, err := b.name(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	n, err := fsutil.WriteFrom(name, io.LimitReader(r, size+1), 0o644)
	if err == nil && n != size {
		os.Remove(name)
		err = fmt.Errorf("put %s: got %d bytes, want %d", key, n, size)
	}
	return err
}

func (b *fileBackend) List(_ context.Context, prefix string, fn func(Object) error) error {
	// Walk only the directory the prefix names.
	dir := b.dir
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = filepath.Join(b.dir, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && name == dir {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") { // temp files of writers
			return nil
		}
		rel, err := filepath.Rel(b.dir, name)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		return fn(Object{Key: key, Size: info.Size(), ModTime: info.ModTime()})
	})
	return err
}

func (b *fileBackend) Delete(_ context.Context, key string) error {
	name, err := b.name(key)
	if err != nil {
		return err
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (b *fileBackend) String() string { return "file://" + b.dir }
