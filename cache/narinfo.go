package cache

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/store"
)

// NarInfo is what a cache says about one store path: <hash>.narinfo,
// in Nix's format (a "Key: value" line each):
//
//	StorePath: /kiln/store/<hash>-<name>
//	URL: nar/<file hash>.nar.zst          (relative to the cache)
//	Compression: zstd                     (or none)
//	FileHash: sha256:<nix32>              (of the file at URL)
//	FileSize: <bytes>
//	NarHash: sha256:<nix32>               (of the NAR, as the store records it)
//	NarSize: <bytes>
//	References: <hash>-<name> ...         (base names, sorted)
//	Sig: <key name>:<base64>              (one line per signature)
//
// Only StorePath, NarHash, NarSize and References are signed (see
// Fingerprint): a changed URL or FileHash leads at worst to a download
// that fails the NAR hash check. Fields kiln does not know (Nix's Deriver,
// System, CA) are ignored.
type NarInfo struct {
	StorePath   store.Path
	URL         string
	Compression string
	FileHash    string
	FileSize    int64
	NarHash     string
	NarSize     int64
	References  []store.Path
	Sigs        []string
}

// Compressions this cache reads and writes.
const (
	CompressionZstd = "zstd"
	CompressionNone = "none"
)

// narInfoKey is the object name of p's narinfo.
func narInfoKey(p store.Path) string { return p.Hash() + ".narinfo" }

// Fingerprint is the text a signature covers, as Nix defines it:
// "1;<store path>;<nar hash>;<nar size>;<references, full paths, sorted,
// comma-separated>".
func (n *NarInfo) Fingerprint() string {
	refs := make([]string, len(n.References))
	for i, r := range sortedRefs(n.References) {
		refs[i] = r.String()
	}
	return fingerprint(n.StorePath.String(), n.NarHash, n.NarSize, refs)
}

func fingerprint(path, narHash string, narSize int64, refs []string) string {
	return "1;" + path + ";" + narHash + ";" + strconv.FormatInt(narSize, 10) + ";" + strings.Join(refs, ",")
}

func sortedRefs(refs []store.Path) []store.Path {
	out := slices.Clone(refs)
	slices.SortFunc(out, func(a, b store.Path) int { return strings.Compare(a.Base(), b.Base()) })
	return slices.Compact(out)
}

// Sign adds k's signature, replacing an earlier one of the same key.
func (n *NarInfo) Sign(k SecretKey) {
	n.Sigs = slices.DeleteFunc(n.Sigs, func(s string) bool { return strings.HasPrefix(s, k.Name+":") })
	n.Sigs = append(n.Sigs, k.Sign(n.Fingerprint()))
}

// Verify checks that a key of trusted signed n as it is.
func (n *NarInfo) Verify(trusted []PublicKey) error {
	return verify(n.Fingerprint(), n.Sigs, trusted)
}

// Marshal returns the narinfo's text, fields in Nix's order.
func (n *NarInfo) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "StorePath: %s\n", n.StorePath)
	fmt.Fprintf(&b, "URL: %s\n", n.URL)
	fmt.Fprintf(&b, "Compression: %s\n", n.Compression)
	if n.FileHash != "" {
		fmt.Fprintf(&b, "FileHash: %s\nFileSize: %d\n", n.FileHash, n.FileSize)
	}
	fmt.Fprintf(&b, "NarHash: %s\nNarSize: %d\n", n.NarHash, n.NarSize)
	refs := make([]string, 0, len(n.References))
	for _, r := range sortedRefs(n.References) {
		refs = append(refs, r.Base())
	}
	fmt.Fprintf(&b, "References: %s\n", strings.Join(refs, " "))
	for _, s := range n.Sigs {
		fmt.Fprintf(&b, "Sig: %s\n", s)
	}
	return b.Bytes()
}

// maxNarInfo bounds a narinfo (a path with thousands of references is
// some hundred KiB).
const maxNarInfo = 4 << 20

// ParseNarInfo reads a narinfo; whence names it in errors (the cache and
// object). It checks the form of every field kiln uses, not signatures.
func ParseNarInfo(data []byte, whence string) (*NarInfo, error) {
	if len(data) > maxNarInfo {
		return nil, fmt.Errorf("narinfo %s: %d bytes, more than %d", whence, len(data), maxNarInfo)
	}
	n := &NarInfo{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), maxNarInfo)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		key, value, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("narinfo %s:%d: %q is not Key: value", whence, line, text)
		}
		value = strings.TrimSpace(value)
		if key != "Sig" && seen[key] {
			return nil, fmt.Errorf("narinfo %s:%d: %s given twice", whence, line, key)
		}
		seen[key] = true
		if err := n.set(key, value); err != nil {
			return nil, fmt.Errorf("narinfo %s:%d: %s: %w", whence, line, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("narinfo %s: %w", whence, err)
	}
	for _, k := range []string{"StorePath", "URL", "NarHash", "NarSize"} {
		if !seen[k] {
			return nil, fmt.Errorf("narinfo %s: no %s", whence, k)
		}
	}
	if n.Compression == "" {
		n.Compression = "bzip2" // Nix's default when the field is absent
	}
	return n, nil
}

func (n *NarInfo) set(key, value string) error {
	var err error
	switch key {
	case "StorePath":
		n.StorePath, err = store.ParsePath(value)
		if err == nil && !strings.HasPrefix(value, store.LogicalDir+"/") {
			err = fmt.Errorf("%s is not under %s", value, store.LogicalDir)
		}
	case "URL":
		if value == "" || strings.HasPrefix(value, "/") || strings.Contains(value, "..") || strings.Contains(value, "://") {
			return fmt.Errorf("%q is not a path relative to the cache", value)
		}
		n.URL = value
	case "Compression":
		n.Compression = value
	case "FileHash":
		n.FileHash, err = value, store.CheckHash(value)
	case "NarHash":
		n.NarHash, err = value, store.CheckHash(value)
	case "FileSize":
		n.FileSize, err = parseSize(value)
	case "NarSize":
		n.NarSize, err = parseSize(value)
	case "References":
		for _, f := range strings.Fields(value) {
			r, perr := store.ParsePath(f)
			if perr != nil || strings.Contains(f, "/") {
				return fmt.Errorf("%q is not a store path's base name", f)
			}
			n.References = append(n.References, r)
		}
	case "Sig":
		if name, _, ok := strings.Cut(value, ":"); !ok || name == "" {
			return fmt.Errorf("%q is not NAME:BASE64", value)
		}
		n.Sigs = append(n.Sigs, value)
	}
	return err
}

func parseSize(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive number of bytes", s)
	}
	return n, nil
}
