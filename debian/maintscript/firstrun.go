package maintscript

import (
	"path"
	"slices"
	"strings"
)

// A first-run command makes state that belongs to one machine and must
// not be in the world-readable store: database clusters and directories,
// private keys, secrets. Phase 2 runs the same command on the machine
// before the units that need it start, unless what it creates exists.
type firstRun struct {
	name string
	// creates is the path whose existence means the command already ran;
	// ok is false when the arguments are not a first-run use of the tool
	// (e.g. openssl x509 -noout only reads).
	creates func(args []string) (creates string, ok bool)
	// secret says what an edit of an input with a value the analysis
	// cannot resolve puts there, when that value is a secret the machine
	// makes (slapd's admin password hash); nil: none is.
	secret func(cl *call, placeholder string) (kind string, ok bool)
}

var firstRuns = map[string]firstRun{
	"pg_createcluster":   {"postgresql-cluster", pgCreatecluster, nil},
	"mariadb-install-db": {"mariadb-datadir", datadir("/var/lib/mysql/mysql"), nil},
	"mysql_install_db":   {"mariadb-datadir", datadir("/var/lib/mysql/mysql"), nil},
	"make-ssl-cert":      {"ssl-cert-snakeoil", makeSSLCert, nil},
	"ssh-keygen":         {"ssh-host-keys", sshKeygen, nil},
	"rndc-confgen":       {"bind-rndc-key", outFile("-c", "/etc/bind/rndc.key"), nil},
	"tsig-keygen":        {"bind-tsig-key", outFile("", ""), nil},
	"ddns-confgen":       {"bind-ddns-key", outFile("", ""), nil},
	"openssl":            {"openssl-key", opensslKey, nil},
	"certtool":           {"gnutls-key", outFile("--outfile", ""), nil},
	"slapadd":            {"slapd-database", slapadd, slapdSecret},
	"nsd-control-setup":  {"nsd-control-keys", nsdControlSetup, nil},
}

// nsdControlSetup: nsd-control-setup writes nsd-control's keys and
// certificates into -d DIR (/etc/nsd); nsd's postinst runs it unless
// nsd_control.key is there.
func nsdControlSetup(args []string) (string, bool) {
	dir := "/etc/nsd"
	for i, a := range args {
		if a == "-d" && i+1 < len(args) {
			dir = args[i+1]
		}
	}
	return path.Join(dir, "nsd_control.key"), true
}

func (fr firstRun) handler(tool string) func(*call) tri {
	return func(cl *call) tri {
		args := cl.argStrings()
		creates, ok := fr.creates(args)
		if !ok {
			return maybe
		}
		var inputs []FirstRunInput
		for _, a := range cl.args {
			if a.temp > 0 {
				in, why := fr.input(cl, a)
				if why != "" {
					cl.unhandled(tool + " reads a temporary file " + why + ": " + a.s)
					return maybe
				}
				inputs = append(inputs, in)
				continue
			}
			if !a.known {
				cl.unhandled(tool + " makes first-run state with an argument the analysis cannot resolve: " + a.s)
				return maybe
			}
		}
		d := FirstRun{Name: fr.name, Args: append([]string{cl.argv0}, args...), User: cl.in.user, Creates: creates, Inputs: inputs, From: cl.source()}
		if cl.in.once(d) {
			cl.in.an.FirstRun = append(cl.in.an.FirstRun, d)
		}
		if creates != "" {
			cl.in.facts.make(creates, 'f')
			for _, p := range firstRunAlso[creates] {
				cl.in.facts.make(p, 'f')
			}
		}
		return yes
	}
}

// firstRunThen records a recursive chown, chgrp or chmod of dir that
// follows a first-run command making state in it (slapd's chown -R of
// /var/lib/ldap after slapadd): on the machine it runs after the command,
// in its unit, since a tmpfiles line made at boot saw the directory
// empty. A command whose state has no known path (slapadd loading a
// database) may have made it there too.
func (cl *call) firstRunThen(dir string) {
	for i := len(cl.in.an.FirstRun) - 1; i >= 0; i-- {
		f := &cl.in.an.FirstRun[i]
		if f.Creates != "" && !under(f.Creates, dir) {
			continue
		}
		for _, a := range cl.args {
			if !a.known {
				return
			}
		}
		then := append([]string{cl.argv0}, cl.argStrings()...)
		for _, t := range f.Then {
			if slices.Equal(t, then) {
				return
			}
		}
		f.Then = append(f.Then, then)
		return
	}
}

