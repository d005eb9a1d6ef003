package tests

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/testvm"
)

// serverHost is the server scenario, installed with kiln install onto a
// blank disk file: a static address on the user-mode
// network (matched by the NIC's MAC, QEMU's default for the first card),
// no DHCP, the firewall on with port 8080 open and 8081 closed until
// generation 2 opens it; two socket-activated greeters behind them, a
// timer, journald settings and a sudo rule.
func serverHost(key string, gen int) string {
	open := "8080"
	if gen == 2 {
		open = "8080, 8081"
	}
	return fmt.Sprintf(`
networking {
  host_name = "kilnserver"
  dhcp      = false

  interfaces "lan" {
    mac_address = "52:54:00:12:34:56"
    addresses   = ["10.0.2.15/24"]
    gateways    = ["10.0.2.2"]
    dns         = ["10.0.2.3"]
    domains     = ["kiln.test"]
  }

  firewall {
    enable            = true
    allowed_tcp_ports = [%s]
  }
}

testing {
  backdoor = true
}

# ping gets cap_net_raw from its postinst's setcap (libcap2-bin has it).
packages = [pkgs.iputils-ping, pkgs["libcap2-bin"]]

ssh {
  enable = true
}

bootloader {
  timeout = 1
}

users "root" {
  authorized_keys = [%q]
}

users "alice" {}

sudo {
  rules "alice" {
    users       = ["alice"]
    commands    = ["/usr/bin/id"]
    run_as      = "root"
    no_password = true
  }
}

journald {
  settings = { Storage = "volatile", RuntimeMaxUse = "16M" }
}

timers "tick" {
  on_calendar = "minutely"
}

services "tick" {
  type       = "oneshot"
  exec_start = "/bin/sh -c 'date > /run/tick'"
  wanted_by  = []
}

units "greet.socket" {
  text = "[Socket]\nListenStream=8080\nAccept=yes\n\n[Install]\nWantedBy=sockets.target\n"
}

units "greet@.service" {
  text = "[Service]\nExecStart=/bin/sh -c 'echo open; read x; echo got $x'\nStandardInput=socket\n"
}

units "other.socket" {
  text = "[Socket]\nListenStream=8081\nAccept=yes\n\n[Install]\nWantedBy=sockets.target\n"
}

units "other@.service" {
  text = "[Service]\nExecStart=/bin/echo other\nStandardInput=socket\n"
}
`, open, key)
}

// greet connects to a forwarded port and returns the first line the guest
// sends, or "" when none comes within the wait (a dropped SYN: user-mode
// networking accepts on the host side and never gets an answer).
func greet(t *testing.T, port int, wait time.Duration) (string, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), wait)
	if err != nil {
		return "", nil
	}
	c.SetReadDeadline(time.Now().Add(wait))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return "", nil
	}
	return strings.TrimSpace(line), c
}

