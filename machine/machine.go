// Package machine owns a kiln machine: its root directory (/ on a kiln
// machine, a temporary directory in tests), its store and system profile,
// its ESP at /boot and its running system. It carries out the
// transactions that change them, each under the machine's switch lock and
// in an order that keeps the machine bootable whatever fails: add a
// generation, install the boot entries, activate (Switch); roll back;
// delete generations. It also deploys to a remote machine over SSH (the
// building side of kiln switch --target-host: copy the closure, run the
// target's kiln).
//
// It does not build toplevels (package system does), write boot entries
// itself (package boot does) or apply activations (package activation
// does), and it never prints: results and progress callbacks say what
// happened.
package machine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/activation"
	"github.com/kiln-os/kiln/boot"
	"github.com/kiln-os/kiln/internal/versioned"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// Profile is the system profile (kiln/var/profiles/system).
const Profile = "system"

// Machine is a kiln machine under Root.
type Machine struct {
	Root  string
	Store *store.Store
	// Engine connects to the activation engine of the machine; nil is
	// ConnectSystemd.
	Engine func(ctx context.Context, root string) (Engine, error)
	// Log receives progress lines (may be nil).
	Log func(format string, a ...any)
	// CrashAt is a fault injection point of a test (the CLI sets it only
	// with KILN_TEST_FAULTS=1): "after-profile" (generation added, ESP not
	// yet written), "after-esp" (entries written, not activated) and those
	// of activation.Switch. OnCrash is called there (a command kills
	// itself).
	CrashAt string
	OnCrash func(point string)
	// DeadMan arms the dead-man switch of confirmed switches; nil is
	// SystemdDeadMan.
	DeadMan DeadMan
	// Checks runs the health checks for Confirm; nil is RunHealthChecks.
	Checks func(ctx context.Context) ([]CheckResult, error)

	legacyOnce   sync.Once
	legacyLoader *toplevel.Loader
	legacyErr    error
}

// Open opens the machine at root with the store at storeDir (""
// for root/kiln/store).
func Open(root, storeDir string) (*Machine, error) {
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("machine root %s is not a directory", root)
	}
	if storeDir == "" {
		storeDir = filepath.Join(root, "kiln", "store")
	}
	st, err := store.Open(storeDir)
	if err != nil {
		return nil, err
	}
	return &Machine{Root: root, Store: st}, nil
}

// Close closes the machine's store.
func (m *Machine) Close() error { return m.Store.Close() }

// ESP is where the machine's EFI System Partition is mounted.
func (m *Machine) ESP() string { return filepath.Join(m.Root, "boot") }

// System returns the toplevel a link such as /run/current-system (name
// "current-system") or /run/booted-system points to; zero when there is
// none.
func (m *Machine) System(name string) store.Path {
	target, err := os.Readlink(filepath.Join(m.Root, "run", name))
	if err != nil {
		return store.Path{}
	}
	p, err := store.ParsePath(filepath.Base(target))
	if err != nil {
		return store.Path{}
	}
	return p
}

// Generation is one generation of the system profile as kiln generations
// lists it.
type Generation struct {
	N             int        `json:"number"`
	Date          time.Time  `json:"date"`
	Toplevel      store.Path `json:"toplevel"`
	KilnVersion   string     `json:"kilnVersion"`
	KernelVersion string     `json:"kernelVersion"`
	Current       bool       `json:"current"`
	Booted        bool       `json:"booted"`
	// Boot is its boot entry's boot counting state: good (blessed or not
	// counted), pending (tries left) or bad (no tries left: systemd-boot
	// boots it only when nothing else is there); empty without an entry.
	Boot boot.EntryState `json:"boot,omitempty"`
}

// Generations lists the system profile's generations, oldest first, with
// their kiln and kernel versions and which one is current and booted.
func (m *Machine) Generations() ([]Generation, error) {
	gens, err := m.Store.Generations(Profile)
	if err != nil {
		return nil, err
	}
	booted := m.System("booted-system")
	entries, err := boot.ReadEntries(os.DirFS(m.ESP()))
	if err != nil {
		return nil, err
	}
	var out []Generation
	for _, g := range gens {
		gi := Generation{N: g.N, Date: g.Created, Toplevel: g.Path, Current: g.Current, Booted: g.Path == booted}
		if es := entries[g.N]; len(es) > 0 {
			gi.Boot = es[0].State()
		}
		dir := m.Store.Physical(g.Path)
		if b, err := os.ReadFile(filepath.Join(dir, "kiln-version")); err == nil {
			gi.KilnVersion = strings.TrimSpace(string(b))
		}
		if bs, err := toplevel.ReadBootspec(filepath.Join(dir, toplevel.BootspecFile)); err == nil {
			// <hash>-vmlinuz-<ver> (a store file) or .../boot/vmlinuz-<ver>
			if k, err := m.Store.ResolveLogical(bs.Kernel); err == nil {
				if _, ver, ok := strings.Cut(path.Base(k), "vmlinuz-"); ok {
					gi.KernelVersion = ver
				}
			}
			if gi.KilnVersion == "" {
				gi.KilnVersion = bs.KilnVersion
			}
		}
		out = append(out, gi)
	}
	return out, nil
}

