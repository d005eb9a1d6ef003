package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
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
// image comes through Run.buildImage, stubbed here.
func TestTestRunsMachines(t *testing.T) {
	testenv.NeedVM(t)
	dir := t.TempDir()
	disk := emptyDisk(t)
	var built []string
	stub := func(_ context.Context, _ *Run, host string) (string, error) {
		built = append(built, host)
		return disk, nil
	}
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
	var outb, errb bytes.Buffer
	r := &Run{Env: Env{Args: []string{"test", pass, fail}, Stdin: strings.NewReader(""), Stdout: &outb, Stderr: &errb,
		Getenv: func(string) string { return "" }, Dir: t.TempDir()}, buildImage: stub}
	code := r.main(context.Background())
	out, stderr := outb.String(), errb.String()
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

// TestTestBootsKilnSystem is kiln test end to end on the shipped
// tests/vm/smoke.hcl: it builds a system with the test backdoor from the
// repository's kiln.lock, boots it and drives it through the backdoor,
// reboots in place, reboots into a generation chosen through
// LoaderEntryOneShot, and powers it off.
func TestTestBootsKilnSystem(t *testing.T) {
	testenv.NeedVM(t)
	testenv.Slow(t, "builds and boots a system")
	test, err := filepath.Abs(filepath.Join("..", "..", "tests", "vm", "smoke.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Images go to a private cache; downloaded packages come from the
	// user's, so that the test does not fetch them again.
	cache := userDebCache(t)
	env := map[string]string{"HOME": os.Getenv("HOME"), "XDG_CACHE_HOME": cache, "KILN_MIRROR": os.Getenv("KILN_MIRROR")}
	// The system embeds the running kiln as its init: that must be a
	// static binary, which the test binary is not.
	bin := filepath.Join(t.TempDir(), "kiln")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kiln")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	cmd := exec.Command(bin, "--store", filepath.Join(dir, "store"), "test", test)
	cmd.Dir = dir
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	out := stdout.String()
	if err != nil {
		t.Fatalf("kiln test: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "--- PASS") {
			t.Log(line)
		}
	}
}