// firstRunMade says whether p, and every other path the command names,
// is what a first-run command of this package makes (coturn's chown of
// the database sqlite3 made): the command then runs after it in its
// unit. A command naming other paths too (bind9's chgrp of rndc.key and
// /var/cache/bind) stays a tmpfiles line.
func (cl *call) firstRunMade(p string) bool {
	made := func(q string) bool {
		for _, f := range cl.in.an.FirstRun {
			if f.Creates != "" && f.Creates == path.Clean(q) {
				return true
			}
		}
		return false
	}
	if !made(p) {
		return false
	}
	for _, a := range cl.args {
		if !a.known {
			return false
		}
		if path.IsAbs(a.s) && !made(a.s) {
			return false
		}
	}
	return true
}

func init() { recognizers["sqlite3"] = sqlite3 }

// sqlite3 DB < FILE (a schema the closure ships) makes a database on the
// machine (coturn's turndb): the same as sqlite3 DB ".read FILE", which
// the first-run unit runs.
func sqlite3(cl *call) tri {
	if len(cl.args) != 1 || !cl.args[0].known || !path.IsAbs(cl.args[0].s) || cl.stdinFile == "" || cl.stdout.s != "" ||
		cl.in.facts.test("-f", cl.stdinFile) != yes || cl.in.facts.madeHere(cl.stdinFile) {
		cl.unhandled("sqlite3 other than DATABASE < FILE")
		return maybe
	}
	d := FirstRun{Name: "sqlite-database", Args: []string{cl.argv0, cl.args[0].s, ".read " + cl.stdinFile}, User: cl.in.user,
		Creates: path.Clean(cl.args[0].s), From: cl.source()}
	if cl.in.once(d) {
		cl.in.an.FirstRun = append(cl.in.an.FirstRun, d)
	}
	cl.in.facts.make(d.Creates, 'f')
	return yes
}

// firstRunAlso are the other paths a first-run command makes beside the
// one that means done: a later script's file test on them (dovecot-core
// links the snakeoil pair when both exist) sees them, as after the
// command on Debian.
var firstRunAlso = map[string][]string{
	"/etc/ssl/private/ssl-cert-snakeoil.key": {"/etc/ssl/certs/ssl-cert-snakeoil.pem"},
}

// input is what the script wrote into the temporary file a first-run
// command reads (a), with the edits whose value is a secret of the
// machine's taken out as Secrets; why says why it cannot be made.
func (fr firstRun) input(cl *call, a value) (FirstRunInput, string) {
	t := cl.in.tempFiles[a.temp]
	if t == nil || (t.Kind != Copy && t.Kind != Content) {
		return FirstRunInput{}, "the analysis does not follow"
	}
	in := FirstRunInput{Arg: a.s, File: *t}
	in.File.Edits = nil
	for _, e := range t.Edits {
		if !e.Unknown {
			in.File.Edits = append(in.File.Edits, e)
			continue
		}
		ph, ok := sedPlaceholder(e)
		if !ok || fr.secret == nil {
			return FirstRunInput{}, "edited with a value the analysis cannot resolve (" + strings.Join(e.Args, " ") + ")"
		}
		kind, ok := fr.secret(cl, ph)
		if !ok {
			return FirstRunInput{}, "edited with a value the analysis cannot resolve (" + strings.Join(e.Args, " ") + ")"
		}
		in.Secrets = append(in.Secrets, Secret{Placeholder: ph, Kind: kind})
	}
	return in, ""
}

// sedPlaceholder is the literal text a sed edit `s|TEXT|…|g` replaces
// everywhere, when it is one such command on plain text (an unknown
// expression is the word as written, in its quotes).
func sedPlaceholder(e Edit) (string, bool) {
	if e.Tool != "sed" || len(e.Args) != 2 || e.Args[0] != "-e" {
		return "", false
	}
	x := e.Args[1]
	if u, ok := strings.CutPrefix(x, `"`); ok && e.Unknown {
		x, _ = strings.CutSuffix(u, `"`) // the word as written
	}
	if len(x) < 4 || x[0] != 's' || !strings.HasSuffix(x, "g") {
		return "", false
	}
	d := x[1:2]
	parts := strings.Split(x[2:], d)
	if len(parts) != 3 || parts[2] != "g" || parts[0] == "" || strings.ContainsAny(parts[0], `\.*[]^$+?(){}`) {
		return "", false
	}
	return parts[0], true
}

