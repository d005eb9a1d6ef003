package modules

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// OptionDoc documents one declared option: what `kiln options` lists and
// docs/options.md is generated from.
type OptionDoc struct {
	Path        string `json:"path"`    // "networking.host_name", "users.<name>.uid"
	Type        string `json:"type"`    // HCL type expression: string, bool, number, list(string)...
	Default     string `json:"default"` // HCL source of the default ("" when none)
	Description string `json:"description"`
	Example     string `json:"example,omitempty"` // HCL source
	DeclaredIn  string `json:"declared_in"`       // "core" or "builtin/ssh.hcl:3"
}

// labelSegment stands for a block label in a declared path:
// users.<name>.uid is the uid of every users "NAME" {} block.
const labelSegment = "<name>"

type optKind int

const (
	kindGroup      optKind = iota // a block without labels: networking { ... }
	kindCollection                // a block with one label: users "alice" { ... }
	kindLeaf                      // an attribute with a type
)

// optNode is one node of the declared option tree.
type optNode struct {
	name     string
	path     string // declared path, with <name> for labels
	kind     optKind
	children map[string]*optNode // groups
	elem     *optNode            // collections: the template of one element (a group)

	// leaves
	typ      cty.Type
	def      hcl.Expression // nil: no default (null)
	doc      OptionDoc
	rng      hcl.Range // where it was declared
	relative bool      // a path value resolved against the defining file's directory
}

func newGroup(name, path string) *optNode {
	return &optNode{name: name, path: path, kind: kindGroup, children: map[string]*optNode{}}
}

