package cache

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// Keys and signatures use Nix's text forms, so that a key made by
// `nix-store --generate-binary-cache-key` signs for kiln and the other way
// round:
//
//	secret key  NAME:base64(64-byte ed25519 private key: seed, then public key)
//	public key  NAME:base64(32-byte ed25519 public key)
//	signature   NAME:base64(64-byte ed25519 signature)
//
// NAME (say "cache.example.org-1") says which public key checks a
// signature; rotating a key means a new NAME.

// Errors of signature checks, for errors.Is.
var (
	ErrUnsigned      = errors.New("not signed")
	ErrUntrusted     = errors.New("signed by no trusted key")
	ErrBadSignature  = errors.New("bad signature")
	errKeyFileFormat = errors.New("not a key")
)

// SecretKey signs narinfos. Its String hides the key material; Encode
// gives the text form that NAME.secret holds.
type SecretKey struct {
	Name string
	key  ed25519.PrivateKey
}

// PublicKey checks signatures made by the SecretKey of the same name.
type PublicKey struct {
	Name string
	key  ed25519.PublicKey
}

// GenerateKey makes a new key pair from rand (crypto/rand.Reader outside
// tests).
func GenerateKey(name string, rand io.Reader) (SecretKey, error) {
	if err := checkKeyName(name); err != nil {
		return SecretKey{}, err
	}
	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return SecretKey{}, fmt.Errorf("generate key %s: %w", name, err)
	}
	return SecretKey{Name: name, key: priv}, nil
}

// checkKeyName accepts what Nix's key names are in practice: no colon (it
// ends the name), no white space, not empty.
func checkKeyName(name string) error {
	if name == "" || strings.ContainsAny(name, ": \t\r\n") {
		return fmt.Errorf("key name %q: want a non-empty name without colons or spaces, e.g. cache.example.org-1", name)
	}
	return nil
}

// splitKey splits NAME:BASE64 and decodes the payload.
func splitKey(s string, want int, what string) (string, []byte, error) {
	s = strings.TrimSpace(s)
	name, payload, ok := strings.Cut(s, ":")
	if !ok || name == "" || payload == "" {
		return "", nil, fmt.Errorf("%w: want %s as NAME:BASE64", errKeyFileFormat, what)
	}
	if err := checkKeyName(name); err != nil {
		return "", nil, fmt.Errorf("%w: %v", errKeyFileFormat, err)
	}
	b, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s %q: %v", errKeyFileFormat, what, name, err)
	}
	if len(b) != want {
		return "", nil, fmt.Errorf("%w: %s %q has %d bytes, want %d", errKeyFileFormat, what, name, len(b), want)
	}
	return name, b, nil
}

// ParseSecretKey reads a secret key's text form.
func ParseSecretKey(s string) (SecretKey, error) {
	name, b, err := splitKey(s, ed25519.PrivateKeySize, "secret key")
	if err != nil {
		return SecretKey{}, err
	}
	k := SecretKey{Name: name, key: ed25519.PrivateKey(b)}
	// The last 32 bytes are the public key: they must be the seed's.
	if derived := ed25519.NewKeyFromSeed(k.key.Seed()); !derived.Equal(k.key) {
		return SecretKey{}, fmt.Errorf("%w: secret key %q: its public half does not belong to its seed", errKeyFileFormat, name)
	}
	return k, nil
}

// ParsePublicKey reads a public key's text form.
func ParsePublicKey(s string) (PublicKey, error) {
	name, b, err := splitKey(s, ed25519.PublicKeySize, "public key")
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{Name: name, key: ed25519.PublicKey(b)}, nil
}

