package system

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/toplevel"
)

// fakePkgDir is a Packages over a directory holding one subdirectory per
// package (unpacked trees).
type fakePkgDir struct {
	root  string
	names []string
}

func (d fakePkgDir) Path(name string) (store.Path, bool) {
	if _, ok := d.Dir(name); !ok {
		return store.Path{}, false
	}
	p, err := store.NewKey("test-package").Add("name", name).Path(name)
	return p, err == nil
}

func (d fakePkgDir) Dir(name string) (string, bool) {
	for _, n := range d.names {
		if n == name {
			return filepath.Join(d.root, name), true
		}
	}
	return "", false
}

func (d fakePkgDir) Names() []string { return d.names }

// fakeFiles are the package files the golden tests need: the [Install]
// sections of Debian bookworm's units (the rest of a unit does not matter
// to enabling) and the fsck programs.
var fakeFiles = map[string]map[string]string{
	"systemd": {
		"lib/systemd/system/getty@.service":                         "[Service]\nExecStart=-/sbin/agetty - $TERM\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n",
		"lib/systemd/system/serial-getty@.service":                  "[Service]\nExecStart=-/sbin/agetty - $TERM\n[Install]\nWantedBy=getty.target\n",
		"lib/systemd/system/autovt@.service":                        "->getty@.service",
		"lib/systemd/system/systemd-networkd.service":               "[Install]\nWantedBy=multi-user.target\nAlso=systemd-networkd.socket\nAlias=dbus-org.freedesktop.network1.service\nAlso=systemd-network-generator.service\nAlso=systemd-networkd-wait-online.service\n",
		"lib/systemd/system/systemd-networkd.socket":                "[Install]\nWantedBy=sockets.target\n",
		"lib/systemd/system/systemd-network-generator.service":      "[Install]\nWantedBy=sysinit.target\n",
		"lib/systemd/system/systemd-networkd-wait-online.service":   "[Install]\nWantedBy=network-online.target\n",
		"lib/systemd/system/multi-user.target":                      "[Unit]\nDescription=Multi-User System\n",
		"lib/systemd/system/systemd-boot-check-no-failures.service": "[Service]\nType=oneshot\nExecStart=/lib/systemd/systemd-boot-check-no-failures\n[Install]\nRequiredBy=boot-complete.target\n",
	},
	"openssh-server":   {"lib/systemd/system/ssh.service": "[Service]\nExecStart=/usr/sbin/sshd -D\n[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n"},
	"systemd-resolved": {"lib/systemd/system/systemd-resolved.service": "[Install]\nWantedBy=sysinit.target\nAlias=dbus-org.freedesktop.resolve1.service\n"},
	// dnsmasq as bookworm ships it: a resolvconf hook and two services.
	"dnsmasq": {
		"etc/resolvconf/update.d/dnsmasq":     "#!/bin/sh\n",
		"lib/systemd/system/dnsmasq.service":  "[Service]\nExecStart=/usr/share/dnsmasq/systemd-helper exec\n[Install]\nWantedBy=multi-user.target\n",
		"lib/systemd/system/dnsmasq@.service": "[Service]\nExecStart=/usr/share/dnsmasq/systemd-helper exec\n[Install]\nWantedBy=multi-user.target\n",
	},
	"util-linux": {"sbin/fsck": "#!/bin/sh\n"},
	"e2fsprogs":  {"sbin/fsck.ext4": "#!/bin/sh\n"},
	"dosfstools": {"sbin/fsck.vfat": "#!/bin/sh\n"},
	"tzdata":     {"usr/share/zoneinfo/UTC": "TZif2", "usr/share/zoneinfo/Europe/Paris": "TZif2"},
}

