package debian

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kiln-os/kiln/internal/parallel"
)

// ErrNotOnMirror reports locked packages the mirror no longer carries.
var ErrNotOnMirror = errors.New("not on the mirror")

// FetchOptions say where .debs come from and go to.
type FetchOptions struct {
	Mirror *Mirror // nil: no mirror (Debs must have every .deb)
	// Debs, when set, is asked for each .deb before the mirror: a binary
	// cache (cache.DebSource), so that a machine without a Debian mirror
	// can realize a lock. Its bytes are checked against the lock like the
	// mirror's; a .deb it lacks comes from the mirror.
	Debs     DebSource
	Client   *http.Client // nil: http.DefaultClient
	CacheDir string       // .debs are kept in CacheDir/debs/<sha256>.deb
	Jobs     int          // parallel downloads and unpacks; 0: 6
	// Progress, when set, is called (serialized) as bytes arrive and as
	// packages finish.
	Progress func(Progress)
	// Unpack unpacks the .debs (its zero value in kiln; tests set hooks).
	Unpack Unpacker
	// Documentation makes Realize also restore documentation outputs
	// (DocStorePath) that a collection removed while their main output
	// stayed; a fresh unpack always makes both.
	Documentation bool
}

// DebSource supplies .deb files by the sha256 a lock pins.
type DebSource interface {
	// OpenDeb opens the .deb with this sha256 (hex). When the source does
	// not have it, the error wraps fs.ErrNotExist.
	OpenDeb(ctx context.Context, sha256 string) (io.ReadCloser, error)
	String() string
}

// errNoSource reports a .deb that neither the DebSource nor a mirror has.
var errNoSource = errors.New("no mirror is set")

// Progress is a snapshot of a Fetch or Realize.
type Progress struct {
	BytesDone, BytesTotal int64 // of the downloads needed
	Done, Total           int   // packages finished (fetched, or realized)
	Package               string
}

func (o *FetchOptions) jobs() int {
	if o.Jobs > 0 {
		return o.Jobs
	}
	return 6
}

// DebFile returns where the cache keeps the .deb of p.
func (o *FetchOptions) DebFile(p LockedPackage) string {
	return filepath.Join(o.CacheDir, "debs", p.SHA256+".deb")
}

// cached reports whether p's .deb is in the cache with its size. Its
// sha256 is checked again when it is unpacked.
func (o *FetchOptions) cached(p LockedPackage) bool {
	st, err := os.Stat(o.DebFile(p))
	return err == nil && st.Mode().IsRegular() && st.Size() == p.Size
}

// progress serializes callbacks and keeps the totals.
type progress struct {
	mu sync.Mutex
	p  Progress
	fn func(Progress)
}

func (pr *progress) add(bytes int64, done int, pkg string) {
	if pr == nil || pr.fn == nil {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.p.BytesDone += bytes
	pr.p.Done += done
	pr.p.Package = pkg
	pr.fn(pr.p)
}

// Fetch puts the .deb of every given locked package into the cache,
// downloading what is missing, Jobs at a time. Every package is tried;
// those the mirror lacks are reported together (ErrNotOnMirror).
func Fetch(ctx context.Context, pkgs []LockedPackage, opts FetchOptions) error {
	pr := &progress{fn: opts.Progress}
	var need []LockedPackage
	for _, p := range pkgs {
		if !opts.cached(p) {
			need = append(need, p)
			pr.p.BytesTotal += p.Size
		}
	}
	pr.p.Total = len(need)
	errs := parallel.Do(len(need), opts.jobs(), func(i int) error {
		err := downloadRetry(ctx, need[i], &opts, pr)
		pr.add(0, 1, need[i].Name)
		return err
	})
	return joinFetchErrors(need, errs)
}

// joinFetchErrors reports missing packages in one message with the way
// out, then any other failures.
func joinFetchErrors(pkgs []LockedPackage, errs []error) error {
	var missing []string
	var other []error
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, errNotFound):
			missing = append(missing, pkgs[i].Name+" "+pkgs[i].Version)
		default:
			other = append(other, err)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		other = append([]error{fmt.Errorf("%w: %s (the lock pins versions the mirror no longer serves: run 'kiln lock --update', or use a snapshot mirror with --mirror)",
			ErrNotOnMirror, strings.Join(missing, ", "))}, other...)
	}
	return errors.Join(other...)
}

