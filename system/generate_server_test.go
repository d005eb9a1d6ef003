package system

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/modules"
)

// serverGoldenCases cover what a server needs beyond DHCP: networkd files,
// the nftables ruleset, journald, timers and sudo rules. They are golden
// cases like goldenCases (allGoldenCases joins them).
var serverGoldenCases = []struct {
	name  string
	extra []string
	sys   modules.System
}{
	{name: "networkd-static", sys: modules.System{Networking: modules.Networking{
		DHCP: true,
		Interfaces: map[string]modules.Interface{
			"eth0": {
				Addresses: []string{"192.168.1.10/24", "2001:db8::10/64"},
				Gateways:  []string{"192.168.1.1", "2001:db8::1"},
				Routes: []modules.Route{
					{Destination: "10.0.0.0/8", Gateway: "192.168.1.254"},
					{Destination: "172.16.0.0/12"},
					{Destination: "2001:db8:1::/48", Gateway: "2001:db8::fe"},
				},
				DNS:     []string{"192.168.1.1", "2001:db8::53"},
				Domains: []string{"example.internal", "~corp.example"},
			},
			"uplink": {MACAddress: "52:54:00:AB:cd:01", DHCP: true},
		},
	}}},
	{name: "networkd-vlan-bridge", sys: modules.System{Networking: modules.Networking{
		Interfaces: map[string]modules.Interface{
			"eth0":    {Addresses: []string{"10.0.0.2/24"}},
			"br0":     {Addresses: []string{"192.168.10.1/24"}},
			"eth0.10": {Addresses: []string{"10.10.0.2/24"}},
		},
		VLANs:   map[string]modules.VLAN{"eth0.10": {ID: 10, Interface: "eth0"}, "mgmt": {ID: 99, Interface: "eth0"}},
		Bridges: map[string]modules.Bridge{"br0": {Interfaces: []string{"eth1", "eth2"}}},
	}}},
	{name: "firewall", sys: modules.System{
		Networking: modules.Networking{Firewall: modules.Firewall{
			Enable: true, AllowPing: true,
			AllowedTCPPorts: []int{443, 80, 80},
			AllowedUDPPorts: []int{53},
			Interfaces: map[string]modules.FirewallInterface{
				"eth1": {AllowedTCPPorts: []int{9100}, AllowedUDPPorts: []int{161}},
				"wg0":  {AllowedUDPPorts: []int{51820}},
			},
		}},
		SSH: modules.SSH{Enable: true, Port: 2222},
	}},
	// Without ssh and ping only replies, loopback and ICMPv6 get in.
	{name: "firewall-closed", sys: modules.System{
		Networking: modules.Networking{Firewall: modules.Firewall{Enable: true}},
	}},
	{name: "journald", sys: modules.System{Journald: modules.Journald{Settings: map[string]string{
		"Storage": "persistent", "SystemMaxUse": "500M", "ForwardToSyslog": "no",
	}}}},
	{name: "timers", sys: modules.System{
		Timers: map[string]modules.Timer{
			"backup":  {OnCalendar: "*-*-* 03:00:00", Service: "backup", Persistent: true, RandomizedDelaySec: "15min"},
			"cleanup": {OnCalendar: "weekly", Service: "tidy.service"},
		},
		Services: map[string]modules.Service{
			"backup": {Enable: true, Type: "oneshot", ExecStart: "/usr/bin/true"},
			"tidy":   {Enable: true, Type: "oneshot", ExecStart: "/usr/bin/true"},
		},
	}},
	{name: "sudo", sys: modules.System{Sudo: modules.Sudo{Rules: map[string]modules.SudoRule{
		"admins": {Groups: []string{"sudo", "wheel"}, Commands: []string{"ALL"}, RunAs: "ALL"},
		"deploy": {Users: []string{"deploy"}, RunAs: "root", NoPassword: true,
			Commands: []string{"/usr/bin/systemctl restart app.service", "/usr/bin/journalctl -u app.service"}},
	}}}},
}

func allGoldenCases() []struct {
	name  string
	extra []string
	sys   modules.System
} {
	return append(goldenCases[:len(goldenCases):len(goldenCases)], serverGoldenCases...)
}

