package maintscript

import (
	"fmt"
	"path"
	"strings"

	"pault.ag/go/debian/version"
)

// recognizers are the commands the analysis turns into declarations or
// knows to need nothing, by base name.
var recognizers map[string]func(*call) tri

func init() {
	recognizers = map[string]func(*call) tri{
		"adduser": adduser, "addgroup": adduser, "useradd": useradd, "groupadd": groupadd,
		"usermod": usermod, "gpasswd": gpasswd, "getent": getent, "id": idCommand,
		"deluser": deluser, "delgroup": deluser, "userdel": deluser, "groupdel": deluser,
		"mkdir": mkdir, "install": install, "touch": touch, "chown": chown, "chgrp": chown,
		"chmod": chmod, "dpkg-statoverride": statoverride, "setcap": setcap, "ln": ln,
		"cp": cp, "mv": mv, "rm": rm, "rmdir": rm, "ucf": ucf, "sed": sed, "cat": cat,
		"find":                find,
		"update-alternatives": updateAlternatives,
		"deb-systemd-helper":  debSystemdHelper, "deb-systemd-invoke": debSystemdInvoke,
		"systemctl": systemctl, "update-rc.d": updateRCD, "invoke-rc.d": invokeRCD, "service": service,
		"dpkg": dpkgCommand, "dpkg-maintscript-helper": maintscriptHelper, "dpkg-trigger": dpkgTrigger,
		"dpkg-divert":      dpkgDivert,
		"systemd-sysusers": applyShipped("sysusers.d"), "systemd-tmpfiles": applyShipped("tmpfiles.d"),
		"add-shell":            addShell,
		"update-exim4defaults": updateExim4Defaults,
		"su":                   su, "runuser": su, "env": envCommand, "nice": skipArgs(0), "ionice": skipArgs(0),
		"nohup": skipArgs(0), "timeout": skipArgs(1), "sh": shellString, "munin-node-configure": muninNodeConfigure, "bash": shellString, "dash": shellString,
		"a2enmod": apacheEnable("mods", ".load"), "a2enconf": apacheEnable("conf", ".conf"),
		"a2ensite": apacheEnable("sites", ".conf"),
		"icinga2":  icinga2, "lighty-enable-mod": lightyEnableMod, "postconf": postconf,
		"md5sum": md5sum, "run-parts": runParts, "chattr": chattr, "apache2ctl": apache2ctl,
		"squid": squid, "curl": curl, "wget": wget, "acngtool": acngtool, "xargs": xargs,
		"ufw": ufw, "python3": python, "python3.11": python, "chsh": chsh, "dpkg-realpath": func(cl *call) tri { return pathOp(cl, path.Clean) },
		"journalctl": func(cl *call) tri {
			for _, a := range cl.args {
				if a.s == "--update-catalog" {
					return cacheOf("journal-catalog")(cl)
				}
			}
			return maybe
		},
	}
	for _, q := range queries {
		recognizers[q] = query
	}
	recognizers["dpkg-query"] = dpkgQuery
	recognizers["ls"] = ls
	for _, g := range []string{"grep", "egrep", "fgrep"} {
		recognizers[g] = grep
	}
	for name, fn := range map[string]func(*call) tri{"tr": tr, "cut": cut, "head": headTail, "tail": headTail,
		"wc": wc, "sort": sortCommand, "uniq": uniq, "perl": perl, "awk": awk, "mawk": awk, "gawk": awk} {
		recognizers[name] = fn
	}
	for name, reason := range harmless {
		recognizers[name] = ignored(reason)
	}
	for name, c := range caches {
		recognizers[name] = cacheOf(c)
	}
	for name, fr := range firstRuns {
		recognizers[name] = fr.handler(name)
	}
}

// queries only look at the system; their status decides a branch.
var queries = []string{
	"grep", "egrep", "fgrep", "cut", "tr", "sort", "uniq", "wc", "head", "tail", "awk", "gawk",
	"mawk", "ls", "stat", "readlink", "realpath", "uname", "hostname", "date", "pidof", "pgrep",
	"ps", "dpkg-query", "ucfq", "lsb_release", "runlevel", "df", "lsmod", "printenv", "expr",
	"tty", "nproc", "getconf", "systemd-detect-virt", "dpkg-architecture", "dpkg-vendor",
	"mountpoint", "cmp", "diff", "sha256sum", "a2query", "logger", "wall", "whoami",
	"dnsdomainname", "domainname", "lsattr", "locale", "getcap", "netstat", "ss", "fold", "zgrep",
	"zcat", "ypcat", "ypwhich", "exim_dumpdb", "aa-enabled", "aa-status", "pg_checksystem", "lsof",
	"pam_getenv", "pg_conftool", "chronyd", "systemd", "groups", "xxd", "od",
}

