package machine

import (
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

func TestSplitNameVersion(t *testing.T) {
	for _, tc := range []struct{ in, name, version string }{
		{"coreutils-9.1-1", "coreutils", "9.1-1"},
		{"libsystemd-shared-252.39-1_deb12u2", "libsystemd-shared", "252.39-1_deb12u2"},
		{"linux-image-6.1.0-56-cloud-amd64-6.1.153-1", "linux-image-6.1.0-56-cloud-amd64", "6.1.153-1"},
		{"base-files-12.4+deb12u11", "base-files", "12.4+deb12u11"},
		{"libc6-2.36-9+deb12u10", "libc6", "2.36-9+deb12u10"},
		{"python3.11-minimal-3.11.2-6+deb12u6", "python3.11-minimal", "3.11.2-6+deb12u6"},
		{"initrd-6.1.0-56-cloud-amd64", "", ""},
		{"etc", "", ""},
	} {
		name, version, ok := splitNameVersion(tc.in)
		if name != tc.name || version != tc.version || ok != (tc.name != "") {
			t.Errorf("%s: got %q %q %v, want %q %q", tc.in, name, version, ok, tc.name, tc.version)
		}
	}
}

// The plan of a move between two toplevels, for people and as JSON:
// packages added, removed and changed, what to copy, and why to reboot.
func TestDiffGolden(t *testing.T) {
	m := newMachine(t)
	pkg := func(n string) store.Path { return m.build(t, n, n, map[string]string{"usr/share/doc/x": n}) }
	kernelA := m.build(t, "vmlinuz-6.1.0-55-cloud-amd64", "a", nil)
	kernelB := m.build(t, "vmlinuz-6.1.0-56-cloud-amd64", "b", nil)
	initrd := m.build(t, "initrd-6.1.0-56-cloud-amd64", "i", nil)
	top := func(name string, kernel store.Path, pkgs ...store.Path) store.Path {
		bs := toplevel.Bootspec{Label: "t", Toplevel: "/kiln/store/x", Init: "/kiln/store/x/init",
			Kernel: kernel.String(), Initrd: initrd.String(), KernelParams: []string{"rw"}}
		data, err := bs.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return m.build(t, "kiln-system-"+name, "", map[string]string{toplevel.BootspecFile: string(data)},
			append(pkgs, kernel, initrd)...)
	}
	same := pkg("coreutils-9.1-1")
	from := top("a", kernelA, same, pkg("systemd-252.38-1_deb12u1"), pkg("libfoo1-1.0-1"), pkg("dbus-1.14.10-1_deb12u1"))
	to := top("b", kernelB, same, pkg("systemd-252.39-1_deb12u2"), pkg("hello-2.10-3"), pkg("dbus-1.14.10-1_deb12u1"))
	d, err := DiffToplevels(m.Store, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if d.CopyPaths != 4 || d.CopyBytes <= 0 {
		t.Errorf("to copy: %d paths, %d bytes; want 4 (systemd, hello, the kernel, the toplevel)", d.CopyPaths, d.CopyBytes)
	}
	text := d.String()
	// store hashes differ run to run only if the test's keys do: they do not
	golden.Check(t, filepath.Join("testdata", "diff.golden"), []byte(text))
	js, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "diff.json.golden"), js)
}
