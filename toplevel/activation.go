package toplevel

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/internal/lineformat"
	"github.com/kiln-os/kiln/internal/versioned"
)

// ActivationVersion is the version of activation.json written; readers
// accept every version up to it. Version 2 added host_name, version 3
// secrets.
const ActivationVersion = 3

// ActivationFile is the name of the ActivationSpec inside a toplevel.
const ActivationFile = "activation.json"

// ActivationSpec is activation.json: what a toplevel asks of the machine
// beyond its store paths (package activation applies it).
type ActivationSpec struct {
	Version  int        `json:"version"`
	HostName string     `json:"host_name,omitempty"` // set on the running kernel by a switch
	Etc      []EtcEntry `json:"etc"`
	Users    []User     `json:"users"`
	Groups   []Group    `json:"groups"`
	Wrappers []Wrapper  `json:"wrappers"`
	Secrets  []Secret   `json:"secrets,omitempty"`
	// Persist is set when / is a tmpfs (impermanence).
	Persist *Persist `json:"persist,omitempty"`
}

// Persist is an ephemeral root's persisted paths: the root partition is
// mounted at Path (by stage 1, told by the kernel parameter PersistParam),
// each of Directories is bind-mounted from Path+DIR and each of Files is a
// symlink to Path+FILE, before activation.
type Persist struct {
	Path        string   `json:"path"`
	Directories []string `json:"directories"`
	Files       []string `json:"files"`
}

// PersistParam is the kernel parameter that makes stage 1 mount a tmpfs as
// the root and the root partition at its value.
const PersistParam = "kiln.persist"

// Secret is one age-encrypted secret: activation decrypts Age with the
// machine's SSH host key into /run/secrets/NAME with Owner, Group and Mode,
// and restarts Units when the plaintext changed. Only the ciphertext is
// here (the store is world-readable).
type Secret struct {
	Name  string   `json:"name"`
	Age   []byte   `json:"age"` // the age file, binary or armored (base64 in JSON)
	Owner string   `json:"owner"`
	Group string   `json:"group"`
	Mode  string   `json:"mode"`  // octal, e.g. "0400"
	Units []string `json:"units"` // the units that read it, sorted
}

// SecretsDir is where activation puts the decrypted secrets (on /run, a
// tmpfs).
const SecretsDir = "/run/secrets"

// ValidSecretName reports whether name can be a file in SecretsDir.
func ValidSecretName(name string) bool {
	if name == "" || len(name) > 128 || name[0] == '.' {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '@') {
			return false
		}
	}
	return true
}

// EtcKind says how one /etc entry is made.
type EtcKind string

const (
	// EtcLink: /etc/PATH is a symlink to /etc/static/PATH.
	EtcLink EtcKind = "link"
	// EtcCopy: /etc/PATH is a copy of /etc/static/PATH with Mode, User and
	// Group (files that tools rewrite by rename, or that need an owner).
	EtcCopy EtcKind = "copy"
	// EtcSymlink: /etc/PATH is a symlink with Target, verbatim (systemd
	// enablement links must point into the unit search path on their first
	// hop).
	EtcSymlink EtcKind = "symlink"
)

// EtcEntry is one file under /etc, Path relative to /etc.
type EtcEntry struct {
	Path   string  `json:"path"`
	Kind   EtcKind `json:"kind"`
	Mode   string  `json:"mode,omitempty"`   // octal, copies only; default "0644"
	User   string  `json:"user,omitempty"`   // copies only; default "root"
	Group  string  `json:"group,omitempty"`  // copies only; default "root"
	Target string  `json:"target,omitempty"` // symlinks only
}

// User is one account. UID nil means allocate a stable id (system users
// downward from 999, normal users upward from 1000).
type User struct {
	Name        string   `json:"name"`
	UID         *int     `json:"uid"`
	Group       string   `json:"group"` // primary group's name
	Groups      []string `json:"groups"`
	Home        string   `json:"home"`
	Shell       string   `json:"shell"`
	System      bool     `json:"system"`
	CreateHome  bool     `json:"create_home"`
	Description string   `json:"description"`
	// HashedPasswordFile is a path on the machine (never in the store)
	// holding a crypt(3) hash, read at activation. Empty or missing: the
	// account's password is locked.
	HashedPasswordFile string `json:"hashed_password_file"`
}

// Group is one group. GID nil means allocate (downward from 999).
type Group struct {
	Name    string   `json:"name"`
	GID     *int     `json:"gid"`
	Members []string `json:"members"`
}

// Wrapper is a setuid/setgid copy of Source made at activation in
// /run/wrappers/bin/NAME (the store holds no setuid files).
type Wrapper struct {
	Name   string `json:"name"`
	Source string `json:"source"` // "/usr/bin/su" or a logical store path
	Owner  string `json:"owner"`
	Group  string `json:"group"`
	Mode   string `json:"mode"` // octal, e.g. "4755"
	// Capabilities are file capabilities set on the wrapper, in setcap's
	// text form ("cap_net_raw+ep"); none when empty.
	Capabilities string `json:"capabilities,omitempty"`
}

