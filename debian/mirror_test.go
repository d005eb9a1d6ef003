package debian

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFindMirror(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "KILN_MIRROR" {
				return v
			}
			return ""
		}
	}
	split := &Mirror{
		Default: "http://127.0.0.1:9/debian",
		Suites: map[string]string{
			"bookworm":          "http://127.0.0.1:9/debian",
			"bookworm-updates":  "http://127.0.0.1:9/debian",
			"bookworm-security": "http://127.0.0.1:9/debian-security",
		},
	}
	tests := []struct {
		name     string
		explicit string
		env      string
		aptDir   string
		want     *Mirror
		wantErr  error
	}{
		{"deb822 sources", "", "", "testdata/apt", split, nil},
		{"one-line sources", "", "", "testdata/apt-oneline", split, nil},
		{"env wins over apt", "", "http://127.0.0.1:7/d/", "testdata/apt",
			&Mirror{Default: "http://127.0.0.1:7/d", Suites: map[string]string{}}, nil},
		{"flag wins over env", "http://127.0.0.1:8/d,bookworm-security=http://127.0.0.1:8/s", "http://127.0.0.1:7/d", "testdata/apt",
			&Mirror{Default: "http://127.0.0.1:8/d", Suites: map[string]string{"bookworm-security": "http://127.0.0.1:8/s"}}, nil},
		{"no sources", "", "", t.TempDir(), nil, ErrNoMirror},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindMirror(tc.explicit, env(tc.env), tc.aptDir)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("mirror (-want +got):\n%s", d)
			}
		})
	}
}

func TestMirrorRoot(t *testing.T) {
	m, err := ParseMirror("http://127.0.0.1:8/d, bookworm-security=http://127.0.0.1:8/s/")
	if err != nil {
		t.Fatal(err)
	}
	for suite, want := range map[string]string{
		"bookworm":          "http://127.0.0.1:8/d",
		"bookworm-security": "http://127.0.0.1:8/s",
	} {
		if got := m.Root(suite); got != want {
			t.Errorf("Root(%q) = %q, want %q", suite, got, want)
		}
	}
	for in, want := range map[string]string{
		"http://127.0.0.1:8/debian":                          "http://127.0.0.1:8/debian-security",
		"http://127.0.0.1:8/archive/debian/20250520T000000Z": "http://127.0.0.1:8/archive/debian-security/20250520T000000Z",
		"http://127.0.0.1:8/mirror":                          "http://127.0.0.1:8/mirror",
	} {
		m, err := ParseMirror(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Root("bookworm-security"); got != want {
			t.Errorf("ParseMirror(%q).Root(bookworm-security) = %q, want %q", in, got, want)
		}
		if got := m.Root("bookworm-updates"); got != in {
			t.Errorf("ParseMirror(%q).Root(bookworm-updates) = %q, want %q", in, got, in)
		}
	}
	for _, bad := range []string{"", "ftp://x/y", "bookworm=http://127.0.0.1/x", "http://a/b,http://a/c"} {
		if _, err := ParseMirror(bad); err == nil {
			t.Errorf("ParseMirror(%q) succeeded, want error", bad)
		}
	}
}