// query only looks: it prints what it found (except grep -q), which the
// analysis does not compute.
func query(cl *call) tri {
	if cl.name == "grep" || cl.name == "egrep" || cl.name == "fgrep" {
		for _, a := range cl.args {
			if a.known && len(a.s) > 1 && a.s[0] == '-' && a.s[1] != '-' && strings.Contains(a.s, "q") || a.s == "--quiet" {
				cl.prints = false
			}
		}
	}
	return maybe
}

// ls succeeds when every path it names exists (-L: after following
// links), which the closure and the script's own files answer:
// python3.11-minimal's postinst picks its byte-compile filter by whether
// sitecustomize.py resolves. What it prints is not computed.
func ls(cl *call) tri {
	follow, st, paths, missing := false, yes, 0, 0
	for _, a := range cl.args {
		switch {
		case !a.known:
			return query(cl)
		case a.s == "--":
		case strings.HasPrefix(a.s, "--"):
			if a.s == "--dereference" {
				follow = true
			}
		case len(a.s) > 1 && a.s[0] == '-':
			if strings.ContainsAny(a.s, "LH") {
				follow = true
			}
		default:
			if !follow {
				// Without -L a dangling link is listed too.
				if cl.in.facts.test("-L", a.s) == yes {
					continue
				}
			}
			e := cl.in.facts.test("-e", a.s)
			if e == no && cl.in.facts.test("-L", a.s) == no {
				missing++
			}
			st = triAnd(st, e)
			paths++
		}
	}
	cl.prints = true
	if paths == 0 {
		return query(cl)
	}
	if missing == paths {
		// Nothing there (a glob that matched nothing stays as written):
		// ls prints only to stderr.
		v := lit("")
		cl.out = &v
		cl.prints = false
	}
	return st
}

// harmless are commands a fresh install on kiln needs no equivalent of.
var harmless = map[string]string{
	"update-exim4.conf": "update-exim4.conf makes /var/lib/exim4/config.autogenerated from /etc/exim4, and exim4's init script runs it at every start: " +
		"nothing to make beforehand",
	"update-initramfs": "kiln builds the initrd itself",
	"vgcfgbackup": "backs up the metadata of the machine's LVM volume groups into /etc/lvm/backup: a fresh system's packages make none, " +
		"and LVM's tools back one up at every change",
	"depmod":                   "kiln runs depmod at build time (kernel-modules)",
	"update-grub":              "kiln installs systemd-boot entries itself",
	"linux-update-symlinks":    "kiln installs the kernel and initrd itself",
	"linux-check-removal":      "kiln installs the kernel and initrd itself",
	"py3compile":               "Python bytecode: Python runs without it (the store is read-only)",
	"pycompile":                "Python bytecode: Python runs without it (the store is read-only)",
	"py3clean":                 "Python bytecode: none in the store to clean",
	"pyclean":                  "Python bytecode: none in the store to clean",
	"update-menus":             "desktop menus: not used on kiln",
	"install-docs":             "doc-base registration: not used on kiln",
	"mandb":                    "the man page index: not needed to run anything",
	"pam-auth-update":          "kiln generates /etc/pam.d/common-* from /usr/share/pam-configs",
	"update-passwd":            "kiln's accounts start from base-passwd's table (sysusers.d basic.conf)",
	"systemd-machine-id-setup": "stage 2 makes /etc/machine-id",
	"dbus-uuidgen":             "stage 2 makes /etc/machine-id, which D-Bus reads",
	"udevadm":                  "runtime only: udev reads its rules and hwdb at boot",
	"update-locale":            "kiln writes /etc/default/locale",
	"update-shells":            "kiln writes /etc/shells",
	"remove-shell":             "removes a shell on removal: /etc/shells is generated per generation",
	"kill":                     "signals a running daemon: none runs during the build",
	"pkill":                    "signals a running daemon: none runs during the build",
	"killall":                  "signals a running daemon: none runs during the build",
	"start-stop-daemon":        "controls a running daemon: none runs during the build",
	"sysctl":                   "applies sysctl settings now: systemd-sysctl applies sysctl.d at boot",
	"modprobe":                 "loads a module now: modules-load.d loads it at boot",
	"ucfr":                     "registers a config file with ucf: kiln's /etc is generated",
	"sync":                     "flushes the page cache",
	"debconf-updatepo":         "translation tooling",
	"apparmor_parser":          "loads an AppArmor profile now: apparmor.service loads /etc/apparmor.d at boot",
	"dbus-send":                "asks the running D-Bus daemon to reload: none runs during the build; the switch reloads dbus",
	"bootctl":                  "kiln installs systemd-boot and its entries itself",
	"kernel-install":           "kiln installs systemd-boot and its entries itself",
	"runit-helper":             "runit integration: kiln runs systemd",
	"shadowconfig":             "shadow passwords: kiln's accounts use /etc/shadow already",
	"suidunregister":           "suidmanager is gone: setuid programs are wrappers on kiln",
	"pg_updateaptconfig":       "apt's autoremove list: kiln has no apt",
}

