package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-os/kiln/toplevel"

	"github.com/kiln-os/kiln/store"
)

type generationsFlags struct {
	olderThan string
	root      string
	now       string // hidden: the time --older-than counts from (tests)
}

func init() {
	register(&command{
		name:    "generations",
		summary: "list the system's generations, or delete old ones",
		usage: `kiln generations [--json]
kiln generations delete N... | --older-than 30d

generations lists every generation of the system profile: its number,
when it was made, its kiln and kernel versions, and which one is current
(the profile's, what switch and rollback set) and which one booted.

delete removes the given generations, or those made more than the given
age ago (30d, 12h, 90m), then rewrites the boot entries without them. The
current and the booted generation are never deleted. 'kiln gc' then
frees the store paths no generation uses any more.`,
		flags: func(fs *flag.FlagSet) any {
			f := &generationsFlags{root: "/"}
			fs.StringVar(&f.olderThan, "older-than", "", "with delete: delete generations older than `AGE` (30d, 12h)")
			if hidden(fs) {
				fs.StringVar(&f.root, "root", "/", "machine root `DIR` (tests)")
				fs.StringVar(&f.now, "now", "", "count ages from this RFC 3339 `TIME` (tests)")
			}
			return f
		},
		run: runGenerations,
	})
}

// generationInfo is one line of kiln generations.
type generationInfo struct {
	N             int        `json:"number"`
	Date          time.Time  `json:"date"`
	Toplevel      store.Path `json:"toplevel"`
	KilnVersion   string     `json:"kilnVersion"`
	KernelVersion string     `json:"kernelVersion"`
	Current       bool       `json:"current"`
	Booted        bool       `json:"booted"`
}

func runGenerations(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*generationsFlags)
	deleting := len(args) > 0 && args[0] == "delete"
	switch {
	case !deleting && (len(args) > 0 || f.olderThan != ""):
		return usageErrorf("want 'kiln generations' or 'kiln generations delete N...|--older-than AGE'")
	case deleting && (len(args) > 1) == (f.olderThan != ""):
		return usageErrorf("delete wants generation numbers or --older-than, not both or neither")
	}
	m, err := openMachine(r, f.root)
	if err != nil {
		return err
	}
	if deleting {
		unlock, err := m.lock()
		if err != nil {
			return err
		}
		defer unlock()
	}
	infos, err := m.generationInfos()
	if err != nil {
		return err
	}
	if !deleting {
		return printGenerations(r, infos)
	}
	var del []int
	if f.olderThan != "" {
		age, err := parseAge(f.olderThan)
		if err != nil {
			return usageErrorf("--older-than: %v", err)
		}
		now := time.Now()
		if f.now != "" {
			if now, err = time.Parse(time.RFC3339, f.now); err != nil {
				return usageErrorf("--now: %v", err)
			}
		}
		for _, g := range infos {
			if now.Sub(g.Date) > age && !g.Current && !g.Booted {
				del = append(del, g.N)
			}
		}
	} else {
		byN := map[int]generationInfo{}
		for _, g := range infos {
			byN[g.N] = g
		}
		for _, a := range args[1:] {
			n, err := strconv.Atoi(a)
			if err != nil || n < 1 {
				return usageErrorf("generation %q: want a number", a)
			}
			g, ok := byN[n]
			switch {
			case !ok:
				return fmt.Errorf("no generation %d", n)
			case g.Current:
				return fmt.Errorf("generation %d is the current one: switch or roll back to another first", n)
			case g.Booted:
				return fmt.Errorf("generation %d is the one that booted: reboot into another first", n)
			}
			del = append(del, n)
		}
	}
	return m.deleteGenerations(ctx, r, del)
}

func (m *machine) deleteGenerations(ctx context.Context, r *Run, del []int) error {
	if len(del) == 0 {
		r.Printf("no generation to delete\n")
		return nil
	}
	for _, n := range del {
		if err := m.removeGeneration(n); err != nil {
			return err
		}
		r.Printf("deleted generation %d\n", n)
	}
	if _, err := os.Stat(filepath.Join(m.espDir(), "loader")); err != nil {
		return nil // no ESP here (an image being prepared, a test)
	}
	if _, err := m.syncBoot(ctx, m.readLoader()); err != nil {
		return fmt.Errorf("rewrite boot entries: %w", err)
	}
	r.Printf("boot entries rewritten; run 'kiln gc' to free their store paths\n")
	return nil
}

// generationInfos reads every generation's versions and marks.
func (m *machine) generationInfos() ([]generationInfo, error) {
	gens, _, err := m.generations()
	if err != nil {
		return nil, err
	}
	booted := m.systemAt("booted-system")
	var out []generationInfo
	for _, g := range gens {
		gi := generationInfo{N: g.N, Date: g.Created, Toplevel: g.Path, Current: g.Current, Booted: g.Path == booted}
		dir := m.st.Physical(g.Path)
		if b, err := os.ReadFile(filepath.Join(dir, "kiln-version")); err == nil {
			gi.KilnVersion = strings.TrimSpace(string(b))
		}
		if bs, err := toplevel.ReadBootspec(filepath.Join(dir, "boot.json")); err == nil {
			// <hash>-vmlinuz-<ver> (a store file) or .../boot/vmlinuz-<ver>
			if k, err := m.st.ResolveLogical(bs.Kernel); err == nil {
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

func printGenerations(r *Run, infos []generationInfo) error {
	if r.JSON {
		return storeJSON(r, append([]generationInfo{}, infos...))
	}
	r.Printf("%4s  %-19s  %-8s  %-24s  %s\n", "GEN", "DATE", "KILN", "KERNEL", "")
	for _, g := range infos {
		var marks []string
		if g.Current {
			marks = append(marks, "current")
		}
		if g.Booted {
			marks = append(marks, "booted")
		}
		r.Printf("%4d  %-19s  %-8s  %-24s  %s\n", g.N, g.Date.Local().Format("2006-01-02 15:04:05"),
			orDash(g.KilnVersion), orDash(g.KernelVersion), strings.Join(marks, ","))
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseAge reads 30d, 12h, 90m, 1h30m.
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("age %q: want a number of days like 30d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("age %q: want 30d, 12h or 90m", s)
	}
	return d, nil
}
