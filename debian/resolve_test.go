package debian

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func fixtureUniverse(t *testing.T) *Universe {
	t.Helper()
	var all []*Package
	for file, suite := range map[string]string{"testdata/Packages": "bookworm", "testdata/Packages-updates": "bookworm-updates"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		pkgs, err := ParsePackages(data, suite)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, pkgs...)
	}
	return NewUniverse(all)
}

func TestResolve(t *testing.T) {
	essential := []string{"base", "gcc-base", "libc"}
	tests := []struct {
		name    string
		want    []string
		prefer  map[string]string
		recs    bool
		got     []string // expected closure (besides the Essential set)
		check   map[string]string
		wantErr error
		errHas  []string
	}{
		{name: "essential only", got: nil},
		{
			name: "versions across suites, virtual with prefer, OR group first alternative with candidate, :any, no Recommends",
			want: []string{"app"}, prefer: map[string]string{"awk": "mawk", "mail-transport-agent": "exim"},
			got:   []string{"app", "exim", "helper", "libfoo", "mawk"},
			check: map[string]string{"libfoo": "1.6", "helper": "1", "exim": "app"},
		},
		{
			name: "ambiguous virtual without prefer", want: []string{"app"}, prefer: map[string]string{},
			wantErr: ErrUnsatisfiable, errHas: []string{"awk is provided by gawk, mawk", `choose one in the packages option (packages = [pkgs.gawk])`},
		},
		{
			name: "OR group keeps an alternative already chosen", want: []string{"postfix", "app"},
			prefer: map[string]string{"awk": "gawk"},
			got:    []string{"app", "gawk", "helper", "libfoo", "postfix"},
		},
		{
			name: "versioned provides", want: []string{"uses-virtual-version"},
			got: []string{"libfoo2", "uses-virtual-version"},
		},
		{
			name: "prefer settles OR group", want: []string{"init-helpers"},
			got: []string{"init-helpers", "usr-is-merged"},
		},
		{
			name: "OR group without prefer takes the first", want: []string{"init-helpers"}, prefer: map[string]string{},
			wantErr: ErrUnsatisfiable, errHas: []string{"init-helpers → usrmerge: usrmerge depends on \"perl\"", "no package perl"},
		},
		{
			name: "kernel metapackage followed, image dependencies skipped", want: []string{"linux-image-cloud-amd64"},
			got: []string{"linux-image-6.1.0-1-cloud-amd64", "linux-image-cloud-amd64"},
		},
		{
			name: "unsatisfiable prints the chain", want: []string{"chain-top"},
			wantErr: ErrUnsatisfiable,
			errHas:  []string{"chain-top → chain-mid: chain-mid depends on \"gcc-base (>= 13) | nonexistent\"", "gcc-base has only version 12", "no package nonexistent"},
		},
		{
			name: "unknown package suggests near names", want: []string{"libfo", "apps"},
			wantErr: ErrUnknownPackage, errHas: []string{`unknown package "libfo" (did you mean libfoo, libfoo1, libfoo2, libc?), "apps" (did you mean app?)`},
		},
		{
			name: "breaks checked after", want: []string{"breaker"},
			wantErr: ErrConflict, errHas: []string{`breaker 1 conflicts with or breaks "libc (<< 3)", met by libc 2.36`},
		},
		{
			name: "Recommends followed when asked", want: []string{"app"}, recs: true,
			prefer: map[string]string{"awk": "mawk", "mail-transport-agent": "exim"},
			got:    []string{"app", "bloat", "exim", "helper", "libfoo", "mawk"},
		},
		{
			// not-in-archive has no candidate; rec-conflicts conflicts
			// with rec-top (chosen), so its group's second alternative,
			// or nothing, comes in instead.
			name: "a recommendation that cannot be had is left out", want: []string{"rec-top"}, recs: true,
			got: []string{"bloat", "rec-top"},
		},
		{
			name: "a recommendation conflicting with a chosen package is left out", want: []string{"rec-top", "rec-breaks-me"}, recs: true,
			got: []string{"bloat", "rec-breaks-me", "rec-top"},
		},
		{
			name: "Recommends not followed by default", want: []string{"rec-top"},
			got: []string{"rec-top"},
		},
		{
			name: "conflicting providers", want: []string{"postfix", "exim"},
			wantErr: ErrConflict, errHas: []string{"exim 4.96 conflicts with or breaks \"mail-transport-agent\", met by postfix 3.7"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := fixtureUniverse(t)
			prefer := tc.prefer
			if prefer == nil {
				prefer = DefaultPrefer
			}
			res, err := Resolve(u, Request{Packages: tc.want, Prefer: prefer, Recommends: tc.recs})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got error %v, want %v", err, tc.wantErr)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := append(append([]string{}, essential...), tc.got...)
			if d := cmp.Diff(sortedCopy(want), res.Names()); d != "" {
				t.Errorf("closure (-want +got):\n%s", d)
			}
			for name, v := range tc.check {
				p := res.Packages[name]
				if strings.Contains(v, ".") || v == "1" {
					if p.Version != v {
						t.Errorf("%s version %s, want %s", name, p.Version, v)
					}
				} else if p.Parent != v {
					t.Errorf("%s pulled in by %q, want %q", name, p.Parent, v)
				}
			}
		})
	}
}