// downloadRetry tries a download up to three times when the transport
// fails (connection reset, 5xx); a 404 or a digest mismatch is final.
func downloadRetry(ctx context.Context, p LockedPackage, o *FetchOptions, pr *progress) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		var got int64
		err = download(ctx, p, o, pr, &got)
		if err == nil || errors.Is(err, errNotFound) || errors.Is(err, ErrDigestMismatch) || errors.Is(err, errNoSource) || ctx.Err() != nil {
			return err
		}
		pr.add(-got, 0, p.Name) // the retry counts its bytes again
	}
	return err
}

// download fetches one .deb into the cache: temp file, size and sha256
// checked, fsync, rename. Nothing is cached when a check fails.
func download(ctx context.Context, p LockedPackage, o *FetchOptions, pr *progress, got *int64) error {
	body, from, err := o.open(ctx, p)
	if err != nil {
		return fmt.Errorf("fetch %s %s: %w", p.Name, p.Version, err)
	}
	defer body.Close()
	if err := save(p, o, body, pr, got); err != nil {
		if from != "" {
			return fmt.Errorf("%w (from %s)", err, from)
		}
		return err
	}
	return nil
}

// open opens p's .deb from o.Debs, else from the mirror. from names the
// source when it is not the mirror.
func (o *FetchOptions) open(ctx context.Context, p LockedPackage) (body io.ReadCloser, from string, err error) {
	var srcErr error
	if o.Debs != nil {
		body, srcErr = o.Debs.OpenDeb(ctx, p.SHA256)
		if srcErr == nil {
			return body, o.Debs.String(), nil
		}
	}
	if o.Mirror == nil {
		if srcErr != nil && !errors.Is(srcErr, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("%w, and %v", errNoSource, srcErr)
		}
		return nil, "", fmt.Errorf("%w and no cache has sha256 %s", errNoSource, p.SHA256)
	}
	body, err = openURL(ctx, o.Client, o.Mirror.Root(p.Suite)+"/"+p.Filename)
	if err != nil && srcErr != nil && !errors.Is(srcErr, fs.ErrNotExist) {
		err = fmt.Errorf("%w (and %s: %v)", err, o.Debs, srcErr)
	}
	return body, "", err
}

// save writes body into the cache as p's .deb.
func save(p LockedPackage, o *FetchOptions, body io.Reader, pr *progress, got *int64) error {
	dst := o.DebFile(p)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("fetch %s: %w", p.Name, err)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".tmp-"+p.SHA256+"-*")
	if err != nil {
		return fmt.Errorf("fetch %s: %w", p.Name, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename, a no-op
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h, progressWriter{pr, p.Name, got}), io.LimitReader(body, p.Size+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fetch %s %s: %w", p.Name, p.Version, err)
	}
	if n != p.Size {
		return fmt.Errorf("fetch %s %s: %w: got %d bytes, the lock says %d (truncated or changed download)", p.Name, p.Version, ErrDigestMismatch, n, p.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
		return fmt.Errorf("fetch %s %s: %w: sha256 %s, the lock says %s (tampered or changed download)", p.Name, p.Version, ErrDigestMismatch, got, p.SHA256)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("fetch %s: %w", p.Name, err)
	}
	return nil
}

type progressWriter struct {
	pr    *progress
	name  string
	count *int64
}

func (w progressWriter) Write(b []byte) (int, error) {
	*w.count += int64(len(b))
	w.pr.add(int64(len(b)), 0, w.name)
	return len(b), nil
}

func removeQuiet(name string) { _ = os.Remove(name) }
