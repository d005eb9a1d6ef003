package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-os/kiln/activation"
	"github.com/kiln-os/kiln/boot"
	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/machine"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// fakeEngine stands for package activation: it records what it was asked
// and, like Activate, points run/current-system at what it switched to.
type fakeEngine struct {
	mu       sync.Mutex
	plans    []string // "from -> to"
	switches []string // toplevels
	failed   []string // units to report failed
}

func (e *fakeEngine) Plan(_ context.Context, root string, from, to store.Path) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := ""
	if !from.IsZero() {
		f = from.String()
	}
	e.plans = append(e.plans, orDash(f)+" -> "+to.String())
	return fmt.Sprintf("would switch %s\n  from %s\n  to   %s\n", root, orDash(f), to), nil
}

func (e *fakeEngine) Switch(_ context.Context, root string, to store.Path, o machine.EngineOptions) (machine.EngineResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.switches = append(e.switches, to.String())
	link := filepath.Join(root, "run", "current-system")
	os.MkdirAll(filepath.Dir(link), 0o755)
	os.Remove(link + ".tmp")
	if err := os.Symlink(to.String(), link+".tmp"); err != nil {
		return machine.EngineResult{}, err
	}
	if err := os.Rename(link+".tmp", link); err != nil {
		return machine.EngineResult{}, err
	}
	o.Log("%s", "switched to "+to.String())
	return machine.EngineResult{Summary: "activated " + to.String() + "\n", Failed: e.failed}, nil
}

func (e *fakeEngine) Close() {}

// useFakeEngine makes m's activation engine (machine.Machine.Engine, set
// through Run.engine) a fake that records what it is asked.
func (m *testMachine) useFakeEngine() *fakeEngine {
	e := &fakeEngine{}
	m.engine = func(context.Context, string) (machine.Engine, error) { return e, nil }
	return e
}

// testMachine is a kiln machine under a temp root: store, profiles, an ESP
// directory at boot/ and run/, and the activation engine the CLI gets
// for it (nil: the real one).
type testMachine struct {
	root   string
	st     *store.Store
	engine func(context.Context, string) (machine.Engine, error)
}

