// Package secrets is kiln's age encryption of secrets (filippo.io/age and
// its agessh package): recipients files, identities (SSH private keys,
// a machine's host key among them, and age identity files), encrypting,
// decrypting, and the admin's two operations, Edit and Rekey.
//
// A secret is only ever stored encrypted: the configuration names an
// .age file, the toplevel (world-readable, like all of the store) carries
// its ciphertext, and only the machine, holding its SSH host key,
// decrypts it at activation (package activation writes /run/secrets).
// This package never writes plaintext to a file except the one the
// editor edits, in a private directory it removes.
package secrets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
)

// RecipientsFile is the name of the recipients file kiln secrets looks for
// beside a secret: one public key a line (ssh-ed25519, ssh-rsa, age1…),
// "#" comments; the machines' host keys and the admins' keys.
const RecipientsFile = "secrets.recipients"

// Recipient is one public key of a recipients file, with where it was.
type Recipient struct {
	age.Recipient
	Text string // the key as written, without the comment
	Line int
}

// ParseRecipients reads a recipients file's text; file names it in
// errors ("secrets.recipients:3: ...").
func ParseRecipients(text []byte, file string) ([]Recipient, error) {
	var out []Recipient
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, key, err := parseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		out = append(out, Recipient{Recipient: r, Text: key, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no recipients (want lines like \"ssh-ed25519 AAAA... host\" or \"age1...\")", file)
	}
	return out, nil
}

// ReadRecipients reads a recipients file.
func ReadRecipients(file string) ([]Recipient, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	return ParseRecipients(b, file)
}

func parseRecipient(line string) (age.Recipient, string, error) {
	f := strings.Fields(line)
	switch {
	case strings.HasPrefix(f[0], "ssh-"):
		if len(f) < 2 {
			return nil, "", fmt.Errorf("%s key without its base64", f[0])
		}
		key := f[0] + " " + f[1]
		r, err := agessh.ParseRecipient(key)
		if err != nil {
			return nil, "", fmt.Errorf("ssh key: %w", err)
		}
		return r, key, nil
	case strings.HasPrefix(f[0], "age1pq1"):
		r, err := age.ParseHybridRecipient(f[0])
		return r, f[0], err
	case strings.HasPrefix(f[0], "age1"):
		r, err := age.ParseX25519Recipient(f[0])
		return r, f[0], err
	case strings.HasPrefix(f[0], "AGE-SECRET-KEY"), strings.HasPrefix(f[0], "-----BEGIN"):
		return nil, "", errors.New("a private key, not a public one: list public keys only")
	}
	return nil, "", fmt.Errorf("unknown key type %q (want ssh-ed25519, ssh-rsa or age1...)", f[0])
}

// ReadIdentity reads a private key file: an OpenSSH private key
// (unencrypted: a host key or an admin's key without a passphrase) or an
// age identity file.
func ReadIdentity(file string) ([]age.Identity, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	if bytes.Contains(b, []byte("-----BEGIN")) {
		id, err := agessh.ParseIdentity(b)
		if err != nil {
			return nil, fmt.Errorf("identity %s: %w", file, err)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", file, err)
	}
	return ids, nil
}

// ageHeader starts every binary age file; armorHeader an armored one.
const (
	ageHeader   = "age-encryption.org/v1\n"
	armorHeader = armor.Header
)

// IsEncrypted reports whether b is an age file (binary or armored).
func IsEncrypted(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return bytes.HasPrefix(b, []byte(ageHeader)) || bytes.HasPrefix(t, []byte(armorHeader))
}

// Encrypt encrypts plain to every recipient, as a binary age file.
func Encrypt(plain []byte, rs []Recipient) ([]byte, error) {
	if len(rs) == 0 {
		return nil, errors.New("encrypt: no recipients")
	}
	ars := make([]age.Recipient, len(rs))
	for i, r := range rs {
		ars[i] = r.Recipient
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, ars...)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	return buf.Bytes(), nil
}

// Decrypt decrypts an age file (binary or armored) with the first
// identity that opens it.
func Decrypt(ct []byte, ids []age.Identity) ([]byte, error) {
	if !IsEncrypted(ct) {
		return nil, errors.New("decrypt: not an age file")
	}
	var src io.Reader = bytes.NewReader(ct)
	if !bytes.HasPrefix(ct, []byte(ageHeader)) {
		src = armor.NewReader(bytes.NewReader(bytes.TrimLeft(ct, " \t\r\n")))
	}
	r, err := age.Decrypt(src, ids...)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	return b, nil
}