// ReadActivationSpec reads and validates activation.json.
func ReadActivationSpec(file string) (*ActivationSpec, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read activation spec: %w", err)
	}
	s, err := ParseActivationSpec(b)
	if err != nil {
		return nil, fmt.Errorf("activation spec %s: %w", file, err)
	}
	return s, nil
}

// ParseActivationSpec decodes and validates an ActivationSpec.
func ParseActivationSpec(b []byte) (*ActivationSpec, error) {
	var s ActivationSpec
	if _, err := versioned.Decode(b, ActivationVersion, &s); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Encode returns the spec as indented JSON with entries sorted by path or
// name, so equal specs give equal bytes. It validates first.
func (s *ActivationSpec) Encode() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	c := *s
	c.Version = ActivationVersion
	c.Etc = append([]EtcEntry{}, s.Etc...)
	c.Users = append([]User{}, s.Users...)
	c.Groups = append([]Group{}, s.Groups...)
	c.Wrappers = append([]Wrapper{}, s.Wrappers...)
	c.Secrets = append([]Secret(nil), s.Secrets...)
	sort.Slice(c.Secrets, func(i, j int) bool { return c.Secrets[i].Name < c.Secrets[j].Name })
	sort.Slice(c.Etc, func(i, j int) bool { return c.Etc[i].Path < c.Etc[j].Path })
	sort.Slice(c.Users, func(i, j int) bool { return c.Users[i].Name < c.Users[j].Name })
	sort.Slice(c.Groups, func(i, j int) bool { return c.Groups[i].Name < c.Groups[j].Name })
	sort.Slice(c.Wrappers, func(i, j int) bool { return c.Wrappers[i].Name < c.Wrappers[j].Name })
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode activation spec: %w", err)
	}
	return append(b, '\n'), nil
}

// Validate checks what the builder must guarantee: clean relative etc
// paths without duplicates, known kinds, octal modes, unique user and group
// names, wrappers with names and sources.
func (s *ActivationSpec) Validate() error {
	if s.HostName != "" && !ValidHostname(s.HostName) {
		return fmt.Errorf("host name %q: want 1 to 64 letters, digits, - and ., not starting or ending with - or .", s.HostName)
	}
	seen := map[string]bool{}
	for _, e := range s.Etc {
		if err := validEtcPath(e.Path); err != nil {
			return err
		}
		if seen[e.Path] {
			return fmt.Errorf("etc %q: declared twice", e.Path)
		}
		seen[e.Path] = true
		switch e.Kind {
		case EtcLink:
		case EtcCopy:
			if e.Mode != "" {
				if _, err := ParseMode(e.Mode); err != nil {
					return fmt.Errorf("etc %q: %w", e.Path, err)
				}
			}
		case EtcSymlink:
			if e.Target == "" {
				return fmt.Errorf("etc %q: symlink without target", e.Path)
			}
		default:
			return fmt.Errorf("etc %q: unknown kind %q (want link, copy or symlink)", e.Path, e.Kind)
		}
	}
	for _, p := range managedAccountFiles {
		if seen[p] {
			return fmt.Errorf("etc %q: written by activation from users and groups, not part of the etc tree", p)
		}
	}
	names := map[string]bool{}
	for _, u := range s.Users {
		if !validAccountName(u.Name) {
			return fmt.Errorf("user %q: invalid name", u.Name)
		}
		if names[u.Name] {
			return fmt.Errorf("user %q: declared twice", u.Name)
		}
		names[u.Name] = true
		if u.UID != nil && (*u.UID < 0 || *u.UID > 65534) {
			return fmt.Errorf("user %q: uid %d out of range", u.Name, *u.UID)
		}
		if err := validUserFields(u); err != nil {
			return fmt.Errorf("user %q: %w", u.Name, err)
		}
	}
	names = map[string]bool{}
	for _, g := range s.Groups {
		if !validAccountName(g.Name) {
			return fmt.Errorf("group %q: invalid name", g.Name)
		}
		if names[g.Name] {
			return fmt.Errorf("group %q: declared twice", g.Name)
		}
		names[g.Name] = true
		if g.GID != nil && (*g.GID < 0 || *g.GID > 65534) {
			return fmt.Errorf("group %q: gid %d out of range", g.Name, *g.GID)
		}
		for _, m := range g.Members {
			if !validAccountName(m) {
				return fmt.Errorf("group %q: member %q: invalid name", g.Name, m)
			}
		}
	}
	names = map[string]bool{}
	for _, w := range s.Wrappers {
		if w.Name == "" || strings.ContainsAny(w.Name, "/\x00") || w.Name == "." || w.Name == ".." {
			return fmt.Errorf("wrapper %q: invalid name", w.Name)
		}
		if names[w.Name] {
			return fmt.Errorf("wrapper %q: declared twice", w.Name)
		}
		names[w.Name] = true
		if !path.IsAbs(w.Source) {
			return fmt.Errorf("wrapper %q: source %q is not absolute", w.Name, w.Source)
		}
		if _, err := ParseMode(w.Mode); err != nil {
			return fmt.Errorf("wrapper %q: %w", w.Name, err)
		}
		if w.Capabilities != "" {
			if _, err := ParseCapabilities(w.Capabilities); err != nil {
				return fmt.Errorf("wrapper %q: %w", w.Name, err)
			}
		}
	}
	if p := s.Persist; p != nil {
		if !path.IsAbs(p.Path) || path.Clean(p.Path) != p.Path || p.Path == "/" {
			return fmt.Errorf("persist path %q: want an absolute, clean path other than /", p.Path)
		}
		for _, d := range append(append([]string{}, p.Directories...), p.Files...) {
			if !path.IsAbs(d) || path.Clean(d) != d || d == "/" {
				return fmt.Errorf("persisted path %q: want an absolute, clean path other than /", d)
			}
		}
	}
	names = map[string]bool{}
	for _, sec := range s.Secrets {
		if !ValidSecretName(sec.Name) {
			return fmt.Errorf("secret %q: invalid name (letters, digits, - _ . @, not starting with .)", sec.Name)
		}
		if names[sec.Name] {
			return fmt.Errorf("secret %q: declared twice", sec.Name)
		}
		names[sec.Name] = true
		if !IsAgeFile(sec.Age) {
			return fmt.Errorf("secret %q: not an age-encrypted file", sec.Name)
		}
		if _, err := ParseMode(sec.Mode); err != nil {
			return fmt.Errorf("secret %q: %w", sec.Name, err)
		}
	}
	return nil
}

