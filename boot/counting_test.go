package boot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseEntryName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ok    bool
		want  Entry
		state EntryState
	}{
		{"kiln-generation-3.conf", true, Entry{N: 3, File: "kiln-generation-3.conf"}, EntryGood},
		{"kiln-generation-3+3.conf", true, Entry{N: 3, File: "kiln-generation-3+3.conf", Counted: true, Left: 3}, EntryPending},
		{"kiln-generation-12+1-2.conf", true, Entry{N: 12, File: "kiln-generation-12+1-2.conf", Counted: true, Left: 1, Done: 2}, EntryPending},
		{"kiln-generation-4+0-3.conf", true, Entry{N: 4, File: "kiln-generation-4+0-3.conf", Counted: true, Done: 3}, EntryBad},
		{"kiln-generation-4+0.conf", true, Entry{N: 4, File: "kiln-generation-4+0.conf", Counted: true}, EntryBad},
		{"kiln-generation-04.conf", false, Entry{}, ""},
		{"kiln-generation-0.conf", false, Entry{}, ""},
		{"kiln-generation-4+x.conf", false, Entry{}, ""},
		{"kiln-generation-4+1-.conf", false, Entry{}, ""},
		{"debian.conf", false, Entry{}, ""},
		{"kiln-generation-4.conf.tmp", false, Entry{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseEntryName(tc.name)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
			if ok && got.State() != tc.state {
				t.Errorf("state %s, want %s", got.State(), tc.state)
			}
		})
	}
}

// The transitions of boot counting on one ESP: a new current generation
// is counted and loader.conf matches it only while it has tries left; the
// loader's renames are kept; a blessed entry stays uncounted; a
// generation never has two entries; an image is never counted.
func TestBootCountingESP(t *testing.T) {
	ctx := context.Background()
	esp := t.TempDir()
	cfg := LoaderConfig{Timeout: 1, Tries: 3, SystemdBoot: efiPath}
	all := []Generation{gen(1, kernelA), gen(2, kernelA), gen(3, kernelB)}
	src := fakeStore(t, all, cfg)
	entries := filepath.Join(esp, EntriesDir)
	apply := func(gens []Generation, cur int) {
		t.Helper()
		plan, err := PlanESP(gens, cur, cfg, os.DirFS(esp))
		if err != nil {
			t.Fatal(err)
		}
		if err := ApplyESP(ctx, esp, plan, src); err != nil {
			t.Fatal(err)
		}
	}
	state := func() string {
		t.Helper()
		des, _ := os.ReadDir(entries)
		var names []string
		for _, d := range des {
			names = append(names, d.Name())
		}
		lc, _ := os.ReadFile(filepath.Join(esp, LoaderConf))
		def := strings.SplitN(string(lc), "\n", 3)[1]
		return strings.Join(names, " ") + " | " + def
	}
	rename := func(from, to string) {
		t.Helper()
		if err := os.Rename(filepath.Join(entries, from), filepath.Join(entries, to)); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name string
		do   func()
		want string
	}{
		{"first generation on an empty ESP", func() { apply(all[:1], 1) },
			"kiln-generation-1+3.conf | default kiln-generation-1[+.][1-9c]*"},
		{"blessed by systemd-bless-boot", func() { rename("kiln-generation-1+3.conf", "kiln-generation-1.conf"); apply(all[:1], 1) },
			"kiln-generation-1.conf | default kiln-generation-1.conf"},
		{"a new generation", func() { apply(all[:2], 2) },
			"kiln-generation-1.conf kiln-generation-2+3.conf | default kiln-generation-2[+.][1-9c]*"},
		{"its first try (systemd-boot's rename) is kept", func() { rename("kiln-generation-2+3.conf", "kiln-generation-2+2-1.conf"); apply(all[:2], 2) },
			"kiln-generation-1.conf kiln-generation-2+2-1.conf | default kiln-generation-2[+.][1-9c]*"},
		{"spent: the glob no longer matches it", func() { rename("kiln-generation-2+2-1.conf", "kiln-generation-2+0-3.conf"); apply(all[:2], 2) },
			"kiln-generation-1.conf kiln-generation-2+0-3.conf | default kiln-generation-2[+.][1-9c]*"},
		{"rolled back to the good one", func() { apply(all[:2], 1) },
			"kiln-generation-1.conf kiln-generation-2+0-3.conf | default kiln-generation-1.conf"},
		{"a counted and an uncounted entry: the uncounted stays", func() {
			os.WriteFile(filepath.Join(entries, "kiln-generation-1+1-2.conf"), []byte("x"), 0o644)
			apply(all[:2], 1)
		}, "kiln-generation-1.conf kiln-generation-2+0-3.conf | default kiln-generation-1.conf"},
		{"two counted entries: the one with more tries stays", func() {
			os.WriteFile(filepath.Join(entries, "kiln-generation-3+1-2.conf"), []byte("x"), 0o644)
			os.WriteFile(filepath.Join(entries, "kiln-generation-3+2-1.conf"), []byte("x"), 0o644)
			apply(all, 3)
		}, "kiln-generation-1.conf kiln-generation-2+0-3.conf kiln-generation-3+2-1.conf | default kiln-generation-3[+.][1-9c]*"},
	}
	for _, s := range steps {
		s.do()
		if got := state(); got != s.want {
			t.Errorf("%s:\n got %s\nwant %s", s.name, got, s.want)
		}
	}

	// An image (no ESP yet): nothing is counted, a first boot has
	// nothing to fall back to.
	plan, err := PlanESP(all, 3, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name := range plan.Files {
		if strings.Contains(name, "+") {
			t.Errorf("an image's plan has a counted entry %s", name)
		}
	}
	golden(t, "counting-loader.conf", plan.Files[LoaderConf].Data)
}