func TestResolveChainAndDepends(t *testing.T) {
	res, err := Resolve(fixtureUniverse(t), Request{Packages: []string{"app"}, Prefer: map[string]string{"awk": "mawk", "mail-transport-agent": "exim"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Chain("gcc-base"), []string{"base", "libc", "gcc-base"}; !cmp.Equal(got, want) {
		t.Errorf("Chain(gcc-base) = %v, want %v (from the essential root)", got, want)
	}
	if got, want := res.Chain("exim"), []string{"app", "exim"}; !cmp.Equal(got, want) {
		t.Errorf("Chain(exim) = %v, want %v", got, want)
	}
	if got, want := res.Packages["app"].Depends, []string{"exim", "helper", "libfoo", "mawk"}; !cmp.Equal(got, want) {
		t.Errorf("app depends %v, want %v", got, want)
	}
	if got, want := res.Packages["base"].Depends, []string{"libc"}; !cmp.Equal(got, want) {
		t.Errorf("base depends %v, want %v", got, want)
	}
}

func TestParseRelations(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"a", "a"},
		{"a (>= 1.0), b | c:any (<< 2~)", "a (>= 1.0)/b | c (<< 2~)"},
		{"libc6 (>= 2.34) [amd64], d <!nocheck>", "libc6 (>= 2.34)/d"},
		{"x (> 1)", "x (>= 1)"},
	}
	for _, tc := range tests {
		rels, err := parseRelations(tc.in)
		if err != nil {
			t.Fatalf("parseRelations(%q): %v", tc.in, err)
		}
		var got []string
		for _, r := range rels {
			got = append(got, r.String())
		}
		if strings.Join(got, "/") != tc.want {
			t.Errorf("parseRelations(%q) = %q, want %q", tc.in, strings.Join(got, "/"), tc.want)
		}
	}
	for _, bad := range []string{"a (>= 1", "a (~ 1)", "a (>=)", ", b"} {
		if _, err := parseRelations(bad); err == nil {
			t.Errorf("parseRelations(%q) succeeded, want error", bad)
		}
	}
}

func sortedCopy(s []string) []string {
	out := append([]string{}, s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestResolveRecordsRecommended: the packages only a Recommends pulled in
// are recorded as such (kiln why says so), a dependency is not.
func TestResolveRecordsRecommended(t *testing.T) {
	res, err := Resolve(fixtureUniverse(t), Request{Packages: []string{"rec-top", "app"}, Recommends: true,
		Prefer: map[string]string{"awk": "mawk", "mail-transport-agent": "exim"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Packages["rec-top"].Recommended; !slices.Equal(got, []string{"bloat"}) {
		t.Errorf("rec-top recommended %v, want [bloat]", got)
	}
	if got := res.Packages["app"].Recommended; !slices.Equal(got, []string{"bloat"}) || !slices.Contains(res.Packages["app"].Depends, "libfoo") {
		t.Errorf("app: recommended %v, depends %v", got, res.Packages["app"].Depends)
	}
}
