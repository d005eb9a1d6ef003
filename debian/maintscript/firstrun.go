package maintscript

import (
	"path"
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
}

var firstRuns = map[string]firstRun{
	"pg_createcluster":   {"postgresql-cluster", pgCreatecluster},
	"mariadb-install-db": {"mariadb-datadir", datadir("/var/lib/mysql/mysql")},
	"mysql_install_db":   {"mariadb-datadir", datadir("/var/lib/mysql/mysql")},
	"make-ssl-cert":      {"ssl-cert-snakeoil", makeSSLCert},
	"ssh-keygen":         {"ssh-host-keys", sshKeygen},
	"rndc-confgen":       {"bind-rndc-key", outFile("-c", "/etc/bind/rndc.key")},
	"tsig-keygen":        {"bind-tsig-key", outFile("", "")},
	"ddns-confgen":       {"bind-ddns-key", outFile("", "")},
	"openssl":            {"openssl-key", opensslKey},
	"certtool":           {"gnutls-key", outFile("--outfile", "")},
	"slapadd":            {"slapd-database", datadir("")},
}

func (fr firstRun) handler(tool string) func(*call) tri {
	return func(cl *call) tri {
		args := cl.argStrings()
		creates, ok := fr.creates(args)
		if !ok {
			return maybe
		}
		for _, a := range cl.args {
			if !a.known {
				cl.unhandled(tool + " makes first-run state with an argument the analysis cannot resolve: " + a.s)
				return maybe
			}
		}
		d := FirstRun{Name: fr.name, Args: append([]string{cl.argv0}, args...), User: cl.in.user, Creates: creates, From: cl.source()}
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

// firstRunAlso are the other paths a first-run command makes beside the
// one that means done: a later script's file test on them (dovecot-core
// links the snakeoil pair when both exist) sees them, as after the
// command on Debian.
var firstRunAlso = map[string][]string{
	"/etc/ssl/private/ssl-cert-snakeoil.key": {"/etc/ssl/certs/ssl-cert-snakeoil.pem"},
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
