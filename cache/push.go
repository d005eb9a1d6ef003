package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/kiln-os/kiln/store"
)

// PushOptions configure Push.
type PushOptions struct {
	Key  SecretKey // signs every narinfo written
	Jobs int       // paths compressed and uploaded at once; 0: 4
	// TempDir holds each compressed NAR while it is uploaded (its hash
	// names it, so it is known only once written); "": os.TempDir().
	TempDir string
	// Progress, when set, is called (serialized) after each path.
	Progress func(Progress)
}

// Progress is a snapshot of a Push or a Substitute.
type Progress struct {
	Done, Total int        // paths finished, of those to transfer
	Bytes       int64      // compressed bytes moved so far
	NarBytes    int64      // NAR bytes of the paths finished
	Path        store.Path // the path just finished
}

// PushResult says what a Push did.
type PushResult struct {
	Uploaded []store.Path // in reference order
	Present  []store.Path // already in the cache, not touched
	// NarBytes is the NAR size of what was uploaded, FileBytes its
	// compressed size (objects already there with the same hash are not
	// uploaded again and not counted).
	NarBytes, FileBytes int64
}

func (o *PushOptions) jobs() int {
	if o.Jobs > 0 {
		return o.Jobs
	}
	return 4
}

// Push uploads the closure of paths (which must be valid in st) to c:
// per path its NAR, zstd-compressed, as nar/<file hash>.nar.zst and then
// its narinfo signed by o.Key. Paths whose narinfo is there already are
// skipped (whoever wrote it wrote their references first). A narinfo is
// written only after those of its references, so a reader that finds a
// narinfo finds its closure: a push cut short leaves a smaller cache, not
// a broken one.
func (c *Cache) Push(ctx context.Context, st *store.Store, paths []store.Path, o PushOptions) (PushResult, error) {
	var res PushResult
	if o.Key.key == nil {
		return res, fmt.Errorf("push to %s: no signing key", c.URL)
	}
	if err := c.init(ctx); err != nil {
		return res, fmt.Errorf("push: %w", err)
	}
	closure, err := st.Closure(paths...)
	if err != nil {
		return res, fmt.Errorf("push to %s: %w", c.URL, err)
	}
	ordered, err := st.SortByReferences(closure)
	if err != nil {
		return res, fmt.Errorf("push to %s: %w", c.URL, err)
	}
	has, err := c.hasAll(ctx, ordered, o.jobs())
	if err != nil {
		return res, fmt.Errorf("push: %w", err)
	}
	var todo []store.Path
	for i, p := range ordered {
		if has[i] {
			res.Present = append(res.Present, p)
		} else {
			todo = append(todo, p)
		}
	}
	infos := make([]store.Info, len(todo))
	index := make(map[store.Path]int, len(todo))
	for i, p := range todo {
		index[p] = i
		if infos[i], err = st.Info(p); err != nil {
			return res, fmt.Errorf("push to %s: %w", c.URL, err)
		}
	}
	deps := func(i int) []int {
		var d []int
		for _, r := range infos[i].Refs {
			if j, ok := index[r]; ok && j != i {
				d = append(d, j)
			}
		}
		return d
	}
	var mu sync.Mutex
	pr := Progress{Total: len(todo)}
	uploaded := make([]bool, len(todo))
	errs := runOrdered(ctx, len(todo), o.jobs(), deps, func(ctx context.Context, i int, wait func() error) error {
		n, sent, err := c.pushNAR(ctx, st, infos[i], o.TempDir)
		if err != nil {
			return err
		}
		if err := wait(); err != nil {
			return fmt.Errorf("push %s: %w", todo[i], err)
		}
		n.Sign(o.Key)
		text := n.Marshal()
		if err := c.b.Put(ctx, narInfoKey(todo[i]), bytes.NewReader(text), int64(len(text))); err != nil {
			return fmt.Errorf("push %s to %s: %w", todo[i], c.URL, err)
		}
		mu.Lock()
		defer mu.Unlock()
		uploaded[i] = true
		res.NarBytes += n.NarSize
		res.FileBytes += sent
		pr.Done++
		pr.Bytes += sent
		pr.NarBytes += n.NarSize
		pr.Path = todo[i]
		if o.Progress != nil {
			o.Progress(pr)
		}
		return nil
	})
	for i, ok := range uploaded {
		if ok {
			res.Uploaded = append(res.Uploaded, todo[i])
		}
	}
	return res, firstErrors(errs)
}

// firstErrors joins the errors that are not consequences of others.
func firstErrors(errs []error) error {
	var out []error
	for _, err := range errs {
		if err != nil && !errors.Is(err, errDependency) {
			out = append(out, err)
		}
	}
	if len(out) == 0 {
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	return errors.Join(out...)
}

// hasAll asks, jobs at a time, which paths have a narinfo.
func (c *Cache) hasAll(ctx context.Context, paths []store.Path, jobs int) ([]bool, error) {
	has := make([]bool, len(paths))
	errs := runOrdered(ctx, len(paths), jobs*4, func(int) []int { return nil }, func(ctx context.Context, i int, _ func() error) error {
		var err error
		has[i], err = c.Has(ctx, paths[i])
		return err
	})
	return has, firstErrors(errs)
}

// encoders are reused: each holds several MiB of tables.
var encoders = sync.Pool{New: func() any {
	e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	return e
}}

// pushNAR compresses p's NAR into a temp file, hashing it, and uploads it
// unless an object of that hash is there. It returns p's narinfo, not yet
// signed, and the bytes sent.
func (c *Cache) pushNAR(ctx context.Context, st *store.Store, info store.Info, tempDir string) (*NarInfo, int64, error) {
	p := info.Path
	f, err := os.CreateTemp(tempDir, "kiln-push-*.nar.zst")
	if err != nil {
		return nil, 0, fmt.Errorf("push %s: %w", p, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fh := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, fh)}
	enc := encoders.Get().(*zstd.Encoder)
	enc.ResetContentSize(cw, info.NarSize)
	err = st.ExportNAR(enc, p)
	if cerr := enc.Close(); err == nil {
		err = cerr
	}
	encoders.Put(enc)
	if err != nil {
		return nil, 0, fmt.Errorf("push %s: %w", p, err)
	}
	fileHash := store.FormatHash(fh.Sum(nil))
	n := &NarInfo{
		StorePath:   p,
		URL:         "nar/" + fileHash[len("sha256:"):] + ".nar.zst",
		Compression: CompressionZstd,
		FileHash:    fileHash,
		FileSize:    cw.n,
		NarHash:     info.NarHash,
		NarSize:     info.NarSize,
		References:  info.Refs,
	}
	if obj, err := c.b.Stat(ctx, n.URL); err == nil && obj.Size == n.FileSize {
		return n, 0, nil // the same bytes, pushed before (an aborted push, or another path)
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, 0, fmt.Errorf("push %s to %s: %w", p, c.URL, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	if err := c.b.Put(ctx, n.URL, f, n.FileSize); err != nil {
		return nil, 0, fmt.Errorf("push %s to %s: %w", p, c.URL, err)
	}
	return n, n.FileSize, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// hashReader hashes and counts what is read through it.
type hashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashReader) Read(b []byte) (int, error) {
	n, err := h.r.Read(b)
	h.h.Write(b[:n])
	h.n += int64(n)
	return n, err
}
