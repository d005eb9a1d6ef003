package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/kiln-os/kiln/internal/fsutil"
)

// EditOptions say who may read the result and how the plaintext is
// edited.
type EditOptions struct {
	// Recipients the file is encrypted to (ReadRecipients).
	Recipients []Recipient
	// Identities open the existing file (ReadIdentity).
	Identities []age.Identity
	// Editor edits the plaintext file in place (the CLI runs $EDITOR).
	Editor func(file string) error
	// TempDir holds the private directory of the plaintext while it is
	// edited; empty: /dev/shm when there is one (memory, not disk), else
	// the system's temporary directory.
	TempDir string
}

// Edit decrypts file (a missing one starts empty), lets the editor
// change the plaintext and encrypts the result to the recipients,
// replacing file atomically. It reports whether file was written: an
// existing file whose plaintext did not change is left as it is.
func Edit(file string, o EditOptions) (bool, error) {
	if o.Editor == nil {
		return false, errors.New("edit secret: no editor")
	}
	if len(o.Recipients) == 0 {
		return false, fmt.Errorf("edit secret %s: no recipients", file)
	}
	var plain []byte
	ct, err := os.ReadFile(file)
	existed := err == nil
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("edit secret: %w", err)
	default:
		if plain, err = Decrypt(ct, o.Identities); err != nil {
			return false, fmt.Errorf("edit secret %s: %w", file, err)
		}
	}
	dir, err := privateDir(o.TempDir)
	if err != nil {
		return false, fmt.Errorf("edit secret %s: %w", file, err)
	}
	defer wipe(dir)
	tmp := filepath.Join(dir, strings.TrimSuffix(filepath.Base(file), ".age"))
	if err := os.WriteFile(tmp, plain, 0o600); err != nil {
		return false, fmt.Errorf("edit secret %s: %w", file, err)
	}
	if err := o.Editor(tmp); err != nil {
		return false, fmt.Errorf("edit secret %s: editor: %w", file, err)
	}
	edited, err := os.ReadFile(tmp)
	if err != nil {
		return false, fmt.Errorf("edit secret %s: %w", file, err)
	}
	if existed && bytes.Equal(edited, plain) {
		return false, nil
	}
	out, err := Encrypt(edited, o.Recipients)
	if err != nil {
		return false, fmt.Errorf("edit secret %s: %w", file, err)
	}
	if err := fsutil.WriteFile(file, out, 0o644); err != nil {
		return false, fmt.Errorf("edit secret: %w", err)
	}
	return true, nil
}

// Rekey re-encrypts each file to the recipients (after a machine or an
// admin key was added or removed), opening it with the identities; the
// plaintext stays in memory. Each file is replaced atomically.
func Rekey(files []string, rs []Recipient, ids []age.Identity) error {
	var errs []error
	for _, f := range files {
		ct, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("rekey: %w", err))
			continue
		}
		plain, err := Decrypt(ct, ids)
		if err != nil {
			errs = append(errs, fmt.Errorf("rekey %s: %w", f, err))
			continue
		}
		out, err := Encrypt(plain, rs)
		if err != nil {
			errs = append(errs, fmt.Errorf("rekey %s: %w", f, err))
			continue
		}
		if err := fsutil.WriteFile(f, out, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("rekey: %w", err))
		}
	}
	return errors.Join(errs...)
}

// privateDir makes a directory only its owner can enter.
func privateDir(base string) (string, error) {
	if base == "" {
		base = os.TempDir()
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			base = "/dev/shm"
		}
	}
	return os.MkdirTemp(base, "kiln-secret-")
}

// wipe overwrites the files in dir with zeros, then removes it.
func wipe(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
			_ = os.WriteFile(p, make([]byte, fi.Size()), 0o600)
		}
	}
	os.RemoveAll(dir)
}

// HostKeyFile is where a machine's SSH host key, the identity that opens
// its secrets, is.
const HostKeyFile = "/etc/ssh/ssh_host_ed25519_key"

// HostRecipient reads a machine's public host key (HostKeyFile + ".pub"
// under root) and returns it as a recipients-file line.
func HostRecipient(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, HostKeyFile+".pub"))
	if err != nil {
		return "", fmt.Errorf("host key: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return "", fmt.Errorf("host key %s.pub: not an SSH public key", HostKeyFile)
	}
	if _, _, err := parseRecipient(f[0] + " " + f[1]); err != nil {
		return "", fmt.Errorf("host key %s.pub: %w", HostKeyFile, err)
	}
	return f[0] + " " + f[1], nil
}
