package activation

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/internal/versioned"
	"github.com/kiln-os/kiln/toplevel"
)

// LedgerFile is where activation records the /etc files it made, relative
// to the machine's root.
const LedgerFile = "/kiln/var/lib/etc-ledger.json"

// LedgerVersion is the version of the etc ledger written.
const LedgerVersion = 1

// Ledger lists what kiln owns under /etc: a later activation removes stale
// entries from it and never touches a file that is not in it.
type Ledger struct {
	Version int                    `json:"version"`
	Files   map[string]LedgerEntry `json:"files"` // key: path relative to /etc
}

// LedgerEntry is what kiln made at one path.
type LedgerEntry struct {
	Kind   toplevel.EtcKind `json:"kind"`
	Target string           `json:"target,omitempty"` // link and symlink
	Mode   string           `json:"mode,omitempty"`   // copy
	User   string           `json:"user,omitempty"`   // copy
	Group  string           `json:"group,omitempty"`  // copy
	SHA256 string           `json:"sha256,omitempty"` // copy: content as written
}

// EtcOp is one kind of change to /etc.
type EtcOp string

const (
	EtcCreate  EtcOp = "create"  // nothing there yet
	EtcReplace EtcOp = "replace" // kiln's own entry differs
	EtcBackup  EtcOp = "backup"  // a file kiln does not own is in the way: renamed to PATH.kiln-backup, then created
	EtcRemove  EtcOp = "remove"  // kiln's entry is no longer declared
	EtcForget  EtcOp = "forget"  // no longer declared, but changed since kiln made it: left in place
	EtcAdopt   EtcOp = "adopt"   // a link already exactly as declared but not in the ledger: recorded
)

// EtcAction is one planned change.
type EtcAction struct {
	Op    EtcOp             `json:"op"`
	Path  string            `json:"path"`  // relative to /etc
	Entry toplevel.EtcEntry `json:"entry"` // what to make (create, replace, backup, adopt)
	// Source is the host path of a copy's content, resolved at plan time.
	Source string `json:"source,omitempty"`
}

// EtcPlan is what ApplyEtc does: point /etc/static at the new etc tree,
// then remove, back up and create entries.
type EtcPlan struct {
	Static    string      `json:"static"`     // new target of /etc/static
	OldStatic string      `json:"old_static"` // current target ("" if none)
	Actions   []EtcAction `json:"actions"`
	Ledger    Ledger      `json:"ledger"`             // written after the actions
	Warnings  []string    `json:"warnings,omitempty"` // entries skipped
}

// Empty reports whether applying the plan changes nothing.
func (p EtcPlan) Empty() bool { return p.Static == p.OldStatic && len(p.Actions) == 0 }

// String prints the plan, one change a line (golden-tested).
func (p EtcPlan) String() string {
	var b strings.Builder
	if p.Static != p.OldStatic {
		old := p.OldStatic
		if old == "" {
			old = "none"
		}
		fmt.Fprintf(&b, "static  /etc/static -> %s (was %s)\n", p.Static, old)
	}
	for _, a := range p.Actions {
		fmt.Fprintf(&b, "%-7s %s", a.Op, a.Path)
		switch a.Op {
		case EtcRemove:
		case EtcForget:
			b.WriteString(" (changed since kiln made it; left in place)")
		default:
			b.WriteString(" " + describeEntry(a.Entry))
			if a.Op == EtcBackup {
				b.WriteString(" (old file kept as " + a.Path + backupSuffix + ")")
			}
		}
		b.WriteByte('\n')
	}
	for _, w := range p.Warnings {
		b.WriteString("warning: " + w + "\n")
	}
	if b.Len() == 0 {
		return "etc: no changes\n"
	}
	return b.String()
}

const backupSuffix = ".kiln-backup"

func describeEntry(e toplevel.EtcEntry) string {
	switch e.Kind {
	case toplevel.EtcLink:
		return "-> /etc/static/" + e.Path
	case toplevel.EtcSymlink:
		return "-> " + e.Target
	}
	m, u, g := copyAttrs(e)
	return fmt.Sprintf("(copy %s %s:%s)", m, u, g)
}

func copyAttrs(e toplevel.EtcEntry) (mode, user, group string) {
	mode, user, group = e.Mode, e.User, e.Group
	if mode == "" {
		mode = "0644"
	}
	if user == "" {
		user = "root"
	}
	if group == "" {
		group = "root"
	}
	return mode, user, group
}