func ignored(reason string) func(*call) tri {
	return func(cl *call) tri {
		cl.ignore(reason)
		return yes
	}
}

// caches are commands that rebuild a cache or index from the closure's
// files: built per generation (at build time where the closure's loader
// runs the tool, as depmod and hwdb are).
var caches = map[string]string{
	"ldconfig":                 "ldconfig",
	"update-ca-certificates":   "ca-certificates",
	"fc-cache":                 "fontconfig",
	"update-mime-database":     "mime",
	"glib-compile-schemas":     "glib-schemas",
	"gio-querymodules":         "gio-modules",
	"gdk-pixbuf-query-loaders": "gdk-pixbuf-loaders",
	"update-catalog":           "sgml-catalog",
	"update-xmlcatalog":        "xml-catalog",
	"update-gsfontmap":         "ghostscript-fonts",
	"update-perl-sax-parsers":  "perl-sax-parsers",
	"locale-gen":               "locales",
	"systemd-hwdb":             "hwdb",
	"pg_updatedicts":           "postgresql-dicts",
	"newaliases":               "mail-aliases",
	"postalias":                "mail-aliases",
	"postmap":                  "postfix-maps",
	"c_rehash":                 "ca-certificates",
	"update-desktop-database":  "desktop-database",
	"gtk-update-icon-cache":    "icon-cache",
	"update-fonts-scale":       "x11-fonts",
	"update-fonts-dir":         "x11-fonts",
	"update-fonts-alias":       "x11-fonts",
}

// exim4Defaults is what update-exim4defaults --init writes into a missing
// /etc/default/exim4 (exim4-config 4.96): the init script's own defaults.
const exim4Defaults = "EX4DEF_VERSION=''\nQUEUERUNNER='combined'\nQUEUEINTERVAL='30m'\nCOMMONOPTIONS=''\n" +
	"QUEUERUNNEROPTIONS=''\nQFLAGS=''\nSMTPLISTENEROPTIONS=''\n"

// updateExim4Defaults is exim4-config's update-exim4defaults: --init
// writes /etc/default/exim4 when it is missing (a fresh system); the
// other forms change an existing one, which a fresh system lacks.
func updateExim4Defaults(cl *call) tri {
	if len(cl.args) != 1 || !cl.args[0].known || cl.args[0].s != "--init" {
		cl.unhandled("update-exim4defaults without --init changes an existing /etc/default/exim4")
		return maybe
	}
	const p = "/etc/default/exim4"
	if cl.in.facts.test("-e", p) != no {
		cl.ignore("update-exim4defaults --init keeps an existing " + p)
		return yes
	}
	cl.addFile(File{Path: p, Kind: Content, Content: exim4Defaults})
	return yes
}

// argsMatter are the caches whose content is in the command's
// arguments rather than in the closure's files.
var argsMatter = map[string]bool{"xml-catalog": true, "sgml-catalog": true}

func cacheOf(name string) func(*call) tri {
	return func(cl *call) tri {
		c := Cache{Name: name, From: cl.source()}
		if argsMatter[name] && cl.allKnown() {
			c.Args = cl.argStrings()
		}
		if cl.in.once(c) {
			cl.in.an.Caches = append(cl.in.an.Caches, c)
		}
		return yes
	}
}

