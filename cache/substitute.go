package cache

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/kiln-os/kiln/store"
)

// SubstituteOptions say where paths may come from and who may vouch for
// them.
type SubstituteOptions struct {
	Caches  []*Cache    // asked in order; the first with a good narinfo serves
	Trusted []PublicKey // a narinfo needs a good signature by one of them
	Jobs    int         // paths downloaded at once; 0: 4
	// Progress, when set, is called (serialized) after each path.
	Progress func(Progress)
}

func (o *SubstituteOptions) jobs() int {
	if o.Jobs > 0 {
		return o.Jobs
	}
	return 4
}

// Fetch is one path a plan takes from a cache.
type Fetch struct {
	Path  store.Path
	Cache *Cache
	Info  *NarInfo // signature checked
}

// SubstitutePlan is what Substitute will do: computed by PlanSubstitute
// without writing anything, done by Apply.
type SubstitutePlan struct {
	Fetch []Fetch // in reference order: every path after its references
	// Missing lists wanted paths (and references of them) that no cache
	// has; what refers to them is not in Fetch either.
	Missing []store.Path
	// Problems are caches that could not be asked (unreachable, not a
	// cache), or that had a path whose narinfo another cache replaced.
	Problems []error

	opts SubstituteOptions
}

// SubstituteResult says what Apply did.
type SubstituteResult struct {
	Fetched   []store.Path // made valid, in reference order
	Missing   []store.Path // as in the plan
	FileBytes int64        // compressed bytes downloaded
	NarBytes  int64        // NAR bytes imported
}

// ErrNoSubstitute is wrapped by Substitute's error when a wanted path is
// in no cache.
var ErrNoSubstitute = errors.New("in no substituter")

// Substitute makes paths and their closures valid in st from the caches,
// as far as the caches have them: PlanSubstitute, then Apply. Paths valid
// already are not fetched. Each path is taken only after its narinfo's
// signature verified with a trusted key, and it becomes valid only after
// its NAR matched the signed hash and size: a path that fails is refused
// with an error naming it and its cache, and it does not enter the store.
// Paths no cache has are listed in the result's Missing (not an error:
// the caller builds or downloads them).
func Substitute(ctx context.Context, st *store.Store, paths []store.Path, o SubstituteOptions) (SubstituteResult, error) {
	plan, err := PlanSubstitute(ctx, st, paths, o)
	if err != nil {
		return SubstituteResult{}, err
	}
	return plan.Apply(ctx, st)
}

// lookup is the outcome of asking the caches for one path.
type lookup struct {
	fetch    *Fetch
	err      error   // a refusal: every cache that had it had it bad
	problems []error // other caches' trouble
}

// PlanSubstitute finds, for each path not valid in st, a cache with a
// narinfo signed by a trusted key, and follows its references. It reads
// narinfos only. A path whose only narinfos are refused (bad or untrusted
// signature, malformed) is an error naming the path and each cache.
func PlanSubstitute(ctx context.Context, st *store.Store, paths []store.Path, o SubstituteOptions) (*SubstitutePlan, error) {
	plan := &SubstitutePlan{opts: o}
	if len(o.Caches) > 0 && len(o.Trusted) == 0 {
		return nil, errors.New("substitute: no trusted public keys: every path would be refused (set trusted_public_keys)")
	}
	caches := newCacheCheck(o.Caches)
	found := map[store.Path]*lookup{}
	level := slices.Clone(paths)
	var refused []error
	for len(level) > 0 {
		var ask []store.Path
		for _, p := range level {
			if _, seen := found[p]; !seen && !st.Valid(p) {
				found[p] = nil
				ask = append(ask, p)
			}
		}
		results := make([]*lookup, len(ask))
		errs := runOrdered(ctx, len(ask), o.jobs()*4, func(int) []int { return nil }, func(ctx context.Context, i int, _ func() error) error {
			results[i] = caches.lookup(ctx, ask[i], o.Trusted)
			return ctx.Err()
		})
		if err := firstErrors(errs); err != nil {
			return nil, fmt.Errorf("substitute: %w", err)
		}
		level = level[:0]
		for i, p := range ask {
			l := results[i]
			found[p] = l
			plan.Problems = append(plan.Problems, l.problems...)
			switch {
			case l.err != nil:
				refused = append(refused, l.err)
			case l.fetch != nil:
				level = append(level, l.fetch.Info.References...)
			}
		}
	}
	plan.Problems = append(plan.Problems, caches.problems()...)
	if len(refused) > 0 {
		return nil, errors.Join(refused...)
	}
	plan.order(st, paths, found)
	return plan, nil
}

