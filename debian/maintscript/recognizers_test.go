package maintscript

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// analyzeOne runs the analysis of one package made of files (names as
// in a store path, e.g. ".kiln/control/postinst") against a closure that
// ships closure's paths (a name ending in "/" is a directory, one
// starting with "x:" an executable, "l:name>target" a symbolic link).
func analyzeOne(t *testing.T, files map[string]string, closure []string, a Analyzer) *Analysis {
	t.Helper()
	pkg := fstest.MapFS{}
	for name, text := range files {
		pkg[name] = &fstest.MapFile{Data: []byte(text), Mode: 0o644}
	}
	cl := fstest.MapFS{}
	for _, p := range closure {
		switch {
		case strings.HasSuffix(p, "/"):
			cl[strings.TrimSuffix(p, "/")] = &fstest.MapFile{Mode: 0o755 | 1<<31}
		case strings.HasPrefix(p, "x:"):
			cl[p[2:]] = &fstest.MapFile{Mode: 0o755}
		case strings.HasPrefix(p, "l:"):
			name, target, _ := strings.Cut(p[2:], ">")
			cl[name] = &fstest.MapFile{Mode: fs.ModeSymlink | 0o777, Data: []byte(target)}
		default:
			cl[p] = &fstest.MapFile{Mode: 0o644}
		}
	}
	for name, f := range pkg {
		cl[name] = f
	}
	a.Closure = cl
	an, err := a.Analyze("p", pkg)
	if err != nil {
		t.Fatal(err)
	}
	return an
}

// lines is the analysis as its Text, without the package line and the
// provenance lines: one line per declaration or note.
func summaryLines(an *Analysis) []string {
	var out []string
	for _, l := range strings.Split(an.Text(), "\n")[1:] {
		if l != "" && !strings.HasPrefix(l, "  ") {
			out = append(out, l)
		}
	}
	return out
}

const postinst = ".kiln/control/postinst"