func newTestMachine(t testing.TB) *testMachine {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"boot", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(filepath.Join(root, "kiln", "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &testMachine{root: root, st: st}
}

// buildTestPath builds a store path from files (name → content, "->x" a
// symlink); "" as the only name makes the path a single file.
func buildTestPath(t testing.TB, st *store.Store, name string, files map[string]string, refs ...store.Path) store.Path {
	t.Helper()
	key := store.NewKey("cli-switch-test/1")
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		key.Add(n, files[n])
	}
	for _, r := range refs {
		key.AddPath("ref", r)
	}
	p, err := key.Path(name)
	if err != nil {
		t.Fatal(err)
	}
	err = st.Build(context.Background(), p, refs, func(tmp string) error {
		if c, ok := files[""]; ok {
			return os.WriteFile(tmp, []byte(c), 0o644)
		}
		for _, n := range names {
			full := filepath.Join(tmp, n)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return err
			}
			c := files[n]
			if target, ok := strings.CutPrefix(c, "->"); ok {
				err = os.Symlink(target, full)
			} else {
				err = os.WriteFile(full, []byte(c), 0o644)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// system builds a toplevel like system.Build's: boot.json, kiln-version,
// kernel and initrd links; kernel names its content (generations with
// equal kernels share one ESP copy); extra refs join the closure.
func (m *testMachine) system(t testing.TB, st *store.Store, host, kernel string, refs ...store.Path) store.Path {
	t.Helper()
	return m.systemWith(t, st, host, kernel, nil, refs...)
}

// systemWith is system with extra files in the toplevel ("->x": a symlink).
func (m *testMachine) systemWith(t testing.TB, st *store.Store, host, kernel string, extra map[string]string, refs ...store.Path) store.Path {
	t.Helper()
	// as system.Build makes them: the kernel and the initrd are store files
	kpkg := buildTestPath(t, st, "vmlinuz-6.1.0-test", map[string]string{"": "kernel " + kernel})
	initrd := buildTestPath(t, st, "initrd-6.1.0-test", map[string]string{"": "initrd of " + kernel})
	// The toplevel's name is its key: build it once to learn its path.
	key := store.NewKey("cli-switch-test-toplevel/1").Add("host", host).AddPath("kernel", kpkg).AddPath("initrd", initrd)
	for _, r := range refs {
		key.AddPath("ref", r)
	}
	extraNames := slices.Sorted(maps.Keys(extra))
	for _, n := range extraNames {
		key.Add(n, extra[n])
	}
	top, err := key.Path("kiln-system-" + host)
	if err != nil {
		t.Fatal(err)
	}
	bs := &toplevel.Bootspec{Version: toplevel.BootspecVersion, Label: "kiln 0.1.0 (Linux 6.1.0-test)", Toplevel: top.String(),
		Init: top.String() + "/init", Kernel: kpkg.String(), Initrd: initrd.String(),
		KernelParams: []string{"root=LABEL=kiln-root", "rw", "host=" + host}, KilnVersion: "0.1.0"}
	spec, err := bs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	all := append([]store.Path{kpkg, initrd}, refs...)
	err = st.Build(context.Background(), top, all, func(tmp string) error {
		for _, step := range []error{
			os.Mkdir(tmp, 0o755),
			os.WriteFile(filepath.Join(tmp, "boot.json"), spec, 0o644),
			os.WriteFile(filepath.Join(tmp, "kiln-version"), []byte("0.1.0\n"), 0o644),
			os.Symlink(kpkg.String(), filepath.Join(tmp, "kernel")),
			os.Symlink(initrd.String(), filepath.Join(tmp, "initrd")),
		} {
			if step != nil {
				return step
			}
		}
		for _, n := range extraNames {
			full := filepath.Join(tmp, n)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return err
			}
			if target, ok := strings.CutPrefix(extra[n], "->"); ok {
				err = os.Symlink(target, full)
			} else {
				err = os.WriteFile(full, []byte(extra[n]), 0o644)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// run runs the real CLI in-process on the machine (--root, its store,
// its activation engine).
func (m *testMachine) run(t testing.TB, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	return m.runWith(t, stdin, map[string]string{}, append([]string{"--store", m.st.Dir}, append(args, "--root", m.root)...)...)
}

// runWith runs the real CLI in-process with env and m's activation engine.
func (m *testMachine) runWith(t testing.TB, stdin io.Reader, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	r := &Run{Env: Env{
		Args: args, Stdin: stdin, Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, Dir: t.TempDir(),
	}, engine: m.engine}
	code := r.main(context.Background())
	return code, out.String(), errb.String()
}

func runCLIWith(t testing.TB, stdin io.Reader, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	return (&testMachine{}).runWith(t, stdin, env, args...)
}

// state is what a switch may change on the machine: profile links, the
// ESP's files, run/ links.
func (m *testMachine) state(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, dir := range []string{"kiln/var/profiles", "boot", "run"} {
		filepath.WalkDir(filepath.Join(m.root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(m.root, p)
			switch {
			case d.Type()&os.ModeSymlink != 0:
				target, _ := os.Readlink(p)
				fmt.Fprintf(&b, "%s -> %s\n", rel, target)
			case d.Type().IsRegular():
				c, _ := os.ReadFile(p)
				fmt.Fprintf(&b, "%s %x\n", rel, c)
			}
			return nil
		})
	}
	return b.String()
}

func (m *testMachine) current(t testing.TB) (int, store.Path) {
	t.Helper()
	gens, err := m.st.Generations("system")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gens {
		if g.Current {
			return g.N, g.Path
		}
	}
	return 0, store.Path{}
}

func (m *testMachine) readESP(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(m.root, "boot", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSwitchToplevel(t *testing.T) {
	m := newTestMachine(t)
	eng := m.useFakeEngine()
	top1 := m.system(t, m.st, "one", "A")
	top2 := m.system(t, m.st, "two", "B")
	for i, top := range []store.Path{top1, top2, top2} {
		code, out, errs := m.run(t, nil, "switch", "--toplevel", top.String())
		if code != ExitOK {
			t.Fatalf("switch %d: code %d, out %q, err %q", i, code, out, errs)
		}
		if !strings.Contains(out, "activated "+top.String()) {
			t.Errorf("switch %d: output %q lacks the activation report", i, out)
		}
	}
	if n, p := m.current(t); n != 2 || p != top2 {
		t.Fatalf("current generation %d %s, want 2 %s (a repeated switch adds none)", n, p, top2)
	}
	if want := []string{top1.String(), top2.String(), top2.String()}; !slices.Equal(eng.switches, want) {
		t.Errorf("activated %v, want %v", eng.switches, want)
	}
	if conf := m.readESP(t, "loader/loader.conf"); !strings.Contains(conf, "default kiln-generation-2.conf") {
		t.Errorf("loader.conf = %q, want generation 2 as default", conf)
	}
	for _, n := range []int{1, 2} {
		if e := m.readESP(t, "loader/entries/"+boot.EntryName(n)); !strings.Contains(e, "init=") {
			t.Errorf("entry %d = %q", n, e)
		}
	}
	// --boot: default entry, no activation
	top3 := m.system(t, m.st, "three", "B")
	if code, _, errs := m.run(t, nil, "switch", "--boot", "--toplevel", top3.String()); code != ExitOK {
		t.Fatalf("switch --boot: %d %s", code, errs)
	}
	if len(eng.switches) != 3 {
		t.Errorf("switch --boot activated: %v", eng.switches)
	}
	if conf := m.readESP(t, "loader/loader.conf"); !strings.Contains(conf, "default kiln-generation-3.conf") {
		t.Errorf("loader.conf after --boot = %q, want generation 3 as default", conf)
	}
	// generations 2 and 3 share kernel B: the ESP has two kernels
	kernels, _ := filepath.Glob(filepath.Join(m.root, "boot", "EFI", "kiln", "*vmlinuz*"))
	if len(kernels) != 2 {
		t.Errorf("ESP kernels %v, want 2 (one per distinct kernel)", kernels)
	}
	t.Logf("ESP usage for 3 generations, 2 kernels: %d bytes", dirSize(filepath.Join(m.root, "boot")))
}

func TestSwitchDryRunChangesNothing(t *testing.T) {
	m := newTestMachine(t)
	eng := m.useFakeEngine()
	top1 := m.system(t, m.st, "one", "A")
	top2 := m.system(t, m.st, "two", "A")
	if code, _, errs := m.run(t, nil, "switch", "--toplevel", top1.String()); code != ExitOK {
		t.Fatal(errs)
	}
	before := m.state(t)
	code, out, errs := m.run(t, nil, "switch", "--dry-run", "--toplevel", top2.String())
	if code != ExitOK {
		t.Fatalf("dry run: %d %s", code, errs)
	}
	want := fmt.Sprintf("would switch %s\n  from %s\n  to   %s\n", m.root, top1, top2)
	if out != want {
		t.Errorf("dry run printed %q, want the plan %q", out, want)
	}
	// the rest of the plan (kiln diff) on stderr: bytes, reboot, the ESP
	for _, w := range []string{"from " + top1.String(), "to copy: 1 paths", "reboot", "after installing"} {
		if !strings.Contains(errs, w) {
			t.Errorf("dry run's stderr %q lacks %q", errs, w)
		}
	}
	if after := m.state(t); after != before {
		t.Errorf("dry run changed the machine:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if len(eng.switches) != 1 {
		t.Errorf("dry run activated: %v", eng.switches)
	}
}

// A configuration that does not load, and a toplevel that is not there,
// leave profiles, ESP and run/ as they were.
func TestSwitchFailureLeavesMachineUntouched(t *testing.T) {
	m := newTestMachine(t)
	eng := m.useFakeEngine()
	top1 := m.system(t, m.st, "one", "A")
	if code, _, errs := m.run(t, nil, "switch", "--toplevel", top1.String()); code != ExitOK {
		t.Fatal(errs)
	}
	before := m.state(t)
	cfgDir := t.TempDir()
	lock, err := os.ReadFile(filepath.Join("..", "..", "kiln.lock"))
	if err != nil {
		t.Fatalf("the repository's kiln.lock: %v", err)
	}
	os.WriteFile(filepath.Join(cfgDir, "kiln.lock"), lock, 0o644)
	bad := filepath.Join(cfgDir, "host.hcl")
	os.WriteFile(bad, []byte("config {\n  networking.host_nmae = \"x\"\n}\n"), 0o644)
	missing := m.system(t, newTestMachine(t).st, "elsewhere", "Z")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad config", []string{"switch", "-c", bad}, "configuration has 1 error"},
		{"toplevel not in the store", []string{"switch", "--toplevel", missing.String()}, "is not in the store"},
		{"no such generation", []string{"rollback", "--to", "7"}, "no generation 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := m.run(t, nil, tc.args...)
			if code != ExitFailure || !strings.Contains(errs, tc.want) {
				t.Fatalf("code %d, stderr %q; want 1 and %q", code, errs, tc.want)
			}
			if after := m.state(t); after != before {
				t.Errorf("the machine changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	if len(eng.switches) != 1 {
		t.Errorf("activations %v, want only the first", eng.switches)
	}
}

// A unit failing after the switch: the generation stays, exit status 1.
func TestSwitchReportsFailedUnits(t *testing.T) {
	m := newTestMachine(t)
	eng := m.useFakeEngine()
	eng.failed = []string{"broken.service"}
	top := m.system(t, m.st, "one", "A")
	code, _, errs := m.run(t, nil, "switch", "--toplevel", top.String())
	if code != ExitFailure || !strings.Contains(errs, "1 unit failed after the switch: broken.service") {
		t.Fatalf("code %d, stderr %q", code, errs)
	}
	if n, _ := m.current(t); n != 1 {
		t.Errorf("current generation %d, want 1", n)
	}
}

// A full ESP fails the switch cleanly: the old entries stay, the profile
// is put back, nothing is activated.
func TestSwitchFullESP(t *testing.T) {
	testenv.NeedRoot(t, "mounting a tmpfs")
	m := newTestMachine(t)
	eng := m.useFakeEngine()
	esp := filepath.Join(m.root, "boot")
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", esp).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", esp).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", esp, err, out)
		}
	})
	top1 := m.system(t, m.st, "one", "small")
	if code, _, errs := m.run(t, nil, "switch", "--toplevel", top1.String()); code != ExitOK {
		t.Fatal(errs)
	}
	before := m.state(t)
	top2 := m.system(t, m.st, "two", strings.Repeat("big", 200<<10))
	code, _, errs := m.run(t, nil, "switch", "--toplevel", top2.String())
	if code != ExitFailure || !strings.Contains(errs, "not enough free space on the ESP") || !strings.Contains(errs, "generation 2 not added") {
		t.Fatalf("switch onto a full ESP: code %d, %q", code, errs)
	}
	if after := m.state(t); after != before {
		t.Errorf("the machine changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if len(eng.switches) != 1 {
		t.Errorf("activated %v, want only generation 1", eng.switches)
	}
}

// A second switch, rollback or deletion while one runs fails at once and
// changes nothing.
func TestSwitchLock(t *testing.T) {
	m := newTestMachine(t)
	m.useFakeEngine()
	top1 := m.system(t, m.st, "one", "A")
	top2 := m.system(t, m.st, "two", "A")
	for _, top := range []store.Path{top1, top2} {
		if code, _, errs := m.run(t, nil, "switch", "--toplevel", top.String()); code != ExitOK {
			t.Fatal(errs)
		}
	}
	unlock, err := activation.LockSwitch(m.root)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	before := m.state(t)
	for _, args := range [][]string{
		{"switch", "--toplevel", top1.String()},
		{"rollback"},
		{"generations", "delete", "1"},
	} {
		code, _, errs := m.run(t, nil, args...)
		if code != ExitFailure || !strings.Contains(errs, "another switch is running") {
			t.Errorf("%v while locked: code %d, %q", args, code, errs)
		}
	}
	if after := m.state(t); after != before {
		t.Errorf("the machine changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// dirSize is the sum of the sizes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