// current returns the current generation's number (0: none).
func (m *Machine) current() (int, error) {
	gens, err := m.Store.Generations(Profile)
	if err != nil {
		return 0, err
	}
	for _, g := range gens {
		if g.Current {
			return g.N, nil
		}
	}
	return 0, nil
}

// Lock takes the machine's switch lock (activation.LockSwitch) for the
// whole of a switch, rollback or deletion: profile, boot entries and
// activation. A second one fails at once instead of interleaving.
// Switch, Rollback and DeleteGenerations take it themselves.
func (m *Machine) Lock() (unlock func(), err error) { return activation.LockSwitch(m.Root) }

// LegacyLoaderFile is where kiln before bootspec version 2 kept the boot
// loader settings of the configuration last switched to. It is read, for
// generations whose bootspec has none, and never written.
const LegacyLoaderFile = "kiln/var/lib/bootloader.json"

// legacyLoader is bootloader.json.
type legacyLoader struct {
	Version int `json:"version"`
	toplevel.Loader
}

// readLegacyLoader reads LegacyLoaderFile once; nil when there is none.
func (m *Machine) readLegacyLoader() (*toplevel.Loader, error) {
	m.legacyOnce.Do(func() {
		name := filepath.Join(m.Root, LegacyLoaderFile)
		b, err := os.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err == nil {
			var l legacyLoader
			if _, err = versioned.Decode(b, 1, &l); err == nil {
				m.legacyLoader = &l.Loader
				return
			}
		}
		m.legacyErr = fmt.Errorf("boot loader settings %s: %w", name, err)
	})
	return m.legacyLoader, m.legacyErr
}

// LoaderOf returns the boot loader settings the ESP is written with when
// g is the default: its bootspec's, else (a generation built before
// bootspec version 2) the machine's LegacyLoaderFile, else
// toplevel.DefaultLoader. Such a generation's entry is never counted:
// it may lack systemd-bless-boot, and its entry would go bad.
func (m *Machine) LoaderOf(g boot.Generation) (toplevel.Loader, error) {
	if g.Loader != nil {
		return *g.Loader, nil
	}
	l, err := m.readLegacyLoader()
	if err != nil || l == nil {
		def := toplevel.DefaultLoader
		def.BootCountingTries = 0
		return def, err
	}
	return *l, nil
}

// InstallBoot rewrites the ESP for every generation of the system profile,
// the current one the default, with the current one's boot loader
// settings and systemd-boot. It refuses an ESP that is not mounted.
func (m *Machine) InstallBoot(ctx context.Context) (boot.ESPPlan, error) {
	return m.installBoot(ctx, 0)
}

// installBoot is InstallBoot with generation def (0: the current one) the
// default entry, with its loader settings; the current one's new entry
// is counted all the same.
func (m *Machine) installBoot(ctx context.Context, def int) (boot.ESPPlan, error) {
	esp := m.ESP()
	if fi, err := os.Stat(esp); err != nil || !fi.IsDir() {
		return boot.ESPPlan{}, fmt.Errorf("no ESP at %s: is it mounted?", esp)
	}
	if m.Root == "/" && !mountPoint("/boot") {
		// entries written into the root file system would boot nothing
		return boot.ESPPlan{}, errors.New("the ESP is not mounted at /boot")
	}
	gens, cur, err := boot.ProfileGenerations(m.Store, Profile)
	if err != nil {
		return boot.ESPPlan{}, err
	}
	ci := slices.IndexFunc(gens, func(g boot.Generation) bool { return g.N == cur })
	count, i := 0, ci
	if def != 0 && def != cur {
		if i = slices.IndexFunc(gens, func(g boot.Generation) bool { return g.N == def }); i < 0 {
			return boot.ESPPlan{}, fmt.Errorf("no generation %d", def)
		}
		count = cur
	}
	settings, err := m.LoaderOf(gens[i])
	if err != nil {
		return boot.ESPPlan{}, err
	}
	cfg := boot.LoaderConfigOf(settings)
	if count != 0 {
		cur, cfg.Count = def, count
		if cs, err := m.LoaderOf(gens[ci]); err == nil {
			cfg.Tries = cs.BootCountingTries // the counted entry's own tries
		}
	}
	top, err := store.ParsePath(gens[i].Toplevel)
	if err != nil {
		return boot.ESPPlan{}, err
	}
	switch efi, err := boot.FindSystemdBoot(m.Store, top); {
	case err == nil:
		cfg.SystemdBoot = efi
	case !errors.Is(err, boot.ErrNoSystemdBoot):
		return boot.ESPPlan{}, err
	}
	// Without systemd-boot in the closure the loader files on the ESP stay.
	return boot.SyncESP(ctx, m.Store, esp, gens, cur, cfg)
}

// mountPoint reports whether dir is on another file system than its parent.
func mountPoint(dir string) bool {
	var a, b unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// fault calls OnCrash at point when a test asked for it.
func (m *Machine) fault(point string) {
	if m.CrashAt != "" && m.CrashAt == point && m.OnCrash != nil {
		m.OnCrash(point)
	}
}

func (m *Machine) logf(format string, a ...any) {
	if m.Log != nil {
		m.Log(format, a...)
	}
}
