package system

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

// scriptPackages: a daemon whose postinst makes its user, a directory it
// owns and enables its unit, as dh_installsystemd does; a firewall whose
// unit is registered with --no-enable; alternatives of two priorities.
func scriptPackages(t *testing.T) Packages {
	return newTreePackages(t, map[string][]string{
		"daemon": {".kiln/control/control=Package: daemon\nVersion: 1\n",
			".kiln/control/postinst=#!/bin/sh\nset -e\nadduser --system --group --home /var/lib/daemon daemon\n" +
				"mkdir -p /var/lib/daemon\nchown daemon:daemon /var/lib/daemon\nchmod 0750 /var/lib/daemon\n" +
				"update-alternatives --install /usr/bin/editor editor /usr/bin/daemon-edit 50\n" +
				"if deb-systemd-helper debian-installed 'daemon.service'; then :; fi\n" +
				"deb-systemd-helper unmask 'daemon.service' >/dev/null || true\n" +
				"if deb-systemd-helper --quiet was-enabled 'daemon.service'; then\n\tdeb-systemd-helper enable 'daemon.service' >/dev/null || true\nelse\n\tdeb-systemd-helper update-state 'daemon.service' >/dev/null || true\nfi\n",
			"usr/bin/daemon-edit=#!/bin/sh\n", "usr/lib/systemd/system/getty@.service=[Service]\nExecStart=/bin/true\n",
			"usr/lib/systemd/system/daemon.service=[Service]\nExecStart=/usr/bin/daemon-edit\nUser=daemon\n[Install]\nWantedBy=multi-user.target\n"},
		"firewall": {".kiln/control/control=Package: firewall\nVersion: 1\n",
			".kiln/control/postinst=#!/bin/sh\nset -e\n" +
				"update-alternatives --install /usr/bin/editor editor /usr/bin/fw-edit 80\n" +
				"deb-systemd-helper unmask 'firewall.service' >/dev/null || true\n" +
				"if deb-systemd-helper --quiet was-enabled 'firewall.service'; then\n\tdeb-systemd-helper update-state 'firewall.service' >/dev/null || true\nfi\n",
			"usr/bin/fw-edit=#!/bin/sh\n",
			"usr/lib/systemd/system/firewall.service=[Service]\nExecStart=/usr/bin/fw-edit\n[Install]\nWantedBy=multi-user.target\n"},
	})
}

func TestScriptDeclarations(t *testing.T) {
	f := false
	tru := true
	for _, tc := range []struct {
		name       string
		sys        modules.System
		wantLinks  []string // enablement links present
		noLinks    []string // absent
		wantEditor string
	}{
		{name: "as Debian", wantLinks: []string{"multi-user.target.wants/daemon.service"},
			noLinks: []string{"multi-user.target.wants/firewall.service"}, wantEditor: "/usr/bin/fw-edit"},
		{name: "unit disabled", sys: modules.System{Units: map[string]modules.Unit{"daemon.service": {Enable: &f}}},
			noLinks: []string{"multi-user.target.wants/daemon.service"}, wantEditor: "/usr/bin/fw-edit"},
		{name: "no-enable unit enabled", sys: modules.System{Units: map[string]modules.Unit{"firewall.service": {Enable: &tru}}},
			wantLinks: []string{"multi-user.target.wants/daemon.service", "multi-user.target.wants/firewall.service"}, wantEditor: "/usr/bin/fw-edit"},
		{name: "alternative chosen", sys: modules.System{Alternatives: map[string]modules.Alternative{"editor": {Path: "/usr/bin/daemon-edit"}}},
			wantLinks: []string{"multi-user.target.wants/daemon.service"}, wantEditor: "/usr/bin/daemon-edit"},
		{name: "package scripts off", sys: modules.System{PackageScripts: map[string]modules.PackageScripts{"daemon": {Enable: false}}},
			noLinks: []string{"multi-user.target.wants/daemon.service"}, wantEditor: "/usr/bin/fw-edit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pk := scriptPackages(t)
			d, err := analyzeScripts(&tc.sys, pk)
			if err != nil {
				t.Fatal(err)
			}
			acc, err := planAccounts(&tc.sys, pk, d)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := generateEtc(&tc.sys, pk, d)
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, e := range entries {
				have[strings.TrimPrefix(e.Path, etcUnitPath+"/")] = true
			}
			for _, l := range tc.wantLinks {
				if !have[l] {
					t.Errorf("no %s", l)
				}
			}
			for _, l := range tc.noLinks {
				if have[l] {
					t.Errorf("%s, want none", l)
				}
			}
			alts, err := d.alternatives(&tc.sys, pk)
			if err != nil {
				t.Fatal(err)
			}
			var editor string
			for _, a := range alts {
				if a.Name == "editor" {
					editor = a.Target
				}
			}
			if editor != tc.wantEditor {
				t.Errorf("editor -> %q, want %q", editor, tc.wantEditor)
			}
			text, _, err := d.tmpfiles(pk, acc, nil)
			if err != nil {
				t.Fatal(err)
			}
			u := acc.users["daemon"]
			if tc.name == "package scripts off" {
				if u != nil || strings.Contains(string(text), "daemon") {
					t.Errorf("package_scripts enable=false: user %+v, tmpfiles:\n%s", u, text)
				}
				return
			}
			if u == nil || u.Home != "/var/lib/daemon" || u.Group != "daemon" || !u.System {
				t.Errorf("user daemon = %+v", u)
			}
			if !strings.Contains(string(text), "d /var/lib/daemon 0750 daemon daemon -\n") {
				t.Errorf("tmpfiles:\n%s", text)
			}
		})
	}
}

