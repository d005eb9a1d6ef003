package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/store"
)

const unitsHost = `
networking {
  host_name = "kilnunits"
}

testing {
  backdoor = true
}

users "alice" {
  groups = ["adm"]
}

services "hello" {
  type       = "oneshot"
  exec_start = "/bin/sh -c 'echo hello > /run/hello'"
  environment = {
    GREETING = "hello world"
  }
}

mounts "/mnt/scratch" {
  device  = "tmpfs"
  fs_type = "tmpfs"
  options = ["size=16m"]
}
`

// TestBuildReproducibleAndUnitsVerify builds one host into two fresh
// stores and checks that every part has the same store path and the same
// content (NAR hash) and that the two images are byte-identical; it runs
// kiln audit over the locked closure; then it judges the generated units with the
// closure's own systemd-analyze, chrooted into a tree laid out like the
// machine (/usr → sw, /etc → the etc tree, /kiln/store), where every
// store link resolves.
func TestBuildReproducibleAndUnitsVerify(t *testing.T) {
	testenv.Slow(t, "builds a whole system")
	for _, tool := range []string{"unshare", "chroot"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
	}
	bin := kilnBinary(t)
	dir := hostDir(t, unitsHost)
	var tops []string
	var roots []string
	for i := 0; i < 2; i++ {
		root := filepath.Join(t.TempDir(), "root")
		storeDir := filepath.Join(root, "kiln", "store")
		tops = append(tops, kiln(t, bin, dir, "--store", storeDir, "build", "-c", "host.hcl", "-o", fmt.Sprintf("result-%d", i)))
		roots = append(roots, root)
	}
	if tops[0] != tops[1] {
		t.Fatalf("toplevels differ: %s and %s", tops[0], tops[1])
	}
	// The same system written twice, from two stores, is the same image.
	var sums []string
	for _, root := range roots {
		img := filepath.Join(t.TempDir(), "disk.img")
		kiln(t, bin, dir, "--store", filepath.Join(root, "kiln", "store"), "image", "-c", "host.hcl", "-o", img, "--size", "1G")
		sums = append(sums, fileSum(t, img))
		os.Remove(img)
	}
	if sums[0] != sums[1] {
		t.Errorf("two images of one system differ: sha256 %s and %s", sums[0], sums[1])
	}
	// Every postinst of the locked closure is reviewed (kiln audit exits 1
	// naming any package that is not).
	kiln(t, bin, dir, "--store", filepath.Join(roots[0], "kiln", "store"), "audit", "-c", "host.hcl")
	top, err := store.ParsePath(tops[0])
	if err != nil {
		t.Fatal(err)
	}
	var infos [2]map[string]string
	for i, root := range roots {
		st, err := store.Open(filepath.Join(root, "kiln", "store"))
		if err != nil {
			t.Fatal(err)
		}
		closure, err := st.Closure(top)
		if err != nil {
			t.Fatal(err)
		}
		infos[i] = map[string]string{}
		for _, p := range closure {
			info, err := st.Info(p)
			if err != nil {
				t.Fatal(err)
			}
			infos[i][p.String()] = info.NarHash
		}
		st.Close()
	}
	if len(infos[0]) != len(infos[1]) {
		t.Errorf("closures differ in size: %d and %d", len(infos[0]), len(infos[1]))
	}
	for p, h := range infos[0] {
		if infos[1][p] != h {
			t.Errorf("%s: content differs between two builds (%s vs %s)", p, h, infos[1][p])
		}
	}

	root := roots[0]
	phys := func(link string) string { // a toplevel link's store path, under root
		target, err := os.Readlink(filepath.Join(root, "kiln", "store", top.Base(), link))
		if err != nil {
			t.Fatal(err)
		}
		return target
	}
	for name, target := range map[string]string{
		"usr": phys("sw"), "etc": phys("etc"),
		"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"tmp", "var", "run/systemd/system", "proc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// as stage 2 makes it: units run the generation's kiln through it
	if err := os.Symlink(top.String(), filepath.Join(root, "run", "current-system")); err != nil {
		t.Fatal(err)
	}
	etcUnits := filepath.Join(root, "kiln", "store", filepath.Base(phys("etc")), "systemd", "system")
	ents, err := os.ReadDir(etcUnits)
	if err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		// An empty unit file masks its unit (testing.backdoor masks
		// serial-getty@hvc0.service): there is nothing to verify.
		if fi, err := e.Info(); err != nil || fi.Size() == 0 {
			continue
		}
		units = append(units, e.Name())
	}
	if len(units) < 2 {
		t.Fatalf("generated units: %v, want hello.service and kiln-backdoor.service at least", units)
	}
	verify := func(units ...string) (string, error) {
		args := append([]string{"-r", "chroot", root, "/usr/bin/systemd-analyze", "verify", "--man=no", "--generators=no"}, units...)
		cmd := exec.Command("unshare", args...)
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(units...); err != nil {
		t.Errorf("systemd-analyze verify %s: %v\n%s", strings.Join(units, " "), err, out)
	}
	// The check must be able to fail: a unit whose program does not exist.
	broken := "[Unit]\nDescription=broken\n[Service]\nExecStart=/usr/bin/does-not-exist\n"
	if err := os.WriteFile(filepath.Join(root, "run/systemd/system/broken.service"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify("broken.service"); err == nil || !strings.Contains(out, "does-not-exist") {
		t.Errorf("verify of a broken unit: err %v, output %q; want a failure naming the program", err, out)
	}
}

func fileSum(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
