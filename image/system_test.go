package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/boot"
	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// testStore builds a small store: a kernel package, an initrd, Debian's
// systemd-boot-efi (a fake .efi), a program with a hard link, and two
// toplevels whose bootspecs name the kernel through their own links.
func testStore(t *testing.T) (*store.Store, []store.Path) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "kiln", "store"))
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string, refs []store.Path, fill func(tmp string) error) store.Path {
		t.Helper()
		p, err := store.NewKey("image-test").Add("name", name).Path(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Build(ctx, p, refs, fill); err != nil {
			t.Fatal(err)
		}
		return p
	}
	files := func(m map[string]string) func(string) error {
		return func(tmp string) error {
			for name, content := range m {
				p := filepath.Join(tmp, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return err
				}
				if strings.HasPrefix(content, "->") {
					if err := os.Symlink(content[2:], p); err != nil {
						return err
					}
					continue
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					return err
				}
			}
			return nil
		}
	}
	kernel := mk("linux-image-6.1.0-56-cloud-amd64", nil, files(map[string]string{"boot/vmlinuz-6.1.0-56-cloud-amd64": strings.Repeat("vmlinuz", 50000)}))
	initrd := mk("initrd", nil, func(tmp string) error { return os.WriteFile(tmp, []byte(strings.Repeat("initrd", 9000)), 0o644) })
	efi := mk("systemd-boot-efi-252.39-1-deb12u2", nil, files(map[string]string{boot.SystemdBootEFI: "MZ fake systemd-boot"}))
	hello := mk("hello-1.0", nil, func(tmp string) error {
		if err := files(map[string]string{"bin/hello": "#!/bin/sh\necho hello\n"})(tmp); err != nil {
			return err
		}
		return os.Link(filepath.Join(tmp, "bin/hello"), filepath.Join(tmp, "bin/hi"))
	})
	var tops []store.Path
	for i, params := range [][]string{{"root=LABEL=kiln-root", "rw"}, {"root=LABEL=kiln-root", "rw", "quiet"}} {
		name := "kiln-system-test"
		key := store.NewKey("image-test-toplevel").Add("generation", strings.Repeat("x", i+1))
		top, err := key.Path(name)
		if err != nil {
			t.Fatal(err)
		}
		bs := toplevel.Bootspec{Version: toplevel.BootspecVersion, Label: "kiln test (Linux 6.1.0-56-cloud-amd64)",
			Toplevel: top.String(), Init: top.String() + "/init", Kernel: top.String() + "/kernel",
			Initrd: top.String() + "/initrd", KernelParams: params, KilnVersion: "0.1.0", Loader: &toplevel.Loader{Timeout: 2}}
		data, err := bs.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		err = st.Build(ctx, top, []store.Path{kernel, initrd, efi, hello}, files(map[string]string{
			"boot.json": string(data),
			"kernel":    "->" + kernel.String() + "/boot/vmlinuz-6.1.0-56-cloud-amd64",
			"initrd":    "->" + initrd.String(),
			"sw":        "->" + hello.String(),
		}))
		if err != nil {
			t.Fatal(err)
		}
		tops = append(tops, top)
	}
	return st, tops
}

