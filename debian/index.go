package debian

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// Package is one stanza of a Packages index, with the fields kiln uses.
// Relation fields are kept as text and parsed when the resolver needs them.
type Package struct {
	Name         string
	Version      string
	Architecture string
	Essential    bool
	PreDepends   string
	Recommends   string
	Depends      string
	Provides     string
	Conflicts    string
	Breaks       string
	Filename     string // pool path, relative to the archive root
	Size         int64
	SHA256       string
	Suite        string // the suite whose index listed it
	// For kiln search and show: the short description (its first line),
	// Installed-Size in KiB, Section.
	Description   string
	InstalledSize int64
	Section       string
}

// Input describes one suite as locked: what was asked for (Original) and
// what the mirror served (Locked).
type Input struct {
	Original Original `json:"original"`
	Locked   Locked   `json:"locked"`
}

// Original is what an input asks for.
type Original struct {
	Suite      string   `json:"suite"`
	Components []string `json:"components"`
	Arch       string   `json:"arch"`
}

// Locked pins an input to the bytes the mirror served.
type Locked struct {
	InReleaseSHA256 string            `json:"inrelease_sha256"`
	PackagesSHA256  map[string]string `json:"packages_sha256"` // per component
	Date            string            `json:"date"`            // InRelease Date, RFC 3339
}

// DefaultSuites are the suites a bookworm system is resolved from.
var DefaultSuites = []string{"bookworm", "bookworm-updates", "bookworm-security"}

// Archive reads verified indices from a mirror.
type Archive struct {
	Mirror     *Mirror
	Keyring    openpgp.KeyRing
	Client     *http.Client // nil: http.DefaultClient
	CacheDir   string       // indices are cached in CacheDir/indices/<sha256>
	Suites     []string     // nil: DefaultSuites
	Components []string     // nil: main
	Arch       string       // "": amd64
	Now        func() time.Time
	Warnf      func(format string, a ...any) // nil: warnings dropped
}

func (a *Archive) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Archive) warnf(format string, args ...any) {
	if a.Warnf != nil {
		a.Warnf(format, args...)
	}
}

// Load fetches and verifies each suite's InRelease, fetches the Packages
// index of each component (from the cache when its digest is already
// there), checks it against InRelease and parses it.
func (a *Archive) Load(ctx context.Context) (*Universe, map[string]Input, error) {
	suites, comps, arch := a.Suites, a.Components, a.Arch
	if suites == nil {
		suites = DefaultSuites
	}
	if comps == nil {
		comps = []string{"main"}
	}
	if arch == "" {
		arch = "amd64"
	}
	// Suites are fetched and parsed in parallel, then merged in order so
	// that the result does not depend on timing.
	type loaded struct {
		in   Input
		pkgs [][]*Package
		err  error
	}
	results := make([]loaded, len(suites))
	var wg sync.WaitGroup
	for i, suite := range suites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, pkgs, err := a.loadSuite(ctx, suite, comps, arch)
			results[i] = loaded{in, pkgs, err}
		}()
	}
	wg.Wait()
	u := newUniverse()
	inputs := map[string]Input{}
	for i, r := range results {
		if r.err != nil {
			return nil, nil, r.err
		}
		for _, pkgs := range r.pkgs {
			u.add(pkgs)
		}
		inputs[suites[i]] = r.in
	}
	return u, inputs, nil
}

// loadSuite fetches and verifies one suite's InRelease and the Packages
// index of each component.
func (a *Archive) loadSuite(ctx context.Context, suite string, comps []string, arch string) (Input, [][]*Package, error) {
	rel, err := fetchRelease(ctx, a.Client, a.Mirror.Root(suite), suite, a.Keyring, a.now())
	if err != nil {
		return Input{}, nil, err
	}
	if !rel.ValidUntil.IsZero() && a.now().After(rel.ValidUntil) {
		a.warnf("InRelease of %s expired on %s (Valid-Until); locking it anyway", suite, rel.ValidUntil.Format(time.RFC3339))
	}
	in := Input{
		Original: Original{Suite: suite, Components: comps, Arch: arch},
		Locked:   Locked{InReleaseSHA256: rel.SHA256, PackagesSHA256: map[string]string{}, Date: rel.Date.Format(time.RFC3339)},
	}
	var all [][]*Package
	for _, comp := range comps {
		data, sum, err := a.packagesIndex(ctx, rel, comp, arch)
		if err != nil {
			return Input{}, nil, err
		}
		in.Locked.PackagesSHA256[comp] = sum
		pkgs, err := ParsePackages(data, suite)
		if err != nil {
			return Input{}, nil, fmt.Errorf("parse Packages of %s/%s: %w", suite, comp, err)
		}
		all = append(all, pkgs)
	}
	return in, all, nil
}

