package maintscript

import (
	"fmt"
	"strings"
)

// A few packages' debconf config scripts are Perl, which the analysis
// does not read. Those whose questions' defaults are computed (from the
// host name, the files present) are modeled here: on a fresh,
// non-interactive install (kiln's) their questions are not shown, and
// what the script sets (db_set, db_fset) is set here, each with the
// script's line as its source.
var perlConfigs = map[string]func(*perlConfig){
	"postfix": postfixConfig,
}

type perlConfig struct {
	r     *run
	lines []string
}

func (pc *perlConfig) source(line int) Source {
	cmd := ""
	if line >= 1 && line <= len(pc.lines) {
		cmd = oneLine(pc.lines[line-1])
	}
	return Source{Package: pc.r.pkg, Script: "config", Line: line, Command: cmd, Phase: Install}
}

// set is the script's set(QUESTION, VALUE) at line.
func (pc *perlConfig) set(line int, q string, v value) {
	pc.r.db.set[q] = v
	d := Debconf{Question: q, Op: "set", Value: v.s, Known: v.known, From: pc.source(line)}
	if t, ok := pc.r.db.templates[q]; ok {
		d.Type, d.Default = t.typ, t.def
	}
	pc.r.an.Debconf = append(pc.r.an.Debconf, d)
}

// isdefault is fget(QUESTION, "isdefault") eq "true".
func (pc *perlConfig) isdefault(q string) bool { return pc.r.db.flag(q, "isdefault").s == "true" }

// hostname is `hostname --fqdn` or `hostname --domain` (the scripts'
// fallbacks apply only when hostname prints nothing, which a named
// machine's does not).
func (pc *perlConfig) hostname(domain bool) value {
	h := pc.r.hostName
	if h == "" {
		if domain {
			return unknown("`hostname --domain`")
		}
		return unknown("`hostname --fqdn`")
	}
	if domain {
		_, d, _ := strings.Cut(h, ".")
		return lit(d) // an empty line is true in Perl: no fallback
	}
	return lit(h)
}

// postfixConfig is postfix 3.7's config (bookworm): non-interactive, it
// keeps "Internet Site" (the template's default) and sets the mail name
// to the host's name, the destinations from it, procmail and protocols.
func postfixConfig(pc *perlConfig) {
	db, fa := pc.r.db, pc.r.facts
	// Lines 37-41: an existing main.cf means "No configuration".
	if pc.isdefault("postfix/main_mailer_type") && fa.test("-f", "/etc/postfix/main.cf") == yes {
		pc.set(39, "postfix/main_mailer_type", lit("No configuration"))
	}
	mailer := db.get("postfix/main_mailer_type")
	if mailer.known && mailer.s == "No configuration" {
		db.setFlag("postfix/newaliases", "run", lit("false")) // line 52
		return
	}
	// Lines 84-103: the mail name is /etc/mailname's first line, else
	// the host's fully qualified name.
	var mailname value
	if b, err := fa.read("/etc/mailname"); err == nil && b != nil {
		first, _, _ := strings.Cut(string(b), "\n")
		mailname = lit(first)
	}
	if !mailname.known || mailname.s == "" {
		mailname = pc.hostname(false)
	}
	if pc.isdefault("postfix/mailname") {
		pc.set(102, "postfix/mailname", mailname)
	}
	// Lines 144-152: a relay host for the smarthost and satellite types.
	if mailer.known && (mailer.s == "Internet with smarthost" || mailer.s == "Satellite system") && pc.isdefault("postfix/relayhost") {
		d := pc.hostname(true)
		if d.known {
			d = lit("smtp." + d.s)
		}
		pc.set(151, "postfix/relayhost", d)
	}
	// Lines 181-193: the root address would be uid 1000's user, but the
	// script sets it only when getent prints two lines, which it never
	// does: it stays the template's default.
	//
	// Lines 215-250: the destinations, from the host and mail names.
	if db.flag("postfix/destinations", "set").s != "true" {
		host, domain, mn := pc.hostname(false), pc.hostname(true), db.get("postfix/mailname")
		if mn.known && mn.s == "" {
			mn = lit("localhost")
		}
		dest := unknown("$destinations")
		if host.known && domain.known && mn.known && mailer.known {
			switch {
			case mailer.s == "Internet Site" && mn.s == host.s:
				dest = lit(fmt.Sprintf("$myhostname, %s, localhost.%s, , localhost", mn.s, domain.s))
			case mailer.s == "Internet Site":
				dest = lit(fmt.Sprintf("$myhostname, %s, %s, localhost.%s, localhost", mn.s, host.s, domain.s))
			default:
				d := fmt.Sprintf("$myhostname, %s, localhost.%s, localhost", host.s, domain.s)
				if host.s != mn.s && !strings.HasSuffix(host.s, "."+mn.s) {
					d = mn.s + ", " + d
				}
				dest = lit(d)
			}
		}
		pc.set(248, "postfix/destinations", dest)
		db.setFlag("postfix/destinations", "set", lit("true"))
	}
	// Lines 313-320: procmail delivers when it is installed.
	if pc.isdefault("postfix/procmail") {
		pc.set(319, "postfix/procmail", lit(fmt.Sprint(fa.test("-x", "/usr/bin/procmail") == yes)))
	}
	// Lines 389-408: without a main.cf, the protocols the kernel has;
	// kiln's kernels have IPv4 and IPv6.
	if fa.test("-f", "/etc/postfix/main.cf") != yes && pc.isdefault("postfix/protocols") {
		pc.set(407, "postfix/protocols", lit("all"))
	}
}
