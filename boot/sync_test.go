package boot

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// syncStore builds kernels, initrds and toplevels whose bootspecs name
// the kernel through the toplevel's own link, as a system builder may.
func syncStore(t *testing.T) (*store.Store, func(kernel string, params ...string) store.Path) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "kiln", "store"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	build := func(name string, refs []store.Path, fill func(string) error) store.Path {
		t.Helper()
		p, err := store.NewKey("sync-test").Add("refs", strings.Repeat("r", len(refs))).Add("name", name).Path(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Build(ctx, p, refs, fill); err != nil {
			t.Fatal(err)
		}
		return p
	}
	toplevel := func(kver string, params ...string) store.Path {
		kernel := build("linux-image-"+kver, nil, func(tmp string) error {
			os.MkdirAll(filepath.Join(tmp, "boot"), 0o755)
			return os.WriteFile(filepath.Join(tmp, "boot", "vmlinuz-"+kver), []byte("kernel "+kver), 0o644)
		})
		initrd := build("initrd-"+kver, nil, func(tmp string) error { return os.WriteFile(tmp, []byte("initrd "+kver), 0o644) })
		name := "kiln-system-" + kver + "-" + strings.Join(params, "-")
		top, err := store.NewKey("sync-test-top").Path(name)
		if err != nil {
			t.Fatal(err)
		}
		bs := toplevel.Bootspec{Version: toplevel.BootspecVersion, Label: "kiln test (Linux " + kver + ")", Toplevel: top.String(),
			Init: top.String() + "/init", Kernel: top.String() + "/kernel", Initrd: top.String() + "/initrd", KernelParams: params}
		data, _ := bs.Marshal()
		err = st.Build(ctx, top, []store.Path{kernel, initrd}, func(tmp string) error {
			os.Mkdir(tmp, 0o755)
			os.Symlink(kernel.String()+"/boot/vmlinuz-"+kver, filepath.Join(tmp, "kernel"))
			os.Symlink(initrd.String(), filepath.Join(tmp, "initrd"))
			return os.WriteFile(filepath.Join(tmp, "boot.json"), data, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
		return top
	}
	return st, toplevel
}

func TestSyncESP(t *testing.T) {
	ctx := context.Background()
	st, toplevel := syncStore(t)
	esp := t.TempDir()
	cfg := LoaderConfig{Timeout: 1, MaxGenerations: 2}
	sync := func() []string {
		t.Helper()
		gens, cur, err := ProfileGenerations(st, "system")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := SyncESP(ctx, st, esp, gens, cur, cfg); err != nil {
			t.Fatal(err)
		}
		return listTree(t, esp)
	}
	steps := []struct {
		name   string
		action func()
		want   []string // besides loader.conf and entries.srel
		def    int
	}{
		{"first", func() { st.AddGeneration("system", toplevel("6.1.0-56", "rw")) },
			[]string{"kiln-generation-1.conf", "-initrd-6.1.0-56", "-vmlinuz-6.1.0-56"}, 1},
		{"params change, same kernel", func() { st.AddGeneration("system", toplevel("6.1.0-56", "rw", "quiet")) },
			[]string{"kiln-generation-1.conf", "kiln-generation-2.conf", "-initrd-6.1.0-56", "-vmlinuz-6.1.0-56"}, 2},
		{"new kernel drops generation 1", func() { st.AddGeneration("system", toplevel("6.1.0-57", "rw")) },
			[]string{"kiln-generation-2.conf", "kiln-generation-3.conf", "-initrd-6.1.0-56", "-initrd-6.1.0-57", "-vmlinuz-6.1.0-56", "-vmlinuz-6.1.0-57"}, 3},
		{"rollback to 1 keeps it", func() { st.SetCurrent("system", 1) },
			[]string{"kiln-generation-1.conf", "kiln-generation-3.conf", "-initrd-6.1.0-56", "-initrd-6.1.0-57", "-vmlinuz-6.1.0-56", "-vmlinuz-6.1.0-57"}, 1},
	}
	for _, s := range steps {
		s.action()
		files := sync()
		var got []string
		for _, f := range files {
			switch base := filepath.Base(f); {
			case f == LoaderConf || f == EntriesSrel:
			case strings.HasPrefix(base, entryPrefix):
				got = append(got, base)
			default:
				got = append(got, base[store.HashLen:])
			}
		}
		sort.Strings(got)
		sort.Strings(s.want)
		if strings.Join(got, " ") != strings.Join(s.want, " ") {
			t.Errorf("%s: ESP holds %v, want %v", s.name, got, s.want)
		}
		conf, _ := os.ReadFile(filepath.Join(esp, LoaderConf))
		if want := "default " + EntryName(s.def) + "\n"; !strings.Contains(string(conf), want) {
			t.Errorf("%s: loader.conf lacks %q:\n%s", s.name, want, conf)
		}
		if out := testenv.BootctlList(t, esp); strings.Contains(out, "No such file") {
			t.Errorf("%s: bootctl list shows a missing file:\n%s", s.name, out)
		}
	}
}
