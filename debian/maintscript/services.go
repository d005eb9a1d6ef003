package maintscript

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
)

// Package-specific tools that scripts of widely used servers call, each
// turned into the declarations it amounts to.

// icinga2 feature enable NAME...: links in /etc/icinga2/features-enabled.
func icinga2(cl *call) tri {
	if len(cl.args) >= 3 && cl.args[0].s == "feature" && cl.args[1].s == "enable" {
		for _, a := range cl.args[2:] {
			if !a.known {
				cl.unhandled("icinga2 feature enable of a name the analysis cannot resolve: " + a.s)
				return maybe
			}
			cl.addFile(File{Path: "/etc/icinga2/features-enabled/" + a.s + ".conf", Kind: Link,
				Target: "../features-available/" + a.s + ".conf"})
		}
		return yes
	}
	if len(cl.args) >= 2 && cl.args[0].s == "feature" && cl.args[1].s == "list" {
		return maybe
	}
	cl.unhandled("icinga2 " + strings.Join(cl.argStrings(), " "))
	return maybe
}

// lightyEnableMod links /etc/lighttpd/conf-enabled/NN-NAME.conf to the
// conf-available file of that name, as lighty-enable-mod does.
func lightyEnableMod(cl *call) tri {
	for _, a := range cl.args {
		if !a.known {
			cl.unhandled("lighty-enable-mod of a name the analysis cannot resolve: " + a.s)
			return maybe
		}
		found := ""
		for _, n := range cl.in.facts.list("/etc/lighttpd/conf-available") {
			if globMatch("[0-9][0-9]-"+a.s+".conf", n) {
				found = n
			}
		}
		if found == "" {
			cl.unhandled("lighty-enable-mod of a module the closure does not ship: " + a.s)
			return maybe
		}
		cl.addFile(File{Path: "/etc/lighttpd/conf-enabled/" + found, Kind: Link, Target: "../conf-available/" + found})
	}
	return yes
}

// postconf -e and -X edit main.cf (in /etc/postfix, or -c DIR); without
// them it only prints settings.
func postconf(cl *call) tri {
	dir := "/etc/postfix"
	edit := Edit{Tool: "postconf"}
	hide, expand, other := false, false, false
	var names []string
	for i := 0; i < len(cl.args); i++ {
		a := cl.args[i]
		switch {
		case !a.known:
			if len(edit.Args) == 0 {
				return maybe // a query
			}
			cl.unhandled("postconf with an argument the analysis cannot resolve: " + a.s)
			return maybe
		case a.s == "-c" && i+1 < len(cl.args):
			i++
			dir = cl.args[i].s
		case a.s == "-e" || a.s == "-X" || a.s == "-#":
			edit.Args = append(edit.Args, a.s)
		case strings.HasPrefix(a.s, "-") && len(edit.Args) == 0:
			// A query: -h (values only) and -x (expanded) are computed.
			for _, c := range a.s[1:] {
				switch c {
				case 'h':
					hide = true
				case 'x':
					expand = true
				default:
					other = true
				}
			}
		case strings.HasPrefix(a.s, "-"):
			cl.unhandled("postconf " + a.s)
			return maybe
		case len(edit.Args) == 0:
			names = append(names, a.s)
		default:
			edit.Args = append(edit.Args, a.s)
		}
	}
	if len(edit.Args) == 0 {
		if other || len(names) == 0 {
			return maybe
		}
		return postconfQuery(cl, dir, names, hide, expand)
	}
	f := cl.file(path.Join(dir, "main.cf"))
	if f == nil {
		cl.unhandled("postconf edits a main.cf the scripts did not make: " + path.Join(dir, "main.cf"))
		return maybe
	}
	f.Edits = append(f.Edits, edit)
	if src := cl.source(); !hasSource(f.From, src) {
		f.From = append(f.From, src)
	}
	return yes
}

