package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-os/kiln/internal/fsutil"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/activation"
	"github.com/kiln-os/kiln/boot"
	"github.com/kiln-os/kiln/store"
)

// What switch, rollback and generations share: the machine under a root
// directory (/ on a kiln machine, a temp dir in tests), its store and
// profile, its ESP at /boot, and the activation engine behind an
// interface.

// profileName is the system profile (kiln/var/profiles/system).
const profileName = "system"

// engine is what switching needs of the activation engine (package
// activation); tests substitute a recording one.
type engine interface {
	// Plan returns the printable plan of switching root from the toplevel
	// from (empty: none active) to the toplevel to.
	Plan(ctx context.Context, root, from, to string) (string, error)
	// Switch activates to on root and reports what it did.
	Switch(ctx context.Context, root, to string, o switchOpts) (switchResult, error)
	Close()
}

// switchOpts are the engine's options.
type switchOpts struct {
	log     func(string)
	crashAt string // fault injection point (KILN_TEST_FAULTS=1 only)
}

// switchResult is what an activation did.
type switchResult struct {
	Summary string   // printable report
	Failed  []string // units failed after the switch
	Errors  []string // activation steps and unit jobs that failed
}

// machine is a kiln machine under root.
type machine struct {
	root string
	st   *store.Store
}

// openMachine opens the machine at root with its store (--store, else
// root/kiln/store) and points r.Store at that store.
func openMachine(r *Run, root string) (*machine, error) {
	root = r.Path(root)
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("machine root %s is not a directory", root)
	}
	dir := r.Store
	if dir == "" {
		dir = filepath.Join(root, "kiln", "store")
	}
	r.Store = r.Path(dir)
	st, err := store.Open(r.Store)
	if err != nil {
		return nil, err
	}
	return &machine{root: root, st: st}, nil
}

func (m *machine) espDir() string { return filepath.Join(m.root, "boot") }
func (m *machine) loaderFile() string {
	return filepath.Join(m.root, "kiln", "var", "lib", "bootloader.json")
}
func (m *machine) runLink(n string) string { return filepath.Join(m.root, "run", n) }

// systemAt returns the toplevel a link such as /run/current-system points
// to (zero when there is none).
func (m *machine) systemAt(name string) store.Path {
	target, err := os.Readlink(m.runLink(name))
	if err != nil {
		return store.Path{}
	}
	p, err := store.ParsePath(filepath.Base(target))
	if err != nil {
		return store.Path{}
	}
	return p
}

// generations lists the system profile's generations and the current one.
func (m *machine) generations() ([]store.Generation, int, error) {
	gens, err := m.st.Generations(profileName)
	if err != nil {
		return nil, 0, err
	}
	cur := 0
	for _, g := range gens {
		if g.Current {
			cur = g.N
		}
	}
	return gens, cur, nil
}

// lock takes the machine's switch lock (activation.LockSwitch) for the
// whole of a switch, rollback or deletion: profile, boot entries and
// activation; a second one fails at once instead of interleaving.
func (m *machine) lock() (unlock func(), err error) {
	return activation.LockSwitch(m.root)
}

// removeGeneration deletes generation n's link (never the current one:
// callers check). Its store paths stay until kiln gc.
func (m *machine) removeGeneration(n int) error {
	link := filepath.Join(m.st.ProfileDir(), fmt.Sprintf("%s-%d-link", profileName, n))
	if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete generation %d: %w", n, err)
	}
	return nil
}

// loaderSettings are the bootloader options of the configuration last
// switched to; kept in kiln/var/lib/bootloader.json so that rollback and
// generations delete rewrite the ESP the same way.
type loaderSettings struct {
	Version        int    `json:"version"`
	Timeout        int    `json:"timeout"`
	MaxGenerations int    `json:"max_generations"`
	ConsoleMode    string `json:"console_mode"`
	Editor         bool   `json:"editor"`
}

// defaultLoader is the module defaults (modules/options.go).
var defaultLoader = loaderSettings{Version: 1, Timeout: 3, MaxGenerations: 10, ConsoleMode: "keep"}