func TestGenerateServerErrors(t *testing.T) {
	iface := func(i modules.Interface) modules.System {
		return modules.System{Networking: modules.Networking{Interfaces: map[string]modules.Interface{"eth0": i}}}
	}
	fw := func(f modules.Firewall) modules.System {
		f.Enable = true
		return modules.System{Networking: modules.Networking{Firewall: f}}
	}
	timer := func(tm modules.Timer) modules.System {
		if tm.Service == "" {
			tm.Service = "t"
		}
		return modules.System{Timers: map[string]modules.Timer{"t": tm}}
	}
	rule := func(r modules.SudoRule) modules.System {
		if r.RunAs == "" {
			r.RunAs = "ALL"
		}
		return modules.System{Sudo: modules.Sudo{Rules: map[string]modules.SudoRule{"r": r}}}
	}
	tests := []struct {
		name string
		sys  modules.System
		want string
	}{
		{"address without prefix", iface(modules.Interface{Addresses: []string{"192.168.1.10"}}),
			`networking.interfaces "eth0": addresses[0] "192.168.1.10": want an address with its prefix length`},
		{"address with newline", iface(modules.Interface{Addresses: []string{"10.0.0.1/8\nDNS=1.1.1.1"}}),
			`networking.interfaces "eth0": addresses[0] "10.0.0.1/8\nDNS=1.1.1.1"`},
		{"bad gateway", iface(modules.Interface{Gateways: []string{"gw"}}), `networking.interfaces "eth0": gateways[0] "gw": not an IP address`},
		{"bad dns", iface(modules.Interface{DNS: []string{"1.1.1.1 8.8.8.8"}}), `dns[0] "1.1.1.1 8.8.8.8": not an IP address`},
		{"bad domain", iface(modules.Interface{Domains: []string{"a b"}}), `domains[0] "a b": not a domain name`},
		{"route family", iface(modules.Interface{Routes: []modules.Route{{Destination: "10.0.0.0/8", Gateway: "2001:db8::1"}}}),
			`routes[0]: gateway 2001:db8::1 is not of destination 10.0.0.0/8's family`},
		{"route destination", iface(modules.Interface{Routes: []modules.Route{{Destination: "default"}}}),
			`routes[0]: destination "default": want a prefix`},
		{"bad mac", iface(modules.Interface{MACAddress: "52:54:00"}), `mac_address "52:54:00": want six hex bytes`},
		{"long name", modules.System{Networking: modules.Networking{Interfaces: map[string]modules.Interface{"a-very-long-interface": {}}}},
			`networking.interfaces "a-very-long-interface": not an interface name`},
		{"name with slash", modules.System{Networking: modules.Networking{Interfaces: map[string]modules.Interface{"../x": {}}}},
			`networking.interfaces "../x": not an interface name`},
		{"vlan id", modules.System{Networking: modules.Networking{VLANs: map[string]modules.VLAN{"v": {ID: 4095, Interface: "eth0"}}}},
			`networking.vlans "v": id 4095: want 1 to 4094`},
		{"vlan parent", modules.System{Networking: modules.Networking{VLANs: map[string]modules.VLAN{"v": {ID: 5}}}},
			`networking.vlans "v": interface "": not an interface name`},
		{"two bridges", modules.System{Networking: modules.Networking{Bridges: map[string]modules.Bridge{
			"br0": {Interfaces: []string{"eth0"}}, "br1": {Interfaces: []string{"eth0"}}}}},
			`networking.bridges "br1": interfaces[0] "eth0": already in bridge "br0"`},
		{"port range", fw(modules.Firewall{AllowedTCPPorts: []int{0}}), `networking.firewall.allowed_tcp_ports[0] 0: want 1 to 65535`},
		{"udp port range", fw(modules.Firewall{AllowedUDPPorts: []int{53, 70000}}), `networking.firewall.allowed_udp_ports[1] 70000: want 1 to 65535`},
		{"interface port", fw(modules.Firewall{Interfaces: map[string]modules.FirewallInterface{"eth0": {AllowedTCPPorts: []int{-1}}}}),
			`networking.firewall.interfaces "eth0": allowed_tcp_ports[0] -1: want 1 to 65535`},
		{"firewall interface name", fw(modules.Firewall{Interfaces: map[string]modules.FirewallInterface{`eth0" accept`: {}}}),
			`networking.firewall.interfaces "eth0\" accept": not an interface name`},
		{"journald key", modules.System{Journald: modules.Journald{Settings: map[string]string{"Storag": "auto"}}},
			`journald.settings "Storag": not a journald.conf [Journal] setting`},
		{"journald value", modules.System{Journald: modules.Journald{Settings: map[string]string{"Storage": "auto\nAudit=yes"}}},
			`journald.settings "Storage" = "auto\nAudit=yes": want one line`},
		{"timer without calendar", timer(modules.Timer{}), `timers "t": on_calendar must be set`},
		{"timer calendar newline", timer(modules.Timer{OnCalendar: "daily\nUnit=x"}), `timers "t": on_calendar "daily\nUnit=x": not a calendar event`},
		{"timer service", timer(modules.Timer{OnCalendar: "daily", Service: "a b"}), `timers "t": service "a b": not a unit name`},
		{"timer delay", timer(modules.Timer{OnCalendar: "daily", RandomizedDelaySec: "soon"}), `timers "t": randomized_delay_sec "soon": not a time span`},
		{"sudo nobody", rule(modules.SudoRule{Commands: []string{"ALL"}}), `sudo.rules "r": set users or groups`},
		{"sudo user", rule(modules.SudoRule{Users: []string{"ALL ALL=(ALL) ALL"}, Commands: []string{"ALL"}}), `sudo.rules "r": users[0] "ALL ALL=(ALL) ALL": not a user name`},
		{"sudo command", rule(modules.SudoRule{Users: []string{"a"}, Commands: []string{"/bin/sh -c a, /bin/b"}}),
			`sudo.rules "r": commands[0] "/bin/sh -c a, /bin/b": want ALL or a full path`},
		{"sudo relative command", rule(modules.SudoRule{Users: []string{"a"}, Commands: []string{"systemctl"}}),
			`sudo.rules "r": commands[0] "systemctl": want ALL or a full path`},
		{"sudo no command", rule(modules.SudoRule{Users: []string{"a"}}), `sudo.rules "r": commands: want at least one`},
		{"sudo run_as", rule(modules.SudoRule{Users: []string{"a"}, Commands: []string{"ALL"}, RunAs: "root)"}), `sudo.rules "r": run_as "root)": want ALL or a user name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := GenerateEtc(&tc.sys, fakePackages(t))
			if err == nil {
				t.Fatalf("GenerateEtc accepted it, want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// serverFile returns the data of the entry at path in a golden case's
// output.
func serverFile(t *testing.T, name, path string) []byte {
	t.Helper()
	for _, tc := range serverGoldenCases {
		if tc.name != name {
			continue
		}
		sys := tc.sys
		entries, err := GenerateEtc(&sys, fakePackages(t, tc.extra...))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Path == path {
				return e.Data
			}
		}
		t.Fatalf("case %s: no /etc/%s", name, path)
	}
	t.Fatalf("no case %s", name)
	return nil
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o440); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRulesetNftCheck has nft judge the generated rulesets: `nft -c -f`
// parses and checks them in the kernel without committing, then, in a
// network namespace of its own, nft really loads one twice (the second
// load replaces the table, as a switch does) and lists one table.
func TestRulesetNftCheck(t *testing.T) {
	testenv.NeedTools(t, "nft", "unshare")
	testenv.NeedUserNamespaces(t)
	for _, name := range []string{"firewall", "firewall-closed"} {
		t.Run(name, func(t *testing.T) {
			f := writeTemp(t, "firewall.nft", serverFile(t, name, firewallRuleset))
			out, err := exec.Command("unshare", "-rn", "nft", "-c", "-f", f).CombinedOutput()
			if err != nil {
				t.Fatalf("nft -c -f: %v\n%s", err, out)
			}
			out, err = exec.Command("unshare", "-rn", "sh", "-c", `nft -f "$1" && nft -f "$1" && nft list tables`, "sh", f).CombinedOutput()
			if err != nil {
				t.Fatalf("nft -f twice: %v\n%s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != "table inet kiln" {
				t.Errorf("tables after two loads: got %q, want one table inet kiln", got)
			}
		})
	}
	// The check can fail.
	f := writeTemp(t, "bad.nft", []byte("table inet kiln {\n\tchain input {\n\t\ttcp dport { 70000 } accept\n\t}\n}\n"))
	if out, err := exec.Command("unshare", "-rn", "nft", "-c", "-f", f).CombinedOutput(); err == nil {
		t.Errorf("nft -c accepted port 70000:\n%s", out)
	}
}

// TestSudoersVisudo has visudo check the generated sudoers file, and
// proves it refuses a broken one.
func TestSudoersVisudo(t *testing.T) {
	testenv.NeedTools(t, "visudo")
	f := writeTemp(t, "kiln", serverFile(t, "sudo", sudoersFile))
	if out, err := exec.Command("visudo", "-c", "-q", "-f", f).CombinedOutput(); err != nil {
		t.Fatalf("visudo -c -f: %v\n%s", err, out)
	}
	bad := writeTemp(t, "bad", []byte("deploy ALL=(root) NOPASSWD: /bin/a, b\n"))
	if out, err := exec.Command("visudo", "-c", "-q", "-f", bad).CombinedOutput(); err == nil {
		t.Errorf("visudo accepted a relative command:\n%s", out)
	}
}

// TestServerUnitsVerify has systemd-analyze verify the timers and the
// firewall unit over Debian's real systemd and nftables, and
// systemd-analyze calendar parse each timer's calendar.
func TestServerUnitsVerify(t *testing.T) {
	needTool(t, "systemd-analyze")
	pk := realPackages(t, append(realPackageNames, "nftables")...)
	var sys modules.System
	for _, tc := range serverGoldenCases {
		switch tc.name {
		case "timers":
			sys.Timers, sys.Services = tc.sys.Timers, tc.sys.Services
		case "firewall":
			sys.Networking.Firewall = tc.sys.Networking.Firewall
		}
	}
	entries, err := GenerateEtc(&sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	root := buildRoot(t, pk, entries, asActivated)
	if err := analyzeVerify(root, "backup.timer", "cleanup.timer", firewallUnit); err != nil {
		t.Error(err)
	}
	for _, name := range sortedNames(sys.Timers) {
		cal := sys.Timers[name].OnCalendar
		if out, err := exec.Command("systemd-analyze", "calendar", cal).CombinedOutput(); err != nil {
			t.Errorf("timers %q: systemd-analyze calendar %q: %v\n%s", name, cal, err, out)
		}
	}
}

// TestNetworkdApplies runs the host's systemd-networkd (the same
// systemd 252 as the images) on the generated files, in network and
// mount namespaces of its own, over veth links named as in the
// configuration: networkd must parse every file without a complaint,
// give eth0 its addresses and routes, and make the bridge with eth1 in
// it. (VLAN links need the 8021q module, which the host kernel may lack:
// the VLAN's files are parsed, not applied.)
func TestNetworkdApplies(t *testing.T) {
	testenv.NeedRoot(t, "running systemd-networkd in namespaces")
	testenv.NeedTools(t, "unshare", "ip", "/lib/systemd/systemd-networkd")
	sys := modules.System{Networking: modules.Networking{
		Interfaces: map[string]modules.Interface{
			"eth0": {
				Addresses: []string{"192.168.1.10/24", "2001:db8::10/64"},
				Gateways:  []string{"192.168.1.1"},
				Routes:    []modules.Route{{Destination: "10.0.0.0/8", Gateway: "192.168.1.254"}},
				DNS:       []string{"192.168.1.1"}, Domains: []string{"example.internal"},
			},
			"br0": {Addresses: []string{"192.168.10.1/24"}},
		},
		// On a link that does not exist: parsed, never applied.
		VLANs:   map[string]modules.VLAN{"eth9.10": {ID: 10, Interface: "eth9"}},
		Bridges: map[string]modules.Bridge{"br0": {Interfaces: []string{"eth1"}}},
	}}
	entries, err := GenerateEtc(&sys, fakePackages(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, e := range entries {
		if name, ok := strings.CutPrefix(e.Path, networkdDir+"/"); ok {
			if err := os.WriteFile(filepath.Join(dir, name), e.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	script := `set -e
ip link add eth0 type veth peer name peer0
ip link add eth1 type veth peer name peer1
ip link set peer0 up; ip link set peer1 up
mount -t tmpfs tmpfs /run
# A read-only /sys of this namespace tells networkd there is no udev to
# wait for.
mount -t sysfs -o ro sysfs /sys
mkdir -p /run/systemd/netif && chown systemd-network: /run/systemd/netif || true
mount --bind "$1" /etc/systemd/network
SYSTEMD_LOG_LEVEL=info timeout 8 /lib/systemd/systemd-networkd >"$1/log" 2>&1 &
for i in $(seq 40); do
	ip -4 route show 10.0.0.0/8 | grep -q . && ip -br link show master br0 | grep -q eth1 && break
	sleep 0.2
done
echo "== addr"; ip -br addr
echo "== route"; ip -4 route; ip -6 route
echo "== bridge"; ip -br link show master br0
kill %1 2>/dev/null || true; wait || true
echo "== log"; cat "$1/log"`
	out, err := exec.Command("unshare", "-mn", "--propagation", "private", "sh", "-c", script, "sh", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("networkd in a namespace: %v\n%s", err, out)
	}
	got := string(out)
	_, log, _ := strings.Cut(got, "== log")
	for _, line := range strings.Split(log, "\n") {
		// networkd reports a bad line as FILE:LINE: ...
		if strings.Contains(line, ".network:") || strings.Contains(line, ".netdev:") {
			t.Errorf("networkd complained about a generated file: %s", line)
		}
	}
	for _, want := range []string{"192.168.1.10/24", "2001:db8::10/64", "192.168.10.1/24",
		"default via 192.168.1.1 dev eth0", "10.0.0.0/8 via 192.168.1.254 dev eth0", "eth1@peer1"} {
		if !strings.Contains(got, want) {
			t.Errorf("networkd did not apply %q:\n%s", want, got)
		}
	}
}