// TestRecognizers: each recognizer on the script forms the archive uses.
func TestRecognizers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		closure []string
		a       Analyzer
		want    []string
	}{{
		name: "adduser system user with its group and home",
		files: map[string]string{postinst: `#!/bin/sh
set -e
if [ "$1" = configure ]; then
	adduser --system --home /var/lib/redis --quiet --group redis || true
fi`},
		want: []string{
			"user redis system home=/var/lib/redis create-home shell=/usr/sbin/nologin",
			"group redis system",
		},
	}, {
		name: "adduser without --group puts the user in nogroup; addgroup and membership",
		files: map[string]string{postinst: `#!/bin/sh
adduser --system --no-create-home --home /run/x --shell /bin/false --gecos "X daemon" --uid 120 x
addgroup --system --gid 130 xg
adduser x xg`},
		want: []string{
			`user x system uid=120 group=nogroup home=/run/x shell=/bin/false comment="X daemon"`,
			"group xg system gid=130",
			"member x of xg",
		},
	}, {
		name: "ls on known paths answers whether they exist, -L through links",
		files: map[string]string{postinst: `#!/bin/sh
if ls -L /usr/lib/p/link >/dev/null 2>&1; then mkdir -p /var/lib/link-resolves; fi
if ls /usr/lib/p/dangling >/dev/null 2>&1; then mkdir -p /var/lib/dangling-listed; fi
if ls -L /usr/lib/p/dangling >/dev/null 2>&1; then mkdir -p /var/lib/dangling-resolves; fi
if ls /usr/lib/p/missing >/dev/null 2>&1; then mkdir -p /var/lib/missing-listed; fi`},
		closure: []string{"usr/lib/p/", "usr/lib/p/real", "l:usr/lib/p/link>real", "l:usr/lib/p/dangling>gone"},
		want: []string{
			"tmpfiles d /var/lib/link-resolves - - - -",
			"tmpfiles d /var/lib/dangling-listed - - - -",
		},
	}, {
		name: "a2enmod enables a module's Depends first",
		files: map[string]string{
			postinst: "#!/bin/sh\na2enmod -q authz_host\n",
			"etc/apache2/mods-available/authz_host.load": "# Depends: authz_core\nLoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so\n",
			"etc/apache2/mods-available/authz_core.load": "LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n",
		},
		want: []string{
			"file /etc/apache2/mods-enabled/authz_core.load link -> ../mods-available/authz_core.load",
			"file /etc/apache2/mods-enabled/authz_host.load link -> ../mods-available/authz_host.load",
		},
	}, {
		name: "useradd and groupadd",
		files: map[string]string{postinst: `#!/bin/sh
groupadd -r -g 99 svc
useradd -r -M -d /var/lib/svc -s /usr/sbin/nologin -g svc -G adm,systemd-journal -c "Svc" svc
usermod -a -G dialout svc`},
		want: []string{
			`user svc system group=svc groups=adm,systemd-journal home=/var/lib/svc shell=/usr/sbin/nologin comment="Svc"`,
			"group svc system gid=99",
			"member svc of dialout",
		},
	}, {
		name: "sysusers.d and tmpfiles.d files the package ships",
		files: map[string]string{
			"usr/lib/sysusers.d/p.conf":  "# users\nu p - \"P daemon\" /var/lib/p\ng pgroup 777\nm p pgroup\n",
			"usr/lib/tmpfiles.d/p.conf":  "d /var/lib/p 0750 p p -\nL /etc/p.conf - - - - /usr/share/p/p.conf\n",
			".kiln/control/postinst":     "#!/bin/sh\nsystemd-sysusers p.conf\nsystemd-tmpfiles --create p.conf >/dev/null || true\n",
			".kiln/control/conffiles":    "",
			".kiln/control/control":      "Package: p\nVersion: 1.0-1\n",
			"usr/share/doc/p/copyright":  "",
			"usr/lib/tmpfiles.d/README":  "not a conf file",
			"usr/lib/sysusers.d/.hidden": "",
		},
		want: []string{
			`user p system home=/var/lib/p shell=/usr/sbin/nologin comment="P daemon"`,
			"group p system",
			"group pgroup system gid=777",
			"member p of pgroup",
			"tmpfiles d /var/lib/p 0750 p p - (shipped)",
			"tmpfiles L /etc/p.conf - - - - /usr/share/p/p.conf (shipped)",
			"ignored: applies the package's sysusers.d files, declared from the files themselves",
			"ignored: applies the package's tmpfiles.d files, declared from the files themselves",
		},
	}, {
		name:  "dh_installsystemd: enabled and started on a fresh install",
		files: map[string]string{postinst: dhEnable("x.service") + dhStart("x.service")},
		want: []string{
			"unit enable x.service",
			"unit start x.service (if enabled)",
			"ignored: removes a mask a removal left: a fresh system has none",
			"ignored: systemctl daemon-reload: the switch reloads systemd",
		},
	}, {
		name: "dh_installsystemd --no-enable registers the unit but leaves it disabled",
		files: map[string]string{postinst: `#!/bin/sh
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ] ; then
	if deb-systemd-helper debian-installed 'nftables.service'; then
		deb-systemd-helper unmask 'nftables.service' >/dev/null || true
		if deb-systemd-helper --quiet was-enabled 'nftables.service'; then
			deb-systemd-helper enable 'nftables.service' >/dev/null || true
		fi
	fi
	deb-systemd-helper update-state 'nftables.service' >/dev/null || true
fi`},
		want: []string{"unit no-enable nftables.service"},
	}, {
		name: "restart only on upgrade: the fresh install starts",
		files: map[string]string{postinst: `#!/bin/sh
if [ -n "$2" ]; then
	_dh_action=restart
else
	_dh_action=start
fi
deb-systemd-invoke $_dh_action 'x.service' >/dev/null || true
if dpkg --compare-versions "$2" lt-nl 1.0; then
	touch /var/lib/x/migrated
fi`},
		want: []string{"unit start x.service (if enabled)"},
	}, {
		name: "dh_installinit with a native unit: the init script is skipped",
		files: map[string]string{postinst: `#!/bin/sh
if [ -x "/etc/init.d/x" ]; then
	update-rc.d x defaults >/dev/null
	invoke-rc.d --skip-systemd-native x start || exit 1
fi`},
		closure: []string{"x:etc/init.d/x", "lib/systemd/system/x.service"},
		want: []string{
			"ignored: init script links: systemd runs the native x.service instead",
			"ignored: skipped: systemd has the native x.service",
		},
	}, {
		name: "an init script NAME.sh is systemd's NAME.service, and a masked native unit counts (util-linux-extra's hwclock.sh)",
		files: map[string]string{postinst: `#!/bin/sh
update-rc.d hwclock.sh defaults >/dev/null`},
		closure: []string{"x:etc/init.d/hwclock.sh", "l:lib/systemd/system/hwclock.service>/dev/null"},
		want:    []string{"ignored: init script links: systemd has hwclock.service masked: the init script never runs"},
	}, {
		name: "dh_installinit without a native unit: systemd-sysv-generator's unit is enabled",
		files: map[string]string{postinst: `#!/bin/sh
update-rc.d y defaults >/dev/null
invoke-rc.d --skip-systemd-native y start`},
		closure: []string{"x:etc/init.d/y"},
		want:    []string{"unit enable y.service (sysv)", "unit start y.service (sysv)"},
	}, {
		name: "update-alternatives with slaves; the highest priority wins",
		files: map[string]string{postinst: `#!/bin/sh
update-alternatives --quiet --install /usr/bin/awk awk /usr/bin/mawk 5 \
	--slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz
update-alternatives --install /usr/bin/awk awk /usr/bin/gawk 10`},
		want: []string{
			"alternative awk /usr/bin/awk -> /usr/bin/mawk priority 5; slave awk.1.gz /usr/share/man/man1/awk.1.gz -> /usr/share/man/man1/mawk.1.gz",
			"alternative awk /usr/bin/awk -> /usr/bin/gawk priority 10",
		},
	}, {
		name: "mkdir, chown, chmod and dpkg-statoverride under /var and /etc fold into tmpfiles entries",
		files: map[string]string{postinst: `#!/bin/sh
DIR=/var/log/x
mkdir -p $DIR
if ! dpkg-statoverride --list $DIR >/dev/null 2>&1; then
	chown x:adm $DIR
	chmod 2750 $DIR
fi
install -d -m 0755 -o x -g x /run/x
dpkg-statoverride --update --add root x 0640 /etc/x/secret.conf
touch /var/log/x/x.log
chown -R x /var/lib/x`},
		want: []string{
			"tmpfiles d /var/log/x 2750 x adm -",
			"tmpfiles d /run/x 0755 x x -",
			"tmpfiles z /etc/x/secret.conf 0640 root x -",
			"tmpfiles f /var/log/x/x.log - - - -",
			"tmpfiles Z /var/lib/x - x - -",
		},
	}, {
		name: "dpkg-statoverride --list PATTERN | while read: the body runs once per override the scripts added (none on a fresh install)",
		files: map[string]string{postinst: `#!/bin/sh
dpkg-statoverride --update --add x adm 0640 /var/log/x/a.log
for pat in /var/\*/x /var/\*/x/\*; do
	eval dpkg-statoverride --list $pat | while read USER GROUP MODE FILE; do
		chown ${USER}:${GROUP} $FILE
		chmod $MODE $FILE
	done
done
dpkg-statoverride --list '/run/*' | while read USER GROUP MODE FILE; do
	chown ${USER}:${GROUP} $FILE
done`},
		want: []string{
			"tmpfiles z /var/log/x/a.log 0640 x adm -",
		},
	}, {
		name: "an alias runs its text's words: exim4-config's stripwhitespace is a sed",
		files: map[string]string{postinst: `#!/bin/sh
alias stripwhitespace="sed -e 's/^[[:blank:]]*//' -e 's/[[:blank:]]*$//'"
name="$(printf '%s\n' "  $(hostname --fqdn)  " | stripwhitespace)"
echo $name > /etc/mailname`},
		a:    Analyzer{HostName: "mx1.example.org"},
		want: []string{`file /etc/mailname content "mx1.example.org\n"`},
	}, {
		name: "a while loop with a decided condition runs as the shell runs it (a debconf state machine), expr decides, awk rewrites NAME= lines from the environment",
		files: map[string]string{postinst: `#!/bin/sh
STATE=1
while [ "$STATE" != 0 ] && [ "$STATE" -le 3 ]; do
	case "$STATE" in
	1) FORW=3 ;;
	2) iface=wrong; FORW=3 ;;
	3) iface='127.0.0.1 ; ::1'; FORW=4 ;;
	esac
	STATE=$FORW
done
if expr ", a, b," : ".*, None,.*" >/dev/null; then
	iface=none
fi
while true; do
	break
done
cat > /etc/p.conf <<EOF
# p
iface=
other=x
EOF
names="iface"
export names iface
awk '
	BEGIN {
		split( ENVIRON["names"], directives, "[ \t]" );
	}
	{
		written = 0;
		for ( i in directives )
		   {
		       regex = "^[ \t]*" directives[i] "=";
		       if ( ( $0 ~ regex ) && ( ! written ) )
			   {
			       # quoted
			       print directives[i] "=\x27" ENVIRON[directives[i]] "\x27";
			       written = 1;
			       break;
			   }
		   }
		   if ( ! written )
		       print $0;
	}' < /etc/p.conf > /etc/p.conf.tmp
mv /etc/p.conf.tmp /etc/p.conf`},
		want: []string{
			`file /etc/p.conf content "# p\niface='127.0.0.1 ; ::1'\nother=x\n"`,
		},
	}, {
		name: "setcap, a setuid statoverride and chmod u+s in the store are wrappers",
		files: map[string]string{postinst: `#!/bin/sh
if command -v setcap > /dev/null && setcap cap_net_raw+ep /usr/bin/ping; then
	:
else
	chmod u+s /usr/bin/ping
fi
dpkg-statoverride --update --add root crontab 2755 /usr/bin/crontab`},
		closure: []string{"x:usr/sbin/setcap", "x:usr/bin/ping", "x:usr/bin/crontab"},
		want: []string{
			"wrapper /usr/bin/ping capabilities=cap_net_raw+ep",
			"wrapper /usr/bin/crontab owner=root group=crontab mode=2755",
		},
	}, {
		name: "setcap of several CAPS PATH pairs (monitoring-plugins-basic)",
		files: map[string]string{postinst: `#!/bin/sh
plugindir=/usr/lib/nagios/plugins
setcap "cap_net_raw+ep" ${plugindir}/check_icmp "cap_net_bind_service=+ep cap_net_raw=+ep" ${plugindir}/check_dhcp`},
		closure: []string{"x:usr/lib/nagios/plugins/check_icmp", "x:usr/lib/nagios/plugins/check_dhcp"},
		want: []string{
			"wrapper /usr/lib/nagios/plugins/check_icmp capabilities=cap_net_raw+ep",
			"wrapper /usr/lib/nagios/plugins/check_dhcp capabilities=cap_net_bind_service=+ep cap_net_raw=+ep",
		},
	}, {
		name: "ucf and cp of templates, a link, a here-document and a sed-edited template are /etc files",
		files: map[string]string{postinst: `#!/bin/sh
ucf /usr/share/x/x.conf /etc/x/x.conf
ucfr x /etc/x/x.conf
ln -s /etc/x/sites-available/default /etc/x/sites-enabled/default
cat > /etc/x/motd <<EOF
hello $(hostname)
EOF
TMP=$(mktemp)
sed -e "s/^port =.*/port = 80/" /usr/share/x/y.conf > $TMP
chmod 644 $TMP
ucf --debconf-ok $TMP /etc/x/y.conf
rm -f $TMP`},
		closure: []string{"usr/share/x/x.conf", "usr/share/x/y.conf", "etc/x/sites-enabled/"},
		a:       Analyzer{HostName: "web1.example.org"},
		want: []string{
			"file /etc/x/x.conf copy of /usr/share/x/x.conf (ucf)",
			"file /etc/x/sites-enabled/default link -> /etc/x/sites-available/default",
			`file /etc/x/motd content "hello web1\n"`,
			`file /etc/x/y.conf copy of /usr/share/x/y.conf edit sed "-e s/^port =.*/port = 80/" (ucf)`,
			"ignored: registers a config file with ucf: kiln's /etc is generated",
			"ignored: removes leftovers of an older version or a previous run, or what the script made earlier",
		},
	}, {
		name: "debconf: a template's default decides, an answer overrides it",
		files: map[string]string{
			".kiln/control/templates": "Template: x/enable\nType: boolean\nDefault: true\nDescription: Enable?\n\nTemplate: x/port\nType: string\nDefault: 80\nDescription: Port:\n",
			".kiln/control/config":    "#!/bin/sh\n. /usr/share/debconf/confmodule\ndb_input medium x/port || true\ndb_go\n",
			postinst: `#!/bin/sh
. /usr/share/debconf/confmodule
db_get x/enable
if [ "$RET" = true ]; then
	db_get x/port
	echo "port $RET" > /etc/x.conf
fi
db_stop`,
		},
		a: Analyzer{Answers: map[string]string{"x/port": "8080"}},
		want: []string{
			`file /etc/x.conf content "port 8080\n"`,
			"debconf input x/port type=string",
			`debconf get x/enable type=boolean value="true"`,
			`debconf get x/port type=string value="8080"`,
		},
	}, {
		name: "debconf: db_get of a question no package of the closure defines fails (exim4-config's passwd/username)",
		files: map[string]string{
			".kiln/control/templates": "Template: x/postmaster\nType: string\nDefault:\nDescription: Who?\n",
			postinst: `#!/bin/sh
. /usr/share/debconf/confmodule
db_get x/postmaster
if [ -z "$RET" ] && db_get passwd/username; then
	db_set x/postmaster "${RET}"
fi
db_get x/postmaster
if [ -n "$RET" ]; then
	echo "root: $RET" >> /etc/aliases
fi`,
		},
		want: []string{
			`debconf get x/postmaster type=string value=""`,
			"debconf get passwd/username (no such question: db_get fails)",
			`debconf get x/postmaster type=string value=""`,
		},
	}, {
		name: "triggers: interest runs postinst triggered; activating ldconfig is a cache",
		files: map[string]string{
			".kiln/control/triggers": "interest-noawait /usr/share/fonts\nactivate-noawait ldconfig\n",
			postinst: `#!/bin/sh
case "$1" in
triggered) fc-cache -s ;;
configure) update-ca-certificates --fresh ;;
esac`,
		},
		want: []string{
			"cache ldconfig",
			"cache ca-certificates",
			"cache fontconfig",
			"trigger interest /usr/share/fonts (noawait)",
			"trigger activate ldconfig (noawait)",
		},
	}, {
		name: "first-run state: a cluster, snakeoil keys, host keys",
		files: map[string]string{postinst: `#!/bin/sh
VERSION=${DPKG_MAINTSCRIPT_PACKAGE##*-}
pg_createcluster -u postgres --no-status $VERSION main
make-ssl-cert generate-default-snakeoil --force-overwrite
for t in rsa ed25519; do
	if [ ! -f /etc/ssh/ssh_host_${t}_key ]; then
		ssh-keygen -q -f /etc/ssh/ssh_host_${t}_key -N '' -t $t
	fi
done`},
		want: []string{
			"first-run postgresql-cluster creates=/var/lib/postgresql/p/main: pg_createcluster -u postgres --no-status p main",
			"first-run ssl-cert-snakeoil creates=/etc/ssl/private/ssl-cert-snakeoil.key: make-ssl-cert generate-default-snakeoil --force-overwrite",
			"first-run ssh-host-keys creates=/etc/ssh/ssh_host_rsa_key: ssh-keygen -q -f /etc/ssh/ssh_host_rsa_key -N  -t rsa",
			"first-run ssh-host-keys creates=/etc/ssh/ssh_host_ed25519_key: ssh-keygen -q -f /etc/ssh/ssh_host_ed25519_key -N  -t ed25519",
		},
	}, {
		name: "vgcfgbackup and ufw app update need nothing on a fresh system; other ufw commands are unhandled",
		files: map[string]string{postinst: `#!/bin/sh
vgcfgbackup >/dev/null 2>&1 || :
ufw app update all
ufw allow 22`},
		want: []string{
			"ignored: backs up the metadata of the machine's LVM volume groups into /etc/lvm/backup: a fresh system's packages make none, and LVM's tools back one up at every change",
			"ignored: ufw app update rewrites the rules made from application profiles: a fresh install has none",
			"UNHANDLED: ufw changes the firewall's rules",
		},
	}, {
		name: "writes into ucf's state need nothing (clamav-daemon's ucf_cleanup)",
		files: map[string]string{postinst: `#!/bin/sh
configfile=/etc/clamav/clamd.conf
# (the test an undecided one: on a machine ucf's registry exists)
if [ -e /proc/self/x ]; then
	grep -v "$configfile" /var/lib/ucf/hashfile > /var/lib/ucf/hashfile.tmp
	grep "$configfile" /var/lib/ucf/hashfile | tail -n 1  >> /var/lib/ucf/hashfile.tmp
	mv /var/lib/ucf/hashfile.tmp /var/lib/ucf/hashfile
fi
cp /var/lib/clamav/clamav.conf /var/lib/ucf/cache/:etc:clamav:clamd.conf`},
		want: []string{
			"ignored: ucf's own state (its registry and merge cache under /var/lib/ucf): kiln's /etc is made by each generation, and no later ucf run reads it",
			"ignored: ucf's own state (its registry and merge cache under /var/lib/ucf): kiln's /etc is made by each generation, and no later ucf run reads it",
			"ignored: ucf's own state (its registry and merge cache under /var/lib/ucf): kiln's /etc is made by each generation, and no later ucf run reads it",
			"ignored: ucf's own state (its registry and merge cache under /var/lib/ucf): kiln's /etc is made by each generation, and no later ucf run reads it",
		},
	}, {
		name: "while read over a descriptor the loop opens on a known file (cryptsetup's crypttab); another IFS is not split",
		files: map[string]string{postinst: "#!/bin/sh\ncat > /etc/t <<EOF\n# name\tvalue\nroot x\nEOF\n" +
			"while IFS=\" \t\" read -r a b <&9; do\n\tif [ \"${a#\\#}\" != \"$a\" ]; then continue; fi\n\techo \"$b\" > /var/lib/t/$a\ndone 9</etc/t\n" +
			"while IFS=: read -r a b; do\n\ttouch /var/lib/u/$a\ndone </etc/t\n"},
		want: []string{
			"tmpfiles f /var/lib/t/root - - - - x\\n",
			`file /etc/t content "# name\tvalue\nroot x\n"`,
			"UNHANDLED: touch of a path the analysis cannot resolve: /var/lib/u/$a",
		},
	}, {
		name: "a secret copied from the kernel's randomness is first-run state; uname -n is the host name (varnish)",
		files: map[string]string{postinst: `#!/bin/sh
daemon_dir=/var/lib/varnish/$(uname -n)
if ! [ -d "$daemon_dir" ]; then
	install -o varnish -g varnish -d $daemon_dir
fi
if ! [ -f /etc/varnish/secret ]; then
	if [ -f /proc/sys/kernel/random/uuid ]; then
		install -m 0600 /proc/sys/kernel/random/uuid /etc/varnish/secret
	else
		dd if=/dev/urandom count=1 bs=128 2>/dev/null | tr -dc "A-Za-z0-9" > /etc/varnish/secret
	fi
fi`},
		a: Analyzer{HostName: "cache1.example.org"},
		want: []string{
			"tmpfiles d /var/lib/varnish/cache1 - varnish varnish -",
			"first-run random-secret creates=/etc/varnish/secret: install -m 0600 /proc/sys/kernel/random/uuid /etc/varnish/secret",
		},
	}, {
		name: "sqlite3 DATABASE < SCHEMA is first-run state, and a chown of only what it made runs after it (coturn)",
		files: map[string]string{postinst: `#!/bin/sh
if [ ! -e /var/lib/turn/turndb ] && [ -e /usr/share/coturn/schema.sql ]; then
	( umask 007 && sqlite3 /var/lib/turn/turndb < /usr/share/coturn/schema.sql )
	chown turnserver:turnserver /var/lib/turn/turndb
fi`},
		closure: []string{"usr/share/coturn/schema.sql"},
		want: []string{
			"tmpfiles z /var/lib/turn/turndb - turnserver turnserver -",
			"first-run sqlite-database creates=/var/lib/turn/turndb: sqlite3 /var/lib/turn/turndb .read /usr/share/coturn/schema.sql; then chown turnserver:turnserver /var/lib/turn/turndb",
		},
	}, {
		name: "usermod -U and -e '' of an account need nothing (ceph-common); another expiry date is unhandled",
		files: map[string]string{postinst: `#!/bin/sh
adduser --quiet --system --no-create-home --disabled-password --home /var/lib/ceph ceph
usermod -U -e '' ceph
usermod -U ceph
usermod -e 2030-01-01 ceph`},
		want: []string{
			"user ceph system group=nogroup home=/var/lib/ceph shell=/usr/sbin/nologin",
			"ignored: unlocks an account: kiln's system accounts have no password and never expire, so nothing is locked",
			"ignored: unlocks an account: kiln's system accounts have no password and never expire, so nothing is locked",
			"UNHANDLED: usermod -e sets an expiry date",
		},
	}, {
		name: "nsd-control-setup's keys are first-run state (nsd)",
		files: map[string]string{postinst: `#!/bin/sh
if ! [ -f /etc/nsd/nsd_control.key ]; then
	nsd-control-setup >/dev/null 2>&1 || true
fi
if ! [ -f /etc/nsd/nsd_control.key ]; then
	echo never
fi`},
		want: []string{
			"first-run nsd-control-keys creates=/etc/nsd/nsd_control.key: nsd-control-setup",
		},
	}, {
		// ssl-cert's make-ssl-cert makes the pair: dovecot-core's postinst
		// (bookworm) links it when both halves exist.
		name: "a first-run command's other paths exist for later file tests",
		files: map[string]string{postinst: `#!/bin/sh
set -e
make-ssl-cert generate-default-snakeoil
if [ "$1" = "configure" ]; then
  if [ -z "$2" ]; then
    if [ ! -e /etc/dovecot/private/dovecot.key ] && \
       [ ! -e /etc/dovecot/private/dovecot.pem ] && \
       [ -e /etc/ssl/certs/ssl-cert-snakeoil.pem ] && \
       [ -e /etc/ssl/private/ssl-cert-snakeoil.key ]; then
      ln -s /etc/ssl/certs/ssl-cert-snakeoil.pem /etc/dovecot/private/dovecot.pem
      ln -s /etc/ssl/private/ssl-cert-snakeoil.key /etc/dovecot/private/dovecot.key
    fi
  fi
fi`},
		want: []string{
			"file /etc/dovecot/private/dovecot.pem link -> /etc/ssl/certs/ssl-cert-snakeoil.pem",
			"file /etc/dovecot/private/dovecot.key link -> /etc/ssl/private/ssl-cert-snakeoil.key",
			"first-run ssl-cert-snakeoil creates=/etc/ssl/private/ssl-cert-snakeoil.key: make-ssl-cert generate-default-snakeoil",
		},
	}, {
		// slapd's create_new_slapd_conf: the mktemp copy of a template,
		// its sed edits (the password hash a secret of the machine),
		// slapadd, the chown -R of what it made.
		name: "a first-run command's temporary input, its secret, the chown after it",
		files: map[string]string{postinst: `#!/bin/sh
set -e
. /usr/share/debconf/confmodule
db_get slapd/password1
if [ -z "$RET" ]; then adminpass="$(slappasswd -s "$(head -c 15 /dev/urandom | base64)")"; fi
initldif=$(mktemp -t slapadd.XXXXXX)
cat /usr/share/p/init.ldif > ${initldif}
sed -i -e "s|@SUFFIX@|dc=example,dc=org|g" ${initldif}
sed -i -e "s|@PASSWORD@|$adminpass|g" ${initldif}
slapadd -F /etc/ldap/slapd.d -b cn=config -l "${initldif}"
cat <<EOF > "${initldif}"
dn: dc=example,dc=org
EOF
slapadd -F /etc/ldap/slapd.d -b dc=example,dc=org -l "${initldif}"
chown -R -H openldap /etc/ldap/slapd.d
rm -f "${initldif}"`, ".kiln/control/templates": "Template: slapd/password1\nType: password\nDescription: x\n"},
		closure: []string{"usr/share/p/init.ldif"},
		want: []string{
			"tmpfiles Z /etc/ldap/slapd.d - openldap - -",
			`debconf get slapd/password1 type=password value=""`,
			"first-run slapd-database creates=/etc/ldap/slapd.d/cn=config.ldif: slapadd -F /etc/ldap/slapd.d -b cn=config -l $(mktemp -t slapadd.XXXXXX)",
			"first-run slapd-database input $(mktemp -t slapadd.XXXXXX): copy of /usr/share/p/init.ldif, sed -e s|@SUFFIX@|dc=example,dc=org|g, secret @PASSWORD@ made by slappasswd on the machine",
			"first-run slapd-database: slapadd -F /etc/ldap/slapd.d -b dc=example,dc=org -l $(mktemp -t slapadd.XXXXXX); then chown -R -H openldap /etc/ldap/slapd.d",
			`first-run slapd-database input $(mktemp -t slapadd.XXXXXX): text "dn: dc=example,dc=org\n"`,
			"ignored: removes leftovers of an older version or a previous run, or what the script made earlier",
		},
	}, {
		// munin-node's init_plugins: what munin-node-configure --shell
		// prints, run by sh; the log of it.
		name: "a printer's shell commands run by sh are a first-run pipeline",
		files: map[string]string{postinst: `#!/bin/sh
set -e
TMPFILE=$(mktemp /tmp/munin-node.configure.XXXXXXXXXX)
CMD="munin-node-configure --shell"
$CMD 2>/dev/null >"$TMPFILE" || true
{
	echo "$(date) - Starting $CMD"
	cat "$TMPFILE"
} >>/var/log/munin/munin-node-configure.log
sh <"$TMPFILE"
rm -f "$TMPFILE"`},
		want: []string{
			"first-run munin-plugins: /bin/sh -c munin-node-configure --shell | /bin/sh",
			"ignored: writes a log of what the script ran under /var/log: nothing reads it (on kiln, what a first-run command prints is in its unit's journal)",
			"ignored: removes leftovers of an older version or a previous run, or what the script made earlier",
		},
	}, {
		// mariadb-common runs mysql-common's configure-symlinks; nfs-common's
		// md5sum check of its ucf copy decides that nfsconvert.py does not run.
		name: "a helper script of the closure run by path, md5sum of a copy the script made",
		files: map[string]string{postinst: `#!/bin/sh
set -e
/usr/share/q/configure-symlinks install mariadb "/etc/mysql/mariadb.cnf"
ucf /usr/share/p/default /etc/default/p
if ! md5sum --status --ignore-missing -c <<EOF
d41d8cd98f00b204e9800998ecf8427e  /etc/default/p
0123456789abcdef0123456789abcdef  /etc/default/missing
EOF
then
	/usr/share/p/convert.py
fi`, "usr/share/q/configure-symlinks": "#!/bin/sh\nset -e\ncase \"$1\" in\n  install)\n    update-alternatives --install /etc/mysql/my.cnf my.cnf \"$3\" 200\n  ;;\nesac\n"},
		closure: []string{"usr/share/p/default", "etc/mysql/mariadb.cnf"},
		want: []string{
			"alternative my.cnf /etc/mysql/my.cnf -> /etc/mysql/mariadb.cnf priority 200",
			"file /etc/default/p copy of /usr/share/p/default (ucf)",
		},
	}, {
		// mariadb-server's preinst and postinst: the paths under the
		// datadir not owned by mysql, chowned to mysql, is chown -R.
		name: "xargs chown of what a find lists by another owner is chown -R",
		files: map[string]string{postinst: `#!/bin/sh
set -e
adduser --system --group mysql
mkdir -Z /var/lib/mysql
set +e
find /var/lib/mysql ! -uid "$(id -u mysql)" -print0 | xargs -0 -r chown mysql
find /var/lib/mysql -follow -not -group mysql -print0 2>/dev/null \
  | xargs -0 --no-run-if-empty chgrp mysql
find /usr/share/mysql ! -uid 0 -print0 -or ! -gid 0 -print0 | xargs -0 -r sudo chown 0:0
find /var/lib/mysql ! -uid 0 -print0 | xargs -0 -r chown mysql
set -e`},
		closure: []string{"usr/share/mysql/"},
		want: []string{
			"user mysql system home=/nonexistent shell=/usr/sbin/nologin",
			"group mysql system",
			"tmpfiles d /var/lib/mysql - mysql mysql -",
			"ignored: restricts a directory of the store, which is root-owned and world-readable by design (docs/design.md §3): /usr/share/mysql",
			"UNHANDLED: xargs chown of paths a find selects by another owner",
		},
	}, {
		name: "conffile moves and cleanups need nothing on a fresh system",
		files: map[string]string{postinst: `#!/bin/sh
set -e
dpkg-maintscript-helper rm_conffile /etc/x/old.conf 1.0~ -- "$@"
[ -x /usr/bin/gone ] || exit 0
rm -f /etc/x/old.conf.dpkg-bak
exit 0
adduser never`},
		want: []string{
			"ignored: dpkg-maintscript-helper moves or removes an older version's conffiles and directories: a fresh system has none",
		},
	}, {
		name: "a function's positional parameters, a loop, && and ||",
		files: map[string]string{postinst: `#!/bin/sh
setup() {
	mkdir -p "$1" && chown "$2" "$1" || echo failed >&2
}
for d in /var/lib/a /var/lib/b; do setup $d a; done`},
		want: []string{
			"tmpfiles d /var/lib/a - a - -",
			"tmpfiles d /var/lib/b - a - -",
		},
	}, {
		name: "an undecidable condition follows both branches",
		files: map[string]string{postinst: `#!/bin/sh
if pidof x >/dev/null; then
	systemctl start x.service
else
	systemctl enable x.service
fi`},
		want: []string{"unit start x.service", "unit enable x.service"},
	}, {
		// postfix postinst: chgrp fails while the group does not exist,
		// so on a fresh install the group and user are made.
		name: "chown and chgrp to an account that does not exist fail",
		files: map[string]string{postinst: `#!/bin/sh
set -e
cd /var/spool/postfix
chgrp postfix private 2>/dev/null ||
    addgroup --system postfix
chown postfix private 2>/dev/null ||
    adduser --system --home /var/spool/postfix --no-create-home --disabled-password --ingroup postfix postfix`,
			// base-passwd's tables: the accounts a fresh system has
			"usr/share/base-passwd/passwd.master": "root:*:0:0:root:/root:/bin/sh\n",
			"usr/share/base-passwd/group.master":  "root:*:0:\n"},
		want: []string{"user postfix system group=postfix home=/var/spool/postfix shell=/usr/sbin/nologin", "group postfix system"},
	}, {
		name: "what nothing recognizes is unhandled, with its line and command",
		files: map[string]string{postinst: `#!/bin/sh
set -e
/usr/lib/x/x-setup --init
echo "$(date)" >> /etc/x.log`},
		want: []string{
			"UNHANDLED: no recognizer for x-setup",
			"UNHANDLED: writes /etc/x.log with echo",
		},
	}, {
		name: "chown user.group, the old separator",
		files: map[string]string{postinst: `#!/bin/sh
set -e
adduser --system --group snmp
mkdir -p /var/lib/snmp
chown snmp.snmp /var/lib/snmp`},
		want: []string{"user snmp system home=/nonexistent shell=/usr/sbin/nologin", "group snmp system", "tmpfiles d /var/lib/snmp - snmp snmp -"},
	}, {
		name: "a comment line appended, whatever it says, needs nothing",
		files: map[string]string{postinst: `#!/bin/sh
set -e
for l in $(cat /nonexistent); do echo "# $l" >> /etc/x.gen; done`},
		want: []string{"ignored: appends a comment line to /etc/x.gen: a comment changes nothing"},
	}, {
		name: "the config script computes question values only",
		files: map[string]string{".kiln/control/config": `#!/bin/sh
set -e
. /usr/share/debconf/confmodule
V=$(sh /usr/share/x/versions)
db_input low x/obsolete || true`},
		want: []string{"debconf input x/obsolete", "ignored: computes a value for a debconf question in the config script: runs the shell script /usr/share/x/versions"},
	}, {
		name: "tftpd-hpa: a file the script wrote, copied, filtered by sed from its input and moved back",
		files: map[string]string{postinst: `#!/bin/sh
CONFFILE="/etc/default/tftpd-hpa"
TFTP_USERNAME=tftp
TFTP_OPTIONS=--secure
if [ ! -e "${CONFFILE}" ]
then
cat > "${CONFFILE}" << EOF
TFTP_USERNAME="${TFTP_USERNAME}"
TFTP_OPTIONS=""
EOF
fi
cp -a -f "${CONFFILE}" "${CONFFILE}.tmp"
test -z "${TFTP_OPTIONS}" || \
grep -Eq '^ *TFTP_OPTIONS=' "${CONFFILE}" || \
echo "TFTP_OPTIONS=" >> "${CONFFILE}"
sed -e "s|^ *TFTP_USERNAME=.*|TFTP_USERNAME=\"${TFTP_USERNAME}\"|" \
    -e "s|^ *TFTP_OPTIONS=.*|TFTP_OPTIONS=\"${TFTP_OPTIONS}\"|" \
< "${CONFFILE}" > "${CONFFILE}.tmp"
mv -f "${CONFFILE}.tmp" "${CONFFILE}"`},
		want: []string{`file /etc/default/tftpd-hpa content "TFTP_USERNAME=\"tftp\"\nTFTP_OPTIONS=\"--secure\"\n"`},
	}, {
		name: "apache2-maintscript-helper: dpkg-query -W -f '${Status}' answers from the closure; apache2ctl configtest",
		files: map[string]string{postinst: `#!/bin/sh
APACHE2_MAINTSCRIPT_DEFER=
if ! dpkg-query -f '${Status}' -W p|egrep -q 'installed|triggers-awaited|triggers-pending'; then
	APACHE2_MAINTSCRIPT_DEFER=/var/lib/apache2/deferred_actions
fi
if [ -n "$APACHE2_MAINTSCRIPT_DEFER" ] ; then
	echo "p apache2_invoke enconf p" >> "$APACHE2_MAINTSCRIPT_DEFER"
fi
dpkg-query -f '${Status}' -W nginx || touch /var/lib/p/no-nginx
tmpfile=$(mktemp)
if apache2ctl configtest > $tmpfile 2>&1; then
	invoke-rc.d apache2 reload || true
fi`},
		want: []string{
			"tmpfiles f /var/lib/p/no-nginx - - - -",
			"ignored: apache2ctl configtest checks the configuration before a reload: kiln's switch reloads apache2",
			"ignored: reload of running units: kiln's switch restarts what changed",
		},
	}, {
		name: "squid: squid -k parse prints squid.conf's directives, grepconf's sed picks one or the default",
		files: map[string]string{
			postinst: `#! /bin/sh
grepconf () {
	w=" 	" # space tab
	# sed is cool.
	res=` + "`" + `squid -k parse 2>&1 |
		grep "Processing:" |
		sed s/.*Processing:\ // |
		sed -ne '
			s/^'$1'['"$w"']\+\([^'"$w"']\+\).*$/\1/p;
			t end;
			d;
			:end q'` + "`" + `
	[ -n "$res" ] || res=$2
	echo "$res"
}
grepconf2 () {
	w=" 	" # space tab
	res=` + "`" + `squid -k parse 2>&1 |
		grep "Processing:" |
		sed s/.*Processing:\ // |
		sed -ne '
			s/^'$1'['"$w"']\+[^'"$w"']\+['"$w"']\+\([^'"$w"']\+\).*$/\1/p;
			t end;
			d;
			:end q'` + "`" + `
	[ -n "$res" ] || res=$2
	echo "$res"
}
cache_dir=` + "`grepconf2 cache_dir /var/spool/squid`" + `
usr=` + "`grepconf cache_effective_user proxy`" + `
grp=` + "`grepconf cache_effective_group proxy`" + `
chown $usr:$grp $cache_dir
chown $usr:$grp /var/log/squid`,
			"etc/squid/squid.conf":         "# cache_dir ufs /var/spool/squid 100 16 256\nhttp_port 3128\ninclude /etc/squid/conf.d/*.conf\ncache_effective_user squid\n",
			"etc/squid/conf.d/debian.conf": "#\ncache_dir ufs /srv/cache 100 16 256\ncache_dir ufs /srv/other 100 16 256\n",
		},
		want: []string{
			"tmpfiles z /srv/cache - squid proxy -",
			"tmpfiles z /var/log/squid - squid proxy -",
		},
	}, {
		name: "sed -i of a text the script wrote is computed (locales' locale.gen), 0,/RE/ included",
		files: map[string]string{postinst: `#!/bin/sh
LG=/etc/locale.gen
cat > $LG << EOF
# header
en_US.UTF-8 UTF-8
EOF
sed -i -e 's/^ *[a-zA-Z]/# &/' $LG
echo "# de_DE.UTF-8 UTF-8" >> $LG
locale="de_DE.UTF-8 UTF-8"
sed -i -e "0,/^[# ]*$locale *$/ s/^[# ]*$locale *$/$locale/" $LG
if grep -q '^# en_US' $LG; then touch /var/lib/p/commented; fi`},
		want: []string{
			"tmpfiles f /var/lib/p/commented - - - -",
			`file /etc/locale.gen content "# header\n# en_US.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\n"`,
		},
	}, {
		name: "postfix: debconf flags, postconf -e on main.cf and postconf -hx queries of its text and defaults",
		files: map[string]string{
			postinst: `#!/bin/sh
. /usr/share/debconf/confmodule
set_postconf() {
    CHANGES=true
    postconf -e "$@"
}
db_fget p/chattr changed
if [ "$RET" = "true" ]; then
    chat="+S"
fi
for dir in incoming active; do
    if [ -n "$chat" ]; then
	chattr $chat $dir 2>/dev/null || true
    fi
done
cd /etc/postfix
cp /usr/share/postfix/main.cf.debian main.cf
db_fset p/main_mailer_type changed true
db_fget p/main_mailer_type changed
if [ "$RET" = "true" ]; then
	dtrans=$(postconf -hx default_transport)
	if [ $(postconf -hx default_transport) = error ]; then
	    dtrans=smtp
	fi
	set_postconf "inet_interfaces=all"
	if [ $(postconf -hx default_transport) != $dtrans ]; then
	    set_postconf "default_transport=$dtrans"
	fi
fi
if grep -q ^mailbox_command /etc/postfix/main.cf; then
	set_postconf "mailbox_command="
fi
db_fset p/newaliases run true
db_fget p/newaliases run || true
if ( $RET ); then
	if [ -z "$(postconf -hx myhostname||true)" ]; then
		postconf -e 'myhostname=debian'
	fi
	newaliases
fi
aliastype=$(postconf -h alias_database | cut -f1 -d:)
[ "$aliastype" = hash ] && postconf -e "smtpd_banner=$(postconf -hx smtpd_banner)"`,
			"usr/share/postfix/main.cf.debian": "smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)\nmail_name = Postfix\nbiff = no\n",
		},
		a: Analyzer{HostName: "mx.example.org"},
		want: []string{
			`file /etc/postfix/main.cf copy of /usr/share/postfix/main.cf.debian edit postconf "-e inet_interfaces=all" edit postconf "-e smtpd_banner=mx.example.org ESMTP Postfix (Debian/GNU)"`,
			"cache mail-aliases",
		},
	}, {
		name: "exim4-config: update-exim4defaults --init writes /etc/default/exim4; update-exim4.conf needs nothing (the init script runs it)",
		files: map[string]string{postinst: `#!/bin/sh
update-exim4defaults --init
if [ "local" != "none" ]; then
	update-exim4.conf
fi`},
		want: []string{
			`file /etc/default/exim4 content "EX4DEF_VERSION=''\nQUEUERUNNER='combined'\nQUEUEINTERVAL='30m'\nCOMMONOPTIONS=''\nQUEUERUNNEROPTIONS=''\nQFLAGS=''\nSMTPLISTENEROPTIONS=''\n"`,
			"ignored: update-exim4.conf makes /var/lib/exim4/config.autogenerated from /etc/exim4, and exim4's init script runs it at every start: nothing to make beforehand",
		},
	}, {
		name: "local variables end with their function (samba-common); a template edited under /run is staged for ucf",
		files: map[string]string{
			postinst: `#!/bin/sh
TEMPDIR=/run/samba/upgrades
NEWFILE=$TEMPDIR/smb.conf
CONFIG=/etc/samba/smb.conf
configure_smb_conf() {
	local CONFIG
	CONFIG="$1"
	WORKGROUP=WORKGROUP
	sed -i -e "s/^\([[:space:]]*\)\[global\]/\1\[global\]/i
		/^[[:space:]]*\[global\]/,/^[[:space:]]*\[/ \
			s/^\([[:space:]]*\)workgroup[[:space:]]*=.*/\1workgroup = ${WORKGROUP}/i" \
		"$CONFIG"
}
if [ -e "$CONFIG" ]; then
	configure_smb_conf "$CONFIG"
fi
mkdir -p "$TEMPDIR"
cp /usr/share/samba/smb.conf "$NEWFILE"
configure_smb_conf "$NEWFILE"
if [ -e "$CONFIG" ]; then
	sed -e '1,/^[;#[:space:]]*\[print\$\]/ { d }' "$CONFIG" >> "$NEWFILE"
fi
ucf --three-way --debconf-ok "$NEWFILE" "$CONFIG"
chmod a+r "$CONFIG"`,
			"usr/share/samba/smb.conf": "[global]\n   workgroup = WORKGROUP\n",
		},
		want: []string{
			"tmpfiles d /run/samba/upgrades - - - -",
			`file /etc/samba/smb.conf copy of /usr/share/samba/smb.conf edit sed "-e s/^\\([[:space:]]*\\)\\[global\\]/\\1\\[global\\]/i\n\t\t/^[[:space:]]*\\[global\\]/,/^[[:space:]]*\\[/ \t\t\ts/^\\([[:space:]]*\\)workgroup[[:space:]]*=.*/\\1workgroup = WORKGROUP/i" mode=a+r (ucf)`,
			"ignored: a staging copy under /run/samba/upgrades/smb.conf, installed as /etc/samba/smb.conf: nothing of it needs to stay",
			"ignored: a staging copy under /run/samba/upgrades/smb.conf, installed as /etc/samba/smb.conf: nothing of it needs to stay",
		},
	}, {
		name: "an unedited copy under /run installed by ucf: the /etc file is the template's copy",
		files: map[string]string{postinst: `#!/bin/sh
cp /usr/share/p/x.conf /run/p/x.conf
ucf /run/p/x.conf /etc/p/x.conf`, "usr/share/p/x.conf": "x\n"},
		want: []string{
			"tmpfiles C /run/p/x.conf - - - - /usr/share/p/x.conf",
			"file /etc/p/x.conf copy of /usr/share/p/x.conf (ucf)",
		},
	}, {
		name: "read keeps the last variable's blanks; a false command after an undecided one decides &&",
		files: map[string]string{
			postinst: `#!/bin/sh
while read row; do
	echo "$row"
done < /usr/share/p/maps > /etc/p/maps
nis=$(dpkg -l nis 2>/dev/null | sed -n '$p')
if [ "X$nis" != "X${nis#i}" ] && [ -x /usr/bin/ypcat ]; then
	touch /var/lib/p/nis
fi`,
			"usr/share/p/maps": "cdb\tpostfix-cdb.so\tdict_cdb_open\n",
		},
		want: []string{`file /etc/p/maps content "cdb\tpostfix-cdb.so\tdict_cdb_open\n"`},
	}, {
		name: "a loop starting units found on the system needs nothing (erlang-base); a unit no listing names stays unhandled",
		files: map[string]string{postinst: `#!/bin/sh
if command -v systemctl >/dev/null && systemctl >/dev/null 2>&1; then
	units=$(systemctl list-unit-files '*.s*' | grep -P '(static|enabled)' | cut -f 1 -d ' ')
fi
packs=$(dpkg -S $units 2>/dev/null | sed -e 's/:.*//' | sort -u)
services=""
for p in $packs; do
	service=$(echo $units | awk "/^$p:/ {print \$2}")
	services="$services $service"
done
for service in $services; do
	systemctl start $service
	idl="invoke-rc.d ${service}"
	$idl restart
done
systemctl start $(cat /var/lib/p/unit)`},
		closure: []string{"x:usr/bin/systemctl"},
		want: []string{
			"ignored: start of units the script finds installed on the system at run time (systemctl's list of units): each belongs to an installed package, whose own scripts enable and start it",
			"ignored: restart of units the script finds installed on the system at run time (systemctl's list of units): each belongs to an installed package, whose own scripts enable and start it",
			"UNHANDLED: a unit name the analysis cannot resolve: $(cat /var/lib/p/unit)",
		},
	}, {
		name: "mirror lists with fallbacks (apt-cacher-ng): grep -h of missing files, read over no input, a command in a variable naming a mktemp file, xargs of no input, a failed download, text under /var written, appended and edited",
		files: map[string]string{postinst: `#!/bin/sh
grep -h '^deb' /etc/apt/sources.list.d/* /etc/apt/sources.list 2>/dev/null | while read a b c; do
	echo "$b" >> /etc/p/backends
done
tmp=` + "`mktemp`" + `
check="grep -q : $tmp"
sed -e 's,/.*,,' < /etc/p/backends_debian | xargs -I{} grep "{}" /usr/share/p/mirrors > $tmp || true
if ! $check; then
	timeout 15 curl -m 10 --fail -s http://mirrors.invalid/list >> $tmp 2>/dev/null || true
fi
if ! $check; then
	echo fallback:1 > $tmp
fi
if $check; then
	echo "# 100% made by p" > /var/lib/p/default
	cat $tmp >> /var/lib/p/default
fi
sed -i 's,fallback,mirror,' /var/lib/p/default
rm -f "$tmp"
CDIR=$(/usr/lib/p/acngtool printvar CacheDir -c /etc/p 2>/dev/null)
adduser --system --group --home "$CDIR" p`,
			"etc/p/backends_debian": "",
			"usr/share/p/mirrors":   "a:1\nb:2\n",
			"etc/p/p.conf":          "# CacheDir: /x\nCacheDir: /var/cache/p\n",
			"etc/p/zz.conf":         "cachedir = /srv/p\n",
		},
		want: []string{
			"user p system home=/srv/p create-home shell=/usr/sbin/nologin",
			"group p system",
			`tmpfiles f /var/lib/p/default - - - - # 100%% made by p\nmirror:1\n`,
			"ignored: downloads http://mirrors.invalid/list at install time: the analysis models a machine without network access, where the download fails with no output, and declares what the script does then (its fallback)",
			"ignored: removes leftovers of an older version or a previous run, or what the script made earlier",
		},
	}, {
		name: "a scratch file named after a mktemp file is not followed: moving it into /etc is unhandled",
		files: map[string]string{postinst: `#!/bin/sh
tmp=$(mktemp)
echo x > "$tmp.new"
mv "$tmp.new" /etc/p/x`},
		want: []string{"UNHANDLED: moves a scratch file whose text the analysis does not follow: /tmp/tmp.mktemp1.new"},
	}, {
		name: "removal: prerm and postrm need nothing",
		files: map[string]string{
			".kiln/control/prerm":  "#!/bin/sh\ndeb-systemd-invoke stop x.service\n",
			".kiln/control/postrm": "#!/bin/sh\nif [ \"$1\" = purge ]; then\n\tdeluser x\n\trm -rf /var/lib/x\n\t/usr/lib/x/cleanup\nfi\n",
		},
		want: []string{
			"ignored: stops units on removal: the switch stops the units a generation drops",
			"ignored: removes an account: a fresh system has none to remove",
			"ignored: removes leftovers of an older version or a previous run, or what the script made earlier",
			"ignored: runs only on removal or purge (kiln never purges: state under /var stays, as apt remove leaves it): no recognizer for cleanup",
		},
	}, {
		name: "a script in another language, and one that does not parse",
		files: map[string]string{
			postinst:                "#!/usr/bin/perl\nsystem('adduser x');\n",
			".kiln/control/preinst": "#!/bin/sh\nif then fi\n",
		},
		want: []string{
			"UNHANDLED: the script does not parse: preinst:2:1: `if` must be followed by a statement list",
			"UNHANDLED: a perl script, which the analysis does not read",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			an := analyzeOne(t, tc.files, tc.closure, tc.a)
			if d := cmp.Diff(tc.want, summaryLines(an)); d != "" {
				t.Errorf("(-want +got):\n%s\nfull analysis:\n%s", d, an.Text())
			}
		})
	}
}