// fakePackages unpacks the named fake packages into a temp dir; systemd and
// openssh-server are always there.
func fakePackages(t *testing.T, extra ...string) Packages {
	t.Helper()
	root := t.TempDir()
	names := append([]string{"systemd", "openssh-server"}, extra...)
	sort.Strings(names)
	for _, n := range names {
		files, ok := fakeFiles[n]
		if !ok {
			t.Fatalf("no fake package %q", n)
		}
		for rel, content := range files {
			p := filepath.Join(root, n, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			var err error
			if target, ok := strings.CutPrefix(content, "->"); ok {
				err = os.Symlink(target, p)
			} else {
				err = os.WriteFile(p, []byte(content), 0o755)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return fakePkgDir{root: root, names: names}
}

// renderEntries prints entries in a stable, reviewable text form.
func renderEntries(entries []EtcEntry) string {
	var b strings.Builder
	for _, e := range entries {
		kind := e.Kind
		if kind == "" {
			kind = toplevel.EtcLink
		}
		fmt.Fprintf(&b, "=== %s (%s", e.Path, kind)
		if kind == toplevel.EtcCopy {
			fmt.Fprintf(&b, " %s %s:%s", e.Mode, e.User, e.Group)
		}
		b.WriteString(")")
		if e.Target != "" {
			b.WriteString(" -> " + e.Target)
		}
		if e.Source != "" {
			b.WriteString(" < " + e.Source)
		}
		b.WriteString("\n")
		if len(e.Data) > 0 {
			b.Write(e.Data)
			if !strings.HasSuffix(string(e.Data), "\n") {
				b.WriteString("\n\\ no newline at end of file\n")
			}
		}
	}
	return b.String()
}

func checkGenerateGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", "generate", name+".golden"), []byte(got))
}

func intp(i int) *int { return &i }

// goldenCases cover each option's values; every case has its golden file.
var goldenCases = []struct {
	name  string
	extra []string // fake packages besides systemd and openssh-server
	sys   modules.System
}{
	{name: "empty"},
	// What modules/default.hcl and the built-in modules give.
	{name: "default-system", extra: []string{"util-linux"}, sys: modules.System{
		Networking: modules.Networking{HostName: "kiln", DHCP: true},
		Users: map[string]modules.User{
			"root": {UID: intp(0), Group: "root", Home: "/root", Shell: "/bin/bash", System: true},
			"sshd": {Group: "nogroup", Home: "/run/sshd", Shell: "/usr/sbin/nologin", System: true},
		},
		Mounts:   map[string]modules.Mount{"/": {Device: "/dev/disk/by-label/kiln-root", FSType: "ext4", Options: []string{"defaults"}, AutoResize: true}},
		TimeZone: "UTC",
		Locale:   "C.UTF-8",
		Console:  modules.Console{SerialGetty: true},
		SSH:      modules.SSH{Enable: true, Port: 22},
	}},
	{name: "hostname-short", sys: modules.System{Networking: modules.Networking{HostName: "kiln"}}},
	{name: "hostname-fqdn", sys: modules.System{Networking: modules.Networking{HostName: "web.example.org"}}},
	{name: "mounts-no-fsck", sys: modules.System{
		Mounts: map[string]modules.Mount{
			"/":         {Device: "/dev/vda2", FSType: "ext4", Options: []string{"noatime"}},
			"/srv/data": {Device: "LABEL=data", FSType: "ext4"},
			"/mnt/my share": {Device: "//server/my share", FSType: "cifs",
				Options: []string{"credentials=/etc/cifs", "nofail"}},
			"/tmp": {Device: "tmpfs", FSType: "tmpfs", Options: []string{"mode=1777", "size=50%"}},
		},
		Swaps: map[string]modules.Swap{
			"/dev/vdb":        {},
			"/var/swap files": {Options: []string{"pri=10", "nofail"}},
		},
	}},
	{name: "mounts-fsck", extra: []string{"util-linux", "e2fsprogs", "dosfstools"}, sys: modules.System{
		Mounts: map[string]modules.Mount{
			"/srv":   {Device: "UUID=0a1b", FSType: "ext4"},
			"/boot":  {Device: "PARTLABEL=esp", FSType: "vfat", Options: []string{"umask=0022"}},
			"/media": {Device: "/dev/sr0"},
		},
	}},
	// Growing: "/" gets the repart definition and x-systemd.growfs, /srv
	// only the option (once, even when it is written out too).
	{name: "mounts-auto-resize", sys: modules.System{
		Mounts: map[string]modules.Mount{
			"/":    {Device: "/dev/disk/by-label/kiln-root", FSType: "ext4", Options: []string{"noatime"}, AutoResize: true},
			"/srv": {Device: "LABEL=srv", FSType: "ext4", Options: []string{"x-systemd.growfs"}, AutoResize: true},
			"/var": {Device: "LABEL=var", FSType: "ext4"},
		},
	}},
	{name: "mounts-fsck-without-checker", extra: []string{"util-linux"}, sys: modules.System{
		Mounts: map[string]modules.Mount{"/srv": {Device: "UUID=0a1b", FSType: "ext4"}},
	}},
	{name: "kernel", sys: modules.System{Kernel: modules.Kernel{
		Sysctl:  map[string]string{"vm.swappiness": "10", "net.ipv4.ip_forward": "1", "kernel/sysrq": "1", "-net.core.bogus": "0"},
		Modules: []string{"br_netfilter", "loop", "loop"},
	}}},
	{name: "locale-time", extra: []string{"tzdata"}, sys: modules.System{Locale: "en_US.UTF-8", TimeZone: "Europe/Paris"}},
	{name: "time-utc", sys: modules.System{TimeZone: "UTC"}},
	{name: "dhcp", sys: modules.System{Networking: modules.Networking{DHCP: true}}},
	{name: "dhcp-resolved", extra: []string{"systemd-resolved"}, sys: modules.System{Networking: modules.Networking{DHCP: true}}},
	{name: "resolved-no-dhcp", extra: []string{"systemd-resolved"}},
	{name: "resolved-local-dns-server", extra: []string{"systemd-resolved", "dnsmasq"}, sys: modules.System{Networking: modules.Networking{DHCP: true}}},
	{name: "resolved-stub-forced-on", extra: []string{"systemd-resolved", "dnsmasq"}, sys: modules.System{Networking: modules.Networking{DHCP: true, DNSStubListener: ptr(true)}}},
	{name: "resolved-stub-off", extra: []string{"systemd-resolved"}, sys: modules.System{Networking: modules.Networking{DHCP: true, DNSStubListener: ptr(false)}}},
	{name: "ssh", sys: modules.System{
		SSH: modules.SSH{Enable: true, Port: 2222, PasswordAuthentication: true},
		Users: map[string]modules.User{
			"alice": {AuthorizedKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF alice@laptop", "  ssh-rsa AAAAB3 alice@old  "}},
			"bob":   {UID: intp(1001)},
		},
	}},
	{name: "ssh-default-port", sys: modules.System{SSH: modules.SSH{Enable: true}}},
	{name: "authorized-keys-without-ssh", sys: modules.System{
		Users: map[string]modules.User{"carol": {AuthorizedKeys: []string{"ssh-ed25519 AAAA carol"}}},
	}},
	{name: "services", sys: modules.System{Services: map[string]modules.Service{
		"web": {Enable: true, Description: "Web server", ExecStart: "/usr/bin/python3 -m http.server 8080",
			Type: "simple", User: "www-data", After: []string{"network-online.target"},
			Wants: []string{"network-online.target"}, WantedBy: []string{"multi-user.target"},
			Restart: "on-failure", RestartIfChanged: true,
			Environment: map[string]string{"HOME": "/var/www", "GREETING": `say "hi" 100% \o/`, "MULTI": "a\nb"}},
		"migrate": {Enable: true, ExecStart: "/usr/bin/true", Type: "oneshot",
			WantedBy: []string{"multi-user.target", "web.target"}, RestartIfChanged: false},
		"reloader": {Enable: true, ExecStart: "/usr/sbin/nginx", Type: "forking", ExecReload: "/usr/sbin/nginx -s reload",
			RestartIfChanged: true, ReloadIfChanged: true, WantedBy: []string{"multi-user.target"}},
		"manual": {Enable: false, ExecStart: "/usr/bin/sleep infinity", RestartIfChanged: true,
			WantedBy: []string{"multi-user.target"}},
		"static": {Enable: true, ExecStart: "/usr/bin/true", RestartIfChanged: true},
	}, Units: map[string]modules.Unit{"web.target": {Text: ptr("[Unit]\nDescription=Web services\n")}}}},
	{name: "units", sys: modules.System{Units: map[string]modules.Unit{
		"backup.timer":   {Text: ptr("[Unit]\nDescription=Nightly backup\n\n[Timer]\nOnCalendar=daily\n\n[Install]\nWantedBy=timers.target\n")},
		"backup.service": {Text: ptr("[Service]\nType=oneshot\nExecStart=/usr/bin/true")},
		"worker@.service": {Text: ptr("[Service]\nExecStart=/usr/bin/worker %i\n\n[Install]\nWantedBy=multi-user.target\n" +
			"DefaultInstance=main\nAlias=job@.service\n")},
		"data.mount":         {Text: ptr("[Mount]\nWhat=/dev/vdc\nWhere=/data\n\n[Install]\nRequiredBy=local-fs.target\n")},
		"app.socket":         {Text: ptr("[Socket]\nListenStream=8080\n\n[Install]\nWantedBy=sockets.target\nAlso=app-helper.service\n")},
		"app-helper.service": {Text: ptr("[Service]\nExecStart=/usr/bin/true\n\n[Install]\nWantedBy=multi-user.target\n")},
		// Overrides Debian's unit: /etc wins, links point to /etc.
		"ssh.service": {Text: ptr("[Service]\nExecStart=/usr/sbin/sshd -D -p 2022\n\n[Install]\nWantedBy=multi-user.target\n")},
	}}},
	{name: "health-checks", sys: modules.System{
		Bootloader: modules.Bootloader{BootCounting: modules.BootCounting{Tries: 3}},
		HealthChecks: map[string]modules.HealthCheck{
			"web":   {Enable: true, Command: `curl -fsS "http://localhost/$PATH" | grep -q 100%`, Timeout: "1min"},
			"units": {Enable: true, Units: []string{"nginx.service", "redis.service"}},
			"off":   {Enable: false, Command: "false"},
		},
	}},
	{name: "boot-counting-no-checks", sys: modules.System{Bootloader: modules.Bootloader{BootCounting: modules.BootCounting{Tries: 2}}}},
	{name: "console-serial", sys: modules.System{Console: modules.Console{SerialGetty: true}}},
	{name: "console-serial-autologin", sys: modules.System{Console: modules.Console{SerialGetty: true, AutologinUser: "root"}}},
	{name: "console-autologin-vt-only", sys: modules.System{Console: modules.Console{AutologinUser: "alice"}}},
	{name: "etc-option", sys: modules.System{
		Networking: modules.Networking{HostName: "generated"},
		Etc: map[string]modules.EtcFile{
			"hostname":           {Text: "overridden\n"},
			"motd":               {Text: "Welcome to kiln."},
			"sudoers.d/wheel":    {Text: "%wheel ALL=(ALL) ALL\n", Mode: "0440"},
			"issue":              {Source: "/home/u/cfg/issue"},
			"secret/setuid-test": {Text: "x\n", Mode: "4755"},
			"empty":              {},
		},
	}},
}

func TestGenerateEtcGolden(t *testing.T) {
	for _, tc := range allGoldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			sys := tc.sys
			got, err := GenerateEtc(&sys, fakePackages(t, tc.extra...))
			if err != nil {
				t.Fatalf("GenerateEtc: %v", err)
			}
			checkGenerateGolden(t, tc.name, renderEntries(got))
		})
	}
}

// TestGenerateEtcGoldenFilesUsed keeps testdata/generate free of golden
// files no case writes any more.
func TestGenerateEtcGoldenFilesUsed(t *testing.T) {
	used := map[string]bool{}
	for _, tc := range allGoldenCases() {
		used[tc.name+".golden"] = true
	}
	files, err := filepath.Glob(filepath.Join("testdata", "generate", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !used[filepath.Base(f)] && !strings.HasPrefix(filepath.Base(f), "verify-") {
			t.Errorf("%s: no test case writes it", f)
		}
	}
}

func TestGenerateEtcOrder(t *testing.T) {
	sys := goldenCases[len(goldenCases)-1].sys // etc-option
	got, err := GenerateEtc(&sys, fakePackages(t))
	if err != nil {
		t.Fatal(err)
	}
	user := len(sys.Etc)
	gen, usr := got[:len(got)-user], got[len(got)-user:]
	for _, part := range [][]EtcEntry{gen, usr} {
		if !sort.SliceIsSorted(part, func(i, j int) bool { return part[i].Path < part[j].Path }) {
			t.Errorf("entries not sorted: %v", entryPaths(part))
		}
	}
	for _, e := range gen {
		if _, ok := sys.Etc[e.Path]; ok {
			t.Errorf("generated %s kept although the etc option overrides it", e.Path)
		}
	}
	for _, e := range usr {
		if _, ok := sys.Etc[e.Path]; !ok {
			t.Errorf("entry %s among the user's entries", e.Path)
		}
	}
}

func entryPaths(es []EtcEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Path)
	}
	return out
}

