package activation

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/secrets"
	"github.com/kiln-os/kiln/toplevel"
)

// Secret changes, as the plan prints them.
const (
	SecretNew       = "new"
	SecretChanged   = "changed"
	SecretOwnership = "owner or mode" // same plaintext, other owner or mode
	SecretSame      = "unchanged"
)

// SecretsPlan is what ApplySecrets writes to /run/secrets: every declared
// secret, decrypted with the machine's SSH host key while planning, and
// the undeclared files it removes. The plaintext is never in its JSON (the
// switch journal records the plan): a plan read back cannot be applied.
type SecretsPlan struct {
	Files  []SecretFile `json:"files,omitempty"`
	Remove []string     `json:"remove,omitempty"`

	plain map[string][]byte
}

// SecretFile is one secret's file: its owner and mode, what changed, and
// the units that read it (restarted by a switch when the plaintext
// changed).
type SecretFile struct {
	Name   string   `json:"name"`
	Owner  string   `json:"owner"`
	Group  string   `json:"group"`
	Mode   string   `json:"mode"`
	Change string   `json:"change"`
	Units  []string `json:"units,omitempty"`
	uid    int
	gid    int
}

// IsZero makes an empty plan disappear from JSON (omitzero).
func (p SecretsPlan) IsZero() bool { return len(p.Files) == 0 && len(p.Remove) == 0 }

// Restarts reports whether the file's change restarts its units.
func (f SecretFile) Restarts() bool { return f.Change == SecretNew || f.Change == SecretChanged }

// String prints one line per secret (never its content).
func (p SecretsPlan) String() string {
	if p.IsZero() {
		return "secrets: none\n"
	}
	var b strings.Builder
	for _, f := range p.Files {
		fmt.Fprintf(&b, "%-9s %s/%s (%s:%s %s)", f.Change, toplevel.SecretsDir, f.Name, f.Owner, f.Group, f.Mode)
		if f.Restarts() && len(f.Units) > 0 {
			fmt.Fprintf(&b, ", restarts %s", strings.Join(f.Units, " "))
		}
		b.WriteString("\n")
	}
	for _, n := range p.Remove {
		fmt.Fprintf(&b, "remove    %s/%s\n", toplevel.SecretsDir, n)
	}
	return b.String()
}

