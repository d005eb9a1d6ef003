package system

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

// These tests judge the generated files with the real tools: systemd-analyze
// verify and systemctl --root over a root holding the generated /etc and
// Debian's real packages, systemd-fstab-generator over the fstab, and sshd
// -t over sshd_config. The packages come from the machine's apt sources
// (apt-get download), unpacked once into a cache directory.

// realPackageNames are the Debian packages the verify root holds: the units
// kiln enables and the programs the units run.
var realPackageNames = []string{
	"coreutils", "dash", "dosfstools", "e2fsprogs", "libwrap0", "openssh-client", "openssh-server",
	"systemd", "systemd-resolved", "util-linux",
}

// realPackages returns the named bookworm packages, unpacked, with their
// control files in .kiln/control as kiln's unpacker has them.
func realPackages(t *testing.T, names ...string) fakePkgDir {
	t.Helper()
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, "no %s on this machine: %v", tool, err)
		}
	}
	cache := os.Getenv("KILN_TEST_DEBS")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			testenv.SkipOrFail(t, "no cache directory: %v", err)
		}
		cache = filepath.Join(dir, "kiln-test", "debs-control")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(cache, n)); err == nil {
			continue
		}
		dl := t.TempDir()
		cmd := exec.Command("apt-get", "download", n)
		cmd.Dir = dl
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get download %s: %v\n%s", n, err, out)
		}
		debs, _ := filepath.Glob(filepath.Join(dl, n+"_*.deb"))
		if len(debs) != 1 {
			t.Fatalf("apt-get download %s: got %v", n, debs)
		}
		tmp, err := os.MkdirTemp(cache, n+".tmp")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("dpkg-deb", "-x", debs[0], tmp).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x %s: %v\n%s", debs[0], err, out)
		}
		if err := os.MkdirAll(filepath.Join(tmp, ".kiln"), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("dpkg-deb", "-e", debs[0], filepath.Join(tmp, ".kiln", "control")).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -e %s: %v\n%s", debs[0], err, out)
		}
		if err := os.Rename(tmp, filepath.Join(cache, n)); err != nil {
			// Another test process unpacked it first.
			os.RemoveAll(tmp)
			if _, statErr := os.Stat(filepath.Join(cache, n)); statErr != nil {
				t.Fatal(err)
			}
		}
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return fakePkgDir{root: cache, names: sorted}
}