// ReadLedger reads root's etc ledger; a missing ledger is empty.
func ReadLedger(root string) (Ledger, error) {
	l := Ledger{Version: LedgerVersion, Files: map[string]LedgerEntry{}}
	b, err := os.ReadFile(under(root, LedgerFile))
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("read etc ledger: %w", err)
	}
	if _, err := versioned.Decode(b, LedgerVersion, &l); err != nil {
		return l, fmt.Errorf("etc ledger %s: %w", under(root, LedgerFile), err)
	}
	if l.Files == nil {
		l.Files = map[string]LedgerEntry{}
	}
	return l, nil
}

// PlanEtc compares root's /etc and ledger with spec and the etc tree at
// etcDir (a machine path, normally <toplevel>/etc) and returns the changes.
// It changes nothing.
func PlanEtc(root string, spec *toplevel.ActivationSpec, etcDir string) (EtcPlan, error) {
	old, err := ReadLedger(root)
	if err != nil {
		return EtcPlan{}, err
	}
	p := EtcPlan{Static: etcDir, Ledger: Ledger{Version: LedgerVersion, Files: map[string]LedgerEntry{}}}
	if t, err := os.Readlink(under(root, "/etc/static")); err == nil {
		p.OldStatic = t
	}
	declared := map[string]bool{}
	for _, e := range spec.Etc {
		declared[e.Path] = true
	}
	// Stale entries first: a removed directory link may make room for
	// files declared under it.
	for _, rel := range sortedKeys(old.Files) {
		if declared[rel] {
			continue
		}
		le := old.Files[rel]
		same, err := matchesLedger(root, rel, le)
		if err != nil {
			return EtcPlan{}, err
		}
		op := EtcRemove
		if !same {
			op = EtcForget
		}
		if exists(under(root, "/etc/"+rel)) || op == EtcForget {
			p.Actions = append(p.Actions, EtcAction{Op: op, Path: rel})
		}
	}
	entries := append([]toplevel.EtcEntry{}, spec.Etc...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	for _, e := range entries {
		if e.Kind == toplevel.EtcLink {
			// A link to nothing would hide the problem until a program
			// fails to read it; skip it and say so instead. Only the entry
			// itself must be in the tree: a symlink there may point at
			// what this very activation creates (etc/rmt -> /usr/sbin/rmt
			// -> /etc/alternatives/rmt) or at what the machine provides.
			dir, err := resolveIn(root, path.Join(etcDir, path.Dir(e.Path)))
			if err != nil {
				return EtcPlan{}, fmt.Errorf("etc %s: %w", e.Path, err)
			}
			if _, err := os.Lstat(filepath.Join(dir, path.Base(e.Path))); err != nil {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s: not in the etc tree %s; not linked", e.Path, etcDir))
				continue
			}
		}
		a, le, err := planEntry(root, etcDir, e, old)
		if err != nil {
			return EtcPlan{}, err
		}
		p.Ledger.Files[e.Path] = le
		if a.Op != "" {
			p.Actions = append(p.Actions, a)
		}
	}
	return p, nil
}

// planEntry decides what to do for one declared entry and what the ledger
// records for it.
func planEntry(root, etcDir string, e toplevel.EtcEntry, old Ledger) (EtcAction, LedgerEntry, error) {
	a := EtcAction{Path: e.Path, Entry: e}
	le := LedgerEntry{Kind: e.Kind}
	switch e.Kind {
	case toplevel.EtcLink:
		le.Target = "/etc/static/" + e.Path
	case toplevel.EtcSymlink:
		le.Target = e.Target
	case toplevel.EtcCopy:
		src, err := resolveIn(root, path.Join(etcDir, e.Path))
		if err != nil {
			return a, le, fmt.Errorf("etc %s: %w", e.Path, err)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return a, le, fmt.Errorf("etc %s: read the etc tree: %w", e.Path, err)
		}
		sum := sha256.Sum256(data)
		le.Mode, le.User, le.Group = copyAttrs(e)
		le.SHA256 = hex.EncodeToString(sum[:])
		a.Source = src
	}
	dst := under(root, "/etc/"+e.Path)
	fi, err := os.Lstat(dst)
	if errors.Is(err, os.ErrNotExist) {
		a.Op = EtcCreate
		return a, le, nil
	}
	if err != nil {
		return a, le, fmt.Errorf("etc %s: %w", e.Path, err)
	}
	owned, inLedger := old.Files[e.Path]
	same, err := matchesLedger(root, e.Path, le)
	if err != nil {
		return a, le, err
	}
	switch {
	case same && inLedger && owned == le:
		// Nothing to do.
	case same && !inLedger && e.Kind != toplevel.EtcCopy:
		a.Op = EtcAdopt
	case inLedger, same:
		// A copy is rewritten even when its content matches: its owner
		// may have changed.
		a.Op = EtcReplace
	case fi.IsDir():
		return a, le, fmt.Errorf("etc %s: a directory kiln does not own is in the way", e.Path)
	default:
		a.Op = EtcBackup
	}
	return a, le, nil
}

// matchesLedger reports whether /etc/rel is still exactly what le says
// kiln made.
func matchesLedger(root, rel string, le LedgerEntry) (bool, error) {
	dst := under(root, "/etc/"+rel)
	fi, err := os.Lstat(dst)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("etc %s: %w", rel, err)
	}
	switch le.Kind {
	case toplevel.EtcLink, toplevel.EtcSymlink:
		if fi.Mode()&os.ModeSymlink == 0 {
			return false, nil
		}
		t, err := os.Readlink(dst)
		if err != nil {
			return false, fmt.Errorf("etc %s: %w", rel, err)
		}
		return t == le.Target, nil
	case toplevel.EtcCopy:
		if !fi.Mode().IsRegular() {
			return false, nil
		}
		mode, err := toplevel.ParseMode(le.Mode)
		if err != nil || fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != mode {
			return false, nil
		}
		data, err := os.ReadFile(dst)
		if err != nil {
			return false, fmt.Errorf("etc %s: %w", rel, err)
		}
		sum := sha256.Sum256(data)
		return hex.EncodeToString(sum[:]) == le.SHA256, nil
	}
	return false, nil
}

