package modules

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeBigHost writes a host importing 30 modules with 10 definitions each
// (services, users, list and map merges, references between modules).
func writeBigHost(tb testing.TB) string {
	dir := tb.TempDir()
	var imports []string
	for m := 0; m < 30; m++ {
		var b strings.Builder
		fmt.Fprintf(&b, "option \"mod%d.enable\" {\n  type    = bool\n  default = true\n}\n\n", m)
		fmt.Fprintf(&b, "config {\n  when = config.mod%d.enable\n\n", m)
		fmt.Fprintf(&b, "  services \"svc%d\" {\n    description = \"service %d on ${config.networking.host_name}\"\n", m, m)
		fmt.Fprintf(&b, "    exec_start  = \"${pkgs.nginx}/usr/sbin/nginx -c /etc/svc%d.conf\"\n", m)
		fmt.Fprintf(&b, "    after       = [\"network.target\"]\n    environment = { N = \"%d\" }\n  }\n\n", m)
		fmt.Fprintf(&b, "  users \"user%d\" {\n    uid    = %d\n    groups = [\"g%d\"]\n  }\n\n", m, 2000+m, m)
		fmt.Fprintf(&b, "  etc \"svc%d.conf\" {\n    text = \"user = ${config.users.user%d.home}\\n\"\n  }\n\n", m, m)
		fmt.Fprintf(&b, "  kernel {\n    modules = [\"mod%d\"]\n    sysctl  = { \"key.%d\" = \"%d\" }\n  }\n\n", m, m, m)
		fmt.Fprintf(&b, "  packages = [pkgs.vim]\n}\n")
		name := fmt.Sprintf("mod%02d.hcl", m)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
		imports = append(imports, fmt.Sprintf("%q", "./"+name))
	}
	host := fmt.Sprintf("imports = [%s]\n\nnetworking {\n  host_name = \"big\"\n}\n", strings.Join(imports, ", "))
	p := filepath.Join(dir, "host.hcl")
	if err := os.WriteFile(p, []byte(host), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestBigHost(t *testing.T) {
	cfg, diags := Load(writeBigHost(t), LoadOptions{Packages: packageSet()})
	if diags.HasErrors() {
		t.Fatal(DiagnosticText(diags, 0))
	}
	s := cfg.System
	if len(s.Services) != 30 || len(s.Kernel.Modules) != 30 || len(s.Kernel.Sysctl) != 30 || len(s.Users) != 31 {
		t.Errorf("services %d, kernel modules %d, sysctl %d, users %d", len(s.Services), len(s.Kernel.Modules), len(s.Kernel.Sysctl), len(s.Users))
	}
	if got := s.Etc["svc7.conf"].Text; got != "user = /home/user7\n" {
		t.Errorf("etc svc7.conf = %q", got)
	}
	defs := 0
	for _, d := range cfg.Explain("") {
		if !d.Default {
			defs++
		}
	}
	t.Logf("%d definitions besides defaults", defs)
	if defs < 300 {
		t.Errorf("only %d definitions", defs)
	}
}

// BenchmarkLoad30Modules: a host with 30 imported modules and ~300
// definitions (the budget is 50 ms per Load).
func BenchmarkLoad30Modules(b *testing.B) {
	host := writeBigHost(b)
	pkgs := packageSet()
	b.ReportAllocs()
	for b.Loop() {
		if _, diags := Load(host, LoadOptions{Packages: pkgs}); diags.HasErrors() {
			b.Fatal(diags.Error())
		}
	}
}

func BenchmarkLoadDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, diags := Load("", LoadOptions{}); diags.HasErrors() {
			b.Fatal(diags.Error())
		}
	}
}
