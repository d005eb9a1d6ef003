package system

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

// phpPackages are bookworm's PHP 8.2 CLI and FPM with the libraries the
// CLI binary and its modules load.
var phpPackages = []string{"php-common", "php8.2-common", "php8.2-opcache", "php8.2-readline", "php8.2-cli", "php8.2-fpm", "ucf",
	"libc6", "libargon2-1", "libedit2", "libbsd0", "libmd0", "libtinfo6", "libgcc-s1", "libstdc++6", "libicu72", "liblzma5",
	"libpcre2-8-0", "libsodium23", "libssl3", "libxml2", "zlib1g", "libzstd1", "libmagic1", "libffi8", "libcrypt1"}

// TestPHPModules analyzes bookworm's PHP packages (php-maintscript-helper,
// phpenmod and phpquery as their postinsts run them) and has the CLI's
// own php8.2 load the /etc/php tree the declarations make: every module
// linked into conf.d is loaded, with no warning, and FPM's conf.d has the
// same modules as the CLI's (php8.2-fpm enables, with phpquery -M, what
// php8.2-common registered).
func TestPHPModules(t *testing.T) {
	pk := realPackages(t, phpPackages...)
	sys := modules.System{}
	d, err := analyzeScripts(&sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	for _, an := range d.an {
		for _, u := range an.Unhandled {
			t.Errorf("%s: unhandled %s: %s", an.Package, u.Reason, u.From)
		}
	}
	entries, warns := d.etcFiles(pk)
	if len(warns) > 0 {
		t.Errorf("warnings: %v", warns)
	}
	root := t.TempDir()
	confd := map[string][]string{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Path, "php/") {
			continue
		}
		dst := filepath.Join(root, "etc", e.Path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case e.Target != "" || e.Kind == toplevel.EtcSymlink:
			target := e.Target
			if filepath.IsAbs(target) {
				target = filepath.Join(root, target)
			}
			if err := os.Symlink(target, dst); err != nil {
				t.Fatal(err)
			}
			if dir, name := filepath.Split(e.Path); strings.HasSuffix(dir, "/conf.d/") {
				confd[strings.Split(dir, "/")[2]] = append(confd[strings.Split(dir, "/")[2]], name)
			}
		default:
			b, ok, err := e.content()
			if err != nil || !ok {
				t.Fatalf("%s: %v", e.Path, err)
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, s := range []string{"cli", "fpm"} {
		sort.Strings(confd[s])
	}
	if len(confd["cli"]) < 19 || strings.Join(confd["cli"], " ") != strings.Join(confd["fpm"], " ") {
		t.Errorf("conf.d links: cli %v, fpm %v", confd["cli"], confd["fpm"])
	}
	if !strings.Contains(strings.Join(confd["cli"], " "), "10-opcache.ini") {
		t.Errorf("opcache's priority is not 10: %v", confd["cli"])
	}
	// One extension directory, as the packages' files merge in /usr.
	ext := filepath.Join(root, "ext")
	if err := os.Mkdir(ext, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range pk.names {
		sos, _ := filepath.Glob(filepath.Join(pk.root, n, "usr/lib/php/20220829/*.so"))
		for _, so := range sos {
			if err := os.Symlink(so, filepath.Join(ext, filepath.Base(so))); err != nil {
				t.Fatal(err)
			}
		}
	}
	tool, err := newClosureTool(pk)
	if err != nil {
		t.Fatal(err)
	}
	cli := filepath.Join(root, "etc/php/8.2/cli")
	cmd := tool.command(t.Context(), filepath.Join(pk.root, "php8.2-cli", "usr/bin/php8.2"), "php8.2",
		"-c", filepath.Join(cli, "php.ini"), "-d", "extension_dir="+ext, "-m")
	cmd.Env = append(cmd.Env, "PHP_INI_SCAN_DIR="+filepath.Join(cli, "conf.d"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("php -m: %v\n%s", err, out)
	}
	if strings.Contains(strings.ToLower(string(out)), "warning") {
		t.Errorf("php -m warns:\n%s", out)
	}
	loaded := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		loaded[strings.ToLower(strings.TrimSpace(l))] = true
	}
	for _, name := range confd["cli"] {
		mod := strings.TrimSuffix(name[strings.Index(name, "-")+1:], ".ini")
		if mod == "opcache" {
			mod = "zend opcache"
		}
		if !loaded[mod] {
			t.Errorf("%s is linked but php does not load %s:\n%s", name, mod, out)
		}
	}
}