// ApplyEtc carries out plan under root and writes the new ledger. Owners of
// copies are resolved from root's /etc/passwd and /etc/group, so users are
// applied first.
func ApplyEtc(root string, plan EtcPlan) error {
	etc := under(root, "/etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return fmt.Errorf("apply etc: %w", err)
	}
	if plan.Static != plan.OldStatic {
		if err := fsutil.Symlink(plan.Static, filepath.Join(etc, "static")); err != nil {
			return fmt.Errorf("apply etc: %w", err)
		}
	}
	var ids *idLookup
	for _, a := range plan.Actions {
		dst := filepath.Join(etc, filepath.FromSlash(a.Path))
		switch a.Op {
		case EtcRemove:
			if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove stale /etc/%s: %w", a.Path, err)
			}
			continue
		case EtcForget, EtcAdopt:
			continue
		case EtcBackup:
			if err := os.Rename(dst, dst+backupSuffix); err != nil {
				return fmt.Errorf("back up /etc/%s: %w", a.Path, err)
			}
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("make /etc/%s: %w", a.Path, err)
		}
		le := plan.Ledger.Files[a.Path]
		switch a.Entry.Kind {
		case toplevel.EtcLink, toplevel.EtcSymlink:
			if err := fsutil.Symlink(le.Target, dst); err != nil {
				return fmt.Errorf("make /etc/%s: %w", a.Path, err)
			}
		case toplevel.EtcCopy:
			if ids == nil {
				var err error
				if ids, err = readIDLookup(root); err != nil {
					return fmt.Errorf("apply etc: %w", err)
				}
			}
			if err := writeCopy(dst, a, le, ids); err != nil {
				return fmt.Errorf("make /etc/%s: %w", a.Path, err)
			}
		}
	}
	return writeLedger(root, plan.Ledger)
}

func writeCopy(dst string, a EtcAction, le LedgerEntry, ids *idLookup) error {
	data, err := os.ReadFile(a.Source)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != le.SHA256 {
		return fmt.Errorf("%s changed since the plan was made", a.Source)
	}
	uid, ok := ids.uid(le.User)
	if !ok {
		return fmt.Errorf("owner %q not in /etc/passwd", le.User)
	}
	gid, ok := ids.gid(le.Group)
	if !ok {
		return fmt.Errorf("group %q not in /etc/group", le.Group)
	}
	mode, err := toplevel.ParseMode(le.Mode)
	if err != nil {
		return err
	}
	return fsutil.WriteFileOwned(dst, data, mode, uid, gid)
}

func writeLedger(root string, l Ledger) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return fmt.Errorf("write etc ledger: %w", err)
	}
	name := under(root, LedgerFile)
	if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, append(b, '\n')) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("write etc ledger: %w", err)
	}
	if err := fsutil.WriteFile(name, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write etc ledger: %w", err)
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
