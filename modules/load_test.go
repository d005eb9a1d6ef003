package modules

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/kiln-os/kiln/internal/golden"
)

// testPackages is a small package set, as the lock would provide.
type testPackages map[string]string

func newTestPackages(names ...string) testPackages {
	p := testPackages{}
	for i, n := range names {
		p[n] = fmt.Sprintf("/kiln/store/%032d-%s", i+1, n)
	}
	return p
}

func (p testPackages) Path(name string) (string, bool) { s, ok := p[name]; return s, ok }
func (p testPackages) Names() []string {
	var out []string
	for n := range p {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var basePackages = []string{"systemd", "udev", "dbus", "dash", "bash", "coreutils", "libc-bin", "grep", "sed",
	"findutils", "ncurses-base", "gzip", "hostname", "mawk", "login", "passwd", "util-linux", "kmod", "iproute2",
	"procps", "libpam-modules", "libpam-runtime", "base-files", "base-passwd", "less", "tzdata", "systemd-boot-efi",
	"systemd-boot", "systemd-resolved",
	"openssh-server"}

func packageSet() testPackages {
	return newTestPackages(append(basePackages, "nginx", "vim", "vim-tiny", "curl", "iputils-ping", "nginx-light", "nftables", "sudo")...)
}

// TestGolden loads testdata/*/host.hcl. A case whose name starts with err_
// must fail: the golden file holds the diagnostics as a user sees them.
// Other cases print, for each path of their "# eval:" line, the merged value
// and every definition with its site, priority and fate.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/host.hcl")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	for _, host := range dirs {
		dir := filepath.Dir(host)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, diags := Load(host, LoadOptions{Packages: packageSet()})
			wantErr := strings.HasPrefix(filepath.Base(dir), "err_")
			if wantErr {
				if !diags.HasErrors() {
					t.Fatalf("Load succeeded, want diagnostics")
				}
				golden.Check(t, filepath.Join(dir, "want.txt"), []byte(DiagnosticText(diags, 0)))
				return
			}
			if diags.HasErrors() {
				t.Fatalf("Load: %s", DiagnosticText(diags, 0))
			}
			src, err := os.ReadFile(host)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join(dir, "want.txt"), []byte(render(t, cfg, string(src))))
		})
	}
}