// order fills Fetch (references first) and Missing from the lookups.
func (plan *SubstitutePlan) order(st *store.Store, paths []store.Path, found map[store.Path]*lookup) {
	const (
		unseen = iota
		visiting
		ok
		missing
	)
	state := map[store.Path]int{}
	var visit func(p store.Path) bool
	visit = func(p store.Path) bool {
		switch state[p] {
		case ok:
			return true
		case missing, visiting: // a cycle cannot be registered either
			return false
		}
		if st.Valid(p) {
			state[p] = ok
			return true
		}
		l := found[p]
		if l == nil || l.fetch == nil {
			state[p] = missing
			plan.Missing = append(plan.Missing, p)
			return false
		}
		state[p] = visiting
		good := true
		for _, r := range sortedRefs(l.fetch.Info.References) {
			if r != p && !visit(r) {
				good = false
			}
		}
		if !good {
			state[p] = missing
			plan.Missing = append(plan.Missing, p)
			return false
		}
		state[p] = ok
		plan.Fetch = append(plan.Fetch, *l.fetch)
		return true
	}
	for _, p := range paths {
		visit(p)
	}
}

// Apply downloads and imports the plan's paths, references first, Jobs at
// a time. A path that fails (and what refers to it) stays invalid; the
// others are kept.
func (plan *SubstitutePlan) Apply(ctx context.Context, st *store.Store) (SubstituteResult, error) {
	res := SubstituteResult{Missing: plan.Missing}
	index := make(map[store.Path]int, len(plan.Fetch))
	for i, f := range plan.Fetch {
		index[f.Path] = i
	}
	deps := func(i int) []int {
		var d []int
		for _, r := range plan.Fetch[i].Info.References {
			if j, ok := index[r]; ok && j != i {
				d = append(d, j)
			}
		}
		return d
	}
	var mu sync.Mutex
	pr := Progress{Total: len(plan.Fetch)}
	fetched := make([]bool, len(plan.Fetch))
	errs := runOrdered(ctx, len(plan.Fetch), plan.opts.jobs(), deps, func(ctx context.Context, i int, wait func() error) error {
		f := plan.Fetch[i]
		if err := wait(); err != nil {
			return fmt.Errorf("substitute %s: %w", f.Path, err)
		}
		n, err := f.Cache.fetch(ctx, st, f.Info)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		fetched[i] = true
		res.FileBytes += n
		res.NarBytes += f.Info.NarSize
		pr.Done++
		pr.Bytes += n
		pr.NarBytes += f.Info.NarSize
		pr.Path = f.Path
		if plan.opts.Progress != nil {
			plan.opts.Progress(pr)
		}
		return nil
	})
	for i, ok := range fetched {
		if ok {
			res.Fetched = append(res.Fetched, plan.Fetch[i].Path)
		}
	}
	return res, firstErrors(errs)
}

// maxWindow bounds the memory a zstd frame may ask of the decoder.
const maxWindow = 128 << 20