// ParsePublicKeys reads trusted keys as a config lists them.
func ParsePublicKeys(texts []string) ([]PublicKey, error) {
	out := make([]PublicKey, 0, len(texts))
	for i, t := range texts {
		k, err := ParsePublicKey(t)
		if err != nil {
			return nil, fmt.Errorf("trusted public key %d: %w", i+1, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// Encode returns the secret key's text form (what NAME.secret holds).
func (k SecretKey) Encode() string { return k.Name + ":" + base64.StdEncoding.EncodeToString(k.key) }

// String names the key without its secret.
func (k SecretKey) String() string { return "secret key " + k.Name }

// Public returns the key's public half.
func (k SecretKey) Public() PublicKey {
	return PublicKey{Name: k.Name, key: k.key.Public().(ed25519.PublicKey)}
}

// String returns the public key's text form (what NAME.public holds).
func (k PublicKey) String() string { return k.Name + ":" + base64.StdEncoding.EncodeToString(k.key) }

// Sign returns NAME:base64(signature of msg).
func (k SecretKey) Sign(msg string) string {
	return k.Name + ":" + base64.StdEncoding.EncodeToString(ed25519.Sign(k.key, []byte(msg)))
}

// verify checks that one of sigs is a good signature of msg by one of
// keys. A signature whose name no key has is ignored (any cache may add
// its own); one whose name a key has must verify.
func verify(msg string, sigs []string, keys []PublicKey) error {
	if len(sigs) == 0 {
		return ErrUnsigned
	}
	var names, bad []string
	for _, sig := range sigs {
		name, payload, _ := strings.Cut(sig, ":")
		names = append(names, name)
		for _, k := range keys {
			if k.Name != name {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(payload)
			if err == nil && len(b) == ed25519.SignatureSize && ed25519.Verify(k.key, []byte(msg), b) {
				return nil
			}
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w by key %s", ErrBadSignature, strings.Join(bad, ", "))
	}
	return fmt.Errorf("%w: signed by %s", ErrUntrusted, strings.Join(names, ", "))
}

// ReadSecretKeyFile reads NAME.secret. It refuses a file that others may
// read: the key signs what every machine of a fleet will run.
func ReadSecretKeyFile(name string) (SecretKey, error) {
	st, err := os.Stat(name)
	if err != nil {
		return SecretKey{}, fmt.Errorf("read secret key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return SecretKey{}, fmt.Errorf("secret key %s has mode %04o: others may read it (chmod 600 %s)", name, st.Mode().Perm(), name)
	}
	b, err := fsutil.ReadRegular(name, 64<<10)
	if err != nil {
		return SecretKey{}, fmt.Errorf("read secret key: %w", err)
	}
	k, err := ParseSecretKey(string(b))
	if err != nil {
		return SecretKey{}, fmt.Errorf("secret key %s: %w", name, err)
	}
	return k, nil
}

// ReadPublicKeyFile reads NAME.public.
func ReadPublicKeyFile(name string) (PublicKey, error) {
	b, err := fsutil.ReadRegular(name, 64<<10)
	if err != nil {
		return PublicKey{}, fmt.Errorf("read public key: %w", err)
	}
	k, err := ParsePublicKey(string(b))
	if err != nil {
		return PublicKey{}, fmt.Errorf("public key %s: %w", name, err)
	}
	return k, nil
}

// WriteKeyPair writes dir/NAME.secret (mode 0600) and dir/NAME.public and
// returns their names. It never replaces an existing secret key: a lost
// key cannot be made again, and every machine trusting it would have to
// learn a new one.
func WriteKeyPair(dir string, k SecretKey) (secret, public string, err error) {
	secret = filepath.Join(dir, k.Name+".secret")
	public = filepath.Join(dir, k.Name+".public")
	if _, err := os.Lstat(secret); err == nil {
		return "", "", fmt.Errorf("write key %s: %s exists (a secret key is never replaced; remove it first if you mean it)", k.Name, secret)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("write key %s: %w", k.Name, err)
	}
	if err := fsutil.WriteFile(secret, []byte(k.Encode()+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("write key %s: %w", k.Name, err)
	}
	if err := fsutil.WriteFile(public, []byte(k.Public().String()+"\n"), 0o644); err != nil {
		return "", "", fmt.Errorf("write key %s: %w", k.Name, err)
	}
	return secret, public, nil
}