func TestScriptAlternativeNotACandidate(t *testing.T) {
	sys := modules.System{Alternatives: map[string]modules.Alternative{"editor": {Path: "/usr/bin/nano"}}}
	pk := scriptPackages(t)
	d, err := analyzeScripts(&sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.alternatives(&sys, pk)
	want := `alternatives "editor": path "/usr/bin/nano" is not a candidate of any locked package`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestScriptFilesAndFirstRun: a link and a template copy in /etc become
// etc entries (the chmod'ed one a copy), an edited copy is made with
// its sed edit and postconf's, one with a sed command kiln does not compute is a warning,
// and a cluster the postinst creates is a first-run unit ordered before
// the package's service.
func TestScriptFilesAndFirstRun(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"db": {".kiln/control/control=Package: db\nVersion: 1\n",
			".kiln/control/postinst=#!/bin/sh\nset -e\nadduser --system --group db\n" +
				"ln -s /etc/db/available/default /etc/db/enabled/default\n" +
				"cp /usr/share/db/db.conf /etc/db/db.conf\nchmod 0640 /etc/db/db.conf\nchown root:db /etc/db/db.conf\n" +
				"cp /usr/share/db/other.conf /etc/db/other.conf\nsed -i -e s/a/b/ /etc/db/other.conf\nchmod a+r,g+w /etc/db/other.conf\n" +
				"cp /usr/share/db/other.conf /etc/db/third.conf\nsed -i -e '1i x' /etc/db/third.conf\n" +
				"cp /usr/share/db/main.cf /etc/postfix/main.cf\npostconf -e 'myhostname = h' 'relayhost=r'\n" +
				"if [ ! -d /var/lib/postgresql/15/main ]; then pg_createcluster -u postgres 15 main; fi\n" +
				"deb-systemd-helper enable db.service\n" +
				"deb-systemd-helper update-state db-resolvconf.service\n" +
				"deb-systemd-invoke start db.service db-resolvconf.service\n",
			"usr/share/db/db.conf=x = 1\n", "usr/share/db/other.conf=a\n",
			"usr/share/db/main.cf=# c\nmyhostname = old\n  continued\nmydomain = d\n",
			"usr/lib/systemd/system/db.service=[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
			"usr/lib/systemd/system/getty@.service=[Service]\nExecStart=/bin/true\n"},
	})
	sys := &modules.System{}
	d, err := analyzeScripts(sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	files, warnings := d.etcFiles(pk)
	got := map[string]EtcEntry{}
	for _, e := range files {
		got[e.Path] = e
	}
	if e := got["db/enabled/default"]; e.Kind != toplevel.EtcSymlink || e.Target != "/etc/db/available/default" {
		t.Errorf("link: %+v", e)
	}
	if e := got["db/db.conf"]; e.Kind != toplevel.EtcCopy || e.Mode != 0o640 || e.Group != "db" || !strings.HasSuffix(e.Source, "/usr/share/db/db.conf") {
		t.Errorf("copy: %+v", e)
	}
	if e := got["db/other.conf"]; string(e.Data) != "b\n" || e.Kind != toplevel.EtcCopy || e.Mode != 0o664 {
		t.Errorf("edited copy (chmod a+r,g+w: 0664): %+v", e)
	}
	if e := got["postfix/main.cf"]; string(e.Data) != "# c\nmyhostname = h\nmydomain = d\nrelayhost = r\n" {
		t.Errorf("postconf's copy: %q", e.Data)
	}
	if _, ok := got["db/third.conf"]; ok || len(warnings) != 1 || !strings.Contains(warnings[0].Text, `/etc/db/third.conf: a copy of /usr/share/db/other.conf with edits: sed -e 1i x: sed command "1i x" is not computed`) {
		t.Errorf("uncomputed edit: entry %v, warnings %v", ok, warnings)
	}
	entries, err := generateEtc(sys, pk, d)
	if err != nil {
		t.Fatal(err)
	}
	var unit string
	for _, e := range entries {
		if strings.HasPrefix(e.Path, etcUnitPath+"/kiln-first-run-db-") && strings.HasSuffix(e.Path, ".service") {
			unit = string(e.Data)
		}
	}
	for _, want := range []string{"ConditionPathExists=!/var/lib/postgresql/15/main\n",
		"ExecStart=pg_createcluster -u postgres 15 main\n", "Type=oneshot\n",
		"ExecStartPost=-/usr/bin/systemd-tmpfiles --create /etc/tmpfiles.d/kiln-packages.conf\n",
		"ExecStartPost=-/usr/bin/systemctl --no-block restart db.service\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("first-run unit lacks %q:\n%s", want, unit)
		}
	}
	// A unit the scripts leave disabled is not started by the restart.
	if strings.Contains(unit, "db-resolvconf") {
		t.Errorf("first-run unit starts the disabled db-resolvconf.service:\n%s", unit)
	}
}

