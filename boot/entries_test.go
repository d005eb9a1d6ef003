package boot

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

const (
	kernelA = "/kiln/store/1111111111111111111111111111111a-linux-image-6.1.0-56-cloud-amd64/boot/vmlinuz-6.1.0-56-cloud-amd64"
	kernelB = "/kiln/store/1111111111111111111111111111111b-linux-image-6.1.0-57-cloud-amd64/boot/vmlinuz-6.1.0-57-cloud-amd64"
	efiPath = "/kiln/store/3333333333333333333333333333333c-systemd-boot-efi-252.39-1-deb12u2/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
)

func gen(n int, kernel string) Generation {
	top := "/kiln/store/" + strings.Repeat(string("0123456789abcdfghijk"[n%20]), 32) + "-kiln-system-demo"
	return Generation{
		N: n, Toplevel: top, Kernel: kernel,
		Initrd:  "/kiln/store/" + strings.Repeat(string("lmnpqrsvwxyz"[n%12]), 32) + "-initrd",
		Params:  []string{"root=LABEL=kiln-root", "rootfstype=ext4", "rw", "console=ttyS0"},
		Label:   "kiln 0.1.0 (Linux 6.1.0-56-cloud-amd64)",
		Created: time.Date(2026, 11, 20+n, 8, 0, 0, 0, time.UTC),
	}
}

func TestPlanESP(t *testing.T) {
	cfg := LoaderConfig{Timeout: 3, ConsoleMode: "keep", SystemdBoot: efiPath}
	// An ESP that already holds generations 1–3, a crashed write, and
	// another system's files (which kiln must not touch).
	existing := fstest.MapFS{
		"loader/loader.conf":                                                     {Data: []byte("default kiln-generation-3.conf\n")},
		"loader/entries/kiln-generation-1.conf":                                  {Data: []byte("x")},
		"loader/entries/kiln-generation-2.conf":                                  {Data: []byte("x")},
		"loader/entries/kiln-generation-3.conf":                                  {Data: []byte("x")},
		"loader/entries/.kiln-tmp-loader.conf":                                   {Data: []byte("x")},
		"loader/entries/other-os.conf":                                           {Data: []byte("x")},
		"EFI/kiln/1111111111111111111111111111111a-vmlinuz-6.1.0-56-cloud-amd64": {Data: []byte("k")},
		"EFI/kiln/" + strings.Repeat("m", 32) + "-initrd":                        {Data: []byte("i")},
		"EFI/kiln/" + strings.Repeat("n", 32) + "-initrd":                        {Data: []byte("i")},
		"EFI/kiln/" + strings.Repeat("p", 32) + "-initrd":                        {Data: []byte("i")},
		"EFI/debian/grubx64.efi":                                                 {Data: []byte("g")},
	}
	tests := []struct {
		name    string
		gens    []Generation
		current int
		max     int
		fs      fstest.MapFS
	}{
		{name: "fresh", gens: []Generation{gen(1, kernelA)}, current: 1},
		{name: "update", gens: []Generation{gen(1, kernelA), gen(2, kernelA), gen(3, kernelA), gen(4, kernelB)}, current: 4, max: 2, fs: existing},
		{name: "rollback-kept", gens: []Generation{gen(1, kernelA), gen(2, kernelA), gen(3, kernelA), gen(4, kernelB)}, current: 1, max: 2, fs: existing},
		{name: "unlimited", gens: []Generation{gen(10, kernelB), gen(9, kernelA), gen(2, kernelA)}, current: 10, fs: existing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.MaxGenerations = tc.max
			var fsys fstest.MapFS
			if tc.fs != nil {
				fsys = tc.fs
			}
			plan, err := planWith(tc.gens, tc.current, c, fsys)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "esp/"+tc.name+".plan", []byte(plan.String()))
			for name, f := range plan.Files {
				if f.Data != nil && strings.HasSuffix(name, ".conf") {
					golden(t, "esp/"+tc.name+"/"+name, f.Data)
				}
			}
			for _, d := range plan.Delete {
				if strings.Contains(d, "other-os") || strings.Contains(d, "debian") {
					t.Errorf("plan deletes a file kiln does not own: %s", d)
				}
			}
			entry := EntriesDir + "/" + EntryName(tc.current)
			if _, ok := plan.Files[entry]; !ok {
				t.Errorf("plan has no entry for the current generation %d", tc.current)
			}
		})
	}
}

