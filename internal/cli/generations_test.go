package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/boot"
	"github.com/kiln-os/kiln/machine"
	"github.com/kiln-os/kiln/store"
)

// fourGenerations switches a machine through four toplevels, marks the
// first as booted and dates generation N at 2026-01-N.
func fourGenerations(t *testing.T) (*testMachine, []store.Path) {
	t.Helper()
	m := newTestMachine(t)
	m.useFakeEngine()
	var tops []store.Path
	for i := 1; i <= 4; i++ {
		top := m.system(t, m.st, fmt.Sprintf("host%d", i), fmt.Sprintf("K%d", i%2))
		if code, _, errs := m.run(t, nil, "switch", "--toplevel", top.String()); code != ExitOK {
			t.Fatalf("switch %d: %s", i, errs)
		}
		link := filepath.Join(m.st.ProfileDir(), fmt.Sprintf("system-%d-link", i))
		ts := unix.NsecToTimespec(time.Date(2026, 1, i, 12, 0, 0, 0, time.UTC).UnixNano())
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, link, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
		tops = append(tops, top)
	}
	if err := os.Symlink(tops[0].String(), filepath.Join(m.root, "run", "booted-system")); err != nil {
		t.Fatal(err)
	}
	return m, tops
}

func (m *testMachine) generationNumbers(t *testing.T) []int {
	t.Helper()
	code, out, errs := m.run(t, nil, "--json", "generations")
	if code != ExitOK {
		t.Fatalf("generations --json: %s", errs)
	}
	var v struct {
		Generations []struct {
			Number int `json:"number"`
		} `json:"generations"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("generations --json printed %q: %v", out, err)
	}
	var ns []int
	for _, g := range v.Generations {
		ns = append(ns, g.Number)
	}
	return ns
}

func TestGenerationsList(t *testing.T) {
	m, tops := fourGenerations(t)
	code, out, errs := m.run(t, nil, "generations")
	if code != ExitOK {
		t.Fatal(errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("generations printed %q, want a header and 4 lines", out)
	}
	for i, want := range []string{"GEN", "1  2026-01-01", "2  2026-01-02", "3  2026-01-03", "4  2026-01-04"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %q, want %q in it", i, lines[i], want)
		}
	}
	if !strings.HasSuffix(lines[1], "0.1.0     6.1.0-test                good     booted") || !strings.HasSuffix(lines[4], "current") {
		t.Errorf("marks: %q / %q", lines[1], lines[4])
	}
	_, out, _ = m.run(t, nil, "--json", "generations")
	var v struct {
		Version     int
		Generations []struct {
			Number        int    `json:"number"`
			Toplevel      string `json:"toplevel"`
			KilnVersion   string `json:"kiln_version"`
			KernelVersion string `json:"kernel_version"`
			Current       bool   `json:"current"`
			Booted        bool   `json:"booted"`
			Boot          string `json:"boot"`
		}
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version != 1 || len(v.Generations) != 4 {
		t.Fatalf("generations --json: %v\n%s", err, out)
	}
	if b := v.Generations[0].Boot; b != "good" {
		t.Errorf("generation 1's boot entry as JSON: %q, want good", b)
	}
	g := v.Generations[3]
	if g.Number != 4 || !g.Current || g.Booted || g.Toplevel != tops[3].String() || g.KilnVersion != "0.1.0" || g.KernelVersion != "6.1.0-test" {
		t.Errorf("generation 4 as JSON: %+v", g)
	}
}

func TestGenerationsDelete(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		msg     string // in stderr (errors) or stdout
		remains []int
	}{
		{"one", []string{"delete", "2"}, ExitOK, "deleted generation 2", []int{1, 3, 4}},
		{"several", []string{"delete", "2", "3"}, ExitOK, "deleted generation 3", []int{1, 4}},
		{"current refused", []string{"delete", "2", "4"}, ExitFailure, "generation 4 is the current one", []int{1, 2, 3, 4}},
		{"booted refused", []string{"delete", "1"}, ExitFailure, "generation 1 is the one that booted", []int{1, 2, 3, 4}},
		{"unknown", []string{"delete", "9"}, ExitFailure, "no generation 9", []int{1, 2, 3, 4}},
		// 2026-01-10 minus 7 days is 01-03 12:00: generation 2 (and 1, booted) are older
		{"older than 7d", []string{"delete", "--older-than", "7d", "--now", "2026-01-10T12:00:00Z"}, ExitOK, "deleted generation 2", []int{1, 3, 4}},
		{"older than all", []string{"delete", "--older-than", "1h", "--now", "2027-01-01T00:00:00Z"}, ExitOK, "deleted generation 3", []int{1, 4}},
		{"older than none", []string{"delete", "--older-than", "30d", "--now", "2026-01-05T00:00:00Z"}, ExitOK, "no generation to delete", []int{1, 2, 3, 4}},
		{"bad age", []string{"delete", "--older-than", "soon"}, ExitUsage, "want 30d", []int{1, 2, 3, 4}},
		{"numbers and age", []string{"delete", "2", "--older-than", "1d"}, ExitUsage, "not both", []int{1, 2, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := fourGenerations(t)
			code, out, errs := m.run(t, nil, append([]string{"generations"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errs, tc.msg) {
				t.Fatalf("code %d, out %q, err %q; want %d and %q", code, out, errs, tc.code, tc.msg)
			}
			if got := m.generationNumbers(t); !slices.Equal(got, tc.remains) {
				t.Errorf("generations left %v, want %v", got, tc.remains)
			}
			// the ESP has an entry for exactly the remaining generations
			ents, _ := filepath.Glob(filepath.Join(m.root, "boot", "loader", "entries", "*.conf"))
			var got []string
			for _, e := range ents {
				got = append(got, filepath.Base(e))
			}
			var want []string
			for _, n := range tc.remains {
				want = append(want, boot.EntryName(n))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("ESP entries %v, want %v", got, want)
			}
		})
	}
}

func TestRollback(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantGen int
		boot    bool
	}{
		{"previous", nil, 3, false},
		{"to 1", []string{"--to", "1"}, 1, false},
		{"to 2, next boot only", []string{"--to", "2", "--boot"}, 2, true},
		{"to the current one", []string{"--to", "4"}, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, tops := fourGenerations(t)
			eng := m.useFakeEngine()
			code, out, errs := m.run(t, nil, append([]string{"rollback"}, tc.args...)...)
			if code != ExitOK {
				t.Fatalf("rollback: code %d, %s", code, errs)
			}
			want := tops[tc.wantGen-1]
			if n, p := m.current(t); n != tc.wantGen || p != want {
				t.Errorf("current %d %s, want %d %s", n, p, tc.wantGen, want)
			}
			if conf := m.readESP(t, "loader/loader.conf"); !strings.Contains(conf, "default "+boot.EntryName(tc.wantGen)) {
				t.Errorf("loader.conf = %q, want default generation %d", conf, tc.wantGen)
			}
			if tc.boot {
				if len(eng.switches) != 0 {
					t.Errorf("--boot activated %v", eng.switches)
				}
				return
			}
			if !slices.Equal(eng.switches, []string{want.String()}) {
				t.Errorf("activated %v, want %s", eng.switches, want)
			}
			if !strings.Contains(out, fmt.Sprintf("generation %d", tc.wantGen)) {
				t.Errorf("output %q", out)
			}
			if cur := (&machine.Machine{Root: m.root}).System("current-system"); cur != want {
				t.Errorf("run/current-system = %s, want %s", cur, want)
			}
		})
	}
}

func TestRollbackWithoutEarlierGeneration(t *testing.T) {
	m := newTestMachine(t)
	m.useFakeEngine()
	top := m.system(t, m.st, "only", "A")
	if code, _, errs := m.run(t, nil, "switch", "--toplevel", top.String()); code != ExitOK {
		t.Fatal(errs)
	}
	code, _, errs := m.run(t, nil, "rollback")
	if code != ExitFailure || !strings.Contains(errs, "no generation before the current one (1)") {
		t.Fatalf("code %d, %q", code, errs)
	}
}

func TestParseAge(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * 24 * time.Hour, true},
		{"12h", 12 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"0d", 0, true},
		{"-1d", 0, false},
		{"d", 0, false},
		{"1w", 0, false},
	} {
		got, err := parseAge(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseAge(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// kiln diff between generations: a kernel change needs a reboot; the
// JSON says the same; a generation that does not exist is refused.
func TestDiffGenerations(t *testing.T) {
	m, tops := fourGenerations(t)
	code, out, errs := m.run(t, nil, "diff", "1")
	if code != ExitOK || !strings.Contains(out, "reboot needed:\n  the kernel changed\n") || !strings.Contains(out, "to copy: ") ||
		!strings.Contains(out, "after installing") || !strings.Contains(out, ": fits\n") {
		t.Fatalf("diff 1: %d\n%s%s", code, out, errs)
	}
	code, out, _ = m.run(t, nil, "--json", "diff", "2", "4")
	var d machine.Diff
	if err := json.Unmarshal([]byte(out), &d); code != ExitOK || err != nil || slices.Contains(d.Reboot, "the kernel changed") || d.To != tops[3] || d.ESP == nil || !d.ESP.Fits {
		t.Errorf("diff 2 4 --json: %d %v %+v\n%s", code, err, d, out)
	}
	if code, _, errs := m.run(t, nil, "diff", "9"); code == ExitOK || !strings.Contains(errs, "no generation 9") {
		t.Errorf("diff 9: %d %s", code, errs)
	}
}

// kiln health-failed on a boot systemd-boot did not count stays up and
// says why (the unit's output goes to the journal).
func TestHealthFailedUncounted(t *testing.T) {
	m, _ := fourGenerations(t)
	code, out, errs := m.run(t, nil, "health-failed", "--grace", "0s")
	if code != ExitOK || !strings.Contains(out, "a health check failed; this boot is not counted") {
		t.Errorf("health-failed: %d %q %q", code, out, errs)
	}
	if code, _, errs := m.run(t, nil, "health"); code == ExitOK || !strings.Contains(errs, "cannot run the health checks of the machine under") {
		t.Errorf("health under a test root: %d %q", code, errs)
	}
}
