package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/machine"
	"github.com/kiln-os/kiln/shell"
	"github.com/kiln-os/kiln/store"
)

// The test binary doubles as kiln: with KILN_CLI_TEST_MAIN=1 it runs the
// CLI on its arguments (what inPrivateMountNS re-executes), started as
// shell.HelperName it is kiln shell's namespace helper, and with
// KILN_CLI_TEST_HELPER=readonly-store it plays a kiln machine whose store
// is bound read-only (in a mount namespace of its own) and runs the CLI
// with the arguments in KILN_TEST_ARGS (JSON).
func TestMain(m *testing.M) {
	switch {
	case filepath.Base(os.Args[0]) == shell.HelperName, os.Getenv("KILN_CLI_TEST_MAIN") == "1":
		os.Exit(Main(context.Background(), OSEnv()))
	case os.Getenv("KILN_CLI_TEST_HELPER") == "readonly-store":
		os.Exit(readOnlyStoreHelper())
	}
	code := m.Run()
	if kilnBinBuilt {
		if bin, err := kilnBin(); err == nil {
			os.RemoveAll(filepath.Dir(bin))
		}
	}
	os.Exit(code)
}

// onReadOnlyStore runs the CLI with args and stdin (a file, or "") as a
// machine whose store dir is bound read-only.
func onReadOnlyStore(t *testing.T, dir, stdinFile string, args ...string) (string, string, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "%v", "bind mounts need root")
	}
	a, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KILN_CLI_TEST_HELPER=readonly-store", "KILN_TEST_STORE="+dir,
		"KILN_TEST_STDIN="+stdinFile, "KILN_TEST_ARGS="+string(a))
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func readOnlyStoreHelper() int {
	dir, stdinFile := os.Getenv("KILN_TEST_STORE"), os.Getenv("KILN_TEST_STDIN")
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv("KILN_TEST_ARGS")), &args); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 3
	}
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "helper:", err); return 3 }
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		return fail(err)
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NODEV, ""); err != nil {
		return fail(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "probe"), 0o755); !errors.Is(err, syscall.EROFS) {
		return fail(fmt.Errorf("store writable after the read-only bind: %v", err))
	}
	stdin := os.Stdin
	if stdinFile != "" {
		f, err := os.Open(stdinFile)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		stdin = f
	}
	os.Setenv("KILN_CLI_TEST_MAIN", "1") // the re-executed child runs the CLI
	wd, _ := os.Getwd()
	code := Main(context.Background(), Env{Args: args, Stdin: stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Dir: wd})
	// This namespace (the machine's view) must still see it read-only.
	if ro, flags, err := machine.ReadOnlyMount(dir); err != nil || !ro || flags&unix.ST_NODEV == 0 {
		return fail(fmt.Errorf("after receive the store is read-only %v (flags %#x, %v), want read-only nodev", ro, flags, err))
	}
	return code
}

// On a read-only store, store receive re-executes itself in a private
// mount namespace and writes there; the caller's view stays read-only.
func TestReceiveIntoReadOnlyStore(t *testing.T) {
	src := newTestMachine(t).st
	lib, app := twoPaths(t, src)
	var stream bytes.Buffer
	if _, err := src.SendStream(&stream, []store.Path{app, lib}); err != nil {
		t.Fatal(err)
	}
	streamFile := filepath.Join(t.TempDir(), "stream")
	if err := os.WriteFile(streamFile, stream.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := newTestMachine(t).st
	_, errs, err := onReadOnlyStore(t, dst.Dir, streamFile, "--store", dst.Dir, "store", "receive")
	if err != nil {
		t.Fatalf("receive into a read-only store: %v\n%s", err, errs)
	}
	if !strings.Contains(errs, "received 2 paths") {
		t.Errorf("stderr %q", errs)
	}
	for _, p := range []store.Path{lib, app} {
		if !dst.Valid(p) {
			t.Errorf("%s not valid after receive", p)
		}
	}
	if ro, _, _ := machine.ReadOnlyMount(dst.Dir); ro {
		t.Errorf("the test's own view of %s became read-only", dst.Dir)
	}
}
