package fleet

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/modules"
)

// fleetFile names the test fleets: configurations resolve in testdata.
const fleetFile = "testdata/fleet.hcl"

const goodFleet = `
hosts "web1" {
  target = "root@web1"
  config = "web.hcl"
  tags   = ["web", "eu"]
}
hosts "web2" {
  target = "root@web2:2222"
  config = "web.hcl"
  tags   = ["web", "us"]
}
hosts "db1" {
  target = "admin@db1"
  config = "db.hcl"
}
`

func TestParse(t *testing.T) {
	f, diags := Parse(fleetFile, []byte(goodFleet))
	if diags.HasErrors() {
		t.Fatal(modules.DiagnosticText(diags, 0, modules.Source{Filename: fleetFile, Data: []byte(goodFleet)}))
	}
	var got []string
	for _, h := range f.Hosts {
		got = append(got, fmt.Sprintf("%s %s %s %v", h.Name, h.Target, h.Config, h.Tags))
	}
	want := []string{
		"web1 root@web1:22 testdata/web.hcl [web eu]",
		"web2 root@web2:2222 testdata/web.hcl [web us]",
		"db1 admin@db1:22 testdata/db.hcl []",
	}
	if !slices.Equal(got, want) {
		t.Errorf("hosts:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if tags := f.Tags(); !slices.Equal(tags, []string{"eu", "us", "web"}) {
		t.Errorf("Tags() = %v", tags)
	}
}

// The diagnostics a user sees for a bad fleet file, as text with the
// source line, in one golden file.
func TestDiagnostics(t *testing.T) {
	cases := []struct{ name, src string }{
		{"duplicate host", `
hosts "web1" {
  target = "root@web1"
  config = "web.hcl"
}
hosts "web1" {
  target = "root@web9"
  config = "web.hcl"
}
`},
		{"duplicate target", `
hosts "web1" {
  target = "root@web1"
  config = "web.hcl"
}
hosts "web2" {
  target = "root@web1:22"
  config = "web.hcl"
}
`},
		{"malformed target", `
hosts "web1" {
  target = "root@web1:ssh"
  config = "web.hcl"
}
`},
		{"missing configuration", `
hosts "web1" {
  target = "root@web1"
  config = "nosuch.hcl"
}
`},
		{"missing target", `
hosts "web1" {
  config = "web.hcl"
}
`},
		{"unknown attribute", `
hosts "web1" {
  target = "root@web1"
  config = "web.hcl"
  tag    = ["web"]
}
`},
		{"bad tag", `
hosts "web1" {
  target = "root@web1"
  config = "web.hcl"
  tags   = ["@web"]
}
`},
		{"tags not a list", `
hosts "web1" {
  target = "root@web1"
  config = "web.hcl"
  tags   = "web"
}
`},
		{"bad host name", `
hosts "@web1" {
  target = "root@web1"
  config = "web.hcl"
}
`},
		{"no hosts", "# nothing yet\n"},
		{"syntax error", "hosts \"web1\" {\n  target = \n}\n"},
	}
	var out strings.Builder
	for _, tc := range cases {
		_, diags := Parse(fleetFile, []byte(tc.src))
		if !diags.HasErrors() {
			t.Errorf("%s: no error", tc.name)
		}
		fmt.Fprintf(&out, "=== %s\n%s\n", tc.name, modules.DiagnosticText(diags, 0, modules.Source{Filename: fleetFile, Data: []byte(tc.src)}))
	}
	golden.Check(t, filepath.Join("testdata", "diagnostics.golden"), []byte(out.String()))
}

// --on: names and tags, in file order; an unknown host and a tag that
// matches nothing are errors naming what was asked (golden).
func TestSelect(t *testing.T) {
	f, diags := Parse(fleetFile, []byte(goodFleet))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cases := []struct{ on, want string }{
		{"", "web1 web2 db1"},
		{"@web", "web1 web2"},
		{"db1,@eu", "web1 db1"},
		{"@us, db1", "web2 db1"},
		{"web2,web2,@us", "web2"},
		{"web3", ""},
		{"@db", ""},
		{"@webb", ""},
		{"eu", ""},
		{"web3,@nosuch", ""},
		{",", ""},
	}
	var out strings.Builder
	for _, tc := range cases {
		hosts, err := f.Select(tc.on)
		var names []string
		for _, h := range hosts {
			names = append(names, h.Name)
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("Select(%q) = %q, want %q", tc.on, got, tc.want)
		}
		if (err != nil) != (tc.want == "") {
			t.Errorf("Select(%q): error %v", tc.on, err)
		}
		if err != nil {
			fmt.Fprintf(&out, "--on %q\n%v\n\n", tc.on, err)
		}
	}
	golden.Check(t, filepath.Join("testdata", "select.golden"), []byte(out.String()))
}