func dhEnable(unit string) string {
	return `#!/bin/sh
# Automatically added by dh_installsystemd/13.11.4
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ] ; then
	deb-systemd-helper unmask '` + unit + `' >/dev/null || true
	if deb-systemd-helper --quiet was-enabled '` + unit + `'; then
		deb-systemd-helper enable '` + unit + `' >/dev/null || true
	else
		deb-systemd-helper update-state '` + unit + `' >/dev/null || true
	fi
fi
# End automatically added section
`
}

func dhStart(unit string) string {
	return `# Automatically added by dh_installsystemd/13.11.4
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ] ; then
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if [ -n "$2" ]; then
			_dh_action=restart
		else
			_dh_action=start
		fi
		deb-systemd-invoke $_dh_action '` + unit + `' >/dev/null || true
	fi
fi
# End automatically added section
`
}

// TestProvenance: a declaration says where it comes from: script, line,
// the command as written, the debhelper snippet and the function calls.
func TestProvenance(t *testing.T) {
	an := analyzeOne(t, map[string]string{postinst: "#!/bin/sh\nmk() {\n\tmkdir -p \\\n\t\t/var/lib/x\n}\n" + strings.TrimPrefix(dhEnable("x.service"), "#!/bin/sh\n") + "mk\n"}, nil, Analyzer{})
	want := Source{Package: "p", Script: "postinst", Line: 3, Command: "mkdir -p /var/lib/x", Phase: Install, Via: []string{"postinst:16 mk"}}
	if d := cmp.Diff([]Source{want}, an.Tmpfiles[0].From); d != "" {
		t.Errorf("tmpfiles provenance (-want +got):\n%s", d)
	}
	u := an.Units[0].From
	if u.Snippet != "dh_installsystemd/13.11.4" || u.Line != 10 || u.Command != "deb-systemd-helper enable 'x.service' >/dev/null" {
		t.Errorf("unit provenance = %+v", u)
	}
	if got, want := u.String(), "p postinst line 10: deb-systemd-helper enable 'x.service' >/dev/null"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestChoose: Debian's auto mode picks the highest priority, the first
// declared on a tie.
func TestChoose(t *testing.T) {
	alts := []Alternative{
		{Name: "awk", Path: "/usr/bin/mawk", Priority: 5},
		{Name: "pager", Path: "/usr/bin/less", Priority: 77},
		{Name: "awk", Path: "/usr/bin/gawk", Priority: 10},
		{Name: "pager", Path: "/usr/bin/more", Priority: 77},
	}
	var got []string
	for _, a := range Choose(alts) {
		got = append(got, a.Name+"="+a.Path)
	}
	if d := cmp.Diff([]string{"awk=/usr/bin/gawk", "pager=/usr/bin/less"}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// TestCompareVersions: an empty old version (a fresh install) is earlier
// than any for lt/le/..., later for the -nl forms, as dpkg says.
func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, op, b string
		want     tri
	}{
		{"", "lt", "1.0", yes}, {"", "lt-nl", "1.0", no}, {"", "gt-nl", "1.0", yes},
		{"", "ge", "1.0", no}, {"", "eq", "", yes}, {"1.0-1", "lt", "1.0-2", yes},
		{"2:1.0", "gt", "1:9.9", yes}, {"1.0~rc1", "lt", "1.0", yes}, {"1.0", "ne", "1.0", no},
	} {
		if got := compareVersions(lit(tc.a), lit(tc.op), lit(tc.b)); got != tc.want {
			t.Errorf("dpkg --compare-versions %q %s %q = %v, want %v", tc.a, tc.op, tc.b, got, tc.want)
		}
	}
	if got := compareVersions(unknown("$V"), lit("lt"), lit("1")); got != maybe {
		t.Errorf("unknown version: %v, want maybe", got)
	}
}

// TestJSON: the analysis round-trips through JSON, the form kiln audit
// --json prints.
func TestJSON(t *testing.T) {
	an := analyzeOne(t, map[string]string{postinst: dhEnable("x.service") + "adduser --system --group x\n"}, nil, Analyzer{})
	b, err := json.Marshal(an)
	if err != nil {
		t.Fatal(err)
	}
	var back Analysis
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(an, &back); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if !strings.Contains(string(b), `"units":[{"name":"x.service","op":"enable","from":{"package":"p","script":"postinst","line":6,`) {
		t.Errorf("JSON = %s", b)
	}
}

// TestPostfixAnswers: postfix's main.cf for a debconf answer, as Debian's
// postinst writes it after the template ("Local only": loopback only,
// no transport out, the destinations its Perl config computes).
func TestPostfixAnswers(t *testing.T) {
	pkgs := corpusPackages(t)
	closure, trees := corpusClosure(t, pkgs)
	a := &Analyzer{Closure: closure, HostName: "mx.example.org", Answers: map[string]string{"postfix/main_mailer_type": "Local only"}}
	ans, err := a.AnalyzeAll([]Package{{Name: "postfix", Files: trees["postfix"]}})
	if err != nil {
		t.Fatal(err)
	}
	template, err := os.ReadFile("testdata/postfix/usr/share/postfix/main.cf.debian")
	if err != nil {
		t.Fatal(err)
	}
	want := string(template) + `smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination
myhostname = mx.example.org
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
myorigin = /etc/mailname
mydestination = $myhostname, mx.example.org, localhost.example.org, localhost
relayhost = 
mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
mailbox_size_limit = 0
recipient_delimiter = +
inet_interfaces = loopback-only
default_transport = error
relay_transport = error
inet_protocols = all
`
	var files []string
	for _, f := range ans[0].Files {
		files = append(files, f.Path)
		switch f.Path {
		case "/etc/postfix/main.cf":
			got, err := ApplyEdits(string(template), f.Edits, func(p string) (string, error) { return "", errors.New("no " + p) })
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("main.cf (-want +got):\n%s", d)
			}
		case "/etc/mailname":
			if f.Content != "mx.example.org\n" {
				t.Errorf("/etc/mailname = %q", f.Content)
			}
		}
	}
	if !slices.Contains(files, "/etc/mailname") || !slices.Contains(files, "/etc/aliases") {
		t.Errorf("files = %v, want /etc/mailname and /etc/aliases among them", files)
	}
	if len(ans[0].Unhandled) > 0 {
		t.Errorf("unhandled: %v", ans[0].Unhandled)
	}
}

