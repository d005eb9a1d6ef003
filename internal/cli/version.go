package cli

import (
	"context"
	"flag"
	"runtime"
	"runtime/debug"

	"github.com/kiln-os/kiln/debian"
)

// Version is kiln's version, shipped in every toplevel as kiln-version.
const Version = "0.1.0"

// Commit is the revision kiln was built from, set by make kiln
// (-ldflags -X); when empty, the Go build's VCS stamp is read.
var Commit string

func init() {
	register(&command{
		name:    "version",
		summary: "print kiln's version, commit, Go version and Debian suite",
		usage: `kiln version [--json]

Also 'kiln --version'. The commit is the VCS revision the binary was
built from ("unknown" when the build did not record one; "+dirty" when
the tree had changes).

EXAMPLES
  kiln version
  kiln version --json`,
		flags: func(*flag.FlagSet) any { return nil },
		run: func(_ context.Context, r *Run, _ any, _ []string) error {
			v := currentVersion()
			if r.JSON {
				return r.printJSON(v)
			}
			r.Printf("kiln %s\ncommit %s\ngo     %s\ndebian %s (%s)\n", v.Kiln, v.Commit, v.Go, v.DebianSuite, v.Arch)
			return nil
		},
	})
}

// versionJSON is kiln version --json (docs/json.md).
type versionJSON struct {
	Version     int    `json:"version"` // of this format
	Kiln        string `json:"kiln"`
	Commit      string `json:"commit"`
	Go          string `json:"go"`
	DebianSuite string `json:"debian_suite"`
	Arch        string `json:"arch"`
}

func currentVersion() versionJSON {
	v := versionJSON{Version: 1, Kiln: Version, Commit: "unknown", Go: runtime.Version(), DebianSuite: debian.DefaultSuites[0], Arch: "amd64"}
	if Commit != "" {
		v.Commit = Commit
	} else if bi, ok := debug.ReadBuildInfo(); ok {
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && v.Commit != "unknown" {
			v.Commit += "+dirty"
		}
	}
	return v
}
