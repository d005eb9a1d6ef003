package debian

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// DefaultKeyring is the Debian archive keyring of a Debian host.
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// ErrBadSignature reports an InRelease whose signature is missing or does
// not verify against the keyring.
var ErrBadSignature = errors.New("bad InRelease signature")

// ErrDigestMismatch reports downloaded bytes that differ from their digest.
var ErrDigestMismatch = errors.New("digest mismatch")

// ReadKeyring reads an OpenPGP keyring, binary or ASCII-armored.
func ReadKeyring(file string) (openpgp.EntityList, error) {
	data, err := fsutil.ReadRegular(file, 64<<20) // --keyring names it
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	var kr openpgp.EntityList
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		kr, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		kr, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("read keyring %s: %w", file, err)
	}
	return kr, nil
}

// Release is a verified InRelease file.
type Release struct {
	Suite      string
	Root       string // archive root URL it was fetched from
	SHA256     string // of the whole InRelease file, as locked
	Date       time.Time
	ValidUntil time.Time // zero when absent
	// Files maps a path below dists/<suite>/ to its sha256 and size.
	Files map[string]FileDigest
}

// FileDigest is one entry of a Release file's SHA256 list.
type FileDigest struct {
	SHA256 string
	Size   int64
}

// fetchRelease downloads dists/<suite>/InRelease from root and verifies
// its clearsigned signature against keyring. Only the signed text is
// parsed, so nothing outside the signature can sneak in.
func fetchRelease(ctx context.Context, c *http.Client, root, suite string, keyring openpgp.KeyRing, now time.Time) (*Release, error) {
	u := root + "/dists/" + suite + "/InRelease"
	data, err := httpGet(ctx, c, u, 64<<20)
	if err != nil {
		return nil, fmt.Errorf("fetch InRelease of %s: %w", suite, err)
	}
	rel, err := verifyRelease(data, keyring, now)
	if err != nil {
		return nil, fmt.Errorf("InRelease of %s: %w", suite, err)
	}
	rel.Suite, rel.Root = suite, root
	return rel, nil
}

// verifyRelease checks the signature of an InRelease file and parses its
// signed text.
func verifyRelease(data []byte, keyring openpgp.KeyRing, now time.Time) (*Release, error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: not a clearsigned message", ErrBadSignature)
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	if _, err := block.VerifySignature(keyring, cfg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	rel, err := parseRelease(block.Plaintext)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	rel.SHA256 = hex.EncodeToString(sum[:])
	return rel, nil
}

func parseRelease(text []byte) (*Release, error) {
	st := parseStanzas(string(text))
	if len(st) == 0 {
		return nil, errors.New("parse release: empty")
	}
	f := st[0]
	rel := &Release{Files: map[string]FileDigest{}}
	var err error
	if rel.Date, err = parseReleaseTime(f["Date"]); err != nil {
		return nil, fmt.Errorf("parse release: Date: %w", err)
	}
	if v := f["Valid-Until"]; v != "" {
		if rel.ValidUntil, err = parseReleaseTime(v); err != nil {
			return nil, fmt.Errorf("parse release: Valid-Until: %w", err)
		}
	}
	for _, line := range strings.Split(f["SHA256"], "\n") {
		fs := strings.Fields(line)
		if len(fs) != 3 {
			continue
		}
		size, err := strconv.ParseInt(fs[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse release: SHA256 line %q: %w", line, err)
		}
		rel.Files[fs[2]] = FileDigest{SHA256: fs[0], Size: size}
	}
	if len(rel.Files) == 0 {
		return nil, errors.New("parse release: no SHA256 file list")
	}
	return rel, nil
}

func parseReleaseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123Z, time.RFC1123, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", s)
}

// errNotFound marks a 404 from the mirror.
var errNotFound = errors.New("not found on the mirror")

// httpGet reads a whole URL (http, https or file) of at most max bytes.
func httpGet(ctx context.Context, c *http.Client, u string, max int64) ([]byte, error) {
	body, err := openURL(ctx, c, u)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("read %s: larger than %d bytes", u, max)
	}
	return data, nil
}

// openURL opens a URL for reading; 404 (or a missing file) wraps errNotFound.
func openURL(ctx context.Context, c *http.Client, u string) (io.ReadCloser, error) {
	if strings.HasPrefix(u, "file:") {
		p, err := url.Parse(u)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(p.Path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", u, errNotFound)
		}
		return f, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w", u, errNotFound)
	case resp.StatusCode != http.StatusOK:
		resp.Body.Close()
		return nil, fmt.Errorf("get %s: %s", u, resp.Status)
	}
	return resp.Body, nil
}