// TestFirstRunInputsAndSysV: slapd's two slapadd are one first-run unit;
// the mktemp input is an /etc file with the script's sed edit applied,
// and the one with the admin password's placeholder is read by a script
// that makes the hash on the machine (nothing secret in the store); the
// chown -R after them runs after them; a printer's pipeline without a
// path that means done runs once, with a stamp; the init script without
// a native unit gets update-rc.d's links, the masked one none.
func TestFirstRunInputsAndSysV(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"slapd": {".kiln/control/control=Package: slapd\nVersion: 1\n",
			".kiln/control/templates=Template: slapd/password1\nType: password\nDescription: x\n",
			".kiln/control/postinst=#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\nadduser --system --group openldap\n" +
				"db_get slapd/password1\nadminpass=\"$(slappasswd -s \"$RET\")\"\n" +
				"t=`mktemp -t slapadd.XXXXXX`\ncat /usr/share/slapd/init.ldif > $t\n" +
				"sed -i -e \"s|@SUFFIX@|dc=nodomain|g\" $t\nsed -i -e \"s|@PASSWORD@|$adminpass|g\" $t\n" +
				"slapadd -F /etc/ldap/slapd.d -b cn=config -l $t\n" +
				"printf 'dn: dc=nodomain\\n' > $t\nslapadd -F /etc/ldap/slapd.d -b dc=nodomain -l $t\n" +
				"chown -R -H openldap /var/lib/ldap\nrm -f $t\n" +
				"update-rc.d slapd defaults\nupdate-rc.d nfs-common defaults\n" +
				"T=$(mktemp)\nmunin-node-configure --shell > $T\nsh < $T\n",
			"usr/share/slapd/init.ldif=olcSuffix: @SUFFIX@\nolcRootPW: @PASSWORD@\n",
			"etc/init.d/slapd=#!/bin/sh\n", "etc/init.d/nfs-common=#!/bin/sh\n",
			"lib/systemd/system/nfs-common.service->/dev/null",
			"usr/lib/systemd/system/getty@.service=[Service]\nExecStart=/bin/true\n"},
	})
	sys := &modules.System{}
	d, err := analyzeScripts(sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := generateEtc(sys, pk, d)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]EtcEntry{}
	for _, e := range entries {
		got[e.Path] = e
	}
	unit := string(got[etcUnitPath+"/kiln-first-run-slapd-slapd-database.service"].Data)
	for _, want := range []string{"ConditionPathExists=!/etc/ldap/slapd.d/cn=config.ldif\n",
		"Before=slapd.service\n",
		"ExecStart=/bin/sh /etc/kiln-first-run/slapd-slapd-database/run-1.sh\n",
		"ExecStart=slapadd -F /etc/ldap/slapd.d -b dc=nodomain -l /etc/kiln-first-run/slapd-slapd-database/input-2-1\n",
		"ExecStartPost=chown -R -H openldap /var/lib/ldap\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("slapd's first-run unit lacks %q:\n%s", want, unit)
		}
	}
	if in := string(got["kiln-first-run/slapd-slapd-database/input-1-1"].Data); in != "olcSuffix: dc=nodomain\nolcRootPW: @PASSWORD@\n" {
		t.Errorf("input 1: %q", in)
	}
	if in := string(got["kiln-first-run/slapd-slapd-database/input-2-1"].Data); in != "dn: dc=nodomain\n" {
		t.Errorf("input 2: %q", in)
	}
	sh := string(got["kiln-first-run/slapd-slapd-database/run-1.sh"].Data)
	for _, want := range []string{
		`s1=$(slappasswd -s "$(head -c 15 /dev/urandom | base64 | tr -d '[:space:]')")`,
		`sed -e "s|@PASSWORD@|$s1|g" /etc/kiln-first-run/slapd-slapd-database/input-1-1 >"$t1"`,
		`slapadd -F /etc/ldap/slapd.d -b 'cn=config' -l "$t1"`} {
		if !strings.Contains(sh, want) {
			t.Errorf("run-1.sh lacks %q:\n%s", want, sh)
		}
	}
	munin := string(got[etcUnitPath+"/kiln-first-run-slapd-munin-plugins.service"].Data)
	for _, want := range []string{"ConditionPathExists=!/kiln/var/lib/first-run/kiln-first-run-slapd-munin-plugins\n",
		`ExecStart=/bin/sh -c "munin-node-configure --shell | /bin/sh"` + "\n",
		"ExecStartPost=/usr/bin/touch /kiln/var/lib/first-run/kiln-first-run-slapd-munin-plugins\n"} {
		if !strings.Contains(munin, want) {
			t.Errorf("munin's first-run unit lacks %q:\n%s", want, munin)
		}
	}
	if e := got["rc2.d/S01slapd"]; e.Kind != toplevel.EtcSymlink || e.Target != "../init.d/slapd" {
		t.Errorf("rc2.d/S01slapd: %+v", e)
	}
	if _, ok := got["rc2.d/S01nfs-common"]; ok {
		t.Errorf("a masked init script got a start link")
	}
}

