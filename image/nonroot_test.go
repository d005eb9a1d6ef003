package image

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWriteAsNonRoot writes an image as an unprivileged user: mkfs.ext4
// runs in a user namespace, so the user's files land in the image owned by
// root. As root, the test runs itself as nobody.
func TestWriteAsNonRoot(t *testing.T) {
	if os.Getenv("KILN_IMAGE_NONROOT_CHILD") != "" {
		nonRootChild(t)
		return
	}
	if os.Geteuid() != 0 {
		nonRootChild(t)
		return
	}
	// Not t.TempDir: its parent is private to root.
	dir, err := os.MkdirTemp("", "kiln-image-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeStaged(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "image.test")
	if err := copyExecutable(self, bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestWriteAsNonRoot$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KILN_IMAGE_NONROOT_CHILD=1", "TMPDIR="+dir, "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestWriteAsNonRoot") {
		t.Fatalf("as nobody, the test did not pass:\n%s", out)
	}
}

func nonRootChild(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Fatal("the child runs as root")
	}
	l := fixture(t)
	img, m := writeImage(t, l)
	root := extract(t, img, m.Root(), filepath.Join(t.TempDir(), "root.img"))
	run(t, "e2fsck", "-fn", root)
	for _, p := range []string{"/kiln/store/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-hello/bin/hello", "/etc", "/"} {
		if out := run(t, "debugfs", "-R", "stat "+p, root); !strings.Contains(out, "User:     0   Group:     0") {
			t.Errorf("%s is not root's in the image:\n%s", p, out)
		}
	}
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
