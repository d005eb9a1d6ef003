package machine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-os/kiln/boot"
	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/store"
)

// Result is what Switch or Rollback did.
type Result struct {
	Generation int        // the generation now current and the default boot entry
	Toplevel   store.Path // its toplevel
	Created    bool       // Switch: a new generation (false: it was current already)
	// Activation is what activating it did; nil when only the boot
	// entries changed (bootOnly) or the activation did not start.
	Activation *Activation
}

// Activation is what the activation engine did.
type Activation struct {
	EngineResult
	Took time.Duration
}

// Plan returns what activating top would do on the machine, printable;
// it changes nothing (kiln switch --dry-run).
func (m *Machine) Plan(ctx context.Context, top store.Path) (string, error) {
	eng, err := m.engine(ctx)
	if err != nil {
		return "", err
	}
	defer eng.Close()
	return eng.Plan(ctx, m.Root, m.System("current-system"), top)
}

// Switch makes top (valid in the machine's store) the system profile's
// current generation (a new one unless it is current already), rewrites
// the boot entries with it as the default and, unless bootOnly, activates
// it. When the ESP cannot be written the profile is put back as it was:
// the machine keeps booting and running what it did. An activation that
// reports errors or failed units returns its Activation with the error.
func (m *Machine) Switch(ctx context.Context, top store.Path, bootOnly bool) (*Result, error) {
	unlock, err := m.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	prev, err := m.current()
	if err != nil {
		return nil, err
	}
	n, created, err := m.Store.AddGeneration(Profile, top)
	if err != nil {
		return nil, err
	}
	m.fault("after-profile")
	if _, err := m.InstallBoot(ctx); err != nil {
		if created {
			m.Store.RevertGeneration(Profile, n, prev)
		}
		return nil, fmt.Errorf("install boot entries (generation %d not added): %w", n, err)
	}
	m.fault("after-esp")
	res := &Result{Generation: n, Toplevel: top, Created: created}
	if bootOnly {
		return res, nil
	}
	res.Activation, err = m.activate(ctx, top)
	return res, err
}

// Rollback makes generation to (0: the highest below the current one)
// current and the default boot entry, and unless bootOnly activates it.
// When the ESP cannot be written the profile stays at the current
// generation.
func (m *Machine) Rollback(ctx context.Context, to int, bootOnly bool) (*Result, error) {
	unlock, err := m.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	gens, err := m.Store.Generations(Profile)
	if err != nil {
		return nil, err
	}
	cur := 0
	for _, g := range gens {
		if g.Current {
			cur = g.N
		}
	}
	want := to
	if want == 0 {
		for _, g := range gens {
			if g.N < cur {
				want = g.N // the highest below the current one
			}
		}
		if want == 0 {
			return nil, fmt.Errorf("no generation before the current one (%d) to roll back to", cur)
		}
	}
	var top store.Path
	for _, g := range gens {
		if g.N == want {
			top = g.Path
		}
	}
	if top.IsZero() {
		return nil, fmt.Errorf("no generation %d (see 'kiln generations')", want)
	}
	// A pending confirmed switch to cur ends with this rollback (the
	// dead-man switch runs it) once it has activated: until then the
	// machine is not back (sshd may not run yet).
	endsPending, installed := false, false
	defer func() {
		if endsPending && installed {
			m.clearPending()
		}
	}()
	if want != cur {
		if err := m.Store.SetCurrent(Profile, want); err != nil {
			return nil, err
		}
		if err := m.markBad(cur); err != nil {
			return nil, err
		}
		if p, err := m.ReadPending(); err == nil && p != nil && p.Generation == cur {
			endsPending = true
		}
	}
	if _, err := m.InstallBoot(ctx); err != nil {
		if want != cur && cur > 0 {
			m.Store.SetCurrent(Profile, cur)
		}
		return nil, fmt.Errorf("install boot entries (still at generation %d): %w", cur, err)
	}
	installed = true
	res := &Result{Generation: want, Toplevel: top}
	if bootOnly {
		return res, nil
	}
	res.Activation, err = m.activate(ctx, top)
	return res, err
}