func (m *machine) readLoader() loaderSettings {
	b, err := os.ReadFile(m.loaderFile())
	if err != nil {
		return defaultLoader
	}
	var l loaderSettings
	if json.Unmarshal(b, &l) != nil || l.Version != 1 {
		return defaultLoader
	}
	return l
}

func (m *machine) saveLoader(l loaderSettings) error {
	l.Version = 1
	b, _ := json.MarshalIndent(l, "", "  ")
	name := m.loaderFile()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return fsutil.WriteFile(name, append(b, '\n'), 0o644)
}

// syncBoot rewrites the ESP for every generation, the current one default.
func (m *machine) syncBoot(ctx context.Context, l loaderSettings) (boot.ESPPlan, error) {
	if fi, err := os.Stat(m.espDir()); err != nil || !fi.IsDir() {
		return boot.ESPPlan{}, fmt.Errorf("no ESP at %s: is it mounted?", m.espDir())
	}
	if m.root == "/" && !mountPoint("/boot") {
		// entries written into the root file system would boot nothing
		return boot.ESPPlan{}, errors.New("the ESP is not mounted at /boot")
	}
	gens, cur, err := boot.ProfileGenerations(m.st, profileName)
	if err != nil {
		return boot.ESPPlan{}, err
	}
	cfg := boot.LoaderConfig{Timeout: l.Timeout, ConsoleMode: l.ConsoleMode, Editor: l.Editor, MaxGenerations: l.MaxGenerations}
	for _, g := range gens {
		if g.N != cur {
			continue
		}
		top, err := store.ParsePath(g.Toplevel)
		if err != nil {
			return boot.ESPPlan{}, err
		}
		closure, err := m.st.Closure(top)
		if err != nil {
			return boot.ESPPlan{}, err
		}
		for _, p := range closure {
			if strings.HasPrefix(p.Name(), "systemd-boot-efi-") {
				cfg.SystemdBoot = p.String() + "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
			}
		}
	}
	return boot.SyncESP(ctx, m.st, m.espDir(), gens, cur, cfg)
}

// activate switches the running system to top.
func (m *machine) activate(ctx context.Context, r *Run, top store.Path) error {
	eng, err := newEngine(ctx, m.root)
	if err != nil {
		return err
	}
	defer eng.Close()
	start := time.Now()
	res, err := eng.Switch(ctx, m.root, top.String(), switchOpts{
		log: func(line string) { r.Logf("%s", line) }, crashAt: r.crashAt()})
	if res.Summary != "" {
		r.Printf("%s", strings.TrimSuffix(res.Summary, "\n")+"\n")
	}
	if err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("the switch to %s had %d error%s: %s", top, len(res.Errors), plural(len(res.Errors)), strings.Join(res.Errors, "; "))
	}
	r.Logf("activated %s in %s", top, time.Since(start).Round(time.Millisecond))
	if len(res.Failed) > 0 {
		return fmt.Errorf("%d unit%s failed after the switch: %s", len(res.Failed), plural(len(res.Failed)), strings.Join(res.Failed, ", "))
	}
	return nil
}

// crashAt is the fault injection point of a test (KILN_TEST_CRASH_AT),
// honoured only with KILN_TEST_FAULTS=1. The CLI's own points are
// "after-profile" (generation added, ESP not yet written) and
// "after-esp" (entries written, not activated); the others belong to
// activation.Switch.
func (r *Run) crashAt() string {
	if r.Getenv("KILN_TEST_FAULTS") != "1" {
		return ""
	}
	return r.Getenv("KILN_TEST_CRASH_AT")
}

// fault kills kiln at point when a test asked for it.
func (r *Run) fault(point string) {
	if p := r.crashAt(); p != "" && p == point {
		killSelf()
	}
}

// mountPoint reports whether dir is on another file system than its parent.
func mountPoint(dir string) bool {
	var a, b unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// dirSize is the sum of the sizes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
