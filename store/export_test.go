package store

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
)

// An image gets the closure's contents copied into its /kiln/store and the
// records exported into its /kiln/var: the store there sees them valid.
func TestExportRecords(t *testing.T) {
	s := openTest(t)
	lib := build(t, s, "lib", nil, tree{"lib/x.so": "x"})
	app := build(t, s, "app", []Path{lib}, tree{"bin/app": "y", "bin/link": "->" + lib.String() + "/lib/x.so"})
	target := filepath.Join(t.TempDir(), "kiln")
	t.Cleanup(func() { removeTree(target) })
	closure, err := s.Closure(app)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(target, "store"), 0o755)
	for _, p := range closure {
		if out, err := exec.Command("cp", "-a", s.Physical(p), filepath.Join(target, "store")).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
	}
	if err := s.ExportRecords(filepath.Join(target, "var"), closure...); err != nil {
		t.Fatal(err)
	}
	if err := s.ExportRecords(filepath.Join(target, "var"), testPath(t, "absent")); !errors.Is(err, ErrNotValid) {
		t.Fatalf("export of an invalid path: %v, want ErrNotValid", err)
	}
	there, err := Open(filepath.Join(target, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer there.Close()
	for _, p := range closure {
		if !there.Valid(p) {
			t.Errorf("%s not valid in the target store", p)
			continue
		}
		// Reproducible images: the registration time is fixed, the rest kept.
		got, _ := there.Info(p)
		want, _ := s.Info(p)
		if !got.Registered.Equal(ExportedRegistration) {
			t.Errorf("%s exported with registration time %v, want %v", p, got.Registered, ExportedRegistration)
		}
		if got.NarHash != want.NarHash || len(got.Refs) != len(want.Refs) {
			t.Errorf("%s exported as %+v, want the record %+v", p, got, want)
		}
	}
	if problems, err := there.Verify(context.Background()); err != nil || len(problems) != 0 {
		t.Errorf("verify in the target store: %v, %v", problems, err)
	}
}

// A kiln machine binds its store read-only onto itself: reading works,
// building fails clearly.
func TestReadOnlyStore(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "%v", "bind mounts need root")
	}
	s := openTest(t)
	p := build(t, s, "present", nil, tree{"f": "x"})
	removeTree(s.tmpDir()) // as an image would hold it: no temp dir
	for _, args := range [][]string{{"--bind", s.Dir, s.Dir}, {"-o", "remount,bind,ro", s.Dir}} {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v: %s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("umount", s.Dir).Run() })
	ro, err := Open(s.Dir)
	if err != nil {
		t.Fatalf("Open of a read-only store: %v", err)
	}
	defer ro.Close()
	if !ro.Valid(p) {
		t.Error("valid path not valid on the read-only store")
	}
	if problems, err := ro.Verify(context.Background()); err != nil || len(problems) != 0 {
		t.Errorf("verify: %v, %v", problems, err)
	}
	err = ro.Build(context.Background(), testPath(t, "new"), nil, tree{"f": "y"}.fill)
	if err == nil || !strings.Contains(err.Error(), testPath(t, "new").String()) {
		t.Errorf("Build into a read-only store: %v, want an error naming the path", err)
	}
	t.Logf("build into a read-only store: %v", err)
}