// markBad renames generation n's entry to +0 when it is pending: a
// generation rolled back from before it ever reached boot-complete.target
// is not one systemd-boot should fall back to (it sorts last).
func (m *Machine) markBad(n int) error {
	entries, err := boot.ReadEntries(os.DirFS(m.ESP()))
	if err != nil {
		return err
	}
	es := entries[n]
	if len(es) == 0 || es[0].State() != boot.EntryPending {
		return nil
	}
	dir := filepath.Join(m.ESP(), boot.EntriesDir)
	bad := strings.TrimSuffix(es[0].File, ".conf")
	bad = bad[:strings.LastIndexByte(bad, '+')] + "+0-" + strconv.Itoa(es[0].Done) + ".conf"
	if err := os.Rename(filepath.Join(dir, es[0].File), filepath.Join(dir, bad)); err != nil {
		return fmt.Errorf("mark generation %d's entry bad: %w", n, err)
	}
	m.logf("generation %d's entry %s is now %s", n, es[0].File, bad)
	return fsutil.SyncDir(dir)
}

// DeleteResult is what DeleteGenerations or DeleteOlderThan did.
type DeleteResult struct {
	Deleted       []int
	BootRewritten bool // the ESP's entries were rewritten without them
}

// DeleteGenerations deletes the generations nums (their links: kiln gc
// frees their store paths) and rewrites the boot entries without them.
// It refuses, before deleting any, a number that is no generation, the
// current generation and the one that booted.
func (m *Machine) DeleteGenerations(ctx context.Context, nums []int) (*DeleteResult, error) {
	return m.deleteSome(ctx, func(gens []Generation) ([]int, error) {
		byN := map[int]Generation{}
		for _, g := range gens {
			byN[g.N] = g
		}
		for _, n := range nums {
			g, ok := byN[n]
			switch {
			case !ok:
				return nil, fmt.Errorf("no generation %d", n)
			case g.Current:
				return nil, fmt.Errorf("generation %d is the current one: switch or roll back to another first", n)
			case g.Booted:
				return nil, fmt.Errorf("generation %d is the one that booted: reboot into another first", n)
			}
		}
		return nums, nil
	})
}

// DeleteOlderThan deletes, as DeleteGenerations does, the generations made
// more than age before now, except the current and the booted one.
func (m *Machine) DeleteOlderThan(ctx context.Context, age time.Duration, now time.Time) (*DeleteResult, error) {
	return m.deleteSome(ctx, func(gens []Generation) ([]int, error) {
		var del []int
		for _, g := range gens {
			if now.Sub(g.Date) > age && !g.Current && !g.Booted {
				del = append(del, g.N)
			}
		}
		return del, nil
	})
}

// deleteSome deletes the generations pick chooses, under the lock.
func (m *Machine) deleteSome(ctx context.Context, pick func([]Generation) ([]int, error)) (*DeleteResult, error) {
	unlock, err := m.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	gens, err := m.Generations()
	if err != nil {
		return nil, err
	}
	del, err := pick(gens)
	if err != nil {
		return nil, err
	}
	return m.deleteGenerations(ctx, del)
}

func (m *Machine) deleteGenerations(ctx context.Context, del []int) (*DeleteResult, error) {
	res := &DeleteResult{}
	if len(del) == 0 {
		return res, nil
	}
	for _, n := range del {
		if err := m.Store.DeleteGeneration(Profile, n); err != nil {
			return res, err
		}
		res.Deleted = append(res.Deleted, n)
	}
	if _, err := os.Stat(filepath.Join(m.ESP(), "loader")); err != nil {
		return res, nil // no ESP here (an image being prepared, a test)
	}
	if _, err := m.InstallBoot(ctx); err != nil {
		return res, fmt.Errorf("rewrite boot entries: %w", err)
	}
	res.BootRewritten = true
	return res, nil
}

// engine connects to the machine's activation engine.
func (m *Machine) engine(ctx context.Context) (Engine, error) {
	if m.Engine != nil {
		return m.Engine(ctx, m.Root)
	}
	return ConnectSystemd(ctx, m.Root)
}

// activate switches the running system to top. Errors of the activation
// and units failed after it are the error.
func (m *Machine) activate(ctx context.Context, top store.Path) (*Activation, error) {
	eng, err := m.engine(ctx)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	start := time.Now()
	res, err := eng.Switch(ctx, m.Root, top, EngineOptions{Log: m.Log, CrashAt: m.CrashAt, OnCrash: m.OnCrash})
	act := &Activation{EngineResult: res, Took: time.Since(start)}
	if err != nil {
		return act, err
	}
	if len(res.Errors) > 0 {
		return act, fmt.Errorf("the switch to %s had %d error%s: %s", top, len(res.Errors), plural(len(res.Errors)), strings.Join(res.Errors, "; "))
	}
	if len(res.Failed) > 0 {
		return act, fmt.Errorf("%d unit%s failed after the switch: %s", len(res.Failed), plural(len(res.Failed)), strings.Join(res.Failed, ", "))
	}
	return act, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