// dpkgCommand: --compare-versions is decided on a fresh install (the old
// version, $2, is empty); the rest only query dpkg's database.
func dpkgCommand(cl *call) tri {
	if len(cl.args) == 4 && cl.args[0].s == "--compare-versions" {
		return compareVersions(cl.args[1], cl.args[2], cl.args[3])
	}
	if len(cl.args) > 0 && cl.args[0].s == "--print-architecture" {
		v := lit("amd64")
		cl.out = &v
		return yes
	}
	for _, a := range cl.args {
		if a.known && (strings.HasPrefix(a.s, "--add-architecture") || a.s == "-i" || a.s == "--install" ||
			a.s == "-r" || a.s == "--remove" || a.s == "-P" || a.s == "--purge" || a.s == "--configure") {
			cl.unhandled("dpkg changes what is installed")
			return maybe
		}
	}
	return maybe
}

// compareVersions is dpkg --compare-versions A OP B. An empty version is
// earlier than any other for lt, le, eq, ne, ge, gt and later for the
// -nl forms, as dpkg says.
func compareVersions(a, op, b value) tri {
	if !a.known || !op.known || !b.known {
		return maybe
	}
	nl := strings.HasSuffix(op.s, "-nl")
	o := strings.TrimSuffix(op.s, "-nl")
	var c int
	switch {
	case a.s == "" && b.s == "":
		c = 0
	case a.s == "":
		c = -1
		if nl {
			c = 1
		}
	case b.s == "":
		c = 1
		if nl {
			c = -1
		}
	default:
		va, err1 := version.Parse(a.s)
		vb, err2 := version.Parse(b.s)
		if err1 != nil || err2 != nil {
			return maybe
		}
		c = version.Compare(va, vb)
	}
	switch o {
	case "lt", "<<":
		return triOf(c < 0)
	case "le", "<=", "<":
		return triOf(c <= 0)
	case "eq", "=":
		return triOf(c == 0)
	case "ne":
		return triOf(c != 0)
	case "ge", ">=", ">":
		return triOf(c >= 0)
	case "gt", ">>":
		return triOf(c > 0)
	}
	return maybe
}

// maintscriptHelper is dpkg-maintscript-helper: its conffile and
// directory moves act on an older version's files, which a fresh system
// does not have.
func maintscriptHelper(cl *call) tri {
	if len(cl.args) > 0 && cl.args[0].s == "supports" {
		return yes
	}
	cl.ignore("dpkg-maintscript-helper moves or removes an older version's conffiles and directories: a fresh system has none")
	return yes
}

func dpkgTrigger(cl *call) tri {
	for _, a := range cl.args {
		if a.known && !strings.HasPrefix(a.s, "-") {
			t := Trigger{Name: a.s, From: cl.source()}
			if cl.in.once(t) {
				cl.in.an.Triggers = append(cl.in.an.Triggers, t)
			}
		}
	}
	return yes
}

// applyShipped is systemd-sysusers or systemd-tmpfiles applying files
// the package ships: each is declared from the file itself.
func applyShipped(dir string) func(*call) tri {
	return func(cl *call) tri {
		for _, a := range cl.args {
			if !a.known {
				cl.unhandled(fmt.Sprintf("%s of a file the analysis cannot resolve: %s", cl.name, a.s))
				return maybe
			}
			if a.s == "-" || a.s == "--replace" {
				cl.unhandled(cl.name + " of configuration on standard input")
				return maybe
			}
		}
		cl.ignore(fmt.Sprintf("applies the package's %s files, declared from the files themselves", dir))
		return yes
	}
}

func addShell(cl *call) tri {
	for _, a := range cl.args {
		if !a.known {
			cl.unhandled("add-shell of a shell the analysis cannot resolve: " + a.s)
			return maybe
		}
		s := Shell{Path: a.s, From: cl.source()}
		if cl.in.once(s) {
			cl.in.an.Shells = append(cl.in.an.Shells, s)
		}
	}
	return yes
}

// su and runuser run a command as another user: su USER -c STRING,
// runuser -u USER -- CMD....
func su(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"c": true, "command": true, "s": true, "shell": true,
		"u": true, "user": true, "g": true, "group": true, "G": true})
	user, _ := o.get("u", "user")
	if c, ok := o.get("c", "command"); ok {
		if user.s == "" && len(o.pos) > 0 {
			user = o.pos[0]
		}
		return cl.runString(c, user.s)
	}
	if user.s != "" && len(o.pos) > 0 {
		prev := cl.in.user
		cl.in.user = user.s
		defer func() { cl.in.user = prev }()
		return cl.rerun(o.pos)
	}
	cl.unhandled(cl.name + " without a command")
	return maybe
}