// planWith passes a nil fs.FS (not a nil MapFS) when there is no ESP.
func planWith(gens []Generation, current int, cfg LoaderConfig, fsys fstest.MapFS) (ESPPlan, error) {
	if fsys == nil {
		return PlanESP(gens, current, cfg, nil)
	}
	return PlanESP(gens, current, cfg, fsys)
}

func TestPlanESPErrors(t *testing.T) {
	bad := gen(2, "/nix/store/x-vmlinuz")
	noInitrd := gen(3, kernelA)
	noInitrd.Initrd = ""
	tests := []struct {
		name    string
		gens    []Generation
		current int
		want    string
	}{
		{"no current", []Generation{gen(1, kernelA)}, 2, "current generation 2 is not among"},
		{"twice", []Generation{gen(1, kernelA), gen(1, kernelA)}, 1, "generation 1 given twice"},
		{"zero", []Generation{gen(0, kernelA)}, 0, "must be at least 1"},
		{"outside store", []Generation{bad}, 2, `generation 2 kernel: "/nix/store/x-vmlinuz" is not in /kiln/store`},
		{"missing initrd", []Generation{noInitrd}, 3, "generation 3: toplevel, kernel and initrd are required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PlanESP(tc.gens, tc.current, LoaderConfig{}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestKeptGenerations(t *testing.T) {
	gens := []Generation{gen(1, kernelA), gen(2, kernelA), gen(3, kernelA), gen(4, kernelA), gen(5, kernelA)}
	tests := []struct {
		current, max int
		want         string
	}{
		{5, 0, "5 4 3 2 1"},
		{5, 3, "5 4 3"},
		{1, 3, "5 4 1"},
		{3, 1, "3"},
		{5, 9, "5 4 3 2 1"},
	}
	for _, tc := range tests {
		kept, err := keptGenerations(gens, tc.current, tc.max)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range kept {
			got = append(got, string(rune('0'+g.N)))
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("current %d max %d: kept %q, want %q", tc.current, tc.max, s, tc.want)
		}
	}
}

// A bootspec's values reach the entry and loader.conf through the entry
// grammar's writer: none of them can add a line (issue 9, item 3).
func TestPlanESPRefusesInjection(t *testing.T) {
	split := gen(1, kernelA)
	split.Params = append(split.Params, "quiet\ninitrd /evil")
	cases := []struct {
		name string
		g    Generation
		cfg  LoaderConfig
		want string
	}{
		{"newline in a kernel parameter", split, LoaderConfig{},
			`generation 1 entry: kernel.params: "quiet\ninitrd /evil" is not one kernel parameter`},
		{"newline in console_mode", gen(1, kernelA), LoaderConfig{ConsoleMode: "max\neditor yes"},
			`loader.conf: bootloader.console_mode "max\neditor yes": want keep, auto, max or a mode number`},
		{"negative timeout", gen(1, kernelA), LoaderConfig{Timeout: -1},
			`loader.conf: bootloader.timeout -1: must be 0 or more`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PlanESP([]Generation{tc.g}, 1, tc.cfg, nil)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got error %v, want %q", err, tc.want)
			}
		})
	}
	// A label in quotes keeps them: systemd-boot strips one pair.
	q := gen(1, kernelA)
	q.Label, q.Created = `"x"`, time.Time{}
	plan, err := PlanESP([]Generation{q}, 1, LoaderConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(plan.Files["loader/entries/kiln-generation-1.conf"].Data); !strings.Contains(got, "version Generation 1 \"x\"\n") {
		t.Errorf("entry:\n%s", got)
	}
}