// TestGenerateEtcDeterministic generates every golden case twice (maps are
// iterated in random order) and compares.
func TestGenerateEtcDeterministic(t *testing.T) {
	pk := fakePackages(t, "util-linux", "e2fsprogs", "dosfstools", "systemd-resolved")
	for _, tc := range goldenCases {
		sys := tc.sys
		a, err := GenerateEtc(&sys, pk)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			b, err := GenerateEtc(&sys, pk)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(renderEntries(a), renderEntries(b)); diff != "" {
				t.Fatalf("%s: second run differs:\n%s", tc.name, diff)
			}
		}
	}
}

func TestGenerateEtcModes(t *testing.T) {
	sys := modules.System{Etc: map[string]modules.EtcFile{
		"a": {Text: "x", Mode: "0640"},
		"b": {Text: "x", Mode: "4755"},
		"c": {Text: "x", Mode: "1777"},
		"d": {Text: "x"},
	}}
	got, err := GenerateEtc(&sys, fakePackages(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		kind toplevel.EtcKind
		mode fs.FileMode
	}{
		"a": {toplevel.EtcCopy, 0o640},
		"b": {toplevel.EtcCopy, fs.ModeSetuid | 0o755},
		"c": {toplevel.EtcCopy, fs.ModeSticky | 0o777},
		"d": {toplevel.EtcLink, 0},
	}
	for _, e := range got {
		w, ok := want[e.Path]
		if !ok {
			continue
		}
		if e.Kind != w.kind || e.Mode != w.mode {
			t.Errorf("%s: got kind %s mode %v, want %s %v", e.Path, e.Kind, e.Mode, w.kind, w.mode)
		}
	}
}

func TestGenerateEtcErrors(t *testing.T) {
	svc := func(s modules.Service) modules.System {
		if s.ExecStart == "" {
			s.ExecStart = "/usr/bin/true"
		}
		return modules.System{Services: map[string]modules.Service{"x": s}}
	}
	tests := []struct {
		name  string
		sys   modules.System
		extra []string
		want  string
	}{
		{"bad host name", modules.System{Networking: modules.Networking{HostName: "a_b"}}, nil,
			`networking.host_name "a_b": not a valid host name`},
		{"mount without device", modules.System{Mounts: map[string]modules.Mount{"/srv": {FSType: "ext4"}}}, nil,
			`mounts "/srv": device: must be set`},
		{"relative mount point", modules.System{Mounts: map[string]modules.Mount{"srv": {Device: "/dev/vdb"}}}, nil,
			`mounts "srv": mount point must be an absolute, clean path`},
		{"mount option with comma", modules.System{Mounts: map[string]modules.Mount{"/srv": {Device: "/dev/vdb", Options: []string{"ro,noexec"}}}}, nil,
			`mounts "/srv": option "ro,noexec": must be non-empty, without commas or blanks`},
		{"bad sysctl", modules.System{Kernel: modules.Kernel{Sysctl: map[string]string{"vm swappiness": "1"}}}, nil,
			`kernel.sysctl "vm swappiness": not a sysctl name`},
		{"multi-line sysctl", modules.System{Kernel: modules.Kernel{Sysctl: map[string]string{"vm.swappiness": "1\nkernel.x = 2"}}}, nil,
			`kernel.sysctl["vm.swappiness"]: "1\nkernel.x = 2" contains a newline, which a sysctl.d file cannot carry`},
		{"trailing backslash drops User=", svc(modules.Service{ExecStart: `/bin/sh -c id \`, User: "nobody"}), nil,
			`services "x": exec_start: "/bin/sh -c id \\" ends in a backslash (it would continue the line), which a unit file cannot carry`},
		{"description continues", svc(modules.Service{ExecStart: "/bin/true", Description: `d \`}), nil,
			`services "x": description: "d \\" ends in a backslash`},
		{"exec_reload newline", svc(modules.Service{ExecStart: "/bin/true", ExecReload: "/bin/kill -HUP\rUser=root"}), nil,
			`services "x": exec_reload: "/bin/kill -HUP\rUser=root" contains a carriage return`},
		{"wanted_by nothing declares", svc(modules.Service{Enable: true, ExecStart: "/bin/true", WantedBy: []string{"nosuch.target"}}), nil,
			`services "x": wanted_by "nosuch.target": no generated unit and no package in the closure provides it`},
		{"etc name with newline", modules.System{Etc: map[string]modules.EtcFile{"x\ny": {Text: "a"}}}, nil,
			`etc "x\ny": path contains the control character '\n'`},
		{"device starting with #", modules.System{Mounts: map[string]modules.Mount{"/srv": {Device: "#/dev/vdb"}}}, nil,
			`mounts "/srv": "#/dev/vdb" starts with # (the line would be a comment), which fstab cannot carry`},
		{"bad module", modules.System{Kernel: modules.Kernel{Modules: []string{"../evil"}}}, nil,
			`kernel.modules "../evil": not a module name`},
		{"bad time zone", modules.System{TimeZone: "../../etc/shadow"}, nil, `time_zone "../../etc/shadow": not a zone name`},
		{"unknown zone", modules.System{TimeZone: "Europe/Pari"}, []string{"tzdata"}, `time_zone "Europe/Pari": not a zone of package tzdata`},
		{"zone directory", modules.System{TimeZone: "Europe"}, []string{"tzdata"}, `time_zone "Europe": not a zone of package tzdata`},
		{"bad locale", modules.System{Locale: "en US"}, nil, `locale "en US": not a locale name`},
		{"ssh port", modules.System{SSH: modules.SSH{Enable: true, Port: 70000}}, nil, `ssh.port 70000: want 1 to 65535`},
		{"key with newline", modules.System{Users: map[string]modules.User{"a": {AuthorizedKeys: []string{"ssh-rsa A\nssh-rsa B"}}}}, nil,
			`users "a": authorized_keys[0]: want one non-empty line`},
		{"no exec_start", modules.System{Services: map[string]modules.Service{"x": {Enable: true}}}, nil,
			`services "x": exec_start must be set`},
		{"bad type", svc(modules.Service{Type: "daemon"}), nil, `services "x": type "daemon": want one of`},
		{"bad restart", svc(modules.Service{Restart: "sometimes"}), nil, `services "x": restart "sometimes": want one of`},
		{"bad env name", svc(modules.Service{Environment: map[string]string{"A-B": "1"}}), nil, `services "x": environment "A-B": not a variable name`},
		{"bad after", svc(modules.Service{After: []string{"network"}}), nil, `services "x": after: "network" is not a unit name`},
		{"bad user", svc(modules.Service{User: "Bad User"}), nil, `services "x": user "Bad User": not a user name`},
		{"service suffix", modules.System{Services: map[string]modules.Service{"x.service": {ExecStart: "/bin/true"}}}, nil,
			`services "x.service": "x.service" is not a service name (write it without .service)`},
		{"multi-line exec", svc(modules.Service{ExecStart: "/bin/a\n/bin/b"}), nil, `services "x": exec_start: "/bin/a\n/bin/b" contains a newline, which a unit file cannot carry`},
		{"reload without exec_reload", svc(modules.Service{ReloadIfChanged: true}), nil, `services "x": reload_if_changed needs exec_reload`},
		{"service and unit", modules.System{
			Services: map[string]modules.Service{"x": {ExecStart: "/bin/true"}},
			Units:    map[string]modules.Unit{"x.service": {Text: ptr("[Service]\nExecStart=/bin/true\n")}},
		}, nil, `units "x.service": unit x.service is defined twice`},
		{"bad unit name", modules.System{Units: map[string]modules.Unit{"backup": {Text: ptr("[Unit]\n")}}}, nil,
			`units "backup": "backup" is not a unit name`},
		{"unit specifier in install", modules.System{Units: map[string]modules.Unit{"a.service": {Text: ptr("[Install]\nWantedBy=%i.target\n")}}}, nil,
			`enable unit a.service: [Install] WantedBy=%i.target uses specifiers`},
		{"unit wanted by garbage", modules.System{Units: map[string]modules.Unit{"a.service": {Text: ptr("[Install]\nWantedBy=multi-user\n")}}}, nil,
			`enable unit a.service: [Install] WantedBy=: "multi-user" is not a unit name`},
		{"unit also missing", modules.System{Units: map[string]modules.Unit{"a.service": {Text: ptr("[Install]\nAlso=nowhere.service\n")}}}, nil,
			`enable unit nowhere.service: no generated unit and no package in the closure provides it`},
		{"alias clash", modules.System{Units: map[string]modules.Unit{
			"a.service": {Text: ptr("[Install]\nAlias=sshd.service\n")},
		}, SSH: modules.SSH{Enable: true}}, nil, `generate /etc/systemd/system/sshd.service: two different definitions`},
		{"bad autologin", modules.System{Console: modules.Console{AutologinUser: "root --help"}}, nil,
			`console.autologin_user "root --help": not a user name`},
		{"etc absolute", modules.System{Etc: map[string]modules.EtcFile{"/etc/x": {Text: "x"}}}, nil,
			`etc "/etc/x": path must be relative to /etc`},
		{"etc escapes", modules.System{Etc: map[string]modules.EtcFile{"a/../../x": {Text: "x"}}}, nil,
			`etc "a/../../x": path must be relative to /etc`},
		{"etc static", modules.System{Etc: map[string]modules.EtcFile{"static/x": {Text: "x"}}}, nil,
			`etc "static/x": path is under /etc/static`},
		{"etc relative source", modules.System{Etc: map[string]modules.EtcFile{"x": {Source: "motd"}}}, nil,
			`etc "x": source "motd" is not an absolute path`},
		{"etc both", modules.System{Etc: map[string]modules.EtcFile{"x": {Text: "x", Source: "/y"}}}, nil,
			`etc "x": text and source are both set`},
		{"etc bad mode", modules.System{Etc: map[string]modules.EtcFile{"x": {Text: "x", Mode: "rw-r--r--"}}}, nil,
			`etc "x": mode "rw-r--r--" is not an octal file mode`},
		{"etc mode too big", modules.System{Etc: map[string]modules.EtcFile{"x": {Text: "x", Mode: "17777"}}}, nil,
			`etc "x": mode "17777" is not an octal file mode`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := GenerateEtc(&tc.sys, fakePackages(t, tc.extra...))
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestGenerateEtcMissingPackageUnit(t *testing.T) {
	// No openssh-server in the closure: enabling ssh must fail, naming it.
	pk := fakePackages(t)
	d := pk.(fakePkgDir)
	d.names = []string{"systemd"}
	sys := modules.System{SSH: modules.SSH{Enable: true}}
	_, err := GenerateEtc(&sys, d)
	want := "enable unit ssh.service: no generated unit and no package in the closure provides it"
	if err == nil || err.Error() != want {
		t.Fatalf("got error %v, want %q", err, want)
	}
}

func TestSplitInstance(t *testing.T) {
	tests := []struct{ in, template, instance string }{
		{"getty@tty1.service", "getty@.service", "tty1"},
		{"getty@.service", "getty@.service", ""},
		{"ssh.service", "ssh.service", ""},
		{"a@b.c.service", "a@.service", "b.c"},
	}
	for _, tc := range tests {
		tpl, inst := splitInstance(tc.in)
		if tpl != tc.template || inst != tc.instance {
			t.Errorf("splitInstance(%q) = %q, %q; want %q, %q", tc.in, tpl, inst, tc.template, tc.instance)
		}
	}
}

func TestQuoteEnv(t *testing.T) {
	tests := []struct{ in, want string }{
		{"A=b", `"A=b"`},
		{"A=b c", `"A=b c"`},
		{`A=say "hi"`, `"A=say \"hi\""`},
		{`A=100%`, `"A=100%%"`},
		{`A=c:\dir`, `"A=c:\\dir"`},
		{"A=x\ny\tz", `"A=x\ny\tz"`},
		{"A=$HOME", `"A=$HOME"`},
	}
	for _, tc := range tests {
		if got := quoteEnv(tc.in); got != tc.want {
			t.Errorf("quoteEnv(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func BenchmarkGenerateEtc(b *testing.B) {
	root := b.TempDir()
	var names []string
	for n, files := range fakeFiles {
		names = append(names, n)
		for rel, content := range files {
			p := filepath.Join(root, n, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			var err error
			if target, ok := strings.CutPrefix(content, "->"); ok {
				err = os.Symlink(target, p)
			} else {
				err = os.WriteFile(p, []byte(content), 0o644)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	sort.Strings(names)
	pk := fakePkgDir{root: root, names: names}
	sys := verifyConfig()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := GenerateEtc(&sys, pk); err != nil {
			b.Fatal(err)
		}
	}
}

func ptr[T any](v T) *T { return &v }
