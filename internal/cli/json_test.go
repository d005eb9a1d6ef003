package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestJSONFormats pins the --json formats of docs/json.md that need no
// machine: version, lock (resolved and up to date), search, show, options
// and build --dry-run have their own golden transcripts. Every format is
// an object with a version, snake_case keys and typed values.
func TestJSONFormats(t *testing.T) {
	a := newTestArchive(t)
	a.publish(t, basePackages()+testPackages, archiveTime)
	s := archiveTranscript(t, a)
	s.write("web1.hcl", "packages = [pkgs.htop]\n")
	var outs []string
	for _, args := range [][]string{
		{"--keyring", "archive.asc", "lock", "-c", "web1.hcl", "--json"},
		{"--keyring", "archive.asc", "lock", "-c", "web1.hcl", "--json"},
		{"version", "--json"},
		{"why", "-c", "web1.hcl", "htop", "--json"},
		{"eval", "-c", "web1.hcl", "--explain", "time_zone", "--json"},
	} {
		_, out := s.run(args...)
		outs = append(outs, out)
	}
	for i, out := range outs {
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("output %d is not a JSON object: %v", i, err)
		}
		if v["version"] != float64(1) {
			t.Errorf("output %d: version %v, want 1", i, v["version"])
		}
		for k := range v {
			if strings.ToLower(k) != k || strings.Contains(k, "-") {
				t.Errorf("output %d: key %q is not snake_case", i, k)
			}
		}
	}
	// The Go version is the toolchain's.
	got := strings.ReplaceAll(s.buf.String(), fmt.Sprintf("%q", runtime.Version()), `"GO_VERSION"`)
	s.buf.Reset()
	s.buf.WriteString(got)
	s.check("json_formats")
}