func TestScriptSources(t *testing.T) {
	pk := scriptPackages(t)
	ans, err := AuditScripts(pk, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"users.daemon.home", "daemon postinst line 3: adduser --system --group --home /var/lib/daemon daemon  (user daemon)"},
		{`units["daemon.service"].enable`, "daemon postinst line 11: deb-systemd-helper enable 'daemon.service' >/dev/null  (unit enable)"},
		{"units.firewall.service", "firewall postinst line 6: deb-systemd-helper update-state 'firewall.service' >/dev/null  (unit no-enable)"},
		{"alternatives.editor", "firewall postinst line 3: update-alternatives --install /usr/bin/editor editor /usr/bin/fw-edit 80  (candidate /usr/bin/fw-edit priority 80)"},
		{"users.nobody", ""},
	} {
		got := strings.Join(ScriptSources(ans, tc.path), "\n")
		if !strings.Contains(got, tc.want) || (tc.want == "" && got != "") {
			t.Errorf("%s: got\n%s\nwant a line %q", tc.path, got, tc.want)
		}
	}
}

// TestUnhandledIsBuildError: an install-time action no recognizer
// handles stops the build, naming the package, script, line, command and
// both opt-outs; ignore takes it back; a stale ignore entry is an error.
func TestUnhandledIsBuildError(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"odd": {".kiln/control/control=Package: odd\nVersion: 1\n",
			".kiln/control/postinst=#!/bin/sh\nset -e\nfrobnicate --all /var/lib/odd\n"},
	})
	check := func(sys *modules.System) error {
		d, err := analyzeScripts(sys, pk)
		if err != nil {
			t.Fatal(err)
		}
		return checkUnhandled(sys, d)
	}
	err := check(&modules.System{})
	for _, want := range []string{"odd postinst line 3: frobnicate --all /var/lib/odd\n",
		`package_scripts "odd" { ignore = ["postinst:3"] }`, `package_scripts "odd" { enable = false }`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
	for _, ign := range []string{"postinst:3", "postinst:*"} {
		if err := check(&modules.System{PackageScripts: map[string]modules.PackageScripts{"odd": {Enable: true, Ignore: []string{ign}}}}); err != nil {
			t.Errorf("ignore %s: %v", ign, err)
		}
	}
	if err := check(&modules.System{PackageScripts: map[string]modules.PackageScripts{"odd": {Enable: false}}}); err != nil {
		t.Errorf("enable = false: %v", err)
	}
	err = check(&modules.System{PackageScripts: map[string]modules.PackageScripts{"odd": {Enable: true, Ignore: []string{"postinst:3", "postinst:9"}}}})
	if want := `package_scripts "odd": ignore entry "postinst:9" matches no unhandled action`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("stale entry: %v, want %q", err, want)
	}
}