// runString parses and runs a command string (su -c, sh -c) as user.
func (cl *call) runString(s value, user string) tri {
	if !s.known {
		cl.unhandled(cl.name + " of a command string the analysis cannot resolve")
		return maybe
	}
	return cl.in.nested(cl, s.s, user)
}

// shellString is sh -c STRING, or sh FILE ARGS, which runs FILE as the
// command it is.
func shellString(cl *call) tri {
	if len(cl.args) == 0 && cl.stdinTemp > 0 {
		return cl.runPrinted(cl.stdinTemp)
	}
	for i, a := range cl.args {
		if a.known && a.s == "-c" && i+1 < len(cl.args) {
			return cl.runString(cl.args[i+1], cl.in.user)
		}
		if a.known && !strings.HasPrefix(a.s, "-") {
			if _, ok := recognizers[path.Base(a.s)]; ok {
				return cl.rerun(cl.args[i:])
			}
			cl.unhandled("runs the shell script " + a.s)
			return maybe
		}
	}
	return maybe
}

// chattr sets file attributes: a tmpfiles "h" line.
func chattr(cl *call) tri {
	var attrs string
	var paths []value
	for _, a := range cl.args {
		switch {
		case !a.known:
			cl.unhandled("chattr with an argument the analysis cannot resolve: " + a.s)
			return maybe
		case attrs == "" && (strings.HasPrefix(a.s, "+") || strings.HasPrefix(a.s, "-") || strings.HasPrefix(a.s, "=")) && len(a.s) > 1 && a.s[1] != 'R':
			attrs = a.s
		case strings.HasPrefix(a.s, "-"):
		default:
			paths = append(paths, a)
		}
	}
	if attrs == "" || !cl.paths(paths) {
		return maybe
	}
	for _, p := range paths {
		if areaOf(p) != areaState && areaOf(p) != areaEtc {
			cl.unhandled("chattr outside /etc and /var: " + p.s)
			return maybe
		}
		cl.tmpfile(path.Clean(p.s), "h").Argument = attrs
	}
	return yes
}

// python runs Python: py_compile only writes bytecode.
func python(cl *call) tri {
	for _, a := range cl.args {
		if a.known && (strings.HasSuffix(a.s, "/py_compile.py") || a.s == "py_compile" || strings.HasSuffix(a.s, "/compileall.py")) {
			cl.ignore(harmless["py3compile"])
			return yes
		}
	}
	cl.unhandled("runs a Python program")
	return maybe
}

func envCommand(cl *call) tri {
	args := cl.args
	for len(args) > 0 && args[0].known && (strings.Contains(args[0].s, "=") || strings.HasPrefix(args[0].s, "-")) {
		args = args[1:]
	}
	if len(args) == 0 {
		return maybe
	}
	return cl.rerun(args)
}

// skipArgs runs the wrapped command after n option arguments (nice,
// timeout).
func skipArgs(n int) func(*call) tri {
	return func(cl *call) tri {
		args, _ := leadingOptions(cl.args)
		if len(args) < n {
			return maybe
		}
		return cl.rerun(args[n:])
	}
}

// apacheEnable is a2enmod, a2enconf and a2ensite: a link in
// /etc/apache2/KIND-enabled to ../KIND-available/NAME.
func apacheEnable(kind, ext string) func(*call) tri {
	return func(cl *call) tri {
		for _, a := range cl.args {
			if a.known && strings.HasPrefix(a.s, "-") {
				continue
			}
			if !a.known {
				cl.unhandled(cl.name + " of a name the analysis cannot resolve: " + a.s)
				return maybe
			}
			apacheEnableOne(cl, kind, ext, strings.TrimSuffix(a.s, ext), map[string]bool{})
		}
		return yes
	}
}

