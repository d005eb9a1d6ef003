package kiln_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/cli"
	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/modules"
)

// The README's example host is examples/web1.hcl, and it loads.
func TestReadmeExampleHost(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```hcl\n")
	if !ok {
		t.Fatal("README.md has no ```hcl block")
	}
	block, _, _ := strings.Cut(rest, "```")
	example, err := os.ReadFile("examples/web1.hcl")
	if err != nil {
		t.Fatal(err)
	}
	var body []string
	for _, l := range strings.Split(string(example), "\n") {
		if !strings.HasPrefix(l, "#") {
			body = append(body, l)
		}
	}
	if got, want := block, strings.Join(body, "\n"); got != want {
		t.Fatalf("README's example differs from examples/web1.hcl:\n--- README\n%s\n--- example\n%s", got, want)
	}
	cfg, diags := modules.Load("examples/web1.hcl", modules.LoadOptions{})
	if diags.HasErrors() {
		t.Fatalf("examples/web1.hcl: %s", diags.Error())
	}
	if got := cfg.System.Networking.HostName; got != "web1" {
		t.Errorf("host name = %q, want web1", got)
	}
	if _, ok := cfg.System.Users["alice"]; !ok {
		t.Error("user alice is missing")
	}
	if !cfg.System.SSH.Enable {
		t.Error("ssh is not enabled")
	}
}

// The README's quick start works verbatim in an empty directory: the
// host file from its ```hcl block, then each line of the ```sh block that
// follows "In an empty directory" up to and including kiln image, run
// through the in-process CLI (ssh-keygen through the real one). kiln vm
// is left out: it takes the terminal.
func TestReadmeQuickStart(t *testing.T) {
	testenv.NeedLiveArchive(t)
	testenv.NeedTools(t, "ssh-keygen")
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(readme), "```hcl\n")
	host, rest, _ := strings.Cut(rest, "```")
	_, rest, ok := strings.Cut(rest, "In an empty directory")
	if !ok {
		t.Fatal(`README.md has no "In an empty directory" quick start`)
	}
	_, rest, _ = strings.Cut(rest, "```sh\n")
	block, _, _ := strings.Cut(rest, "```")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "web1.hcl"), []byte(host), 0o644); err != nil {
		t.Fatal(err)
	}
	cache, _ := os.UserCacheDir() // the .debs and indices other tests fetched
	env := map[string]string{"XDG_CACHE_HOME": cache, "KILN_MIRROR": os.Getenv("KILN_MIRROR"), "HOME": os.Getenv("HOME")}
	store := filepath.Join(t.TempDir(), "store")
	ran := 0
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		args := strings.Fields(cmd)
		if len(args) == 0 {
			continue
		}
		switch {
		case args[0] == "kiln" && args[1] == "vm":
			continue
		case args[0] == "kiln":
			var out, errb strings.Builder
			code := cli.Main(context.Background(), cli.Env{
				Args: append([]string{"--store", store}, args[1:]...), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
				Getenv: func(k string) string { return env[k] }, Dir: dir,
			})
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s%s", cmd, code, out.String(), errb.String())
			}
			t.Logf("%s\n%s", cmd, lastLines(out.String(), 3))
		default:
			c := exec.Command("sh", "-c", cmd)
			c.Dir = dir
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, out)
			}
		}
		ran++
	}
	if ran < 5 {
		t.Fatalf("ran %d lines of the quick start, want at least 5", ran)
	}
	for _, f := range []string{"alice.pub", "web1.lock", "web1.img"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the quick start made no %s: %v", f, err)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
