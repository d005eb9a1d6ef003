package stage1

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/toplevel"
)

// TestBootVM boots Debian's cloud kernel under QEMU with an initrd whose
// /init is the real kiln binary. "stage1" checks that stage 1 loads the
// virtio modules, finds the root by label, mounts it and execs its init;
// "stage2" boots a minimal toplevel whose init is kiln again (stage 2) and
// whose "systemd" is a test program reporting what activation made.
//
// The kernel is the one kiln.lock pins, fetched with apt-get and checked
// against the lock's sha256.
func TestBootVM(t *testing.T) {
	testenv.NeedVM(t)
	testenv.NeedTools(t, "apt-get", "dpkg-deb", "mkfs.ext4", "go")
	dir := t.TempDir()
	kiln := buildStatic(t, dir, "kiln", "../../cmd/kiln")
	testInit := buildStatic(t, dir, "testinit", "./testdata/testinit")
	kernel, modRoot, kver := fetchKernel(t, dir)

	order, err := moduleOrder(modRoot, []string{"virtio_pci", "virtio_blk"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := toplevel.Stage1Config{Version: toplevel.Stage1ConfigVersion, Root: toplevel.Stage1Root{Spec: "LABEL=kiln-root"}}
	files := map[string]string{"init": kiln}
	for _, m := range order {
		rel, _ := filepath.Rel(modRoot, m)
		p := filepath.Join("/lib/modules", kver, rel)
		cfg.Modules = append(cfg.Modules, p)
		files[p[1:]] = m
	}
	cfgJSON, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(dir, "initrd")
	writeTestInitrd(t, initrd, files, map[string][]byte{"etc/kiln-stage1.json": cfgJSON})
	modulesLine := fmt.Sprintf("kiln stage 1: loaded %d of %d modules", len(order), len(order))

	t.Run("stage1", func(t *testing.T) {
		tree := filepath.Join(t.TempDir(), "rootfs")
		mkdirs(t, tree, "dev", "proc", "sys", "sbin")
		copyFile(t, testInit, filepath.Join(tree, "sbin", "testinit"), 0o755)
		log := bootVM(t, kernel, initrd, makeDisk(t, tree), "loglevel=4 root=LABEL=kiln-root init=/sbin/testinit")
		wantLines(t, log,
			"kiln stage 1: started (",
			modulesLine,
			"kiln stage 1: mounted /dev/vda (LABEL=kiln-root) on /mnt-root",
			"kiln stage 1: exec /sbin/testinit",
			"KILN-TEST pid=1",
			"KILN-TEST argv0=/sbin/testinit",
			"KILN-TEST mount=/ ext4 rw,",
		)
		if m := regexp.MustCompile(`exec /sbin/testinit \(([0-9.]+m?s) since kernel start\)`).FindStringSubmatch(log); m != nil {
			t.Logf("kernel start to exec of init: %s", m[1])
		}
	})

	t.Run("fatal", func(t *testing.T) {
		// A missing init is reported on the console, then stage 1
		// reboots (QEMU runs with -no-reboot, so it exits).
		tree := filepath.Join(t.TempDir(), "rootfs")
		mkdirs(t, tree, "dev", "proc", "sys")
		log := bootVM(t, kernel, initrd, makeDisk(t, tree), "loglevel=4 root=LABEL=kiln-root init=/sbin/missing")
		wantLines(t, log,
			"kiln stage 1: mounted /dev/vda",
			"kiln stage 1: init /sbin/missing on the root file system: stat /sbin/missing: no such file or directory",
			"rebooting in 10s",
			"reboot: Restarting system",
		)
	})

	t.Run("stage2", func(t *testing.T) {
		tree := filepath.Join(t.TempDir(), "rootfs")
		top := stage2Tree(t, tree, kiln, testInit)
		// "ro": stage 2 must remount / read-write before activating.
		log := bootVM(t, kernel, initrd, makeDisk(t, tree), "loglevel=7 ro root=LABEL=kiln-root init="+top+"/init") // stage 2 logs to kmsg at info level
		systemd := "/run/current-system/systemd/lib/systemd/systemd"
		wantLines(t, log,
			modulesLine,
			"kiln stage 1: exec "+top+"/init",
			"KILN-TEST pid=1",
			"KILN-TEST argv0="+systemd,
			"KILN-TEST mount=/ ext4 rw,", // stage 1 mounted it ro, stage 2 remounted it
			"KILN-TEST link=/run/current-system -> "+top,
			"KILN-TEST link=/run/booted-system -> "+top,
			"KILN-TEST link=/usr -> /run/current-system/sw",
			"KILN-TEST link=/bin -> usr/bin",
			"KILN-TEST link=/etc/static -> "+top+"/etc",
			"KILN-TEST link=/etc/hostname -> /etc/static/hostname",
			"KILN-TEST file=/etc/hostname: kiln-vm",
			"KILN-TEST file=/etc/passwd: alice:x:1000:100::/home/alice:/bin/sh",
			"KILN-TEST stat=/etc/machine-id -r--r--r-- 0:0 0",
			"KILN-TEST stat=/etc/shadow -rw-r----- 0:42",
			"KILN-TEST stat=/run/wrappers/bin/su urwxr-xr-x 0:0",
			"KILN-TEST stat=/tmp dtrwxrwxrwx 0:0",
			"KILN-TEST mount=/run tmpfs rw,nosuid,nodev",
			"KILN-TEST mount=/run/wrappers tmpfs rw,nodev",
			"KILN-TEST mount=/dev/pts devpts rw,nosuid,noexec",
			"KILN-TEST mount=/dev/shm tmpfs rw,nosuid,nodev",
			"KILN-TEST mount=/kiln/store ext4 ro,nodev",
			"KILN-TEST store-write=open /kiln/store/write-test: read-only file system",
		)
		exec1 := regexp.MustCompile(`exec \S+/init \(([0-9.]+)s since kernel start\)`).FindStringSubmatch(log)
		up := regexp.MustCompile(`KILN-TEST uptime=([0-9.]+)s`).FindStringSubmatch(log)
		if exec1 != nil && up != nil {
			a, _ := strconv.ParseFloat(exec1[1], 64)
			b, _ := strconv.ParseFloat(up[1], 64)
			t.Logf("stage 2 (exec of stage 2 to exec of systemd): %.0f ms; kernel start to systemd: %s s", (b-a)*1000, up[1])
		}
	})
}

// stage2Tree writes a root file system holding a minimal toplevel and
// returns the toplevel's logical path.
func stage2Tree(t *testing.T, tree, kiln, testInit string) string {
	t.Helper()
	mkdirs(t, tree, "dev", "proc", "sys", "run", "tmp", "etc", "var", "root", "home", "mnt",
		"kiln/store", "kiln/var/profiles", "var/lib/secrets")
	store := "/kiln/store/"
	kilnPath := store + "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a-kiln-test"
	top := store + "1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b-toplevel"
	etc := store + "2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c-etc"
	sw := store + "3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d-sw"
	systemd := store + "4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f-systemd"
	mkdirs(t, tree, kilnPath[1:]+"/bin", top[1:], etc[1:], sw[1:]+"/bin", systemd[1:]+"/lib/systemd")
	copyFile(t, kiln, filepath.Join(tree, kilnPath, "bin", "kiln"), 0o555)
	copyFile(t, testInit, filepath.Join(tree, systemd, "lib", "systemd", "systemd"), 0o555)
	copyFile(t, testInit, filepath.Join(tree, sw, "bin", "su"), 0o555)
	os.WriteFile(filepath.Join(tree, etc, "hostname"), []byte("kiln-vm\n"), 0o444)
	os.WriteFile(filepath.Join(tree, "var/lib/secrets/alice"), []byte("$y$j9T$salt$hash\n"), 0o600)
	for name, target := range map[string]string{"init": kilnPath + "/bin/kiln", "etc": etc, "sw": sw, "systemd": systemd} {
		if err := os.Symlink(target, filepath.Join(tree, top, name)); err != nil {
			t.Fatal(err)
		}
	}
	spec := `{"version":1,
 "etc":[{"path":"hostname","kind":"link"}],
 "users":[{"name":"root","uid":0,"group":"root","groups":[],"home":"/root","shell":"/bin/sh","system":true,"create_home":false,"description":"","hashed_password_file":""},
          {"name":"alice","uid":null,"group":"users","groups":[],"home":"/home/alice","shell":"/bin/sh","system":false,"create_home":true,"description":"","hashed_password_file":"/var/lib/secrets/alice"}],
 "groups":[{"name":"root","gid":0,"members":[]},{"name":"shadow","gid":42,"members":[]},{"name":"users","gid":100,"members":[]}],
 "wrappers":[{"name":"su","source":"/usr/bin/su","owner":"root","group":"root","mode":"4755"}]}`
	if err := os.WriteFile(filepath.Join(tree, top, "activation.json"), []byte(spec), 0o444); err != nil {
		t.Fatal(err)
	}
	return top
}

func mkdirs(t *testing.T, root string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func makeDisk(t *testing.T, tree string) string {
	t.Helper()
	disk := filepath.Join(filepath.Dir(tree), "disk.raw")
	run(t, "mkfs.ext4", "-q", "-F", "-L", "kiln-root", "-U", "6b1c0e5e-2d5c-4b1e-9d0a-7a4f3c2b1a00", "-d", tree, disk, "64M")
	return disk
}

// bootVM boots kernel and initrd with disk as a virtio disk until the
// guest powers off, and returns the serial log.
func bootVM(t *testing.T, kernel, initrd, disk, cmdline string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"-M", "q35", "-m", "256", "-smp", "1", "-nographic", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd,
		"-drive", "file=" + disk + ",if=virtio,format=raw",
		"-append", "console=ttyS0 panic=-1 " + cmdline}
	t.Logf("repro: qemu-system-x86_64 %s", strings.Join(quoteArgs(args), " "))
	var serial bytes.Buffer
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.Stdout, cmd.Stderr = &serial, &serial
	start := time.Now()
	err := cmd.Run()
	t.Logf("qemu ran %v", time.Since(start).Round(time.Millisecond))
	log := serial.String()
	if err != nil {
		t.Fatalf("qemu: %v\nserial:\n%s", err, log)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serial:\n%s", log)
		}
	})
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "kiln stage") {
			t.Log(strings.TrimSpace(l))
		}
	}
	return log
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if strings.ContainsAny(a, " \"'") {
			out[i] = "'" + a + "'"
		}
	}
	return out
}