// verifyConfig exercises every generator whose output systemd or sshd read.
func verifyConfig() modules.System {
	return modules.System{
		Networking: modules.Networking{HostName: "verify", DHCP: true},
		Users:      map[string]modules.User{"alice": {AuthorizedKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF alice"}}},
		Services: map[string]modules.Service{
			"hello": {Enable: true, Description: "Say hello", ExecStart: "/usr/bin/sleep infinity", Type: "exec",
				User: "www-data", Environment: map[string]string{"GREETING": `say "hi" 100% \o/`, "PATH": "/usr/bin"},
				After: []string{"network-online.target"}, Wants: []string{"network-online.target"},
				WantedBy: []string{"multi-user.target"}, Restart: "on-failure", RestartIfChanged: true},
			"once":   {Enable: true, ExecStart: "/usr/bin/true", Type: "oneshot", WantedBy: []string{"multi-user.target"}},
			"manual": {Enable: false, ExecStart: "/usr/bin/true", Type: "oneshot", WantedBy: []string{"multi-user.target"}},
		},
		Units: map[string]modules.Unit{
			"backup.timer":   {Text: ptr("[Timer]\nOnCalendar=daily\n\n[Install]\nWantedBy=timers.target\n")},
			"backup.service": {Text: ptr("[Service]\nType=oneshot\nExecStart=/usr/bin/true\n")},
			"worker@.service": {Text: ptr("[Service]\nExecStart=/usr/bin/sleep %i\n\n[Install]\nWantedBy=multi-user.target\n" +
				"DefaultInstance=60\nAlias=job@.service\n")},
			"data.mount": {Text: ptr("[Mount]\nWhat=/dev/vdc\nWhere=/data\nType=ext4\n\n[Install]\nWantedBy=local-fs.target\n")},
		},
		Mounts: map[string]modules.Mount{
			"/":             {AutoResize: true},
			"/srv":          {Device: "LABEL=srv", FSType: "ext4", Options: []string{"noatime"}},
			"/mnt/my share": {Device: "//host/share", FSType: "cifs", Options: []string{"nofail"}},
		},
		Swaps:      map[string]modules.Swap{"/dev/vdb": {}},
		Kernel:     modules.Kernel{Sysctl: map[string]string{"vm.swappiness": "10"}, Modules: []string{"loop"}},
		Locale:     "C.UTF-8",
		TimeZone:   "UTC",
		Console:    modules.Console{SerialGetty: true, AutologinUser: "root"},
		SSH:        modules.SSH{Enable: true, Port: 2222},
		Bootloader: modules.Bootloader{BootCounting: modules.BootCounting{Tries: 3}},
		HealthChecks: map[string]modules.HealthCheck{
			"web":   {Enable: true, Command: `test -e "/etc/$HOME" || echo 100%`, Timeout: "1min"},
			"units": {Enable: true, Units: []string{"hello.service"}},
		},
	}
}

// verifyEnabled is what `systemctl enable` gets for verifyConfig: every
// unit kiln enables, named independently of the generator.
var verifyEnabled = []string{
	"hello.service", "once.service", "backup.timer", "data.mount", "ssh.service",
	"kiln-sshd-keygen.service", "systemd-networkd.service", "systemd-resolved.service",
	"getty@tty1.service", "serial-getty@ttyS0.service", "worker@.service",
	"kiln-check-units.service", "kiln-check-web.service", "systemd-boot-check-no-failures.service",
	"kiln-boot-fallback.service",
}

// rootMode says how buildRoot lays out /etc.
type rootMode int

const (
	// asActivated: link entries go through /etc/static into an etc store
	// path, as activation leaves them.
	asActivated rootMode = iota
	// plainUnlinked: every file is a plain file in /etc, and the
	// enablement symlinks are left out, for systemctl enable to make
	// (it refuses to enable a unit whose /etc file is a symlink to
	// outside the unit search path: it takes it for a `systemctl link`).
	plainUnlinked
)

// buildRoot makes a machine root: the packages' trees merged under usr/
// (as the sw forest does), the FHS links, and /etc from entries.
func buildRoot(t *testing.T, pk fakePkgDir, entries []EtcEntry, mode rootMode) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
		if err := os.MkdirAll(filepath.Join(root, "usr", d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("usr/"+d, filepath.Join(root, d)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range pk.names {
		dir, _ := pk.Dir(n)
		if err := copyTree(dir, root); err != nil {
			t.Fatalf("copy package %s: %v", n, err)
		}
	}
	// /etc as activation leaves it: links go through /etc/static into
	// the etc store path.
	etcStore := "/kiln/store/00000000000000000000000000000000-etc"
	if err := os.MkdirAll(filepath.Join(root, etcStore), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Relative links: systemd-analyze --root opens unit files without
	// resolving absolute links inside the root; on a machine the
	// absolute /etc/static/PATH links resolve the same way.
	if err := os.Symlink(".."+etcStore, filepath.Join(root, "etc", "static")); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if mode == plainUnlinked && e.Kind == toplevel.EtcSymlink && strings.HasPrefix(e.Path, etcUnitPath+"/") {
			continue
		}
		if mode == plainUnlinked && e.Kind == toplevel.EtcLink {
			e.Kind, e.Mode = toplevel.EtcCopy, 0o644
		}
		if err := writeEntry(root, etcStore, e); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// copyTree copies src into dst, moving the top-level bin, sbin, lib, lib64
// under usr/ (merged /usr). Files that already exist are kept.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		if rel == "etc" {
			return filepath.SkipDir // the package etc tree is not generated here
		}
		if top, _, _ := strings.Cut(rel, string(filepath.Separator)); top == "bin" || top == "sbin" || top == "lib" || top == "lib64" {
			rel = filepath.Join("usr", rel)
		}
		out := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case info.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, out); err != nil && !os.IsExist(err) {
				return err
			}
			return nil
		default:
			if _, err := os.Lstat(out); err == nil {
				return nil
			}
			if os.Link(p, out) == nil {
				return nil
			}
			return copyFile(p, out, info.Mode().Perm())
		}
	})
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeEntry materializes one entry in root as activation would: a link
// entry's file goes into the etc store path and /etc/PATH links to
// /etc/static/PATH; copies and symlinks are made in /etc itself.
func writeEntry(root, etcStore string, e EtcEntry) error {
	p := filepath.Join(root, "etc", filepath.FromSlash(e.Path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	os.Remove(p)
	switch e.Kind {
	case toplevel.EtcSymlink:
		return os.Symlink(e.Target, p)
	case toplevel.EtcCopy:
		if e.Source != "" {
			return copyFile(e.Source, p, e.Mode.Perm())
		}
		return os.WriteFile(p, e.Data, e.Mode.Perm())
	}
	s := filepath.Join(root, etcStore, filepath.FromSlash(e.Path))
	if err := os.MkdirAll(filepath.Dir(s), 0o755); err != nil {
		return err
	}
	var err error
	if e.Source != "" {
		err = copyFile(e.Source, s, 0o444)
	} else {
		err = os.WriteFile(s, e.Data, 0o444)
	}
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(p), filepath.Join(root, "etc", "static", filepath.FromSlash(e.Path)))
	if err != nil {
		return err
	}
	return os.Symlink(rel, p)
}

// analyzeVerify runs systemd-analyze verify on units in root and fails on a
// non-zero exit or any diagnostic about a unit kiln generated (warnings such
// as unknown keys exit 0).
func analyzeVerify(root string, units ...string) error {
	args := append([]string{"verify", "--root=" + root, "--man=no", "--generators=no", "--"}, units...)
	cmd := exec.Command("systemd-analyze", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var bad []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line != "" && !strings.Contains(line, root+"/usr/") {
			bad = append(bad, line)
		}
	}
	if err != nil || len(bad) > 0 {
		return fmt.Errorf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.SkipOrFail(t, "no %s on this machine: %v", name, err)
	}
	return p
}

func generatedUnitNames(entries []EtcEntry) []string {
	var names []string
	for _, e := range entries {
		dir, name := filepath.Split(e.Path)
		if dir == etcUnitPath+"/" && e.Kind != toplevel.EtcSymlink && unitNameRE.MatchString(name) && !strings.Contains(name, "@.") {
			names = append(names, name)
		}
	}
	return names
}

func TestGeneratedUnitsVerify(t *testing.T) {
	needTool(t, "systemd-analyze")
	pk := realPackages(t, realPackageNames...)
	sys := verifyConfig()
	entries, err := GenerateEtc(&sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	root := buildRoot(t, pk, entries, asActivated)
	// The health units run the generation's kiln (the toplevel's bin/kiln).
	kiln := filepath.Join(root, "run", "current-system", "bin", "kiln")
	if err := os.MkdirAll(filepath.Dir(kiln), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kiln, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	units := append(generatedUnitNames(entries), verifyEnabled...)
	if err := analyzeVerify(root, units...); err != nil {
		t.Error(err)
	}
	// The autologin drop-ins are loaded with their units.
	for _, u := range []string{"serial-getty@ttyS0.service", "getty@tty1.service"} {
		if _, err := os.Stat(filepath.Join(root, "etc", etcUnitPath, u+".d", "autologin.conf")); err != nil {
			t.Errorf("no autologin drop-in for %s: %v", u, err)
		}
	}
}

// TestAnalyzeVerifyCatchesBrokenUnits proves the check above can fail.
func TestAnalyzeVerifyCatchesBrokenUnits(t *testing.T) {
	needTool(t, "systemd-analyze")
	pk := realPackages(t, realPackageNames...)
	tests := []struct {
		name string
		sys  modules.System
		unit string
		want string // in the diagnostics
	}{
		{"missing program", modules.System{Services: map[string]modules.Service{
			"broken": {Enable: true, ExecStart: "/usr/bin/no-such-program", WantedBy: []string{"multi-user.target"}}}},
			"broken.service", "Command /usr/bin/no-such-program is not executable"},
		{"bad value", modules.System{Units: map[string]modules.Unit{
			"broken.service": {Text: ptr("[Service]\nType=bogus\nExecStart=/usr/bin/true\n")}}}, "broken.service",
			"Failed to parse service type"},
		{"unknown key", modules.System{Units: map[string]modules.Unit{
			"broken.service": {Text: ptr("[Service]\nExecStart=/usr/bin/true\nExecStrat=/usr/bin/true\n")}}}, "broken.service",
			"Unknown key 'ExecStrat'"},
		{"mount name mismatch", modules.System{Units: map[string]modules.Unit{
			"broken.mount": {Text: ptr("[Mount]\nWhat=/dev/vdc\nWhere=/data\n")}}}, "broken.mount",
			"Where= setting doesn't match unit name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := GenerateEtc(&tc.sys, pk)
			if err != nil {
				t.Fatal(err)
			}
			root := buildRoot(t, fakePkgDir{root: pk.root, names: []string{"coreutils", "systemd"}}, entries, asActivated)
			err = analyzeVerify(root, tc.unit)
			if err == nil {
				t.Fatalf("systemd-analyze verify accepted %s", tc.unit)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("refused for another reason than %q: %v", tc.want, err)
			}
		})
	}
}

// TestEnablementMatchesSystemctl compares kiln's enablement links with the
// ones `systemctl --root enable` and `set-default` make on the same units.
func TestEnablementMatchesSystemctl(t *testing.T) {
	needTool(t, "systemctl")
	pk := realPackages(t, realPackageNames...)
	sys := verifyConfig()
	entries, err := GenerateEtc(&sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Kind == toplevel.EtcSymlink && strings.HasPrefix(e.Path, etcUnitPath+"/") {
			got = append(got, e.Path+" -> "+e.Target)
		}
	}
	root := buildRoot(t, pk, entries, plainUnlinked)
	for _, args := range [][]string{append([]string{"enable"}, verifyEnabled...), {"set-default", "multi-user.target"}} {
		cmd := exec.Command("systemctl", append([]string{"--root=" + root}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("systemctl %v: %v\n%s", args, err, out)
		}
	}
	var want []string
	etc := filepath.Join(root, "etc")
	err = filepath.WalkDir(filepath.Join(etc, etcUnitPath), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Type()&os.ModeSymlink == 0 {
			return err
		}
		target, err := os.Readlink(p)
		rel, _ := filepath.Rel(etc, p)
		// Debian's systemctl searches /lib/systemd/system before
		// /usr/lib/systemd/system; on a merged-/usr root both name the
		// same files and both are in the unit search path. kiln writes
		// the /usr form.
		if t, ok := strings.CutPrefix(target, "/lib/systemd/system/"); ok {
			target = usrUnitDir + "/" + t
		}
		want = append(want, filepath.ToSlash(rel)+" -> "+target)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("enablement links differ from systemctl's (-systemctl +kiln):\n%s", diff)
	}
}

// TestFstabGenerator feeds the generated fstab to systemd-fstab-generator
// and verifies the mount units it makes.
func TestFstabGenerator(t *testing.T) {
	gen := "/usr/lib/systemd/system-generators/systemd-fstab-generator"
	if _, err := os.Stat(gen); err != nil {
		testenv.SkipOrFail(t, "no fstab generator: %v", err)
	}
	needTool(t, "systemd-analyze")
	pk := realPackages(t, realPackageNames...)
	sys := verifyConfig()
	entries, err := GenerateEtc(&sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	root := buildRoot(t, pk, entries, asActivated)
	out := filepath.Join(root, "etc", "systemd", "system")
	genDir := t.TempDir()
	cmd := exec.Command(gen, genDir, genDir, genDir)
	fstab := filepath.Join(root, "kiln/store/00000000000000000000000000000000-etc/fstab")
	cmd.Env = append(os.Environ(), "SYSTEMD_FSTAB="+fstab, "SYSTEMD_PROC_CMDLINE=", "SYSTEMD_LOG_LEVEL=info")
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", gen, err, log)
	}
	if len(log) > 0 {
		t.Logf("%s:\n%s", gen, log)
	}
	wantUnits := []string{"-.mount", "boot.mount", "srv.mount", `mnt-my\x20share.mount`, "dev-vdb.swap", "systemd-growfs@-.service"}
	var present []string
	for _, u := range wantUnits {
		data, err := os.ReadFile(filepath.Join(genDir, u))
		if err != nil {
			if u == "dev-vdb.swap" && strings.Contains(string(log), "container") {
				continue // the generator ignores swaps in containers
			}
			t.Errorf("generator made no %s: %v", u, err)
			continue
		}
		// Drop SourcePath (the fstab's physical path) and load the unit
		// from /etc.
		text := strings.ReplaceAll(string(data), "SourcePath=", "# SourcePath=")
		if err := os.WriteFile(filepath.Join(out, u), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		present = append(present, u)
	}
	// systemd-repart.service, which grows the root partition, is
	// Debian's: it must load in this root too.
	if err := analyzeVerify(root, append(present, "systemd-repart.service")...); err != nil {
		t.Error(err)
	}
	boot, _ := os.ReadFile(filepath.Join(genDir, "boot.mount"))
	for _, want := range []string{"What=/dev/disk/by-label/ESP", "Type=vfat", "Options=umask=0077,nofail"} {
		if !strings.Contains(string(boot), want) {
			t.Errorf("boot.mount lacks %q:\n%s", want, boot)
		}
	}
	// auto_resize on /: the root file system grows after systemd-repart
	// has grown its partition.
	growfs, _ := os.ReadFile(filepath.Join(genDir, "systemd-growfs@-.service"))
	for _, want := range []string{"After=systemd-repart.service", "ExecStart=/lib/systemd/systemd-growfs /"} {
		if !strings.Contains(string(growfs), want) {
			t.Errorf("systemd-growfs@-.service lacks %q:\n%s", want, growfs)
		}
	}
	if _, err := os.Lstat(filepath.Join(genDir, "-.mount.wants", "systemd-growfs@-.service")); err != nil {
		t.Errorf("-.mount does not want systemd-growfs@-.service: %v", err)
	}
	// With fsck in the closure, /srv is checked before it is mounted.
	srv, _ := os.ReadFile(filepath.Join(genDir, "srv.mount"))
	if !strings.Contains(string(srv), "systemd-fsck@") {
		t.Errorf("srv.mount is not fsck'ed although the closure has fsck.ext4:\n%s", srv)
	}
}

// TestSshdConfig runs Debian's sshd -t on the generated sshd_config, in a
// user and mount namespace that provides the sshd user and /run/sshd.
func TestSshdConfig(t *testing.T) {
	needTool(t, "unshare")
	keygen := needTool(t, "ssh-keygen")
	pk := realPackages(t, realPackageNames...)
	sys := verifyConfig()
	entries, err := GenerateEtc(&sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var config []byte
	for _, e := range entries {
		if e.Path == "ssh/sshd_config" {
			config = e.Data
		}
	}
	if config == nil {
		t.Fatal("no ssh/sshd_config generated")
	}
	cfg := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfg, config, 0o644); err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(dir, "host_key")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	passwd = append(passwd, "sshd:x:64999:65534::/run/sshd:/usr/sbin/nologin\n"...)
	if err := os.WriteFile(filepath.Join(dir, "passwd"), passwd, 0o644); err != nil {
		t.Fatal(err)
	}
	sshdDir, _ := pk.Dir("openssh-server")
	wrapDir, _ := pk.Dir("libwrap0")
	script := `mount --bind "$1/passwd" /etc/passwd && mount -t tmpfs tmpfs /run && mkdir /run/sshd &&
		LD_LIBRARY_PATH="$2" exec "$3" -t -f "$1/sshd_config" -h "$1/host_key"`
	run := func(t *testing.T) error {
		cmd := exec.Command("unshare", "-r", "-m", "sh", "-c", script, "sh", dir,
			filepath.Join(wrapDir, "usr/lib/x86_64-linux-gnu"), filepath.Join(sshdDir, "usr/sbin/sshd"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("sshd -t: %v\n%s", err, out)
		}
		return nil
	}
	if err := run(t); err != nil {
		if strings.Contains(err.Error(), "unshare failed") || strings.Contains(err.Error(), "Operation not permitted") {
			testenv.SkipOrFail(t, "no user namespaces here: %v", err)
		}
		t.Fatal(err)
	}
	// The check can fail: a bad option is refused.
	if err := os.WriteFile(cfg, append(config, "Port 99999\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(t); err == nil {
		t.Error("sshd -t accepted Port 99999")
	}
}

// TestUnitValuesReadBySystemd has systemd itself read services whose
// values sit at the edges of the unit file grammar (issue 9, item 2):
// each keeps User=nobody on its own line, where a value ending in one
// backslash would have continued ExecStart= over it (systemd-analyze
// security then says "Service runs as root user"). The refused values
// are refused by the writer.
func TestUnitValuesReadBySystemd(t *testing.T) {
	tool := needTool(t, "systemd-analyze")
	accepted := map[string]string{
		"even":    `/bin/echo a\\`,
		"comment": `/bin/echo "# not a comment" ;x`,
		"inner":   `/bin/echo a\ b \\ c`,
		"percent": `/bin/echo 100%%`,
	}
	root := t.TempDir()
	dir := filepath.Join(root, "etc", etcUnitPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, exec := range accepted {
		text, err := renderService(name, modules.Service{ExecStart: exec, User: "nobody", Description: `d \\`})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".service"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The check can fail: the unit, written by hand.
	broken := "[Service]\nExecStart=/bin/sh -c id \\\nUser=nobody\n"
	if err := os.WriteFile(filepath.Join(dir, "broken.service"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(tool, "security", "--offline=true", "--root="+root, "broken.service").CombinedOutput(); !strings.Contains(string(out), "runs as root user") {
		t.Errorf("systemd reads User= after a continued line:\n%s", out)
	}
	for name := range accepted {
		out, _ := exec.Command(tool, "security", "--offline=true", "--root="+root, name+".service").CombinedOutput()
		if !strings.Contains(string(out), "'nobody' user") || strings.Contains(string(out), "runs as root user") {
			t.Errorf("%s.service: systemd does not read User=nobody:\n%s", name, out)
		}
	}
	for _, exec := range []string{`/bin/sh -c id \`, `/bin/echo \\\`} {
		if _, err := renderService("x", modules.Service{ExecStart: exec, User: "nobody"}); err == nil || !strings.Contains(err.Error(), "ends in a backslash") {
			t.Errorf("exec_start %q: got %v, want a refusal", exec, err)
		}
	}
}