func render(t *testing.T, cfg *Config, src string) string {
	var b strings.Builder
	for _, line := range strings.Split(src, "\n") {
		if line == "# system" {
			fmt.Fprintf(&b, "System.Packages = %q\nSystem.Referenced = %q\n\n", cfg.System.Packages, cfg.System.Referenced)
		}
		rest, ok := strings.CutPrefix(line, "# eval: ")
		if !ok {
			continue
		}
		for _, p := range strings.Fields(rest) {
			v, err := cfg.Value(p)
			if err != nil {
				t.Fatalf("Value(%q): %v", p, err)
			}
			fmt.Fprintf(&b, "%s = %s\n", p, strings.TrimSpace(ValueHCL(v)))
			for _, d := range cfg.Explain(p) {
				fate := "   "
				if d.Won {
					fate = "won"
				}
				val := "-"
				if d.Value.Type() != cty.NilType {
					val = valueText(d.Value)
				}
				where := d.Location()
				if d.Default {
					where = "default"
				}
				fmt.Fprintf(&b, "  %s %s %s prio=%d order=%d %s", fate, d.Option, where, d.Priority, d.Order, val)
				if d.Note != "" {
					fmt.Fprintf(&b, " (%s)", d.Note)
				}
				b.WriteString("\n")
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func TestDefaultSystem(t *testing.T) {
	example, err := os.ReadFile("../examples/default.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(example, DefaultSystem()) {
		t.Errorf("examples/default.hcl differs from modules/default.hcl: keep them identical")
	}
	cfg, diags := Load("", LoadOptions{Packages: packageSet()})
	if diags.HasErrors() {
		t.Fatal(DiagnosticText(diags, 0))
	}
	s := cfg.System
	checks := []struct {
		name      string
		got, want any
	}{
		{"host name", s.Networking.HostName, "kiln"},
		{"dhcp", s.Networking.DHCP, true},
		{"ssh", s.SSH.Enable, true},
		{"ssh port", s.SSH.Port, 22},
		{"serial getty", s.Console.SerialGetty, true},
		{"root uid", *s.Users["root"].UID, 0},
		{"sshd home", s.Users["sshd"].Home, "/run/sshd"},
		{"root device", s.Mounts["/"].Device, "/dev/disk/by-label/kiln-root"},
		{"root fs", s.Mounts["/"].FSType, "ext4"},
		{"kernel", s.Kernel.Package, "linux-image-cloud-amd64"},
		{"params", s.Kernel.Params, []string{"console=tty0", "console=ttyS0,115200"}},
		{"initrd modules", s.Kernel.InitrdModules, []string{"virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod"}},
		{"bootloader", s.Bootloader, Bootloader{Timeout: 3, MaxGenerations: 10, ConsoleMode: "keep", BootCounting: BootCounting{Tries: 3}}},
		{"packages", s.Packages, basePackages},
		{"referenced", s.Referenced, sorted(basePackages)},
		{"backdoor", s.Testing.Backdoor, false},
		{"units", len(s.Units), 0},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

// The VM test driver relies on this exact unit.
const backdoorUnit = `[Unit]
Description=kiln test backdoor (root shell on hvc0)
DefaultDependencies=no
Requires=dev-hvc0.device
After=dev-hvc0.device
# A switch must never cut the test driver off.
X-RestartIfChanged=false
[Service]
Environment=PATH=/run/wrappers/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb HOME=/root
ExecStart=/bin/bash --noprofile --norc -c 'exec </dev/hvc0 >/dev/hvc0 2>&1; stty raw -echo; echo kiln-backdoor-ready; exec /bin/bash --noprofile --norc /dev/hvc0'
KillSignal=SIGHUP
[Install]
WantedBy=sysinit.target
`

func TestBackdoorExtra(t *testing.T) {
	extra := Source{Filename: "backdoor.hcl", Data: []byte("testing {\n  backdoor = true\n}\n")}
	cfg, diags := Load("", LoadOptions{Extra: []Source{extra}})
	if diags.HasErrors() {
		t.Fatal(DiagnosticText(diags, 0))
	}
	if !cfg.System.Testing.Backdoor {
		t.Errorf("Testing.Backdoor = false, want true")
	}
	u, ok := cfg.System.Units["kiln-backdoor.service"]
	if !ok {
		t.Fatalf("no kiln-backdoor.service in %v", cfg.System.Units)
	}
	if diff := cmp.Diff(backdoorUnit, *u.Text); diff != "" {
		t.Errorf("backdoor unit (-want +got):\n%s", diff)
	}
	// The getty systemd-getty-generator would start on hvc0 is masked
	// by an empty unit file.
	if g, ok := cfg.System.Units["serial-getty@hvc0.service"]; !ok || g.Text == nil || *g.Text != "" {
		t.Errorf("serial-getty@hvc0.service = %+v, %v; want an empty (masking) unit", g, ok)
	}
	// Without Packages, pkgs.NAME is a placeholder path.
	v, err := cfg.Value("packages")
	if err != nil {
		t.Fatal(err)
	}
	if first := v.Index(cNumber(0)).AsString(); first != "/kiln/store/"+PlaceholderHash+"-systemd" {
		t.Errorf("packages[0] = %q, want the placeholder path of systemd", first)
	}
}

func cNumber(n int) cty.Value { return cty.NumberIntVal(int64(n)) }

func TestDiagnosticTextExtra(t *testing.T) {
	extra := Source{Filename: "in-memory.hcl", Data: []byte("ssh {\n  port = true\n}\n")}
	_, diags := Load("", LoadOptions{Extra: []Source{extra}})
	want := `Error: Wrong type for option "ssh.port"

  on in-memory.hcl line 2:
   2:   port = true

ssh.port has type number: number required, but have bool.

`
	if got := DiagnosticText(diags, 0, extra); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// A pkgs.NAME the package set lacks is an error only where it is
// evaluated: under a false `when` (ssh.hcl's openssh-server on a host
// without ssh) it is neither resolved nor reported.
func TestUnknownPackageOnlyWhenEvaluated(t *testing.T) {
	pkgs := newTestPackages(basePackages[:len(basePackages)-1]...) // no openssh-server
	dir := t.TempDir()
	host := filepath.Join(dir, "host.hcl")
	for _, tc := range []struct {
		src     string
		wantErr bool
	}{
		{"networking {\n  host_name = \"x\"\n}\n", false},
		{"config {\n  when = false\n  packages = [pkgs.nosuch]\n}\n", false},
		{"ssh {\n  enable = true\n}\n", true},
		{"config {\n  when = true\n  packages = [pkgs.nosuch]\n}\n", true},
	} {
		if err := os.WriteFile(host, []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, diags := Load(host, LoadOptions{Packages: pkgs})
		if got := diags.HasErrors(); got != tc.wantErr {
			t.Errorf("%q: errors %v, want %v: %s", tc.src, got, tc.wantErr, diags.Error())
			continue
		}
		if tc.wantErr {
			if n := len(diags); n != 1 || !strings.Contains(diags[0].Summary, "Unknown package") {
				t.Errorf("%q: want one unknown-package error, got %s", tc.src, diags.Error())
			}
			continue
		}
		for _, p := range append(cfg.System.Packages, cfg.System.Referenced...) {
			if p == "openssh-server" || p == "nosuch" {
				t.Errorf("%q: %s is wanted although its when is false", tc.src, p)
			}
		}
	}
}
