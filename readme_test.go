package kiln_test

import (
	"os"
	"strings"
	"testing"

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
