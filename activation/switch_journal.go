package activation

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/internal/versioned"
)

// Files of a switch, relative to the machine's root.
const (
	SwitchLockFile = "/kiln/var/lib/switch.lock"
	JournalFile    = "/kiln/var/lib/switch-journal.json"
)

// JournalVersion is the version of the switch journal written; readers
// accept every version up to it. Version 2 added activation.
const JournalVersion = 2

// ErrSwitchRunning is returned when another switch holds the lock.
var ErrSwitchRunning = errors.New("another switch is running")

// Journal is what a switch still has to do, rewritten (temp, fsync,
// rename) after each step, so that a switch interrupted at any point is
// finished by the next one.
type Journal struct {
	Version int `json:"version"`
	// BootID is the kernel's boot id when the journal was written: after
	// a reboot the booted generation was activated whole, and the jobs
	// are stale.
	BootID string `json:"boot_id,omitempty"`
	From   string `json:"from"`
	To     string `json:"to"`
	// Activation is the activation the switch planned and applies (what
	// --dry-run printed): users, etc, host name and wrappers. A record:
	// a switch finishing an interrupted one plans its activation again.
	// Nil in a version 1 journal.
	Activation *ActivationPlan `json:"activation,omitempty"`
	Activated  bool            `json:"activated"` // the activation has run
	// DaemonReload: still to do.
	DaemonReload bool         `json:"daemon_reload"`
	Stop         []UnitAction `json:"stop"`
	Reload       []UnitAction `json:"reload"`
	Restart      []UnitAction `json:"restart"`
	Start        []UnitAction `json:"start"`
}

// ReadJournal reads root's pending switch journal; nil when there is none.
func ReadJournal(root string) (*Journal, error) {
	name := under(root, JournalFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read switch journal: %w", err)
	}
	var j Journal
	if _, err := versioned.Decode(b, JournalVersion, &j); err != nil {
		return nil, fmt.Errorf("switch journal %s: %w", name, err)
	}
	if j.To == "" {
		return nil, fmt.Errorf("switch journal %s: no target toplevel", name)
	}
	return &j, nil
}

// bootID reads the machine's boot id ("" when unknown, as in tests).
func bootID(root string) string {
	b, err := os.ReadFile(under(root, "/proc/sys/kernel/random/boot_id"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func writeJournal(root string, j *Journal) error {
	j.Version = JournalVersion
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return fmt.Errorf("write switch journal: %w", err)
	}
	name := under(root, JournalFile)
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("write switch journal: %w", err)
	}
	if err := fsutil.WriteFile(name, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write switch journal: %w", err)
	}
	return nil
}

func removeJournal(root string) error {
	name := under(root, JournalFile)
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove switch journal: %w", err)
	}
	return fsutil.SyncDir(filepath.Dir(name))
}

// LockSwitch takes root's switch lock without waiting (ErrSwitchRunning
// when another process holds it). A command that does more than Switch
// under one lock (profile, boot entries) takes it first and passes
// SwitchOptions.HoldsLock. The lock is an flock on an open file: it goes
// away with the process, so a killed switch never leaves it behind.
func LockSwitch(root string) (unlock func(), err error) {
	name := under(root, SwitchLockFile)
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return nil, fmt.Errorf("lock switch: %w", err)
	}
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock switch: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", name, ErrSwitchRunning)
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}
