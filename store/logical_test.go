package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveLogical(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	build := func(name string, refs []Path, fill func(string) error) Path {
		t.Helper()
		p, err := NewKey("logical-test").Add("name", name).Path(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Build(ctx, p, refs, fill); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kernel := build("linux-image-6.1.0-56", nil, func(tmp string) error {
		os.MkdirAll(filepath.Join(tmp, "boot"), 0o755)
		return os.WriteFile(filepath.Join(tmp, "boot", "vmlinuz-6.1.0-56"), []byte("kernel"), 0o644)
	})
	initrd := build("initrd-6.1.0-56", nil, func(tmp string) error { return os.WriteFile(tmp, []byte("initrd"), 0o644) })
	top := build("kiln-system-test", []Path{kernel, initrd}, func(tmp string) error {
		os.Mkdir(tmp, 0o755)
		os.Symlink(kernel.String()+"/boot/vmlinuz-6.1.0-56", filepath.Join(tmp, "kernel"))
		os.Symlink(initrd.String(), filepath.Join(tmp, "initrd"))
		return os.WriteFile(filepath.Join(tmp, "boot.json"), []byte("{}"), 0o644)
	})
	tests := []struct{ in, want, err string }{
		{top.String() + "/kernel", "-linux-image-6.1.0-56/boot/vmlinuz-6.1.0-56", ""},
		{top.String() + "/initrd", "-initrd-6.1.0-56", ""},
		{top.String() + "/boot.json", top.Base() + "/boot.json", ""},
		{top.String() + "/missing", "", "no such file"},
		{"/etc/passwd", "", "leads out of /kiln/store"},
	}
	for _, tc := range tests {
		got, err := s.ResolveLogical(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %q, %v; want an error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !strings.HasSuffix(got, tc.want) || !strings.HasPrefix(got, LogicalDir+"/") {
			t.Errorf("%s: got %q, %v; want …%s", tc.in, got, err, tc.want)
		}
		if phys := s.PhysicalPath(got); !strings.HasPrefix(phys, s.Dir+"/") {
			t.Errorf("PhysicalPath(%s) = %s, not in %s", got, phys, s.Dir)
		}
	}
}

func TestPathOf(t *testing.T) {
	s := openTest(t)
	p, err := NewKey("pathof-test").Path("thing")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Build(context.Background(), p, nil, func(tmp string) error {
		os.Mkdir(tmp, 0o755)
		return os.WriteFile(filepath.Join(tmp, "f"), []byte("x"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "result")
	os.Symlink(s.Physical(p), link)
	for _, arg := range []string{p.String(), p.Base(), p.String() + "/f", s.Physical(p) + "/f", link} {
		if got, err := s.PathOf(arg); err != nil || got != p {
			t.Errorf("PathOf(%s) = %s, %v; want %s", arg, got, err, p)
		}
	}
	if _, err := s.PathOf("/etc/passwd"); err == nil || !strings.Contains(err.Error(), "is not in the store") {
		t.Errorf("PathOf(/etc/passwd): %v", err)
	}
	if n, size, err := s.ClosureSize(p); err != nil || n != 1 || size <= 0 {
		t.Errorf("ClosureSize = %d, %d, %v", n, size, err)
	}
}