// slapadd -F DIR -b cn=config makes the configuration DIR/cn=config.ldif;
// -b SUFFIX loads a database into the directory that configuration names
// (the same first-run unit, after it).
func slapadd(args []string) (string, bool) {
	dir, base := "", ""
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-F":
			dir = args[i+1]
		case "-b":
			base = args[i+1]
		}
	}
	if dir != "" && strings.EqualFold(base, "cn=config") {
		return path.Join(dir, "cn=config.ldif"), true
	}
	return "", true
}

// slapdSecret: slapd's postinst puts the admin password's hash at
// @PASSWORD@ in slapd.init.ldif. With slapd/password1 left empty (the
// default) that is the hash of a random password it generates
// (generate_admin_pass, create_password_hash), which the first-run unit
// makes on the machine the same way; a password given as a debconf
// answer would be in the configuration, and so in the store: not made.
func slapdSecret(cl *call, placeholder string) (string, bool) {
	if placeholder != "@PASSWORD@" {
		return "", false
	}
	if v := cl.in.db.get("slapd/password1"); !v.known || v.s != "" {
		return "", false
	}
	return "slappasswd", true
}

func datadir(p string) func([]string) (string, bool) {
	return func([]string) (string, bool) { return p, true }
}

// positional drops options (and the values of those in valued).
func positional(args []string, valued ...string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			for _, v := range valued {
				if a == v {
					i++
				}
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// pgCreatecluster [options] VERSION NAME makes /var/lib/postgresql/VERSION/NAME.
func pgCreatecluster(args []string) (string, bool) {
	pos := positional(args, "-u", "--user", "-g", "--group", "-d", "--datadir", "-s", "--socketdir",
		"-l", "--logfile", "-p", "--port", "-e", "--encoding", "--locale", "--lc-collate", "--lc-ctype",
		"--lc-messages", "--lc-monetary", "--lc-numeric", "--lc-time", "-o", "--pgoption")
	if len(pos) >= 2 {
		return "/var/lib/postgresql/" + pos[0] + "/" + pos[1], true
	}
	return "", true
}

// makeSSLCert generate-default-snakeoil makes ssl-cert's snakeoil pair.
func makeSSLCert(args []string) (string, bool) {
	for _, a := range args {
		if a == "generate-default-snakeoil" {
			return "/etc/ssl/private/ssl-cert-snakeoil.key", true
		}
	}
	pos := positional(args)
	if len(pos) == 2 {
		return pos[1], true
	}
	return "", true
}

// sshKeygen makes host keys: -A all missing types, or -f FILE.
func sshKeygen(args []string) (string, bool) {
	for i, a := range args {
		if a == "-A" {
			return "/etc/ssh/ssh_host_ed25519_key", true
		}
		if a == "-f" && i+1 < len(args) {
			for _, b := range args {
				if b == "-l" || b == "-y" || b == "-R" || b == "-F" {
					return "", false // queries a key
				}
			}
			return args[i+1], true
		}
	}
	return "", false
}

// outFile is a key generator writing to flag's value (default def).
func outFile(flag, def string) func([]string) (string, bool) {
	return func(args []string) (string, bool) {
		for i, a := range args {
			if flag != "" && a == flag && i+1 < len(args) {
				return args[i+1], true
			}
			if a == "-a" {
				return def, true
			}
		}
		return def, true
	}
}

// opensslKey: req, genrsa, genpkey, dhparam and rand write a key or
// secret to -out or -keyout; other subcommands only read.
func opensslKey(args []string) (string, bool) {
	if len(args) == 0 {
		return "", false
	}
	switch args[0] {
	case "req", "genrsa", "genpkey", "dhparam", "ecparam", "rand":
	default:
		return "", false
	}
	out := ""
	for i, a := range args {
		if (a == "-keyout" || a == "-out") && i+1 < len(args) && out == "" {
			out = args[i+1]
		}
	}
	if args[0] == "req" && !contains(args, "-new") && !contains(args, "-x509") {
		return "", false
	}
	return path.Clean(out), out != ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