// packagesIndex returns the uncompressed Packages index of one component
// and the sha256 of the file fetched (as listed in InRelease).
func (a *Archive) packagesIndex(ctx context.Context, rel *Release, comp, arch string) ([]byte, string, error) {
	base := comp + "/binary-" + arch + "/Packages"
	for _, ext := range []string{".xz", ".gz", ""} {
		dg, ok := rel.Files[base+ext]
		if !ok {
			continue
		}
		raw, err := a.cachedGet(ctx, rel.Root+"/dists/"+rel.Suite+"/"+base+ext, dg)
		if err != nil {
			return nil, "", fmt.Errorf("fetch %s of %s: %w", base+ext, rel.Suite, err)
		}
		data, err := decompress(raw, ext)
		if err != nil {
			return nil, "", fmt.Errorf("decompress %s of %s: %w", base+ext, rel.Suite, err)
		}
		return data, dg.SHA256, nil
	}
	return nil, "", fmt.Errorf("InRelease of %s lists no %s", rel.Suite, base)
}

// cachedGet returns the bytes with digest dg: from the cache if present
// and intact, else downloaded, checked and cached.
func (a *Archive) cachedGet(ctx context.Context, u string, dg FileDigest) ([]byte, error) {
	var cached string
	if a.CacheDir != "" {
		cached = filepath.Join(a.CacheDir, "indices", dg.SHA256)
		if data, err := os.ReadFile(cached); err == nil && sha256Hex(data) == dg.SHA256 {
			return data, nil
		}
	}
	data, err := httpGet(ctx, a.Client, u, 1<<30)
	if err != nil {
		return nil, err
	}
	if got := sha256Hex(data); got != dg.SHA256 || int64(len(data)) != dg.Size {
		return nil, fmt.Errorf("%w: %s has sha256 %s and %d bytes, InRelease says %s and %d bytes",
			ErrDigestMismatch, u, got, len(data), dg.SHA256, dg.Size)
	}
	if cached != "" {
		if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
			a.warnf("cache index: %v", err)
		} else if err := fsutil.WriteFile(cached, data, 0o644); err != nil {
			a.warnf("cache index: %v", err)
		}
	}
	return data, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ParsePackages parses a Packages index. It reads only the fields kiln
// uses and is written for speed: bookworm's main index has ~64k stanzas.
func ParsePackages(data []byte, suite string) ([]*Package, error) {
	var out []*Package
	p := &Package{Suite: suite}
	var field *string
	line := 0
	flush := func() error {
		if p.Name == "" {
			return nil
		}
		if p.Version == "" || p.Filename == "" || p.SHA256 == "" {
			return fmt.Errorf("stanza of %s ending at line %d lacks Version, Filename or SHA256", p.Name, line)
		}
		out = append(out, p)
		p = &Package{Suite: suite}
		return nil
	}
	for len(data) > 0 {
		line++
		i := bytes.IndexByte(data, '\n')
		var l []byte
		if i < 0 {
			l, data = data, nil
		} else {
			l, data = data[:i], data[i+1:]
		}
		if len(l) == 0 {
			if err := flush(); err != nil {
				return nil, err
			}
			field = nil
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			if field != nil {
				*field += " " + string(bytes.TrimSpace(l))
			}
			continue
		}
		c := bytes.IndexByte(l, ':')
		if c < 0 {
			return nil, fmt.Errorf("line %d: no field name", line)
		}
		val := string(bytes.TrimSpace(l[c+1:]))
		field = nil
		switch string(l[:c]) {
		case "Package":
			p.Name = val
		case "Version":
			p.Version = val
		case "Architecture":
			p.Architecture = val
		case "Essential":
			p.Essential = val == "yes"
		case "Pre-Depends":
			p.PreDepends, field = val, &p.PreDepends
		case "Depends":
			p.Depends, field = val, &p.Depends
		case "Recommends":
			p.Recommends, field = val, &p.Recommends
		case "Provides":
			p.Provides, field = val, &p.Provides
		case "Conflicts":
			p.Conflicts, field = val, &p.Conflicts
		case "Breaks":
			p.Breaks, field = val, &p.Breaks
		case "Filename":
			p.Filename = val
		case "SHA256":
			p.SHA256 = val
		case "Description":
			p.Description = val // continuation lines (the long text) are skipped
		case "Section":
			p.Section = val
		case "Installed-Size":
			if n, err := strconv.ParseInt(val, 10, 64); err == nil {
				p.InstalledSize = n
			}
		case "Size":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: Size: %w", line, err)
			}
			p.Size = n
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