// validUserFields checks what lands in passwd and what activation reads:
// the machine does not trust a spec it reads from the store to be free of
// a field that adds a record.
func validUserFields(u User) error {
	fields := []struct{ name, value string }{
		{"description", u.Description}, {"home", u.Home}, {"shell", u.Shell},
		{"hashed_password_file", u.HashedPasswordFile},
	}
	for _, f := range fields {
		if err := lineformat.ColonField(f.value); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	for _, f := range fields[1:] {
		if f.value != "" && !path.IsAbs(f.value) {
			return fmt.Errorf("%s %q: not an absolute path", f.name, f.value)
		}
	}
	if u.Group != "" && !validAccountName(u.Group) {
		return fmt.Errorf("group %q: invalid name", u.Group)
	}
	for _, g := range u.Groups {
		if !validAccountName(g) {
			return fmt.Errorf("groups: %q: invalid name", g)
		}
	}
	return nil
}

// IsAgeFile reports whether b starts as an age file does, binary or
// armored (what the builder requires of a secret's file).
func IsAgeFile(b []byte) bool {
	t := strings.TrimLeft(string(b[:min(len(b), 64)]), " \t\r\n")
	return strings.HasPrefix(t, "age-encryption.org/v1\n") || strings.HasPrefix(t, "-----BEGIN AGE ENCRYPTED FILE-----")
}

// managedAccountFiles are written by activation from the users and
// groups, never linked from the etc tree.
var managedAccountFiles = []string{"passwd", "group", "shadow", "gshadow"}

func validEtcPath(p string) error {
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("etc %q: contains the control character %q", p, r)
		}
	}
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../") || p == "static" || strings.HasPrefix(p, "static/") {
		return fmt.Errorf("etc %q: want a clean relative path outside static/", p)
	}
	return nil
}

func validAccountName(n string) bool {
	if n == "" || len(n) > 32 || n[0] == '-' {
		return false
	}
	for _, c := range n {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '$'
		if !ok {
			return false
		}
	}
	return true
}

// ParseMode parses an octal permission string such as "0640" or "4755"
// (etc copies' and wrappers' Mode).
func ParseMode(s string) (os.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 07777 {
		return 0, fmt.Errorf("mode %q: want octal permissions like 0644", s)
	}
	m := os.FileMode(v & 0777)
	if v&04000 != 0 {
		m |= os.ModeSetuid
	}
	if v&02000 != 0 {
		m |= os.ModeSetgid
	}
	if v&01000 != 0 {
		m |= os.ModeSticky
	}
	return m, nil
}

// ValidHostname reports whether name can be the kernel's host name and a
// line of /etc/hostname: 1 to 64 ASCII letters, digits, '-' and '.', with
// no empty label and no label starting or ending with '-'.
func ValidHostname(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
