package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeHost(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "host.hcl")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEval(t *testing.T) {
	host := writeHost(t, "networking {\n  host_name = \"web\"\n}\nssh {\n  port = mkForce(2222)\n}\n")
	tests := []struct {
		name string
		args []string
		code int
		out  []string // substrings of stdout
	}{
		{"default system", []string{"eval", "networking.host_name"}, ExitOK, []string{`"kiln"`}},
		{"host file", []string{"eval", "-c", host, "networking.host_name"}, ExitOK, []string{`"web"`}},
		{"json one option", []string{"eval", "-c", host, "ssh.port", "--json"}, ExitOK, []string{"2222"}},
		{"whole config", []string{"eval", "-c", host}, ExitOK, []string{"host_name  = \"web\"", "packages"}},
		{"explain", []string{"eval", "-c", host, "--explain", "ssh.port"}, ExitOK, []string{
			"ssh.port = 2222", "* ssh.port  " + host + ":5  priority 50", "  ssh.port  default  priority 1500  22"}},
		{"unknown path", []string{"eval", "networking.nope"}, ExitFailure, nil},
		{"two paths", []string{"eval", "a", "b"}, ExitUsage, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, nil, tc.args...)
			if code != tc.code {
				t.Fatalf("exit = %d, want %d; stderr: %s", code, tc.code, stderr)
			}
			for _, s := range tc.out {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestEvalWholeJSON(t *testing.T) {
	code, out, stderr := runCLI(t, nil, "eval", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var v struct {
		Networking struct {
			HostName string `json:"host_name"`
		} `json:"networking"`
		Packages []string `json:"packages"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if v.Networking.HostName != "kiln" || len(v.Packages) == 0 {
		t.Errorf("got %+v", v)
	}
}

func TestEvalDiagnostics(t *testing.T) {
	host := writeHost(t, "networking {\n  hostname = \"web\"\n}\n")
	code, out, stderr := runCLI(t, nil, "eval", "-c", host)
	if code != ExitFailure {
		t.Fatalf("exit = %d, want %d", code, ExitFailure)
	}
	want := "Error: Unknown option \"networking.hostname\"\n\n  on " + host + " line 2:\n   2:   hostname = \"web\"\n\nDid you mean \"networking.host_name\"?\n\nkiln eval: configuration has 1 error\n"
	if stderr != want || out != "" {
		t.Errorf("stderr:\n%s\nwant:\n%s\nstdout: %q", stderr, want, out)
	}
}

func TestOptions(t *testing.T) {
	code, out, _ := runCLI(t, nil, "options", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	var v struct {
		Version int
		Options []struct {
			Path, Type string
		}
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version != 1 {
		t.Fatalf("options --json: version %d, %v", v.Version, err)
	}
	found := map[string]string{}
	for _, d := range v.Options {
		found[d.Path] = d.Type
	}
	for p, typ := range map[string]string{"networking.host_name": "string", "users.<name>.uid": "number", "testing.backdoor": "bool"} {
		if found[p] != typ {
			t.Errorf("option %s: type %q, want %q", p, found[p], typ)
		}
	}
	code, out, _ = runCLI(t, nil, "options", "ssh")
	if code != ExitOK || !strings.Contains(out, "ssh.port (number) = 22\n") || strings.Contains(out, "networking") {
		t.Errorf("options ssh: exit %d:\n%s", code, out)
	}
	if code, _, _ := runCLI(t, nil, "options", "nope"); code != ExitFailure {
		t.Errorf("options nope: exit %d, want %d", code, ExitFailure)
	}
}

// TestEvalUsesLock: pkgs.NAME is the locked store path when kiln.lock
// beside the host locks it, else a placeholder.
func TestEvalUsesLock(t *testing.T) {
	lock, err := os.ReadFile("../../kiln.lock")
	if err != nil {
		t.Fatalf("the repository's kiln.lock: %v", err)
	}
	host := writeHost(t, "packages = [pkgs.cowsay]\n")
	if err := os.WriteFile(filepath.Join(filepath.Dir(host), "kiln.lock"), lock, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, nil, "eval", "-c", host, "packages", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var paths []string
	if err := json.Unmarshal([]byte(out), &paths); err != nil {
		t.Fatal(err)
	}
	if len(paths) < 2 || strings.Contains(paths[0], "/00000000000000000000000000000000-") || !strings.HasSuffix(paths[len(paths)-1], "00000000000000000000000000000000-cowsay") {
		t.Errorf("packages = %q: want locked paths and a placeholder for cowsay", paths)
	}
}
