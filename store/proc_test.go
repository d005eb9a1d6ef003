package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/testenv"
)

// The test binary doubles as a second kiln process: with KILN_STORE_HELPER
// set, TestMain runs a builder instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("KILN_STORE_HELPER"); mode != "" {
		if err := helper(mode); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helper(mode string) error {
	s, err := Open(os.Getenv("KILN_STORE_DIR"))
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch mode {
	case "build":
		// Two goroutines per process, each building every listed path.
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, name := range strings.Split(os.Getenv("KILN_STORE_PATHS"), ",") {
					if err := helperBuild(ctx, s, name); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	case "hold":
		// Build a path, say so, and live until stdin closes.
		if err := helperBuild(ctx, s, "held"); err != nil {
			return err
		}
		if err := os.WriteFile(os.Getenv("KILN_STORE_READY"), nil, 0o644); err != nil {
			return err
		}
		io.Copy(io.Discard, os.Stdin)
		return nil
	case "hang":
		p, _ := NewKey("test/1").Add("name", "victim").Path("victim")
		return s.Build(ctx, p, nil, func(tmp string) error {
			if err := os.Mkdir(tmp, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(tmp, "half"), make([]byte, 1<<20), 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(os.Getenv("KILN_STORE_READY"), nil, 0o644); err != nil {
				return err
			}
			time.Sleep(time.Hour) // until kill -9
			return errors.New("not killed")
		})
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// helperBuild builds name, logging each fill to KILN_STORE_LOG.
func helperBuild(ctx context.Context, s *Store, name string) error {
	p, _ := NewKey("test/1").Add("name", name).Path(name)
	return s.Build(ctx, p, nil, func(tmp string) error {
		f, err := os.OpenFile(os.Getenv("KILN_STORE_LOG"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintf(f, "%s %d\n", name, os.Getpid())
		f.Close()
		time.Sleep(20 * time.Millisecond) // widen the window for a race
		return tree{"f": name}.fill(tmp)
	})
}

func helperCmd(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"KILN_STORE_HELPER=" + mode}, env...)...)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestConcurrentBuildsInTwoProcesses(t *testing.T) {
	s := openTest(t)
	log := filepath.Join(t.TempDir(), "fills")
	var cmds []*exec.Cmd
	for i := range 2 {
		cmd := helperCmd(t, "build", "KILN_STORE_DIR="+s.Dir, "KILN_STORE_LOG="+log,
			fmt.Sprintf("KILN_STORE_PATHS=shared,own%d,shared2", i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("builder process: %v", err)
		}
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		name, _, _ := strings.Cut(line, " ")
		count[name]++
	}
	for _, name := range []string{"shared", "own0", "own1", "shared2"} {
		if count[name] != 1 {
			t.Errorf("%s filled %d times, want 1 (log:\n%s)", name, count[name], b)
		}
		if !s.Valid(testPath(t, name)) {
			t.Errorf("%s not valid", name)
		}
	}
	if problems, err := s.Verify(context.Background()); err != nil || len(problems) != 0 {
		t.Errorf("verify: %v, %v", problems, err)
	}
}

func TestKillDuringFill(t *testing.T) {
	s := openTest(t)
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := helperCmd(t, "hang", "KILN_STORE_DIR="+s.Dir, "KILN_STORE_READY="+ready)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("child never reached the middle of fill")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var exitErr *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child exit: %v, want killed by SIGKILL", err)
	}
	victim := testPath(t, "victim")
	if s.Valid(victim) {
		t.Fatal("killed build left a valid path")
	}
	if ents, _ := os.ReadDir(s.tmpDir()); len(ents) != 1 {
		t.Fatalf("temp dir holds %d entries after the kill, want the dead build's", len(ents))
	}
	// The next Open removes the dead build's leftovers; the next Build
	// neither waits for the dead builder's lock nor trips over its files.
	s2, err := Open(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(s2.tmpDir()); len(ents) != 0 {
		t.Fatalf("Open left %d temp entries", len(ents))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s2.Build(ctx, victim, nil, tree{"whole": "ok"}.fill); err != nil {
		t.Fatal(err)
	}
	if problems, err := s2.Verify(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("verify: %v, %v", problems, err)
	}
}

// mountTmpfs mounts a small tmpfs for a full-disk test (root only).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "%v", "mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

func TestDiskFullDuringFill(t *testing.T) {
	mnt := mountTmpfs(t, "2m")
	s, err := Open(filepath.Join(mnt, "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // before the unmount
	big := testPath(t, "big")
	err = s.Build(context.Background(), big, nil, func(tmp string) error {
		return os.WriteFile(tmp, make([]byte, 4<<20), 0o644)
	})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), big.String()) {
		t.Fatalf("Build on a full disk: %v, want ENOSPC naming %s", err, big)
	}
	assertNoLeftovers(t, s, big)
	build(t, s, "small", nil, tree{"f": "fits"}) // the space came back
}

func TestDiskFullDuringRegistration(t *testing.T) {
	mnt := mountTmpfs(t, "1m")
	s, err := Open(filepath.Join(mnt, "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // before the unmount
	// A first build allocates the temporary-roots file's page.
	build(t, s, "warm-up", nil, tree{"f": "x"})
	// Fill the file system, then build a path that needs no data blocks
	// (a short symlink): its content fits, its record does not.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for chunk := make([]byte, 4096); ; {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	p := testPath(t, "link")
	err = s.Build(context.Background(), p, nil, func(tmp string) error { return os.Symlink("x", tmp) })
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), p.String()) || !strings.Contains(err.Error(), "register") {
		t.Fatalf("Build with no room for the record: %v, want a register ENOSPC naming %s", err, p)
	}
	assertNoLeftovers(t, s, p)
	os.Remove(filler)
	if err := s.Build(context.Background(), p, nil, func(tmp string) error { return os.Symlink("x", tmp) }); err != nil {
		t.Fatalf("Build after space came back: %v", err)
	}
}

// A live process's temporary roots protect what it built from another
// process's collection; once it exits they do not.
func TestTempRootsAcrossProcesses(t *testing.T) {
	s := openTest(t)
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := helperCmd(t, "hold", "KILN_STORE_DIR="+s.Dir, "KILN_STORE_READY="+ready,
		"KILN_STORE_LOG="+filepath.Join(t.TempDir(), "fills"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child never built its path")
		}
	}
	held := testPath(t, "held")
	rep, err := s.GC(context.Background(), false)
	if err != nil || len(rep.Deleted) != 0 || !s.Valid(held) {
		t.Fatalf("gc while the builder lives: deleted %v, %v; held valid %v", rep.Deleted, err, s.Valid(held))
	}
	stdin.Close() // the child exits
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	rep, err = s.GC(context.Background(), false)
	if err != nil || len(rep.Deleted) != 1 || rep.Deleted[0] != held {
		t.Fatalf("gc after the builder exited: deleted %v, %v; want %s", rep.Deleted, err, held)
	}
	if ents, _ := os.ReadDir(s.tempRootDir()); len(ents) != 0 {
		t.Errorf("dead process's temporary roots left: %v", ents)
	}
}