// childNames returns a group's children sorted.
func (n *optNode) childNames() []string {
	names := make([]string, 0, len(n.children))
	for k := range n.children {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// leaves appends every leaf under n.
func (n *optNode) leaves(out []*optNode) []*optNode {
	switch n.kind {
	case kindLeaf:
		return append(out, n)
	case kindCollection:
		return n.elem.leaves(out)
	}
	for _, k := range n.childNames() {
		out = n.children[k].leaves(out)
	}
	return out
}

// declare adds a leaf at a dotted path, creating the groups and collections
// on the way. It fails when the path collides with an existing declaration.
func (root *optNode) declare(leaf *optNode) error {
	segs := strings.Split(leaf.path, ".")
	for _, s := range segs {
		if s != labelSegment && !hclsyntax.ValidIdentifier(s) {
			return fmt.Errorf("option path %q: %q is not an identifier", leaf.path, s)
		}
	}
	if segs[0] == labelSegment {
		return fmt.Errorf("option path %q: cannot start with %s", leaf.path, labelSegment)
	}
	if reserved[segs[0]] {
		return fmt.Errorf("option path %q: %q is a reserved word", leaf.path, segs[0])
	}
	n := root
	for i, s := range segs {
		last := i == len(segs)-1
		if s == labelSegment {
			if n.kind != kindCollection {
				return fmt.Errorf("option path %q: misplaced %s", leaf.path, labelSegment)
			}
			n = n.elem
			if last {
				return fmt.Errorf("option path %q: cannot end with %s", leaf.path, labelSegment)
			}
			continue
		}
		if n.kind != kindGroup {
			return fmt.Errorf("option path %q: %q is already declared as an option", leaf.path, n.path)
		}
		prefix := strings.Join(segs[:i+1], ".")
		child := n.children[s]
		switch {
		case last && child != nil && child.kind == kindLeaf:
			return fmt.Errorf("option %q is already declared in %s", leaf.path, child.doc.DeclaredIn)
		case last && child != nil:
			return fmt.Errorf("%q is already a block of options", leaf.path)
		case last:
			leaf.name = s
			n.children[s] = leaf
			return nil
		case child == nil && segs[i+1] == labelSegment:
			child = &optNode{name: s, path: prefix, kind: kindCollection, elem: newGroup(labelSegment, prefix+"."+labelSegment)}
			n.children[s] = child
		case child == nil:
			child = newGroup(s, prefix)
			n.children[s] = child
		case segs[i+1] == labelSegment && child.kind != kindCollection,
			segs[i+1] != labelSegment && child.kind == kindCollection:
			return fmt.Errorf("option path %q: %q is declared with a different shape", leaf.path, prefix)
		}
		n = child
	}
	return nil
}

// reserved are the top-level words of a module file that are not options.
var reserved = map[string]bool{"imports": true, "config": true, "option": true, "assert": true}

// coreDecl is an option declared in Go. def and example are HCL source;
// a default may use `name`, the label of the enclosing block.
type coreDecl struct {
	path, typ, def, desc, example string
}

// coreOptions are the options the system builder consumes (System's fields).
var coreOptions = []coreDecl{
	{"networking.host_name", "string", `"kiln"`, "The host name, written to /etc/hostname.", `"web1"`},
	{"networking.dhcp", "bool", `true`, "Configure every ethernet link by DHCP with systemd-networkd.", `false`},
	{"networking.dns_stub_listener", "bool", `null`, "Whether systemd-resolved answers on 127.0.0.53:53, with /etc/resolv.conf pointing there; when off, /etc/resolv.conf lists the servers resolved learnt (DHCP's, the interfaces' dns), as on Debian without resolved. Null: on, unless a package in the closure is a local DNS server for the resolvconf package (it ships /etc/resolvconf/update.d/, as dnsmasq and unbound do): that server then has port 53, as on Debian.", `false`},
	{"networking.interfaces.<name>.mac_address", "string", `""`, "Match the link by this MAC address instead of by the label as its name.", `"52:54:00:12:34:56"`},
	{"networking.interfaces.<name>.dhcp", "bool", `false`, "Ask DHCP (IPv4 and IPv6) for addresses on this link.", `true`},
	{"networking.interfaces.<name>.addresses", "list(string)", `[]`, "Static addresses with their prefix length, IPv4 or IPv6 (systemd-networkd Address=).", `["192.168.1.10/24", "2001:db8::10/64"]`},
	{"networking.interfaces.<name>.gateways", "list(string)", `[]`, "Default gateways (Gateway=).", `["192.168.1.1"]`},
	{"networking.interfaces.<name>.routes", "list(object({destination = string, gateway = string}))", `[]`, "Static routes: destination a prefix, gateway an address or \"\" for an on-link route.", `[{ destination = "10.0.0.0/8", gateway = "192.168.1.254" }]`},
	{"networking.interfaces.<name>.dns", "list(string)", `[]`, "DNS servers for this link (used by systemd-resolved).", `["192.168.1.1", "2001:db8::1"]`},
	{"networking.interfaces.<name>.domains", "list(string)", `[]`, "Search domains for this link.", `["example.internal"]`},
	{"networking.vlans.<name>.id", "number", `0`, "The VLAN id (1 to 4094) of the VLAN link named by the label.", `10`},
	{"networking.vlans.<name>.interface", "string", `""`, "The link the VLAN is on (a name from networking.interfaces, or any link name).", `"eth0"`},
	{"networking.bridges.<name>.interfaces", "list(string)", `[]`, "The links enslaved to the bridge named by the label; configure the bridge's addresses under networking.interfaces.", `["eth0", "eth1"]`},
	{"networking.firewall.enable", "bool", `false`, "Filter inbound traffic with nftables: deny everything but replies, loopback, the allowed ports (and ssh's port when ssh.enable is set). A switch replaces the table in one transaction, keeping established connections.", `true`},
	{"networking.firewall.allow_ping", "bool", `true`, "Answer ICMP and ICMPv6 echo requests (ICMPv6 neighbour discovery is always allowed).", `false`},
	{"networking.firewall.allowed_tcp_ports", "list(number)", `[]`, "TCP ports open on every interface.", `[80, 443]`},
	{"networking.firewall.allowed_udp_ports", "list(number)", `[]`, "UDP ports open on every interface.", `[53]`},
	{"networking.firewall.interfaces.<name>.allowed_tcp_ports", "list(number)", `[]`, "TCP ports open on the interface named by the label only.", `[9100]`},
	{"networking.firewall.interfaces.<name>.allowed_udp_ports", "list(number)", `[]`, "UDP ports open on the interface named by the label only.", `[161]`},

	{"users.<name>.uid", "number", `null`, "The user id. Null: allocated, and kept stable across generations.", `1000`},
	{"users.<name>.group", "string", `"users"`, "The primary group. As on NixOS, normal users share the group \"users\" (gid 100) instead of Debian's per-user group.", `"wheel"`},
	{"users.<name>.groups", "list(string)", `[]`, "Supplementary groups.", `["sudo", "adm"]`},
	{"users.<name>.home", "string", `"/home/${name}"`, "The home directory.", `"/srv/alice"`},
	{"users.<name>.shell", "string", `"/bin/bash"`, "The login shell.", `"/usr/sbin/nologin"`},
	{"users.<name>.system", "bool", `false`, "A system user: allocated below 1000, no home directory created.", `true`},
	{"users.<name>.authorized_keys", "list(string)", `[]`, "SSH public keys allowed to log in as this user.", `["ssh-ed25519 AAAAC3Nza... alice@laptop"]`},
	{"users.<name>.hashed_password_file", "string", `""`, "A file holding the crypt(3) password hash, read at activation (root only). No password hash is ever written into the store: the path must be absolute, and a hash itself (file(\"alice.hash\")) is refused. Empty: the account is locked for password logins.", `"/var/lib/secrets/alice.hash"`},
	{"users.<name>.hashed_password_secret", "string", `""`, "The name of a secret (secrets.NAME) holding the crypt(3) password hash: hashed_password_file becomes /run/secrets/NAME, which activation decrypts before it writes the accounts.", `"alice-password"`},
	{"groups.<name>.gid", "number", `null`, "The group id. Null: allocated, and kept stable across generations.", `1001`},

	{"services.<name>.enable", "bool", `true`, "Whether NAME.service is installed and enabled.", `false`},
	{"services.<name>.description", "string", `""`, "The unit's Description=.", `"my web app"`},
	{"services.<name>.exec_start", "string", `""`, "The command line (ExecStart=).", `"${pkgs.nginx}/usr/sbin/nginx -g 'daemon off;'"`},
	{"services.<name>.exec_reload", "string", `""`, "The command that makes the service reload its configuration (ExecReload=). Needed by reload_if_changed.", `"/bin/kill -HUP $MAINPID"`},
	{"services.<name>.type", "string", `"simple"`, "The service Type=: simple, exec, forking, oneshot, notify or idle.", `"oneshot"`},
	{"services.<name>.user", "string", `""`, "The user the service runs as (User=): a uid, or a user the configuration or a package declares. Empty: root.", `"www-data"`},
	{"services.<name>.environment", "map(string)", `{}`, "Environment variables of the service.", `{ LANG = "C.UTF-8" }`},
	{"services.<name>.after", "list(string)", `[]`, "Units this one starts after (After=).", `["network-online.target"]`},
	{"services.<name>.wants", "list(string)", `[]`, "Units this one wants (Wants=).", `["network-online.target"]`},
	{"services.<name>.wanted_by", "list(string)", `["multi-user.target"]`, "Targets that pull this service in ([Install] WantedBy=), each a unit kiln generates or a package provides.", `["timers.target"]`},
	{"services.<name>.restart", "string", `""`, "The Restart= policy. Empty: systemd's default (no).", `"on-failure"`},
	{"services.<name>.restart_if_changed", "bool", `true`, "Restart the service when a switch changes its unit (else leave it running).", `false`},
	{"services.<name>.reload_if_changed", "bool", `false`, "Reload (exec_reload) instead of restarting the service when a switch changes its unit.", `true`},
	{"services.<name>.secrets", "list(string)", `[]`, "Secrets (secrets.NAME) the service reads from /run/secrets/NAME: a switch that changes one of them restarts the service.", `["db-password"]`},
	{"units.<name>.secrets", "list(string)", `[]`, "Secrets the unit reads: a switch that changes one of them restarts the unit.", `["api-token"]`},
	{"secrets.<name>.file", "string", `""`, "The age-encrypted file (relative to the module that defines it) decrypted on the machine into /run/secrets/NAME at activation, with the machine's SSH host key (/etc/ssh/ssh_host_ed25519_key). Only the ciphertext enters the store. Make and change it with kiln secrets edit, re-encrypt after adding a machine or admin with kiln secrets rekey.", `"./db-password.age"`},
	{"secrets.<name>.owner", "string", `"root"`, "The owner of /run/secrets/NAME.", `"postgres"`},
	{"secrets.<name>.group", "string", `"root"`, "The group of /run/secrets/NAME.", `"postgres"`},
	{"secrets.<name>.mode", "string", `"0400"`, "The octal mode of /run/secrets/NAME.", `"0440"`},

	{"impermanence.enable", "bool", `false`, "An ephemeral root: / is a fresh tmpfs on every boot. Stage 1 mounts the root partition at impermanence.path and binds its kiln/ (the store, the generations, kiln's state: users' ids) on /kiln; what else survives a reboot is declared: directories (bind-mounted from PATH/DIR before activation and before any service starts) and files (symlinks to PATH/FILE). /etc/machine-id and the SSH host keys are always kept. kiln state audit lists what was written elsewhere since boot. The root partition is no longer grown at boot (its file system still is).", `true`},
	{"impermanence.path", "string", `"/persist"`, "Where the root partition is mounted; persisted paths live at the same place under it, so a machine that enables impermanence keeps its files there.", `"/disk"`},
	{"impermanence.directories", "list(string)", `[]`, "Directories kept across reboots (absolute paths), bind-mounted from impermanence.path.", `["/var/lib/postgresql", "/home"]`},
	{"impermanence.files", "list(string)", `[]`, "Files kept across reboots (absolute paths): symlinks into impermanence.path. /etc/machine-id and /etc/ssh/ssh_host_*_key{,.pub} are always kept.", `["/etc/adjtime"]`},
	{"units.<name>.text", "string", `null`, "The whole text of a raw systemd unit; the label is its file name (NAME.TYPE). Null: the unit a package ships, which enable and drop_in configure.", `"[Timer]\nOnCalendar=daily\n"`},
	{"units.<name>.enable", "bool", `null`, "Whether the unit gets its [Install] links. Null: a unit with text is enabled; a package's unit is enabled when its postinst enables it on Debian (deb-systemd-helper enable, dh_installsystemd without --no-enable).", `false`},
	{"units.<name>.drop_in", "string", `""`, "A drop-in for the unit, written as /etc/systemd/system/NAME.d/kiln.conf.", `"[Service]\nLimitNOFILE=65536\n"`},
	{"alternatives.<name>.path", "string", `""`, "The candidate update-alternatives NAME links to. Empty: the highest priority among the locked packages' candidates (Debian's auto mode).", `"/usr/bin/vim.basic"`},
	{"wrappers.<name>.enable", "bool", `true`, "Make the setuid or setgid wrapper /run/wrappers/bin/NAME of a program the closure ships with that mode (or its scripts give it: dpkg-statoverride, chmod u+s); /usr's link to the program then points to the wrapper. False: the program runs with its caller's ids, as the store has it. A name no such program has is an error.", `false`},
	{"package_scripts.<name>.enable", "bool", `true`, "Take what package NAME's maintainer scripts declare (users, units, tmpfiles lines, alternatives...). False: take nothing from them.", `false`},
	{"package_scripts.<name>.ignore", "list(string)", `[]`, "Actions of package NAME's maintainer scripts that no recognizer handles and that the package works without, as SCRIPT:LINE (or SCRIPT:*), so they are no build error. An entry that matches no such action is itself an error.", `["postinst:127"]`},
	{"debconf", "map(string)", `{}`, "Answers to debconf questions, by question name; a question without one reads as its template's default (kiln audit lists the questions).", `{ "postfix/main_mailer_type" = "Local only" }`},

	{"mounts.<name>.device", "string", `""`, "The device to mount at the label's path.", `"/dev/disk/by-label/data"`},
	{"mounts.<name>.fs_type", "string", `"auto"`, "The file system type. The root (\"/\") cannot be a tmpfs, and /boot is the ESP (vfat).", `"ext4"`},
	{"mounts.<name>.options", "list(string)", `["defaults"]`, "Mount options.", `["noatime"]`},
	{"mounts.<name>.auto_resize", "bool", `false`, "Grow the file system to fill its partition at boot (systemd-growfs, x-systemd.growfs); a no-op once it does. On \"/\" the root partition first grows to the end of its disk (systemd-repart, /etc/repart.d/50-kiln-root.conf), so an image written to a larger disk uses all of it. That needs the layout of kiln images: the root is the disk's last partition and has the root-x86-64 GPT type (on a disk without such a partition, systemd-repart would add one in the free space: set false there). The base module sets it on \"/\".", `true`},
	{"swaps.<name>.options", "list(string)", `[]`, "Swap options for the device named by the label.", `["pri=10"]`},
	{"timers.<name>.on_calendar", "string", `""`, "When the timer fires (OnCalendar=, see systemd.time(7)).", `"*-*-* 03:00:00"`},
	{"timers.<name>.service", "string", `"${name}"`, "The unit the timer starts; without a suffix, NAME.service.", `"backup"`},
	{"timers.<name>.persistent", "bool", `false`, "Run a missed activation when the machine comes back up (Persistent=).", `true`},
	{"timers.<name>.randomized_delay_sec", "string", `""`, "A random delay added to each activation (RandomizedDelaySec=).", `"15min"`},
	{"journald.settings", "map(string)", `{}`, "systemd-journald [Journal] settings (journald.conf(5)), by key, in /etc/systemd/journald.conf.d/50-kiln.conf.", `{ Storage = "persistent", SystemMaxUse = "500M" }`},
	{"sudo.rules.<name>.users", "list(string)", `[]`, "Users the rule applies to.", `["alice"]`},
	{"sudo.rules.<name>.groups", "list(string)", `[]`, "Groups the rule applies to.", `["wheel"]`},
	{"sudo.rules.<name>.commands", "list(string)", `["ALL"]`, "Commands allowed (full paths, or ALL).", `["/usr/bin/systemctl restart nginx.service"]`},
	{"sudo.rules.<name>.run_as", "string", `"ALL"`, "Users the commands may run as.", `"root"`},
	{"sudo.rules.<name>.no_password", "bool", `false`, "Allow without asking for the user's password (NOPASSWD).", `true`},

	{"hardware.profile", "string", `"virtual"`, "What the system runs on. \"virtual\": a virtual machine with virtio disks (Debian's cloud kernel, the virtio modules in the initrd). \"generic\": any x86_64 machine, physical or virtual: Debian's generic kernel (linux-image-amd64), the initrd modules of NVMe, SATA (AHCI), USB storage, SCSI (virtio-scsi, common HBAs) and common NICs, and firmware-linux-free (firmware outside Debian's main component needs packages from non-free-firmware).", `"generic"`},
	{"kernel.package", "string", `"linux-image-cloud-amd64"`, "The Debian package of the kernel image. hardware.profile = \"generic\" makes it linux-image-amd64 (at mkDefault priority).", `"linux-image-amd64"`},
	{"kernel.params", "list(string)", `[]`, "Kernel command line parameters (the built-in kernel module adds the consoles).", `["quiet"]`},
	{"kernel.modules", "list(string)", `[]`, "Kernel modules loaded at boot (modules-load.d).", `["br_netfilter"]`},
	{"kernel.initrd_modules", "list(string)", `[]`, "Kernel modules in the initrd, loaded before the root is mounted; the builder adds their dependencies.", `["nvme"]`},
	{"kernel.sysctl", "map(string)", `{}`, "sysctl settings applied at boot.", `{ "net.ipv4.ip_forward" = "1" }`},

	{"bootloader.timeout", "number", `3`, "Seconds systemd-boot shows its menu, 0 or more (0: hidden unless a key is held).", `0`},
	{"bootloader.max_generations", "number", `10`, "How many generations keep a boot entry (and a kernel on the ESP).", `5`},
	{"bootloader.console_mode", "string", `"keep"`, "systemd-boot's console-mode: keep, auto, max, or a mode number.", `"max"`},
	{"bootloader.editor", "bool", `false`, "Allow editing the kernel command line from the boot menu.", `true`},
	{"bootloader.boot_counting.tries", "number", `3`, "Boot counting (systemd's Automatic Boot Assessment): a new generation's boot entry is written as NAME+TRIES.conf and systemd-boot counts its boots down; once every health check passed (boot-complete.target), systemd-bless-boot.service drops the counter; a failed check reboots; at +0 the entry is bad, sorts last, and the previous good generation boots. 0 turns it off.", `0`},

	{"packages", "list(string)", `[]`, "Debian packages on PATH (through the sw tree), written pkgs.NAME. The built-in base module adds the base system.", `[pkgs.vim, pkgs["iputils-ping"]]`},
	{"install_recommends", "bool", `false`, "kiln lock also takes the packages' Recommends, as apt install does unless given --no-install-recommends (a recommendation with no candidate, several providers or a conflict is left out). Off by default: a closure of what the packages depend on. The lock records it; kiln lock resolves again when it changes.", `true`},
	{"etc.<name>.text", "string", `""`, "The content of /etc/NAME.", `"nameserver 10.0.2.3\n"`},
	{"etc.<name>.source", "string", `""`, "A file whose content becomes /etc/NAME, relative to the module that defines it. Set text or source, not both.", `"./motd"`},
	{"etc.<name>.mode", "string", `""`, "Octal mode: the file is copied with this mode. Empty: a symlink into /etc/static. Other users must be able to read it: the content is in the store, so a mode that hides it (0600, 0640) is refused; secrets do not belong in etc.", `"0444"`},
	{"substituters", "list(string)", `[]`, "Binary caches asked, in order, for store paths before they are built or downloaded: file:///DIR, s3://BUCKET/PREFIX?endpoint=HOST:PORT&region=R (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the AWS credentials file or the instance's role), or a static web server https://HOST/PATH. A path is taken only when one of trusted_public_keys signed it, and only after its content matched the signed hash; kiln cache push fills a cache.", `["s3://kiln-cache/prod?region=eu-west-1", "https://cache.example.org"]`},
	{"trusted_public_keys", "list(string)", `[]`, "Public keys (NAME:BASE64, what kiln key generate writes to NAME.public) whose signatures make a substituter's paths acceptable.", `[file("cache.example.org-1.public")]`},
	{"time_zone", "string", `"UTC"`, "The time zone (/etc/localtime).", `"Europe/Paris"`},
	{"locale", "string", `"C.UTF-8"`, "The default locale (LANG).", `"en_US.UTF-8"`},
	{"health_checks.<name>.command", "string", `""`, "A health check: a command (run by /bin/sh -c as root) that exits 0 when the system is healthy. Checks run before boot-complete.target (so a generation whose check fails is not blessed and falls back, see bootloader.boot_counting) and after a confirmed kiln switch --target-host; their output lands in the journal and in kiln's error. Empty: only the units below are checked.", `"curl -fsS http://localhost/health"`},
	{"health_checks.<name>.timeout", "string", `"30s"`, "How long the check may run before it counts as failed (systemd time span).", `"2min"`},
	{"health_checks.<name>.units", "list(string)", `[]`, "Units that must be active for the check to pass.", `["nginx.service"]`},
	{"health_checks.<name>.enable", "bool", `true`, "Run this check.", `false`},
	{"console.serial_getty", "bool", `true`, "Run a login prompt on the serial console (ttyS0).", `false`},
	{"console.autologin_user", "string", `""`, "Log this user in automatically on the consoles: root or a user of the users option. Empty: ask.", `"root"`},
	{"ssh.enable", "bool", `false`, "Run the OpenSSH server (the default system enables it).", `true`},
	{"ssh.port", "number", `22`, "The port sshd listens on.", `2222`},
	{"ssh.password_authentication", "bool", `false`, "Allow password logins over SSH.", `true`},
}

// coreFile names the pseudo-file of core defaults in ranges.
const coreFile = "<core>"

// relativeOptions hold paths that are resolved against the defining file.
var relativeOptions = map[string]bool{"etc.<name>.source": true, "secrets.<name>.file": true}

// coreLeaves parses the core declarations once; leaves are never changed
// after parsing, so every load shares them.
var coreLeaves = sync.OnceValues(func() ([]*optNode, error) {
	var leaves []*optNode
	for _, d := range coreOptions {
		leaf, err := parseCoreDecl(d)
		if err != nil {
			return nil, err
		}
		leaves = append(leaves, leaf)
	}
	return leaves, nil
})

// coreTree returns a fresh option tree holding the core options.
func coreTree() (*optNode, error) {
	leaves, err := coreLeaves()
	if err != nil {
		return nil, err
	}
	root := newGroup("", "")
	for _, leaf := range leaves {
		if err := root.declare(leaf); err != nil {
			return nil, err
		}
	}
	return root, nil
}

func parseCoreDecl(d coreDecl) (*optNode, error) {
	where := hcl.Pos{Line: 1, Column: 1}
	texpr, diags := hclsyntax.ParseExpression([]byte(d.typ), coreFile, where)
	if diags.HasErrors() {
		return nil, fmt.Errorf("core option %s: type: %s", d.path, diags.Error())
	}
	typ, diags := typeexpr.TypeConstraint(texpr)
	if diags.HasErrors() {
		return nil, fmt.Errorf("core option %s: type: %s", d.path, diags.Error())
	}
	def, diags := hclsyntax.ParseExpression([]byte(d.def), coreFile, where)
	if diags.HasErrors() {
		return nil, fmt.Errorf("core option %s: default: %s", d.path, diags.Error())
	}
	return &optNode{
		path: d.path, kind: kindLeaf, typ: typ, def: def, relative: relativeOptions[d.path],
		rng: def.Range(),
		doc: OptionDoc{Path: d.path, Type: typeexpr.TypeString(typ), Default: d.def, Description: d.desc, Example: d.example, DeclaredIn: "core"},
	}, nil
}

// Options lists every declared option, core and built-in modules', sorted
// by path.
func Options() []OptionDoc {
	l, diags := newLoader(LoadOptions{})
	if diags.HasErrors() {
		return nil
	}
	diags = l.loadBuiltins()
	if !diags.HasErrors() {
		// Declarations that fail (they cannot: tests load the built-in
		// modules) are left out.
		_ = l.declareOptions()
	}
	var docs []OptionDoc
	for _, leaf := range l.root.leaves(nil) {
		docs = append(docs, leaf.doc)
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].Path < docs[j].Path })
	return docs
}
