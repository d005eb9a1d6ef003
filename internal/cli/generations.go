package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-os/kiln/internal/suggest"
	"github.com/kiln-os/kiln/machine"
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
		usage: `kiln generations [list] [--json]
kiln generations delete N... | --older-than 30d

generations lists every generation of the system profile: its number,
when it was made, its kiln and kernel versions, and which one is current
(the profile's, what switch and rollback set) and which one booted, and
its boot entry's state under boot counting: good (blessed, or not
counted), pending (tries left: not yet booted to boot-complete.target)
or bad (its tries ran out; systemd-boot boots the others first).

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

// suggestSub suggests a subcommand close to args[0].
func suggestSub(args []string, subs ...string) string {
	if len(args) == 0 {
		return ""
	}
	if best := suggest.Closest(args[0], subs, 2); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func runGenerations(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*generationsFlags)
	if len(args) == 1 && args[0] == "list" {
		args = nil // nix-env --list-generations' habit
	}
	deleting := len(args) > 0 && args[0] == "delete"
	switch {
	case !deleting && (len(args) > 0 || f.olderThan != ""):
		return usageErrorf("want 'kiln generations [list]' or 'kiln generations delete N...|--older-than AGE'%s", suggestSub(args, "list", "delete"))
	case deleting && (len(args) > 1) == (f.olderThan != ""):
		return usageErrorf("delete wants generation numbers or --older-than, not both or neither")
	}
	m, err := r.openMachine(f.root)
	if err != nil {
		return err
	}
	defer m.Close()
	if !deleting {
		gens, err := m.Generations()
		if err != nil {
			return err
		}
		return printGenerations(r, gens)
	}
	var res *machine.DeleteResult
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
		res, err = m.DeleteOlderThan(ctx, age, now)
		return r.deleted(res, err)
	}
	var nums []int
	for _, a := range args[1:] {
		n, err := strconv.Atoi(a)
		if err != nil || n < 1 {
			return usageErrorf("generation %q: want a number", a)
		}
		nums = append(nums, n)
	}
	res, err = m.DeleteGenerations(ctx, nums)
	return r.deleted(res, err)
}

// deleted prints what a deletion did and returns its error.
func (r *Run) deleted(res *machine.DeleteResult, err error) error {
	if res != nil {
		if len(res.Deleted) == 0 && err == nil {
			r.Printf("no generation to delete\n")
		}
		for _, n := range res.Deleted {
			r.Printf("deleted generation %d\n", n)
		}
		if res.BootRewritten {
			r.Printf("boot entries rewritten; run 'kiln gc' to free their store paths\n")
		}
	}
	return err
}

// generationsJSON is kiln generations --json (docs/json.md).
type generationsJSON struct {
	Version     int              `json:"version"`
	Generations []generationJSON `json:"generations"`
}

type generationJSON struct {
	Number        int    `json:"number"`
	Date          string `json:"date"` // RFC 3339, UTC
	Toplevel      string `json:"toplevel"`
	KilnVersion   string `json:"kiln_version"`
	KernelVersion string `json:"kernel_version"`
	Current       bool   `json:"current"`
	Booted        bool   `json:"booted"`
	// Boot is the generation's boot entry as boot counting sees it:
	// good, bad, pending, or "" (no entry on the ESP, or not known).
	Boot string `json:"boot"`
}

func printGenerations(r *Run, infos []machine.Generation) error {
	if r.JSON {
		out := generationsJSON{Version: 1, Generations: []generationJSON{}}
		for _, g := range infos {
			out.Generations = append(out.Generations, generationJSON{Number: g.N, Date: g.Date.UTC().Format(time.RFC3339),
				Toplevel: g.Toplevel.String(), KilnVersion: g.KilnVersion, KernelVersion: g.KernelVersion, Current: g.Current, Booted: g.Booted, Boot: string(g.Boot)})
		}
		return r.printJSON(out)
	}
	r.Printf("%4s  %-19s  %-8s  %-24s  %-7s  %s\n", "GEN", "DATE", "KILN", "KERNEL", "BOOT", "")
	for _, g := range infos {
		var marks []string
		if g.Current {
			marks = append(marks, "current")
		}
		if g.Booted {
			marks = append(marks, "booted")
		}
		r.Printf("%4d  %-19s  %-8s  %-24s  %-7s  %s\n", g.N, g.Date.Local().Format("2006-01-02 15:04:05"),
			orDash(g.KilnVersion), orDash(g.KernelVersion), orDash(string(g.Boot)), strings.Join(marks, ","))
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
