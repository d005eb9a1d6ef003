package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTestFile(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTestDryRun(t *testing.T) {
	dir := t.TempDir()
	f := writeTestFile(t, dir, "web.hcl", `
machine "web" {
  config = "hosts/web.hcl"
}
step "wait_for_unit" {
  unit = "multi-user.target"
}
step "succeed" {
  command = "hostname"
  expect  = "^web$"
}
`)
	code, out, stderr := runCLI(t, nil, "test", "--dry-run", f)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := f + "\n  machine web: config " + filepath.Join(dir, "hosts/web.hcl") + "\n" +
		"  step 1: web: wait_for_unit multi-user.target\n" +
		"  step 2: web: succeed \"hostname\" =~ /^web$/\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestTestInvalidFile(t *testing.T) {
	f := writeTestFile(t, t.TempDir(), "bad.hcl", "machine \"m\" {\n  image = \"m.img\"\n}\nstep \"wait_for_unti\" {\n}\n")
	code, _, stderr := runCLI(t, nil, "test", f)
	if code != ExitFailure || !strings.Contains(stderr, f+":4,6: Unknown step kind") || !strings.Contains(stderr, `did you mean "wait_for_unit"`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runCLI(t, nil, "test"); code != ExitUsage {
		t.Errorf("no file: exit %d, want %d", code, ExitUsage)
	}
}

// TestTestRunsMachines runs two real tests on firmware-only machines (an
// empty disk): one passes, one waits in vain and fails with the step's
// line, the serial tail and the QEMU command line. The config machine's
// image comes through buildImage, stubbed here.
func TestTestRunsMachines(t *testing.T) {
	needQEMU(t)
	dir := t.TempDir()
	disk := emptyDisk(t)
	saved := buildImage
	var built []string
	buildImage = func(_ context.Context, _ *Run, host string) (string, error) {
		built = append(built, host)
		return disk, nil
	}
	defer func() { buildImage = saved }()
	pass := writeTestFile(t, dir, "pass.hcl", `
machine "fw" {
  config = "host.hcl"
  memory = 256
}
step "wait_for_console_text" {
  regexp = "BdsDxe: failed to load Boot0001"
}
step "crash" {}
`)
	fail := writeTestFile(t, dir, "fail.hcl", `
machine "fw" {
  image  = "`+disk+`"
  memory = 256
}
step "wait_for_console_text" {
  regexp  = "this never appears"
  timeout = "3s"
}
step "crash" {}
`)
	code, out, stderr := runCLI(t, nil, "test", pass, fail)
	if code != ExitFailure || !strings.Contains(stderr, "1 of 2") {
		t.Errorf("exit %d, stderr %q; want 1 and one failed test", code, stderr)
	}
	for _, want := range []string{
		"=== RUN   start fw\n--- PASS: start fw (",
		"--- PASS: step 1: fw: wait_for_console_text /BdsDxe: failed to load Boot0001/ (",
		"--- PASS: step 2: fw: crash (",
		"PASS\nok  \t" + pass,
		"--- FAIL: step 1: fw: wait_for_console_text /this never appears/ (",
		"    " + fail + ":6: wait for console text \"this never appears\": context deadline exceeded",
		"QEMU command line (reproduce by hand):",
		"last lines of the serial console:",
		"FAIL\nFAIL\t" + fail,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "step 2: fw: crash") != 2 {
		t.Errorf("the failing test ran past its failure:\n%s", out)
	}
	if len(built) != 1 || built[0] != filepath.Join(dir, "host.hcl") {
		t.Errorf("built %q, want the config of pass.hcl", built)
	}
}
