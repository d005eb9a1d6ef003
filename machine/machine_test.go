package machine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/versioned"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// testMachine is a kiln machine under a temp root: its store, an ESP
// directory at boot/ and run/.
type testMachine struct {
	*Machine
}

func newMachine(t *testing.T) testMachine {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"boot", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Open(root, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return testMachine{m}
}

// build makes a store path named name holding one file (content), or a
// directory of files (name → content, "->x" a symlink).
func (m testMachine) build(t *testing.T, name string, content string, files map[string]string, refs ...store.Path) store.Path {
	t.Helper()
	key := store.NewKey("machine-test").Add("name", name).Add("content", content)
	for n, c := range files {
		key.Add(n, c)
	}
	for _, r := range refs {
		key.AddPath("ref", r)
	}
	p, err := key.Path(name)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Store.Build(context.Background(), p, refs, func(tmp string) error {
		if files == nil {
			return os.WriteFile(tmp, []byte(content), 0o644)
		}
		for n, c := range files {
			full := filepath.Join(tmp, n)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return err
			}
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

// toplevel makes a toplevel whose bootspec carries loader (nil: a
// version 1 bootspec, before loader settings).
func (m testMachine) toplevel(t *testing.T, host string, loader *toplevel.Loader) store.Path {
	t.Helper()
	kernel := m.build(t, "vmlinuz-6.1.0-test", "kernel", nil)
	initrd := m.build(t, "initrd-6.1.0-test", "initrd", nil)
	key := store.NewKey("machine-test-toplevel").Add("host", host)
	if loader != nil {
		key.Add("loader", loader.ConsoleMode)
	}
	top, err := key.Path("kiln-system-" + host)
	if err != nil {
		t.Fatal(err)
	}
	bs := toplevel.Bootspec{Label: "kiln test", Toplevel: top.String(), Init: top.String() + "/init",
		Kernel: kernel.String(), Initrd: initrd.String(), KernelParams: []string{"rw"}, Loader: loader}
	data, err := bs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if loader == nil {
		data = []byte(strings.Replace(string(data), `"version": 3`, `"version": 1`, 1))
	}
	err = m.Store.Build(context.Background(), top, []store.Path{kernel, initrd}, func(tmp string) error {
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, toplevel.BootspecFile), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func (m testMachine) loaderConf(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(m.ESP(), "loader", "loader.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Each generation boots with its own loader settings; a generation whose
// bootspec has none takes those an older kiln kept in bootloader.json,
// which is read and never written, or else the defaults.
func TestLoaderSettingsPerGeneration(t *testing.T) {
	ctx := context.Background()
	m := newMachine(t)
	legacy := filepath.Join(m.Root, LegacyLoaderFile)
	os.MkdirAll(filepath.Dir(legacy), 0o755)
	old := `{"version":1,"timeout":9,"max_generations":10,"console_mode":"max","editor":true}` + "\n"
	if err := os.WriteFile(legacy, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	gen1 := m.toplevel(t, "old", nil)
	gen2 := m.toplevel(t, "new", &toplevel.Loader{Timeout: 7, MaxGenerations: 5, ConsoleMode: "auto"})
	steps := []struct {
		name string
		do   func() (*Result, error)
		want string
	}{
		{"a generation built before bootspec 2", func() (*Result, error) { return m.Switch(ctx, gen1, true) },
			"timeout 9\ndefault kiln-generation-1.conf\nconsole-mode max\neditor yes\n"},
		{"a generation with its own settings", func() (*Result, error) { return m.Switch(ctx, gen2, true) },
			"timeout 7\ndefault kiln-generation-2.conf\nconsole-mode auto\neditor no\n"},
		{"rolled back to the old one", func() (*Result, error) { return m.Rollback(ctx, 1, true) },
			"timeout 9\ndefault kiln-generation-1.conf\nconsole-mode max\neditor yes\n"},
	}
	for _, s := range steps {
		if _, err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := m.loaderConf(t); got != s.want {
			t.Errorf("%s: loader.conf\n%s\nwant\n%s", s.name, got, s.want)
		}
	}
	if b, err := os.ReadFile(legacy); err != nil || string(b) != old {
		t.Errorf("bootloader.json changed: %q, %v", b, err)
	}

	// A machine without bootloader.json: the defaults.
	fresh := newMachine(t)
	if _, err := fresh.Switch(ctx, fresh.toplevel(t, "old", nil), true); err != nil {
		t.Fatal(err)
	}
	if got, want := fresh.loaderConf(t), "timeout 3\ndefault kiln-generation-1.conf\nconsole-mode keep\neditor no\n"; got != want {
		t.Errorf("without bootloader.json: loader.conf\n%s\nwant\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(fresh.Root, LegacyLoaderFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a switch wrote %s: %v", LegacyLoaderFile, err)
	}
}

// A bootloader.json that is damaged or from a newer kiln fails the switch
// with the file's name, and changes nothing.
func TestLegacyLoaderRefused(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"damaged", `{"version":1,"timeout":`, "unexpected end"},
		{"newer", `{"version":2,"timeout":1}`, "version 2 not supported"},
		{"unknown field", `{"version":1,"timeout":1,"colour":"red"}`, "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			legacy := filepath.Join(m.Root, LegacyLoaderFile)
			os.MkdirAll(filepath.Dir(legacy), 0o755)
			os.WriteFile(legacy, []byte(tc.content), 0o644)
			_, err := m.Switch(context.Background(), m.toplevel(t, "old", nil), true)
			if err == nil || !strings.Contains(err.Error(), legacy) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("switch: %v, want an error naming %s and %q", err, legacy, tc.want)
			}
			if tc.name == "newer" && !errors.Is(err, versioned.ErrUnsupported) {
				t.Errorf("%v is not versioned.ErrUnsupported", err)
			}
			if gens, _ := m.Store.Generations(Profile); len(gens) != 0 {
				t.Errorf("the failed switch left generations %v", gens)
			}
		})
	}
}
