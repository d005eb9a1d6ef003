package maintscript

import (
	"path"
	"slices"
	"strings"
)

// Downloads at install time (curl, wget, acngtool curl): the analysis
// models a fresh install on a machine without network access, where a
// download fails with no output. What a script fetches from the network
// differs per mirror and day, so it cannot be part of a declaration; a
// script that copes with the failure (apt-cacher-ng's mirror lists fall
// back to a fixed mirror) declares what it does then. A download into a
// file the system keeps stays unhandled.

// downloadReason is why a download needs nothing.
const downloadReason = "downloads %s at install time: the analysis models a machine without network access, where the download fails with no output, and declares what the script does then (its fallback)"

func curl(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"m": true, "max-time": true, "connect-timeout": true, "retry": true,
		"x": true, "proxy": true, "A": true, "user-agent": true, "H": true, "header": true, "o": true, "output": true,
		"d": true, "data": true, "T": true, "upload-file": true, "u": true, "user": true, "w": true, "write-out": true})
	if o.has("o", "output", "O", "remote-name", "d", "data", "T", "upload-file") {
		cl.unhandled("curl into a file or with an upload at install time")
		return maybe
	}
	return download(cl, o.pos)
}

func wget(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"O": true, "output-document": true, "T": true, "timeout": true,
		"t": true, "tries": true, "P": true, "directory-prefix": true, "e": true, "execute": true, "U": true, "user-agent": true})
	if out, _ := o.get("O", "output-document"); !out.known || out.s != "-" {
		cl.unhandled("wget into a file at install time")
		return maybe
	}
	return download(cl, o.pos)
}

// download is a failed download of the URLs among args to standard
// output.
func download(cl *call, args []value) tri {
	var urls []string
	for _, a := range args {
		if a.known && strings.Contains(a.s, "://") {
			urls = append(urls, a.s)
		}
	}
	if len(urls) == 0 {
		cl.unhandled(cl.name + " of an address the analysis cannot resolve")
		return maybe
	}
	if cl.stdout.s != "" && cl.stdout.temp == 0 {
		cl.unhandled("downloads into " + cl.stdout.s + " at install time")
		return maybe
	}
	cl.ignore(strings.Replace(downloadReason, "%s", strings.Join(urls, " "), 1))
	if cl.stdout.temp > 0 {
		written(cl, File{Kind: Content}) // nothing written (> still empties it)
	} else {
		empty := lit("")
		cl.out = &empty
	}
	return no
}

// acngtool is apt-cacher-ng's helper: "printvar NAME" prints a setting
// of the configuration directory (-c DIR), which the closure ships;
// "curl URL" downloads.
func acngtool(cl *call) tri {
	var dir string
	var pos []value
	for i := 0; i < len(cl.args); i++ {
		a := cl.args[i]
		switch {
		case a.known && a.s == "-c" && i+1 < len(cl.args):
			i++
			if !cl.args[i].known {
				return maybe
			}
			dir = cl.args[i].s
		case a.known && strings.Contains(a.s, "=") && len(pos) == 0:
			// NAME=VALUE: a setting for this run.
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) == 0 || !pos[0].known {
		cl.unhandled("acngtool without a command the analysis resolves")
		return maybe
	}
	switch pos[0].s {
	case "curl":
		return download(cl, pos[1:])
	case "printvar":
		if len(pos) == 2 && pos[1].known && dir != "" {
			if v, ok := cl.acngSetting(dir, pos[1].s); ok {
				out := lit(v)
				cl.out = &out
				return yes
			}
		}
		return maybe
	}
	cl.unhandled("acngtool " + pos[0].s)
	return maybe
}

// acngSetting is the value of apt-cacher-ng's setting name in the *.conf
// files of dir, read in name order, the last one setting it winning
// ("Name: value" or "Name = value", names in any case). It is not known
// when a file's text is not, or no file sets it (the program's default).
func (cl *call) acngSetting(dir, name string) (string, bool) {
	files := cl.in.facts.glob(path.Join(dir, "*.conf"), cl.e.cwd)
	for _, f := range cl.in.an.Files {
		if path.Dir(f.Path) == path.Clean(dir) && strings.HasSuffix(f.Path, ".conf") && !slices.Contains(files, f.Path) {
			files = append(files, f.Path)
		}
	}
	slices.Sort(files)
	val, found := "", false
	for _, f := range files {
		text, ok := cl.knownText(lit(f))
		if !ok {
			return "", false
		}
		for _, l := range lines(text) {
			l = strings.TrimSpace(l)
			if l == "" || l[0] == '#' {
				continue
			}
			i := strings.IndexAny(l, ":=")
			if i < 0 || !strings.EqualFold(strings.TrimSpace(l[:i]), name) {
				continue
			}
			val, found = strings.TrimSpace(l[i+1:]), true
		}
	}
	return val, found
}