// fetch downloads n's NAR and imports it. The NAR must hash to the signed
// NarHash and have NarSize bytes, and the downloaded file must be the
// FileSize and FileHash announced, before the path is registered. It
// returns the bytes downloaded.
func (c *Cache) fetch(ctx context.Context, st *store.Store, n *NarInfo) (int64, error) {
	p := n.StorePath
	fail := func(err error) (int64, error) {
		return 0, fmt.Errorf("substitute %s from %s: %w", p, c.URL, err)
	}
	body, err := c.b.Get(ctx, n.URL)
	if err != nil {
		return fail(err)
	}
	defer body.Close()
	file := &hashReader{r: body, h: sha256.New()}
	var nar io.Reader = file
	switch n.Compression {
	case CompressionNone:
	case CompressionZstd:
		dec, err := zstd.NewReader(file, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxWindow))
		if err != nil {
			return fail(err)
		}
		defer dec.Close()
		nar = errReader{dec, "decompress " + n.URL}
	default:
		return fail(fmt.Errorf("compression %q is not supported (kiln reads zstd and none)", n.Compression))
	}
	// No more than the signed size is unpacked, whatever the stream holds.
	nar = &capReader{r: nar, left: n.NarSize}
	finish := func() error {
		// Nothing may follow the NAR, and the file must be the one announced.
		if k, err := nar.Read(make([]byte, 1)); k > 0 || err != io.EOF {
			if err == nil {
				err = errors.New("data after the NAR")
			}
			return fmt.Errorf("after the NAR: %w", err)
		}
		rest := io.Reader(file)
		if n.FileSize > 0 {
			rest = io.LimitReader(file, n.FileSize-file.n+1) // not gigabytes appended
		}
		if _, err := io.Copy(io.Discard, rest); err != nil {
			return err
		}
		if n.FileSize > 0 && file.n != n.FileSize {
			return fmt.Errorf("%w: %s has %d bytes, the narinfo says %d", store.ErrHashMismatch, n.URL, file.n, n.FileSize)
		}
		if got := store.FormatHash(file.h.Sum(nil)); n.FileHash != "" && got != n.FileHash {
			return fmt.Errorf("%w: %s hashes to %s, the narinfo says %s", store.ErrHashMismatch, n.URL, got, n.FileHash)
		}
		return nil
	}
	err = st.Import(ctx, nar, store.Import{Path: p, Refs: n.References, NarHash: n.NarHash, NarSize: n.NarSize, Finish: finish})
	if err != nil {
		return fail(errors.Unwrap(err)) // Import's "import:" says nothing here
	}
	return file.n, nil
}

// cacheCheck reads each cache's nix-cache-info once, and skips caches
// that cannot be used.
type cacheCheck struct {
	caches []*Cache
	mu     sync.Mutex
	once   []sync.Once
	bad    []error
}

func newCacheCheck(caches []*Cache) *cacheCheck {
	return &cacheCheck{caches: caches, once: make([]sync.Once, len(caches)), bad: make([]error, len(caches))}
}

func (cc *cacheCheck) usable(ctx context.Context, i int) error {
	cc.once[i].Do(func() {
		_, err := cc.caches[i].Info(ctx)
		cc.mu.Lock()
		cc.bad[i] = err
		cc.mu.Unlock()
	})
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.bad[i]
}

func (cc *cacheCheck) problems() []error {
	var out []error
	for _, err := range cc.bad {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// lookup asks the caches in order for p's narinfo and checks it.
func (cc *cacheCheck) lookup(ctx context.Context, p store.Path, trusted []PublicKey) *lookup {
	l := &lookup{}
	var refusals []string
	for i, c := range cc.caches {
		if cc.usable(ctx, i) != nil {
			continue
		}
		n, err := c.NarInfo(ctx, p)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case ctx.Err() != nil:
			return &lookup{err: ctx.Err()}
		case err != nil && !errors.Is(err, ErrBadNarInfo):
			// The cache could not answer: another may.
			l.problems = append(l.problems, err)
			continue
		case err == nil:
			if verr := n.Verify(trusted); verr != nil {
				err = fmt.Errorf("refused from %s: %w", c.URL, verr)
			}
		}
		if err != nil {
			refusals = append(refusals, err.Error())
			l.problems = append(l.problems, fmt.Errorf("%s: %w", p, err))
			continue
		}
		l.fetch = &Fetch{Path: p, Cache: c, Info: n}
		return l
	}
	if len(refusals) > 0 {
		l.err = fmt.Errorf("substitute %s: %s", p, strings.Join(refusals, "; "))
		l.problems = nil
	}
	return l
}

// errReader says where a read error came from.
type errReader struct {
	r    io.Reader
	what string
}

func (e errReader) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", e.what, err)
	}
	return n, err
}

// capReader passes at most left bytes and fails if the stream has more.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(b []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if _, err := io.ReadAtLeast(c.r, one[:], 1); err != nil {
			return 0, err // io.EOF: the end, where it should be
		}
		return 0, fmt.Errorf("%w: more bytes than the narinfo's NarSize", store.ErrHashMismatch)
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	k, err := c.r.Read(b)
	c.left -= int64(k)
	return k, err
}