func TestServerFirewall(t *testing.T) {
	testenv.NeedVM(t)
	key, keyFile := sshKey(t)
	bin := kilnBinary(t)
	dir := hostDir(t, serverHost(key, 1))
	// The repository's lock plus nftables and sudo (and their libraries).
	lock, err := os.ReadFile(filepath.Join(repoRoot(t), "tests", "testdata", "server.lock"))
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "gen2")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for d, hcl := range map[string]string{dir: serverHost(key, 1), sub: serverHost(key, 2)} {
		if err := os.WriteFile(filepath.Join(d, "kiln.lock"), lock, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "host.hcl"), []byte(hcl), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	storeDir := filepath.Join(t.TempDir(), "store")
	// Installed onto a blank file, as onto a new disk; a second install
	// onto it, now partitioned, is refused.
	disk := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 3<<30); err != nil {
		t.Fatal(err)
	}
	kiln(t, bin, dir, "--store", storeDir, "install", "--disk", disk, "-c", "host.hcl")
	again := kilnRun(t, bin, dir, nil, "--store", storeDir, "install", "--disk", disk, "-c", "host.hcl")
	if again.code == 0 || !strings.Contains(again.stderr, "holds a GPT partition table") || !strings.Contains(again.stderr, "--wipe") {
		t.Errorf("a second install without --wipe: exit %d\n%s", again.code, again.stderr)
	}

	m := testvm.Start(t, testvm.WithWritableDisk(disk), testvm.WithFreeHostPort(22),
		testvm.WithFreeHostPort(8080), testvm.WithFreeHostPort(8081),
		// ssh-keygen -A under TCG on a loaded machine takes minutes.
		testvm.WithTimeout(12*time.Minute))
	g := guest{t, m}
	m.WaitForUnit("multi-user.target")
	m.WaitForUnit("kiln-firewall.service")
	g.expect("booted", [][3]string{
		{"static address", "ip -4 -o addr show scope global | awk '{print $4}'", "10.0.2.15/24"},
		{"default route", "ip -4 route show default | cut -d' ' -f1-3", "default via 10.0.2.2"},
		{"no DHCP file", "ls /etc/systemd/network", "10-kiln-lan.network"},
		{"dns through resolved", "resolvectl dns | grep -o '10.0.2.3' | head -1", "10.0.2.3"},
		{"search domain", "resolvectl domain | grep -o 'kiln.test' | head -1", "kiln.test"},
		{"one kiln table", "nft list tables", "table inet kiln"},
		{"timer", "systemctl is-active tick.timer", "active"},
		{"journald volatile", "ls /run/log/journal/*/system.journal >/dev/null && ! ls /var/log/journal/*/system.journal 2>/dev/null && echo volatile", "volatile"},
		{"sudo rule", "runuser -u alice -- /run/wrappers/bin/sudo -n /usr/bin/id -u", "0"},
		{"sudo refuses others", "runuser -u alice -- /run/wrappers/bin/sudo -n /usr/bin/true 2>/dev/null || echo refused", "refused"},
		// Run by its full path, a setuid program is its wrapper too.
		{"sudo by its path", "runuser -u alice -- /usr/bin/sudo -n /usr/bin/id -u", "0"},
		// chage ships setgid shadow (passwd's own mode): alice reads her
		// password ageing from /etc/shadow (0640 root:shadow).
		{"a shipped setgid program", "runuser -u alice -- chage -l alice | grep -c '^Last password change'", "1"},
		// getcap skips symlinks: ask the wrapper itself.
		{"a capability wrapper", "echo $(readlink /usr/bin/ping) $(getcap $(readlink -f /usr/bin/ping) | cut -d' ' -f2)", "/run/wrappers/bin/ping cap_net_raw=ep"},
		// With ICMP sockets refused to every group, alice's ping needs
		// the wrapper's cap_net_raw.
		{"ping by the capability", "sysctl -qw net.ipv4.ping_group_range='1 0' && runuser -u alice -- ping -c1 -W5 127.0.0.1 >/dev/null && echo pinged; sysctl -qw net.ipv4.ping_group_range='0 2147483647'", "pinged"},
	})
	g.noFailedUnits("booted")

	p8080, p8081 := m.ForwardedPort(8080), m.ForwardedPort(8081)
	got, held := greet(t, p8080, 20*time.Second)
	if got != "open" {
		t.Fatalf("port 8080 (allowed) answered %q, want open", got)
	}
	defer held.Close()
	if got, c := greet(t, p8081, 5*time.Second); got != "" {
		c.Close()
		t.Fatalf("port 8081 (closed) answered %q through the firewall", got)
	}
	// The guest itself reaches 8081 over loopback: the socket is there,
	// only the firewall keeps it shut.
	g.expect("loopback", [][3]string{{"8081 from inside", "exec 3<>/dev/tcp/127.0.0.1/8081; head -1 <&3", "other"}})

	// Switch to generation 2 over SSH (the firewall lets ssh's port in):
	// the ruleset changes, the unit reloads, 8081 opens, and the
	// connection held open on 8080 lives on.
	env := []string{"HOME=" + t.TempDir(), "SSH_AUTH_SOCK="}
	target := fmt.Sprintf("root@127.0.0.1:%d", m.ForwardedPort(22))
	remote := func(args ...string) kilnResult {
		return kilnRun(t, bin, dir, env, append([]string{"--store", storeDir, "switch", "--target-host", target,
			"-i", keyFile, "--accept-new-host-key", "-c", "gen2/host.hcl"}, args...)...)
	}
	dry := remote("--dry-run")
	if dry.code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	if !strings.Contains(dry.stdout, "reload   kiln-firewall.service") {
		t.Errorf("the plan does not reload kiln-firewall.service:\n%s", dry.stdout)
	}
	sw := remote()
	if sw.code != 0 {
		t.Fatalf("switch: exit %d\n%s%s", sw.code, sw.stdout, sw.stderr)
	}
	t.Logf("switch over SSH to the opened port: %s\n%s%s", sw.took.Round(time.Millisecond), sw.stdout, sw.stderr)
	if got, c := greet(t, p8081, 20*time.Second); got != "other" {
		t.Errorf("port 8081 after the switch answered %q, want other", got)
	} else {
		c.Close()
	}
	held.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintln(held, "still"); err != nil {
		t.Fatalf("the connection held across the switch: write: %v", err)
	}
	line, err := bufio.NewReader(held).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "got still" {
		t.Errorf("the connection held across the switch: got %q, %v; want got still", line, err)
	}
	g.expect("switched", [][3]string{
		{"one kiln table", "nft list tables", "table inet kiln"},
		{"8081 in the rules", "nft list chain inet kiln input | grep -c 8081", "1"},
		{"not restarted", "systemctl show -p ActiveState --value kiln-firewall.service", "active"},
	})
	g.noFailedUnits("switched")
}