// TestScriptCache: the second analysis of a closure is read from the
// cache, and says the same; another host name is another entry.
func TestScriptCache(t *testing.T) {
	pk := scriptPackages(t)
	dir := t.TempDir()
	sys := &modules.System{Networking: modules.Networking{HostName: "a"}}
	first, err := analyzeScriptsCached(sys, pk, dir, "sum")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("cache files %v, want 1", files)
	}
	second, err := analyzeScriptsCached(sys, pk, dir, "sum")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(first.an, second.an); d != "" {
		t.Errorf("cached analysis differs (-computed +cached):\n%s", d)
	}
	if _, err := analyzeScriptsCached(&modules.System{Networking: modules.Networking{HostName: "b"}}, pk, dir, "sum"); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(files) != 2 {
		t.Errorf("cache files %v, want 2", files)
	}
}

func TestTmpfilesMode(t *testing.T) {
	for _, tc := range []struct {
		mode string
		dir  bool
		want string
	}{
		{"0750", true, "0750"}, {"~2750", true, "~2750"}, {"", false, "-"},
		{"g+r", false, "0644"}, {"o-rwx,g-w", true, "0750"}, {"u=rw,go=", false, "0600"},
		{"g+s", true, "2755"}, {"a+x", false, "0755"},
	} {
		got, err := tmpfilesMode(tc.mode, tc.dir)
		if err != nil || got != tc.want {
			t.Errorf("tmpfilesMode(%q, %v) = %q, %v; want %q", tc.mode, tc.dir, got, err, tc.want)
		}
	}
	if _, err := tmpfilesMode("g+q", false); err == nil {
		t.Error("g+q: no error")
	}
}

// TestShippedTmpfilesOwners: a tmpfiles.d file a package ships naming a
// user its scripts make builds; with the scripts off, the build fails
// naming the file, line and user, and says what to do.
func TestShippedTmpfilesOwners(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"cacher": {".kiln/control/control=Package: cacher\nVersion: 1\n",
			".kiln/control/postinst=#!/bin/sh\nset -e\nadduser --system --group cacher\n",
			"usr/lib/tmpfiles.d/cacher.conf=d /run/cacher 0755 cacher cacher -\nd- /root :root 0700 root :root -\n"},
	})
	plan := func(sys *modules.System) error {
		d, err := analyzeScripts(sys, pk)
		if err != nil {
			return err
		}
		acc, err := planAccounts(sys, pk, d)
		if err != nil {
			return err
		}
		_, _, err = d.tmpfiles(pk, acc, nil)
		return err
	}
	if err := plan(&modules.System{}); err != nil {
		t.Errorf("with the scripts: %v", err)
	}
	err := plan(&modules.System{PackageScripts: map[string]modules.PackageScripts{"cacher": {Enable: false}}})
	want := `cacher usr/lib/tmpfiles.d/cacher.conf line 1: tmpfiles /run/cacher: no user "cacher" on this system (package_scripts "cacher" { enable = false } leaves out the scripts that make it`
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), `no group "cacher"`) {
		t.Errorf("scripts off: got %v, want %s...", err, want)
	}
}

