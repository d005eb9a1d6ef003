package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// LogicalDir is where store paths live on a kiln system. Contents always
// refer to this directory, wherever the store is physically kept.
const LogicalDir = "/kiln/store"

// HashLen is the length of the hash part of a store path's base name.
const HashLen = 32

// nix32Alphabet is Nix's base-32 alphabet (no e, o, u, t).
const nix32Alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

// ErrInvalidPath reports a string that is not a store path.
var ErrInvalidPath = errors.New("invalid store path")

// Path is a validated store path: a 32-character nix32 hash and a name.
// The zero Path is not valid; use IsZero to test for it.
type Path struct {
	hash string
	name string
}

// ParsePath accepts "/kiln/store/<hash>-<name>" or "<hash>-<name>".
func ParsePath(s string) (Path, error) {
	base := strings.TrimPrefix(s, LogicalDir+"/")
	if strings.Contains(base, "/") {
		return Path{}, fmt.Errorf("%w %q: not directly under %s", ErrInvalidPath, s, LogicalDir)
	}
	if len(base) < HashLen+2 || base[HashLen] != '-' {
		return Path{}, fmt.Errorf("%w %q: want <hash>-<name>", ErrInvalidPath, s)
	}
	p := Path{hash: base[:HashLen], name: base[HashLen+1:]}
	for _, c := range p.hash {
		if !strings.ContainsRune(nix32Alphabet, c) {
			return Path{}, fmt.Errorf("%w %q: hash has character %q", ErrInvalidPath, s, c)
		}
	}
	if err := ValidateName(p.name); err != nil {
		return Path{}, fmt.Errorf("%w %q: %v", ErrInvalidPath, s, err)
	}
	return p, nil
}

// ValidateName checks a store path name: 1–211 characters of
// [A-Za-z0-9+._?=-], not starting with a dot.
func ValidateName(name string) error {
	if name == "" || len(name) > 211 {
		return fmt.Errorf("name %q must have 1 to 211 characters", name)
	}
	if name[0] == '.' {
		return fmt.Errorf("name %q starts with a dot", name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+-._?=", c)
		if !ok {
			return fmt.Errorf("name %q has character %q", name, c)
		}
	}
	return nil
}

// String returns the logical path, /kiln/store/<hash>-<name>.
func (p Path) String() string { return LogicalDir + "/" + p.Base() }

// Base returns <hash>-<name>.
func (p Path) Base() string { return p.hash + "-" + p.name }

// Hash returns the 32-character hash part.
func (p Path) Hash() string { return p.hash }

// Name returns the name part.
func (p Path) Name() string { return p.name }

// IsZero reports whether p is the zero Path.
func (p Path) IsZero() bool { return p.hash == "" }

// MarshalText implements encoding.TextMarshaler (the logical path).
func (p Path) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Path) UnmarshalText(b []byte) error {
	q, err := ParsePath(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// Key accumulates everything that determines a store path's content. Two
// builds with equal keys must produce equal contents. Fields are written
// length-prefixed, so ("ab","c") and ("a","bc") differ.
type Key struct {
	b strings.Builder
}

// NewKey starts a key for a builder, named with its version, e.g. "etc/3".
// Bump the version whenever the builder's output changes for equal inputs.
func NewKey(builder string) *Key {
	k := &Key{}
	return k.Add("builder", builder)
}

// Add records a named parameter.
func (k *Key) Add(field, value string) *Key {
	fmt.Fprintf(&k.b, "%d:%s=%d:%s;", len(field), field, len(value), value)
	return k
}

// AddPath records an input store path.
func (k *Key) AddPath(field string, p Path) *Key { return k.Add(field, p.String()) }

// Path returns the store path with this key and name.
func (k *Key) Path(name string) (Path, error) {
	if err := ValidateName(name); err != nil {
		return Path{}, err
	}
	sum := sha256.Sum256([]byte(k.b.String() + "name=" + name))
	return Path{hash: nix32(fold(sum[:], 20)), name: name}, nil
}

// FixedPath returns the store path of fixed-output content identified by
// its sha256 (hex), e.g. a .deb's data unpacked: the hash alone names it.
func FixedPath(kind, sha256hex, name string) (Path, error) {
	return NewKey("fixed:"+kind).Add("sha256", sha256hex).Path(name)
}

// fold XORs b down to n bytes, as Nix's compressHash does.
func fold(b []byte, n int) []byte {
	out := make([]byte, n)
	for i, c := range b {
		out[i%n] ^= c
	}
	return out
}

// nix32 encodes b the way Nix prints base-32 hashes (least significant
// 5-bit group of the last byte first).
func nix32(b []byte) string {
	n := (len(b)*8 + 4) / 5
	out := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		bit := uint(i * 5)
		j, k := bit/8, bit%8
		c := b[j] >> k
		if int(j)+1 < len(b) {
			c |= b[j+1] << (8 - k)
		}
		out[n-1-i] = nix32Alphabet[c&0x1f]
	}
	return string(out)
}

// FormatHash prints a SHA-256 digest as store records and NAR hashes do:
// "sha256:<nix32>".
func FormatHash(sum []byte) string { return "sha256:" + nix32(sum) }

// CheckHash reports whether s is a SHA-256 digest in the form FormatHash
// prints.
func CheckHash(s string) error {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 52 {
		return fmt.Errorf("hash %q is not sha256:<52 nix32 characters>", s)
	}
	for _, c := range h {
		if !strings.ContainsRune(nix32Alphabet, c) {
			return fmt.Errorf("hash %q has character %q", s, c)
		}
	}
	return nil
}