// PlanSecrets decrypts spec's secrets with the machine's host key (under
// root) and compares them with /run/secrets; ids resolves owners as the
// accounts will be once applied. It changes nothing. A secret that cannot
// be decrypted or whose owner is unknown is left out and its error joined.
func PlanSecrets(root string, spec *toplevel.ActivationSpec, ids *idLookup) (SecretsPlan, error) {
	p := SecretsPlan{plain: map[string][]byte{}}
	dir := under(root, toplevel.SecretsDir)
	declared := map[string]bool{}
	var errs []error
	if len(spec.Secrets) > 0 {
		key, err := resolveIn(root, secrets.HostKeyFile) // a link on an ephemeral root
		if err != nil {
			return p, fmt.Errorf("the machine's host key opens its secrets: %w", err)
		}
		idents, err := secrets.ReadIdentity(key)
		if err != nil {
			return p, fmt.Errorf("the machine's host key opens its secrets: %w", err)
		}
		for _, s := range spec.Secrets {
			declared[s.Name] = true
			plain, err := secrets.Decrypt(s.Age, idents)
			if err != nil {
				errs = append(errs, fmt.Errorf("secret %s: %w (is it encrypted to this machine's host key? kiln secrets host-key, then kiln secrets rekey)", s.Name, err))
				continue
			}
			f := SecretFile{Name: s.Name, Owner: s.Owner, Group: s.Group, Mode: s.Mode, Units: s.Units}
			var ok bool
			if f.uid, ok = ids.uid(s.Owner); !ok {
				errs = append(errs, fmt.Errorf("secret %s: owner %q: no such user", s.Name, s.Owner))
				continue
			}
			if f.gid, ok = ids.gid(s.Group); !ok {
				errs = append(errs, fmt.Errorf("secret %s: group %q: no such group", s.Name, s.Group))
				continue
			}
			mode, _ := toplevel.ParseMode(s.Mode)
			f.Change = secretChange(path.Join(dir, s.Name), plain, mode, f.uid, f.gid)
			p.plain[s.Name] = plain
			p.Files = append(p.Files, f)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, e := range ents {
		if !declared[e.Name()] {
			p.Remove = append(p.Remove, e.Name())
		}
	}
	sort.Strings(p.Remove)
	return p, errors.Join(errs...)
}

// secretChange compares the installed file with what it should be.
func secretChange(file string, plain []byte, mode os.FileMode, uid, gid int) string {
	fi, err := os.Lstat(file)
	if err != nil || !fi.Mode().IsRegular() {
		return SecretNew
	}
	old, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(old, plain) {
		return SecretChanged
	}
	if fi.Mode().Perm() != mode.Perm() || !ownedBy(fi, uid, gid) {
		return SecretOwnership
	}
	return SecretSame
}

// ApplySecrets writes the plan's secrets into /run/secrets (each replaced
// in one rename, with its owner and mode set before it appears) and
// removes the undeclared ones. On a real machine (root "/") the directory
// is a ramfs, which is never swapped out, mounted once with mode 0751.
func ApplySecrets(root string, p SecretsPlan) error {
	if p.IsZero() {
		return nil
	}
	if len(p.Files) > 0 && p.plain == nil {
		return errors.New("apply secrets: the plan holds no plaintext (use PlanSecrets)")
	}
	dir := under(root, toplevel.SecretsDir)
	if err := secretsDir(root, dir); err != nil {
		return fmt.Errorf("apply secrets: %w", err)
	}
	var errs []error
	for _, f := range p.Files {
		if f.Change == SecretSame {
			continue
		}
		mode, _ := toplevel.ParseMode(f.Mode)
		if err := fsutil.WriteFileOwned(path.Join(dir, f.Name), p.plain[f.Name], mode, f.uid, f.gid); err != nil {
			errs = append(errs, fmt.Errorf("apply secrets: %w", err))
		}
	}
	for _, n := range p.Remove {
		if err := os.RemoveAll(path.Join(dir, n)); err != nil {
			errs = append(errs, fmt.Errorf("apply secrets: %w", err))
		}
	}
	return errors.Join(errs...)
}

// secretsDir makes /run/secrets, root-owned 0751, a ramfs when root is
// the running machine's.
func secretsDir(root, dir string) error {
	if err := os.MkdirAll(dir, 0o751); err != nil {
		return err
	}
	if root == "/" || root == "" {
		var st, parent unix.Stat_t
		if unix.Stat(dir, &st) == nil && unix.Stat(path.Dir(dir), &parent) == nil && st.Dev == parent.Dev {
			if err := unix.Mount("ramfs", dir, "ramfs", unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0751"); err != nil {
				return fmt.Errorf("mount ramfs on %s: %w", dir, err)
			}
		}
	}
	if err := os.Chmod(dir, 0o751); err != nil {
		return err
	}
	return os.Lchown(dir, 0, 0)
}

// withSecretRestarts adds a restart for every running unit that reads a
// secret whose plaintext changes, unless the plan stops, starts or
// restarts it already (a reload becomes the restart).
func withSecretRestarts(u UnitsPlan, s SecretsPlan, observed map[string]UnitState) UnitsPlan {
	planned := map[string]bool{}
	for _, l := range [][]UnitAction{u.Stop, u.Start, u.Restart} {
		for _, a := range l {
			planned[a.Unit] = true
		}
	}
	for _, f := range s.Files {
		if !f.Restarts() {
			continue
		}
		for _, unit := range f.Units {
			if planned[unit] || !observed[unit].running() {
				continue
			}
			planned[unit] = true
			u.Reload = slicesDeleteUnit(u.Reload, unit)
			u.Restart = append(u.Restart, UnitAction{Unit: unit, Reason: "secret " + f.Name + " " + f.Change})
		}
	}
	return u
}

func slicesDeleteUnit(l []UnitAction, unit string) []UnitAction {
	var out []UnitAction
	for _, a := range l {
		if a.Unit != unit {
			out = append(out, a)
		}
	}
	return out
}