func TestSystemLayout(t *testing.T) {
	st, tops := testStore(t)
	l, cleanup, err := SystemLayout(st, SystemOptions{Size: 200 << 20, ESPSize: 64 << 20}, tops...)
	if err != nil {
		t.Fatal(err)
	}
	staged := filepath.Dir(l.RootDir)
	if l.Seed != tops[1].Hash() {
		t.Errorf("seed %q, want the current toplevel's hash %q", l.Seed, tops[1].Hash())
	}
	var kernels []string
	for p := range l.ESP {
		if strings.Contains(p, "vmlinuz") {
			kernels = append(kernels, p)
		}
	}
	if len(kernels) != 1 {
		t.Errorf("ESP has kernels %v, want one copy shared by both generations", kernels)
	}
	img, m := writeImage(t, l)
	// The staged root is a store in its own right: every path valid.
	// (Opened after writing the image: Open adds its directories.)
	there, err := store.Open(filepath.Join(l.RootDir, "kiln", "store"))
	if err != nil {
		t.Fatal(err)
	}
	closure, _ := st.Closure(tops...)
	for _, p := range closure {
		if !there.Valid(p) {
			t.Errorf("%s is not valid in the staged root's store", p)
		}
	}
	there.Close()
	if err := cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(staged); !os.IsNotExist(err) {
		t.Errorf("cleanup left %s: %v", staged, err)
	}

	run(t, "sfdisk", "--verify", img)
	dir := t.TempDir()
	espImg := extract(t, img, m.ESP(), filepath.Join(dir, "esp.img"))
	run(t, "fsck.vfat", "-n", espImg)
	espTree := filepath.Join(dir, "esp")
	run(t, "mcopy", "-s", "-n", "-i", espImg, "::/", espTree)
	out := testenv.BootctlList(t, espTree)
	for _, w := range []string{"id: kiln-generation-2.conf", "id: kiln-generation-1.conf",
		"options: init=" + tops[1].String() + "/init root=LABEL=kiln-root rw quiet"} {
		if !strings.Contains(out, w) {
			t.Errorf("bootctl list lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "No such file") || !strings.Contains(strings.SplitN(out, "id:", 2)[0], "(default)") {
		t.Errorf("bootctl list: a missing file, or the newest entry is not first and default:\n%s", out)
	}

	rootImg := extract(t, img, m.Root(), filepath.Join(dir, "root.img"))
	run(t, "e2fsck", "-fn", rootImg)
	ls := run(t, "debugfs", "-R", "ls /kiln/store", rootImg)
	for _, p := range closure {
		if !strings.Contains(ls, p.Base()) {
			t.Errorf("root's /kiln/store lacks %s:\n%s", p.Base(), ls)
		}
	}
	run(t, "debugfs", "-R", "rdump /kiln/var/profiles "+dir, rootImg)
	for link, want := range map[string]string{"system": "system-2-link", "system-1-link": tops[0].String(), "system-2-link": tops[1].String()} {
		if got, err := os.Readlink(filepath.Join(dir, "profiles", link)); got != want {
			t.Errorf("profile link %s -> %q (%v), want %q", link, got, err, want)
		}
	}
	for _, c := range []struct{ path, want string }{
		{"/kiln/var/db/paths/" + tops[1].Base() + ".json", "Type: regular"},
		{"/tmp", "Mode:  01777"},
		{"/root", "Mode:  0700"},
		{"/boot", "Type: directory"},
		{"/kiln/store/" + tops[0].Base(), "Mode:  0555"},
	} {
		if got := run(t, "debugfs", "-R", "stat "+c.path, rootImg); !strings.Contains(got, c.want) {
			t.Errorf("debugfs stat %s lacks %q:\n%s", c.path, c.want, got)
		}
	}
}

func TestSystemLayoutErrors(t *testing.T) {
	st, tops := testStore(t)
	if _, _, err := SystemLayout(st, SystemOptions{}); err == nil || !strings.Contains(err.Error(), "no toplevel") {
		t.Errorf("no toplevels: got %v", err)
	}
	missing, _ := store.NewKey("nothing").Path("missing")
	if _, _, err := SystemLayout(st, SystemOptions{}, missing); err == nil || !strings.Contains(err.Error(), "not a valid store path") {
		t.Errorf("invalid toplevel: got %v", err)
	}
	// systemd-boot-efi found in the closure; a store without it.
	bare, _ := store.Open(filepath.Join(t.TempDir(), "store"))
	p, _ := store.NewKey("bare").Path("kiln-system-bare")
	bs, _ := (&toplevel.Bootspec{Version: 1, Toplevel: p.String(), Init: p.String() + "/init", Kernel: p.String() + "/k", Initrd: p.String() + "/i"}).Marshal()
	err := bare.Build(context.Background(), p, nil, func(tmp string) error {
		os.Mkdir(tmp, 0o755)
		os.WriteFile(filepath.Join(tmp, "k"), []byte("k"), 0o644)
		os.WriteFile(filepath.Join(tmp, "i"), []byte("i"), 0o644)
		return os.WriteFile(filepath.Join(tmp, "boot.json"), bs, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := SystemLayout(bare, SystemOptions{}, p); err == nil || !strings.Contains(err.Error(), "no systemd-boot-efi package") {
		t.Errorf("no systemd-boot-efi: got %v", err)
	}
	_, cleanup, err := SystemLayout(st, SystemOptions{}, tops[0])
	if err != nil {
		t.Fatalf("systemd-boot-efi is in the closure: %v", err)
	}
	cleanup()
	entries, _ := os.ReadDir(st.StateDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "image-") {
			t.Errorf("failed or abandoned staging left %s", e.Name())
		}
	}
}
