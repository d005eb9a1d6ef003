package machine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf16"

	"github.com/kiln-os/kiln/boot"
)

// LoaderBootCountPathVar is the EFI variable in which systemd-boot names
// the counted entry it booted (efivarfs, under the machine root).
const LoaderBootCountPathVar = "sys/firmware/efi/efivars/LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

// checkUnitPrefix names the health check units system generates
// (system.CheckUnitPrefix; machine does not import system).
const checkUnitPrefix = "kiln-check-"

// BootCount returns the entry systemd-boot counted for this boot, and
// whether it did: false when the boot entry had no counter, or it was
// blessed since (the counted file is gone).
func (m *Machine) BootCount() (boot.Entry, bool, error) {
	b, err := os.ReadFile(filepath.Join(m.Root, LoaderBootCountPathVar))
	if errors.Is(err, fs.ErrNotExist) {
		return boot.Entry{}, false, nil
	}
	if err != nil {
		return boot.Entry{}, false, fmt.Errorf("read LoaderBootCountPath: %w", err)
	}
	p := decodeEFIString(b)
	e, ok := boot.ParseEntryName(path.Base(strings.ReplaceAll(p, `\`, "/")))
	if !ok || !e.Counted {
		return boot.Entry{}, false, nil
	}
	if _, err := os.Stat(filepath.Join(m.ESP(), boot.EntriesDir, e.File)); err != nil {
		return boot.Entry{}, false, nil // blessed (or renamed) since
	}
	return e, true, nil
}

// decodeEFIString reads an efivarfs file holding a UTF-16LE string: 4
// bytes of attributes, then the string, maybe NUL-terminated.
func decodeEFIString(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	b = b[4:]
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := uint16(b[i]) | uint16(b[i+1])<<8
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// Fallback is what a failed health check at boot leads to.
type Fallback struct {
	Reboot bool
	Why    string
}

// DecideFallback says whether a failed health check reboots: only a
// counted boot does (the counter then runs down and systemd-boot falls
// back to the previous good generation), and only while another
// generation's entry can boot; else the machine stays up to be repaired.
func (m *Machine) DecideFallback() (Fallback, error) {
	e, counted, err := m.BootCount()
	if err != nil {
		return Fallback{}, err
	}
	if !counted {
		return Fallback{Why: "this boot is not counted (its entry is good, or boot counting is off): staying up"}, nil
	}
	entries, err := boot.ReadEntries(os.DirFS(m.ESP()))
	if err != nil {
		return Fallback{}, err
	}
	if e.Left > 0 {
		return Fallback{Reboot: true, Why: fmt.Sprintf("generation %d has %d tr%s left: rebooting", e.N, e.Left, map[bool]string{true: "y", false: "ies"}[e.Left == 1])}, nil
	}
	var others []int
	for n, es := range entries {
		if n != e.N && es[0].State() != boot.EntryBad {
			others = append(others, n)
		}
	}
	if len(others) == 0 {
		return Fallback{Why: fmt.Sprintf("generation %d is bad and no other generation can boot: staying up", e.N)}, nil
	}
	sort.Sort(sort.Reverse(sort.IntSlice(others)))
	return Fallback{Reboot: true, Why: fmt.Sprintf("generation %d is bad: rebooting into generation %d", e.N, others[0])}, nil
}

// Reboot asks systemd to reboot the machine.
func (m *Machine) Reboot(ctx context.Context) error {
	if m.Root != "/" {
		return fmt.Errorf("cannot reboot the machine under %s", m.Root)
	}
	if out, err := exec.CommandContext(ctx, "systemctl", "reboot").CombinedOutput(); err != nil {
		return fmt.Errorf("systemctl reboot: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// CheckResult is one health check's outcome.
type CheckResult struct {
	Name   string `json:"name"` // the unit, or "failed units"
	OK     bool   `json:"ok"`
	Output string `json:"output,omitempty"` // the check's journal output (last lines)
}

// HealthError is a failed health check run: the checks that failed, with
// their output.
type HealthError struct{ Failed []CheckResult }

func (e *HealthError) Error() string {
	var b strings.Builder
	for i, c := range e.Failed {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString("health check " + c.Name + " failed")
		if c.Output != "" {
			b.WriteString(": " + strings.ReplaceAll(strings.TrimSpace(c.Output), "\n", " | "))
		}
	}
	return b.String()
}

// CheckUnits lists the running system's health check units.
func (m *Machine) CheckUnits() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(m.Root, "etc", "systemd", "system"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var units []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), checkUnitPrefix) && strings.HasSuffix(e.Name(), ".service") {
			units = append(units, e.Name())
		}
	}
	return units, nil
}

// RunHealthChecks runs every health check unit of the running system
// again (systemctl restart waits for a oneshot) and then checks that no
// unit failed. The error is a *HealthError naming each failure with its
// journal output.
func (m *Machine) RunHealthChecks(ctx context.Context) ([]CheckResult, error) {
	if m.Root != "/" {
		return nil, fmt.Errorf("cannot run the health checks of the machine under %s", m.Root)
	}
	units, err := m.CheckUnits()
	if err != nil {
		return nil, err
	}
	var res []CheckResult
	herr := &HealthError{}
	for _, u := range units {
		r := CheckResult{Name: u, OK: true}
		if err := exec.CommandContext(ctx, "systemctl", "restart", u).Run(); err != nil {
			r.OK = false
			r.Output = unitOutput(ctx, u)
			herr.Failed = append(herr.Failed, r)
		}
		res = append(res, r)
	}
	out, err := exec.CommandContext(ctx, "systemctl", "list-units", "--state=failed", "--plain", "--no-legend", "--no-pager").Output()
	if err != nil {
		return res, fmt.Errorf("list failed units: %w", err)
	}
	r := CheckResult{Name: "no failed units", OK: true}
	var failed []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], checkUnitPrefix) {
			failed = append(failed, f[0])
		}
	}
	if len(failed) > 0 {
		r.OK, r.Output = false, "failed: "+strings.Join(failed, " ")
		herr.Failed = append(herr.Failed, r)
	}
	res = append(res, r)
	if len(herr.Failed) > 0 {
		return res, herr
	}
	return res, nil
}

// unitOutput is the journal of a unit's last run, its last 20 lines.
func unitOutput(ctx context.Context, unit string) string {
	id, _ := exec.CommandContext(ctx, "systemctl", "show", "-p", "InvocationID", "--value", unit).Output()
	args := []string{"-o", "cat", "-n", "20", "--no-pager"}
	if s := strings.TrimSpace(string(id)); s != "" {
		args = append(args, "_SYSTEMD_INVOCATION_ID="+s) // what the run printed
	} else {
		args = append(args, "-u", unit)
	}
	out, _ := exec.CommandContext(ctx, "journalctl", args...).Output()
	return strings.TrimSpace(string(out))
}

// SettleFallback makes the booted generation current and the default
// again when systemd-boot fell back to it: the current generation's entry
// is bad and another generation booted. Without this the profile would
// keep naming the bad generation, and the next switch would build on it.
// It returns the generation made current (0: nothing to do). The running
// system is the booted one already, so nothing is activated.
//
// It also ends a confirmed switch the machine was reset during: the
// previous generation booted and becomes current again.
func (m *Machine) SettleFallback(ctx context.Context) (int, error) {
	if n, err := m.settlePending(ctx); err != nil || n > 0 {
		return n, err
	}
	booted := m.System("booted-system")
	if booted.IsZero() {
		return 0, nil
	}
	gens, err := m.Generations()
	if err != nil {
		return 0, err
	}
	var cur, to Generation
	for _, g := range gens {
		if g.Current {
			cur = g
		}
		if g.Toplevel == booted && to.N == 0 || g.Toplevel == booted && g.N > to.N {
			to = g
		}
	}
	if cur.N == 0 || to.N == 0 || cur.Booted || cur.Boot != boot.EntryBad {
		return 0, nil
	}
	m.logf("generation %d is bad and generation %d booted: making %d current", cur.N, to.N, to.N)
	if _, err := m.Rollback(ctx, to.N, true); err != nil {
		return 0, err
	}
	return to.N, nil
}