// md5sum -c checks files against sums: the closure's files are read, so
// a check of unchanged conffiles on a fresh install is decided.
func md5sum(cl *call) tri {
	check, ignoreMissing := false, false
	for _, a := range cl.args {
		check = check || a.s == "-c" || a.s == "--check"
		ignoreMissing = ignoreMissing || a.s == "--ignore-missing"
	}
	if !check || cl.stdin == nil || !cl.stdin.known {
		return maybe
	}
	for _, l := range strings.Split(cl.stdin.s, "\n") {
		sum, name, ok := strings.Cut(strings.TrimSpace(l), "  ")
		if !ok {
			continue
		}
		var b []byte
		var err error
		if cl.in.facts.madeHere(name) {
			// What the scripts made there: the copy of a template
			// (nfs-common's ucf of /etc/default/nfs-common), or text.
			f := cl.file(path.Clean(name))
			switch {
			case f != nil && f.Kind == Content && len(f.Edits) == 0:
				b = []byte(f.Content)
			case f != nil && f.Kind == Copy && len(f.Edits) == 0 && !cl.in.facts.madeHere(f.Template):
				b, err = cl.in.facts.read(f.Template)
			default:
				return maybe
			}
		} else {
			b, err = cl.in.facts.read(name)
		}
		if err == nil && b == nil && ignoreMissing {
			continue // --ignore-missing: a file that does not exist is not checked
		}
		if err != nil || b == nil {
			return no
		}
		h := md5.Sum(b)
		if hex.EncodeToString(h[:]) != sum {
			return no
		}
	}
	return yes
}

// chsh -s SHELL USER changes an account's shell.
func chsh(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"s": true, "shell": true, "R": true, "root": true})
	sh, ok := o.get("s", "shell")
	if !ok || len(o.pos) != 1 || !sh.known || !o.pos[0].known {
		cl.unhandled("chsh with arguments the analysis cannot resolve")
		return maybe
	}
	cl.user(User{Name: o.pos[0].s, Shell: sh.s, Change: true})
	return yes
}

// dpkgDivert: a fresh system has no diversions, so the queries answer
// none; --add diverts a path away from other packages, which needs
// nothing when only the diverting package (or nobody) ships it.
func dpkgDivert(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"package": true, "divert": true, "admindir": true, "instdir": true, "root": true})
	switch {
	case o.has("listpackage"):
		v := lit("")
		cl.out = &v
		return yes
	case o.has("truename"):
		if len(o.pos) == 1 {
			v := o.pos[0]
			cl.out = &v
		}
		return yes
	case o.has("list"):
		return maybe
	case o.has("remove"):
		cl.ignore("removes a diversion an older version made: a fresh system has none")
		return yes
	case o.has("add") && len(o.pos) == 1 && o.pos[0].known:
		p := o.pos[0].s
		if _, _, fi, own := cl.in.facts.findOwn(p); fi == nil || own {
			cl.ignore(fmt.Sprintf("diverts %s away from other packages: only this package (or none) ships it; sw reports any other as a conflict", p))
			return yes
		}
		cl.unhandled("diverts a file another package ships: " + p)
		return maybe
	}
	cl.unhandled("dpkg-divert " + strings.Join(cl.argStrings(), " "))
	return maybe
}

// squid -k parse reads squid.conf (and the files it includes) and
// prints each directive as "Processing: LINE", which squid's postinst
// greps for the cache directory and the effective user; its other
// output (timestamps, "Startup:" lines) is left out. Other squid
// commands signal or run the daemon.
func squid(cl *call) tri {
	conf := "/etc/squid/squid.conf"
	parse := false
	for i := 0; i < len(cl.args); i++ {
		a := cl.args[i]
		switch {
		case !a.known:
			cl.unhandled("squid with an argument the analysis cannot resolve: " + a.s)
			return maybe
		case a.s == "-k" && i+1 < len(cl.args):
			i++
			parse = cl.args[i].s == "parse"
		case a.s == "-f" && i+1 < len(cl.args):
			i++
			conf = cl.args[i].s
		}
	}
	if !parse {
		cl.ignore(harmless["start-stop-daemon"])
		return maybe
	}
	var b strings.Builder
	if !cl.squidConf(&b, conf, 0) {
		return maybe
	}
	v := lit(b.String())
	cl.out = &v
	return yes
}

func (cl *call) squidConf(b *strings.Builder, name string, depth int) bool {
	text, ok := cl.knownText(lit(name))
	if !ok || depth > 8 {
		return false
	}
	for _, l := range lines(text) {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		fmt.Fprintf(b, "Processing: %s\n", l)
		if f := strings.Fields(l); len(f) == 2 && f[0] == "include" {
			names := []string{f[1]}
			if hasGlob(f[1]) {
				names = cl.in.facts.glob(f[1], lit("/"))
			}
			for _, n := range names {
				if !cl.squidConf(b, n, depth+1) {
					return false
				}
			}
		}
	}
	return true
}