// TestScriptUsrFiles: what a postinst writes under /usr (dovecot-imapd's
// protocols.d file) is a file of the package-scripts part; one replacing a
// file a package ships stays the package's, with a warning.
func TestScriptUsrFiles(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"imapd": {".kiln/control/control=Package: imapd\nVersion: 1\n",
			".kiln/control/postinst=#!/bin/sh\nset -e\nmkdir -p /usr/share/mail/protocols.d\n" +
				"echo 'protocols = $protocols imap' > /usr/share/mail/protocols.d/imapd.protocol\n" +
				"echo x > /usr/share/mail/shipped.conf\n" +
				"ln -s /usr/share/mail/shipped.conf /usr/lib/mail/link.conf\n",
			"usr/share/mail/shipped.conf=y\n"},
	})
	d, err := analyzeScripts(&modules.System{}, pk)
	if err != nil {
		t.Fatal(err)
	}
	files, warnings := d.usrFiles(pk)
	var got []string
	for _, f := range files {
		got = append(got, f.rel+" "+f.link+" "+strings.TrimSpace(string(f.data)))
	}
	want := []string{"usr/lib/mail/link.conf /usr/share/mail/shipped.conf ", "usr/share/mail/protocols.d/imapd.protocol  protocols = $protocols imap"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0].Text, "/usr/share/mail/shipped.conf: replaces a file package imapd ships") {
		t.Errorf("warnings: %v", warnings)
	}
	tmp := t.TempDir()
	if err := writeUsrFiles(files, tmp); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(tmp, "usr/share/mail/protocols.d/imapd.protocol")); err != nil || string(b) != "protocols = $protocols imap\n" {
		t.Errorf("written: %q %v", b, err)
	}
}

// TestSysVStartLinks: update-rc.d NAME defaults of an init script without
// a native unit becomes start links in rc2.d … rc5.d (what
// systemd-sysv-generator reads); units.NAME.enable = false and a later
// update-rc.d disable leave them out, and a script with a native unit
// (masked or not) gets none.
func TestSysVStartLinks(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"mta": {".kiln/control/control=Package: mta\nVersion: 1\n",
			".kiln/control/postinst=#!/bin/sh\nset -e\nupdate-rc.d mta defaults >/dev/null\n" +
				"update-rc.d quiet defaults\nupdate-rc.d quiet disable\nupdate-rc.d clock.sh defaults\n",
			"etc/init.d/mta=#!/bin/sh\n", "etc/init.d/quiet=#!/bin/sh\n", "etc/init.d/clock.sh=#!/bin/sh\n",
			"usr/lib/systemd/system/clock.service=[Service]\nExecStart=/bin/true\n",
			"usr/lib/systemd/system/getty@.service=[Service]\nExecStart=/bin/true\n"},
	})
	f := false
	for _, tc := range []struct {
		name string
		sys  modules.System
		want map[string]string
	}{
		{name: "as Debian", want: map[string]string{
			"rc2.d/S01mta": "../init.d/mta", "rc3.d/S01mta": "../init.d/mta", "rc4.d/S01mta": "../init.d/mta", "rc5.d/S01mta": "../init.d/mta"}},
		{name: "unit disabled", sys: modules.System{Units: map[string]modules.Unit{"mta.service": {Enable: &f}}}, want: map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := analyzeScripts(&tc.sys, pk)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := generateEtc(&tc.sys, pk, d)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, e := range entries {
				if strings.HasPrefix(e.Path, "rc") {
					if e.Kind != toplevel.EtcSymlink {
						t.Errorf("%s: kind %s, want a symlink", e.Path, e.Kind)
					}
					got[e.Path] = e.Target
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("rc links (-want +got):\n%s", d)
			}
		})
	}
}