func wantLines(t *testing.T, log string, prefixes ...string) {
	t.Helper()
	for _, want := range prefixes {
		if !strings.Contains(log, want) {
			t.Errorf("serial log lacks %q", want)
		}
	}
}

func buildStatic(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// fetchKernel downloads the cloud kernel package pinned in the
// repository's kiln.lock (checking its sha256 against the lock) and
// unpacks it. It returns the vmlinuz, the modules directory and the kernel
// version. boot may not import debian (DESIGN.md §2), so the lock is read
// here as plain JSON and apt fetches the exact version.
func fetchKernel(t *testing.T, dir string) (string, string, string) {
	t.Helper()
	pkg, version, sum := lockedKernel(t, "../../kiln.lock")
	dl := filepath.Join(dir, "deb")
	os.Mkdir(dl, 0o755)
	cmd := exec.Command("apt-get", "download", "-q", pkg+"="+version)
	cmd.Dir = dl
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apt-get download %s=%s: %v\n%s", pkg, version, err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("apt-get download %s left %v", pkg, debs)
	}
	b, err := os.ReadFile(debs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != sum {
		t.Fatalf("%s: sha256 %s, kiln.lock pins %s", debs[0], got, sum)
	}
	x := filepath.Join(dir, "kernel")
	run(t, "dpkg-deb", "-x", debs[0], x)
	kernels, _ := filepath.Glob(filepath.Join(x, "boot", "vmlinuz-*"))
	if len(kernels) != 1 {
		t.Fatalf("%s holds kernels %v", debs[0], kernels)
	}
	kver := strings.TrimPrefix(filepath.Base(kernels[0]), "vmlinuz-")
	return kernels[0], filepath.Join(x, "lib", "modules", kver), kver
}

// lockedKernel finds the cloud kernel image package in a kiln.lock.
func lockedKernel(t *testing.T, lockFile string) (name, version, sha string) {
	t.Helper()
	b, err := os.ReadFile(lockFile)
	if err != nil {
		t.Fatalf("the repository's kiln.lock: %v", err)
	}
	var lock struct {
		Packages []struct{ Name, Version, SHA256 string }
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatalf("%s: %v", lockFile, err)
	}
	re := regexp.MustCompile(`^linux-image-[0-9.]+-[0-9]+-cloud-amd64$`)
	for _, p := range lock.Packages {
		if re.MatchString(p.Name) {
			return p.Name, p.Version, p.SHA256
		}
	}
	t.Fatalf("%s pins no linux-image-*-cloud-amd64", lockFile)
	return "", "", ""
}

// moduleOrder returns the .ko files of want and their dependencies (read
// from each module's .modinfo "depends="), dependencies first.
func moduleOrder(modRoot string, want []string) ([]string, error) {
	byName := map[string]string{}
	filepath.Walk(modRoot, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".ko") {
			byName[strings.ReplaceAll(strings.TrimSuffix(filepath.Base(p), ".ko"), "-", "_")] = p
		}
		return nil
	})
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("module dependency cycle at %s", name)
		case 2:
			return nil
		}
		p, ok := byName[name]
		if !ok {
			return fmt.Errorf("module %s not found under %s", name, modRoot)
		}
		state[name] = 1
		deps, err := modinfoDepends(p)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, p)
		return nil
	}
	for _, w := range want {
		if err := visit(w); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func modinfoDepends(ko string) ([]string, error) {
	f, err := elf.Open(ko)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := f.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("%s: no .modinfo", ko)
	}
	b, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ko, err)
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(strings.ReplaceAll(string(v), "-", "_"), ","), nil
		}
	}
	return nil, nil
}

// writeTestInitrd writes an uncompressed newc cpio: files from the host
// (executable ones 0755) and data, with their parent directories.
func writeTestInitrd(t *testing.T, out string, files map[string]string, data map[string][]byte) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := cpio.NewWriter(f)
	dirs := map[string]bool{}
	mkdirs := func(p string) {
		var chain []string
		for d := filepath.Dir(p); d != "." && !dirs[d]; d = filepath.Dir(d) {
			chain = append([]string{d}, chain...)
			dirs[d] = true
		}
		for _, d := range chain {
			if err := w.WriteHeader(&cpio.Header{Name: d, Mode: cpio.TypeDir | 0o755}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		data[name] = b
	}
	for name, b := range data {
		mkdirs(name)
		mode := cpio.FileMode(0o644)
		if len(b) > 4 && string(b[1:4]) == "ELF" && !strings.HasSuffix(name, ".ko") {
			mode = 0o755
		}
		if err := w.WriteHeader(&cpio.Header{Name: name, Mode: cpio.TypeReg | mode, Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if b, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
}