// TestCatalogArgs: update-xmlcatalog's and update-catalog's arguments
// are the catalogs' content, kept with the cache (expanded); one the
// analysis does not know leaves them out.
func TestCatalogArgs(t *testing.T) {
	an := analyzeOne(t, map[string]string{".kiln/control/postinst": `#!/bin/sh
set -e
PKG=polkitd
if [ "$1" = configure ]; then
	update-xmlcatalog --sort --add --type public --id "-//freedesktop//DTD X//EN" --package $PKG --local /usr/share/xml/x/catalog.xml
	update-xmlcatalog --add --type public --id "$(cat /run/unknown)" --package $PKG --root
	update-catalog --quiet --update-super
fi
`}, nil, Analyzer{})
	var got [][]string
	for _, c := range an.Caches {
		got = append(got, append([]string{c.Name}, c.Args...))
	}
	want := [][]string{
		{"xml-catalog", "--sort", "--add", "--type", "public", "--id", "-//freedesktop//DTD X//EN", "--package", "polkitd", "--local", "/usr/share/xml/x/catalog.xml"},
		{"xml-catalog"},
		{"sgml-catalog", "--quiet", "--update-super"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("caches (-want +got):\n%s", d)
	}
}

// TestPHPModuleHelpers: phpenmod links a module into every SAPI's conf.d
// the closure has (ALL), by the ini's priority (20 without one), records
// its state and, with -r, registers it; phpquery -V, -S and -M list what
// the closure and earlier calls made; -m answers whether it is enabled.
func TestPHPModuleHelpers(t *testing.T) {
	an := analyzeOne(t, map[string]string{".kiln/control/postinst": `#!/bin/sh
set -e
for v in $(phpquery -V); do
	for s in $(phpquery -S -v $v); do
		phpquery -q -v $v -s $s -m foo || echo "foo is off for $s" > /var/lib/p/off-$s
	done
done
phpenmod -v ALL -s ALL -m -q -r foo
phpquery -v 8.2 -s fpm -m foo && echo on > /var/lib/p/on
for m in $(phpquery -M -v 8.2); do echo $m >> /var/lib/p/registered; done
phpenmod -m -v 8.2 -s cli missing
`}, []string{"usr/lib/php/8.2/sapi/cli", "usr/lib/php/8.2/sapi/fpm", "usr/lib/php/20220829/", "usr/lib/php/php-helper",
		"etc/php/8.2/cli/conf.d/", "etc/php/8.2/fpm/conf.d/", "etc/php/8.2/mods-available/foo.ini"}, Analyzer{})
	want := []string{
		"file /etc/php/8.2/cli/conf.d/20-foo.ini link -> /etc/php/8.2/mods-available/foo.ini",
		"file /etc/php/8.2/fpm/conf.d/20-foo.ini link -> /etc/php/8.2/mods-available/foo.ini",
		"tmpfiles f /var/lib/p/off-cli - - - - foo is off for cli\\n",
		"tmpfiles f /var/lib/p/off-fpm - - - - foo is off for fpm\\n",
		"tmpfiles f /var/lib/php/modules/8.2/cli/enabled_by_maint/foo - - - -",
		"tmpfiles f /var/lib/php/modules/8.2/fpm/enabled_by_maint/foo - - - -",
		"tmpfiles f /var/lib/php/modules/8.2/registry/foo - - - -",
		"tmpfiles f /var/lib/p/on - - - - on\\n",
		"tmpfiles f /var/lib/p/registered - - - - foo\\n",
	}
	got := summaryLines(an)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(an.Unhandled) > 0 {
		t.Errorf("unhandled: %+v", an.Unhandled)
	}
}
