package system

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// kiln never runs maintainer scripts. The audit lists what the locked
// packages' postinst scripts do, so a package whose script does something
// kiln does not replace is flagged instead of silently half-working.
//
// This reviewed list still drives the build's warning; kiln audit reads
// the recognizers of debian/maintscript (AuditScripts), which replace it
// once the builder turns their declarations into the system (issue 11,
// phase 2: docs/design.md "Maintainer scripts as declarations").

// AuditEntry is one package with a postinst.
type AuditEntry struct {
	Package string
	Actions []string // the commands recognized in its postinst, sorted
	Handled string   // how kiln replaces them; "" = not yet reviewed
}

// auditCommands are the commands looked for in postinst scripts.
var auditCommands = regexp.MustCompile(`\b(adduser|addgroup|useradd|groupadd|update-passwd|systemd-sysusers|update-alternatives|pam-auth-update|deb-systemd-helper|deb-systemd-invoke|systemctl|update-rc\.d|invoke-rc\.d|systemd-tmpfiles|depmod|linux-update-symlinks|systemd-hwdb|udevadm|ldconfig|ssh-keygen|dbus-uuidgen|systemd-machine-id-setup|update-shells|add-shell|setcap|dpkg-statoverride|chown|chmod|chgrp|mkdir|ln|cp|ucf|ucfr|dpkg-maintscript-helper|dpkg-trigger|dpkg-divert|db_get|db_input|update-menus|install_from_default|install_directory)\b`)

// auditHandled says, for packages whose postinst was reviewed, how kiln
// does its work declaratively (DESIGN.md §9).
var auditHandled = map[string]string{
	"base-files":              "profile, motd from /usr/share/base-files (etc); /var dirs (tmpfiles); /root, /tmp... (stage 2)",
	"base-passwd":             "passwd/group from sysusers.d basic.conf (activation)",
	"bash":                    "shells (etc); update-menus not needed",
	"coreutils":               "nothing needed (compat links)",
	"dash":                    "shells (etc); /bin/sh is dash's own link in sw",
	"dbus":                    "units enabled by config; dpkg-statoverride of the helper: no setuid in the store",
	"dbus-daemon":             "machine-id: stage 2 creates an empty /etc/machine-id; /var dirs (tmpfiles)",
	"dbus-system-bus-common":  "nothing needed (chroot check)",
	"debconf":                 "nothing needed",
	"debianutils":             "alternatives (which) and shells (etc)",
	"dmsetup":                 "nothing needed (dpkg trigger)",
	"dpkg":                    "nothing needed (dpkg's own database)",
	"init-system-helpers":     "nothing needed (dpkg diversions)",
	"iproute2":                "nothing needed (ping capability check)",
	"kmod":                    "nothing needed (/etc/modules; modules-load.d from config)",
	"less":                    "alternatives (pager)",
	"libc-bin":                "nsswitch.conf (etc); ldconfig not needed: the loader searches the multiarch dirs",
	"libc6":                   "nothing needed (service restarts on upgrade)",
	"libgcrypt20":             "nothing needed",
	"libgssapi-krb5-2":        "nothing needed",
	"libpam-modules":          "environment (etc)",
	"libpam-runtime":          "pam.d/common-* generated as pam-auth-update does",
	"libpam0g":                "nothing needed (service restarts on upgrade)",
	"libwrap0":                "nothing needed (hosts.allow/deny optional)",
	"linux-image-cloud-amd64": "nothing needed",
	"linux-image-amd64":       "nothing needed",
	"firmware-linux-free":     "nothing needed (update-initramfs: kiln builds the initrd)",
	"login":                   "nothing needed (faillog, setuid via wrappers)",
	"nftables":                "nothing needed (nftables.service is not enabled; kiln-firewall.service loads networking.firewall's table)",
	"sudo":                    "nothing needed (sudo reads /etc/sudoers through the store, root-owned and read-only; setuid via wrappers; sudo.service only clears timestamps at boot, /run is empty then)",
	"mawk":                    "alternatives (awk, nawk)",
	"openssh-client":          "nothing needed (ssh-agent setgid dropped)",
	"openssh-server":          "sshd user (ssh module), host keys (kiln-sshd-keygen.service), sshd_config (etc), unit enabled by config",
	"passwd":                  "shadow group (sysusers), setuid wrappers",
	"perl-base":               "nothing needed",
	"procps":                  "nothing needed (sysctl.d from config)",
	"systemd":                 "sysusers (activation), tmpfiles at boot, machine-id (stage 2)",
	"systemd-boot":            "never run: kiln installs the loader and writes the entries on the ESP (bootctl is only used on the machine)",
	"systemd-resolved":        "systemd-resolve user (sysusers), resolv.conf link and unit enabled by the generator when networking.dhcp",
	"tar":                     "nothing needed (rmt alternative)",
	"tzdata":                  "localtime and timezone from config",
	"ucf":                     "nothing needed",
	"udev":                    "groups input sgx kvm render, hwdb.bin (built at build time)",
	"usr-is-merged":           "merged /usr by canonicalization in sw",
	"util-linux":              "setuid wrappers (mount, umount, su); units enabled by config",
	"util-linux-extra":        "nothing needed (hwclock init script)",
}

// Audit lists every package with a postinst, with what it does and how
// kiln handles it.
func Audit(pk Packages) ([]AuditEntry, error) {
	var out []AuditEntry
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		b, err := os.ReadFile(filepath.Join(d, ".kiln", "control", "postinst"))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		var actions []string
		for _, m := range auditCommands.FindAllString(string(b), -1) {
			if !seen[m] {
				seen[m] = true
				actions = append(actions, m)
			}
		}
		sort.Strings(actions)
		h := auditHandled[n]
		if h == "" && isKernelImage(n) {
			h = "modules.dep (kernel-modules, depmod at build time); kernel/initrd links not needed"
		}
		out = append(out, AuditEntry{Package: n, Actions: actions, Handled: h})
	}
	return out, nil
}

var kernelImageRE = regexp.MustCompile(`^linux-image-[0-9]`)

func isKernelImage(n string) bool { return kernelImageRE.MatchString(n) }