// apacheEnableOne links one module, configuration or site; a module's
// "# Depends: A B" lines in its .load file are enabled first, as a2enmod
// does (authz_host.load depends on authz_core, without which Require is
// an unknown directive).
func apacheEnableOne(cl *call, kind, ext, name string, seen map[string]bool) {
	if seen[name] {
		return
	}
	seen[name] = true
	exts := []string{ext}
	if kind == "mods" {
		exts = []string{".load", ".conf"}
		load := fmt.Sprintf("/etc/apache2/mods-available/%s.load", name)
		if text, ok := cl.knownText(lit(load)); ok {
			for _, l := range lines(text) {
				if deps, ok := strings.CutPrefix(strings.TrimSpace(l), "# Depends:"); ok {
					for _, d := range strings.Fields(deps) {
						apacheEnableOne(cl, kind, ext, d, seen)
					}
				}
			}
		}
	}
	for _, x := range exts {
		avail := fmt.Sprintf("/etc/apache2/%s-available/%s%s", kind, name, x)
		if x == ".conf" && kind == "mods" && cl.in.facts.test("-e", avail) == no {
			continue
		}
		link := fmt.Sprintf("/etc/apache2/%s-enabled/%s%s", kind, name, x)
		cl.addFile(File{Path: link, Kind: Link, Target: path.Join("..", kind+"-available", name+x)})
	}
}

// runParts runs the programs in a directory: the kernel's hooks in
// /etc/kernel (initramfs, boot loader) are what kiln does itself.
func runParts(cl *call) tri {
	for _, a := range cl.args {
		if a.known && under(a.s, "/etc/kernel") {
			cl.ignore("the kernel's hooks (initramfs, boot loader): kiln builds the initrd and boot entries itself")
			return yes
		}
	}
	cl.unhandled("run-parts runs every program in a directory")
	return maybe
}

// perl -e ” only checks that perl runs; other Perl programs are not read.
func perl(cl *call) tri {
	if len(cl.args) == 2 && cl.args[0].s == "-e" && cl.args[1].known && strings.TrimSpace(cl.args[1].s) == "" {
		return yes
	}
	cl.unhandled("runs a Perl program")
	return maybe
}

// dpkgQuery answers dpkg-query -W -f '${Status}' PKG... for the closure:
// on the machine kiln models every package of it is installed (dpkg may
// configure one before another it does not depend on, and a helper that
// defers its work until then, apache2-maintscript-helper's, ends the
// same). A package outside the closure is not installed. Other queries
// are not computed.
func dpkgQuery(cl *call) tri {
	show, format := false, ""
	var pkgs []string
	for i := 0; i < len(cl.args); i++ {
		a := cl.args[i]
		switch {
		case !a.known:
			return query(cl)
		case a.s == "-W" || a.s == "--show":
			show = true
		case (a.s == "-f" || a.s == "--showformat") && i+1 < len(cl.args) && cl.args[i+1].known:
			i++
			format = cl.args[i].s
		case strings.HasPrefix(a.s, "--showformat="):
			format = strings.TrimPrefix(a.s, "--showformat=")
		case strings.HasPrefix(a.s, "-f") && len(a.s) > 2:
			format = strings.TrimPrefix(a.s[2:], "=")
		case strings.HasPrefix(a.s, "-"):
			return query(cl)
		default:
			pkgs = append(pkgs, a.s)
		}
	}
	nl := strings.HasSuffix(format, `\n`)
	if !show || strings.TrimSuffix(format, `\n`) != "${Status}" || len(pkgs) == 0 || cl.in.facts.packages == nil {
		return query(cl)
	}
	var b strings.Builder
	r := yes
	for _, p := range pkgs {
		if !cl.in.facts.packages[strings.TrimSuffix(p, ":amd64")] {
			r = no // dpkg-query: no packages found matching p
			continue
		}
		b.WriteString("install ok installed")
		if nl {
			b.WriteString("\n")
		}
	}
	v := lit(b.String())
	cl.out = &v
	return r
}

// apache2ctl configtest checks apache2's configuration before a reload,
// which kiln's switch does; its other commands control the running
// daemon, which does not run during the build.
func apache2ctl(cl *call) tri {
	if len(cl.args) == 1 && cl.args[0].s == "configtest" {
		cl.prints = false
		cl.ignore("apache2ctl configtest checks the configuration before a reload: kiln's switch reloads apache2")
		return yes
	}
	cl.ignore(harmless["start-stop-daemon"])
	return maybe
}

// ufw app update (its trigger on /etc/ufw/applications.d) rewrites the
// rules the admin made from application profiles: a fresh install has
// none. Other ufw commands change the firewall.
func ufw(cl *call) tri {
	if len(cl.args) >= 2 && cl.args[0].known && cl.args[0].s == "app" && cl.args[1].known && cl.args[1].s == "update" {
		cl.ignore("ufw app update rewrites the rules made from application profiles: a fresh install has none")
		return yes
	}
	cl.unhandled("ufw changes the firewall's rules")
	return maybe
}
