package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGCKeepsRootsAndDeletesTheRest(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	lib := build(t, s, "lib", nil, tree{"lib/libc.so": "elf"})
	app := build(t, s, "app", []Path{lib}, tree{"bin/app": "uses " + lib.String()})
	kernel := build(t, s, "kernel", nil, tree{"vmlinuz": "k"})
	toplevel := build(t, s, "toplevel", []Path{kernel}, tree{"kernel": "->" + kernel.String() + "/vmlinuz"})
	junk := build(t, s, "junk", []Path{lib}, tree{"f": "garbage"})
	direct := build(t, s, "direct", nil, tree{"f": "kept by a direct root"})
	// A leftover a dead builder renamed into place but never registered.
	leftover := testPath(t, "leftover")
	os.MkdirAll(filepath.Join(s.Physical(leftover), "sub"), 0o555)
	// A record whose content vanished.
	vanished := build(t, s, "vanished", nil, tree{"f": "v"})
	removeTree(s.Physical(vanished))

	result := filepath.Join(t.TempDir(), "result")
	if err := s.AddRoot(result, app); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddGeneration("system", toplevel); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(s.Physical(direct), filepath.Join(s.StateDir, "gcroots", "pinned")); err != nil {
		t.Fatal(err)
	}
	// What this Store built is rooted while it is open (temporary roots).
	want := fmt.Sprint(sortPaths([]Path{leftover, vanished}))
	if rep, err := s.GC(ctx, true); err != nil || fmt.Sprint(rep.Deleted) != want {
		t.Fatalf("gc with temporary roots would delete %v (%v), want only the invalid %v", rep.Deleted, err, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	roots, err := s.Roots()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(roots), fmt.Sprint(sortPaths([]Path{app, toplevel, direct})); got != want {
		t.Errorf("Roots = %v, want %v", got, want)
	}

	wantDeleted := fmt.Sprint(sortPaths([]Path{junk, leftover, vanished}))
	dry, err := s.GC(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(dry.Deleted) != wantDeleted || dry.Freed <= 0 {
		t.Errorf("dry run: deleted %v freed %d, want %v and some bytes", dry.Deleted, dry.Freed, wantDeleted)
	}
	if !s.Valid(junk) {
		t.Fatal("dry run deleted a path")
	}
	rep, err := s.GC(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rep.Deleted) != wantDeleted || rep.Freed != dry.Freed {
		t.Errorf("gc: deleted %v freed %d, want %v and %d", rep.Deleted, rep.Freed, wantDeleted, dry.Freed)
	}
	for _, p := range []Path{lib, app, kernel, toplevel, direct} {
		if !s.Valid(p) {
			t.Errorf("gc deleted live path %s", p)
		}
	}
	for _, p := range []Path{junk, leftover, vanished} {
		if _, err := os.Lstat(s.Physical(p)); err == nil || s.Valid(p) {
			t.Errorf("gc left %s", p)
		}
	}
	if problems, err := s.Verify(ctx); err != nil || len(problems) != 0 {
		t.Errorf("verify after gc: %v, %v", problems, err)
	}

	// Without its result link, app and lib go; a stale auto root goes too.
	os.Remove(result)
	rep, err = s.GC(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(rep.Deleted), fmt.Sprint(sortPaths([]Path{app, lib})); got != want {
		t.Errorf("after removing result: deleted %v, want %v", got, want)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.StateDir, "gcroots", "auto")); len(ents) != 0 {
		t.Errorf("stale auto roots left: %v", ents)
	}
}

func TestAddRootRefusesInvalid(t *testing.T) {
	s := openTest(t)
	link := filepath.Join(t.TempDir(), "result")
	if err := s.AddRoot(link, testPath(t, "nope")); err == nil {
		t.Fatal("AddRoot of an invalid path succeeded")
	}
	if _, err := os.Lstat(link); err == nil {
		t.Fatal("AddRoot of an invalid path made the link")
	}
}

func TestProfiles(t *testing.T) {
	s := openTest(t)
	a := build(t, s, "gen-a", nil, tree{"init": "a"})
	b := build(t, s, "gen-b", nil, tree{"init": "b"})
	steps := []struct {
		top     Path
		n       int
		created bool
	}{{a, 1, true}, {a, 1, false}, {b, 2, true}, {b, 2, false}, {a, 3, true}}
	for i, st := range steps {
		n, created, err := s.AddGeneration("system", st.top)
		if err != nil || n != st.n || created != st.created {
			t.Fatalf("step %d: AddGeneration = %d, %v, %v; want %d, %v", i, n, created, err, st.n, st.created)
		}
	}
	if err := s.SetCurrent("system", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCurrent("system", 9); err == nil {
		t.Fatal("SetCurrent to a missing generation succeeded")
	}
	gens, err := s.Generations("system")
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, g := range gens {
		got += fmt.Sprintf("%d:%s:%v ", g.N, g.Path.Name(), g.Current)
	}
	if want := "1:gen-a:false 2:gen-b:true 3:gen-a:false "; got != want {
		t.Errorf("generations = %q, want %q", got, want)
	}
	target, _ := os.Readlink(filepath.Join(s.ProfileDir(), "system-2-link"))
	if target != s.Physical(b) {
		t.Errorf("system-2-link -> %s, want the physical path %s", target, s.Physical(b))
	}
	// Going back to a toplevel an older generation has makes a new one.
	if n, created, _ := s.AddGeneration("system", a); n != 4 || !created {
		t.Errorf("AddGeneration(a) after rollback = %d, %v; want 4, true", n, created)
	}
	if _, _, err := s.AddGeneration("../x", a); err == nil {
		t.Error("bad profile name accepted")
	}
}

func TestWriteProfileLinksIsLogical(t *testing.T) {
	s := openTest(t)
	top := testPath(t, "toplevel")
	dir := filepath.Join(t.TempDir(), "kiln", "var", "profiles")
	if err := WriteProfileLinks(dir, "system", 1, top); err != nil {
		t.Fatal(err)
	}
	for link, want := range map[string]string{"system-1-link": top.String(), "system": "system-1-link"} {
		if got, err := os.Readlink(filepath.Join(dir, link)); err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", link, got, err, want)
		}
	}
	// A store reading that profile dir understands the logical target.
	s.StateDir = filepath.Dir(dir)
	gens, err := s.Generations("system")
	if err != nil || len(gens) != 1 || gens[0].Path != top || !gens[0].Current {
		t.Errorf("generations = %+v, %v", gens, err)
	}
}

func TestDeleteAndRevertGeneration(t *testing.T) {
	s := openTest(t)
	a := build(t, s, "gen-a", nil, tree{"init": "a"})
	b := build(t, s, "gen-b", nil, tree{"init": "b"})
	numbers := func() string {
		t.Helper()
		gens, err := s.Generations("system")
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, g := range gens {
			got += fmt.Sprintf("%d:%v ", g.N, g.Current)
		}
		return got
	}
	// The first generation reverted: no profile at all.
	n, _, _ := s.AddGeneration("system", a)
	if err := s.RevertGeneration("system", n, 0); err != nil {
		t.Fatal(err)
	}
	if got := numbers(); got != "" {
		t.Errorf("after reverting the first generation: %q, want none", got)
	}
	if _, err := os.Lstat(filepath.Join(s.ProfileDir(), "system")); !os.IsNotExist(err) {
		t.Errorf("the profile link is left: %v", err)
	}
	s.AddGeneration("system", a)
	n, _, _ = s.AddGeneration("system", b)
	if err := s.RevertGeneration("system", n, 1); err != nil {
		t.Fatal(err)
	}
	if got := numbers(); got != "1:true " {
		t.Errorf("after reverting generation 2: %q, want 1 current", got)
	}
	s.AddGeneration("system", b) // 2, current
	if err := s.DeleteGeneration("system", 2); !errors.Is(err, ErrCurrentGeneration) {
		t.Errorf("deleting the current generation: %v", err)
	}
	if err := s.DeleteGeneration("system", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGeneration("system", 7); err != nil {
		t.Errorf("deleting a generation that is not there: %v", err)
	}
	if got := numbers(); got != "2:true " {
		t.Errorf("after deleting generation 1: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(s.ProfileDir(), GenerationLink("system", 2))); err != nil {
		t.Errorf("GenerationLink names no link: %v", err)
	}
}

// Protect keeps valid paths a process did not build, with their closure,
// and paths not valid yet, from a collection by another Store.
func TestProtectKeepsWhatAProcessReads(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	lib := build(t, s, "lib", nil, tree{"lib/libc.so": "elf"})
	app := build(t, s, "app", []Path{lib}, tree{"bin/app": "uses " + lib.String()})
	if err := s.Close(); err != nil { // nothing is rooted now
		t.Fatal(err)
	}
	reader, err := Open(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	later := testPath(t, "later")
	if err := reader.Protect(ctx, app, later); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.GC(ctx, false); err != nil || len(rep.Deleted) != 0 {
		t.Fatalf("gc deleted %v (%v), want nothing while another Store protects app", rep.Deleted, err)
	}
	if !s.Valid(app) || !s.Valid(lib) {
		t.Fatal("gc took a protected path or its closure")
	}
	reader.Close()
	if rep, err := s.GC(ctx, false); err != nil || len(rep.Deleted) != 2 {
		t.Fatalf("after Close gc deleted %v (%v), want app and lib", rep.Deleted, err)
	}
}

// AddRoot refuses to replace what is not a symlink (kiln build -o /, -o
// a file) and registers no root then; a link it cannot make leaves no root.
func TestAddRootRefusesAndLeavesNoRoot(t *testing.T) {
	s := openTest(t)
	p := build(t, s, "app", nil, tree{"f": "x"})
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("keep"), 0o644)
	for _, link := range []string{"/", file, filepath.Join(t.TempDir(), "no", "such", "dir", "result")} {
		if err := s.AddRoot(link, p); err == nil {
			t.Errorf("AddRoot(%s) succeeded", link)
		}
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Error("AddRoot replaced a regular file")
	}
	if ents, _ := os.ReadDir(filepath.Join(s.StateDir, "gcroots", "auto")); len(ents) != 0 {
		t.Errorf("failed AddRoots left roots: %v", ents)
	}
	if err := s.AddRoot("/", p); err == nil || !strings.Contains(err.Error(), "add root /: / exists and is not a symlink") {
		t.Errorf("AddRoot(/): %v", err)
	}
}
