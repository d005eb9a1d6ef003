package maintscript

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// The text of a file the scripts made, computed from its template and
// edits when every edit is one ApplyEdits computes, so that later greps
// and postconf queries on it are decided.

// fileText is f's text, when the analysis can compute it.
func (cl *call) fileText(f *File) (string, bool) {
	return cl.fileTextDepth(f, 0)
}

func (cl *call) fileTextDepth(f *File, depth int) (string, bool) {
	if depth > 8 {
		return "", false
	}
	var text string
	switch f.Kind {
	case Content:
		text = f.Content
	case Copy:
		if t := cl.file(path.Clean(f.Template)); t != nil && t.Path != f.Path {
			s, ok := cl.fileTextDepth(t, depth+1)
			if !ok {
				return "", false
			}
			text = s
			break
		}
		if cl.in.facts.madeHere(f.Template) {
			return "", false
		}
		b, err := cl.in.facts.read(f.Template)
		if err != nil || b == nil {
			return "", f.Template == "/dev/null"
		}
		text = string(b)
	default:
		return "", false
	}
	text, err := ApplyEdits(text, f.Edits, func(p string) (string, error) {
		t, ok := cl.knownText(lit(p))
		if !ok {
			return "", fmt.Errorf("%s: text not known", p)
		}
		return t, nil
	})
	return text, err == nil
}

var paramRE = regexp.MustCompile(`^([A-Za-z0-9_]+)[ \t]*=`)

// paramName is the parameter a main.cf line sets, or "".
func paramName(l string) string {
	if m := paramRE.FindStringSubmatch(l); m != nil {
		return m[1]
	}
	return ""
}

// mainCfParams are the parameters a main.cf's text sets (the last line
// of a name wins, as postfix reads it).
func mainCfParams(text string) map[string]string {
	out := map[string]string{}
	ls := lines(text)
	for i := 0; i < len(ls); i++ {
		name := paramName(ls[i])
		if name == "" {
			continue
		}
		_, v, _ := strings.Cut(ls[i], "=")
		for i+1 < len(ls) && ls[i+1] != "" && (ls[i+1][0] == ' ' || ls[i+1][0] == '\t') {
			i++
			v += " " + strings.TrimSpace(ls[i])
		}
		out[name] = strings.TrimSpace(v)
	}
	return out
}

// postfixDefaults are the built-in values (postconf -d of Debian's
// postfix 3.7) of the parameters scripts query that main.cf may leave
// unset; myhostname's is the machine's name.
var postfixDefaults = map[string]string{
	"default_transport": "smtp",
	"relay_transport":   "relay",
	"alias_database":    "hash:/etc/aliases",
	"inet_interfaces":   "all",
	"inet_protocols":    "all",
	"mailbox_command":   "",
	"relayhost":         "",
	"mydestination":     "$myhostname, localhost.$mydomain, localhost",
}

// postconfQuery is postconf [-c DIR] [-h] [-x] NAME...: each parameter's
// value in main.cf, else its default; -x expands $NAME references.
func postconfQuery(cl *call, dir string, names []string, hideName, expand bool) tri {
	var text string
	mainCf := path.Join(dir, "main.cf")
	if f := cl.file(mainCf); f != nil {
		t, ok := cl.fileText(f)
		if !ok {
			return maybe
		}
		text = t
	} else if t, ok := cl.knownText(lit(mainCf)); ok {
		text = t
	} else {
		return maybe
	}
	params := mainCfParams(text)
	var lookup func(name string, depth int) (string, bool)
	lookup = func(name string, depth int) (string, bool) {
		v, ok := params[name]
		if !ok {
			v, ok = postfixDefaults[name]
		}
		if !ok && name == "myhostname" && cl.in.hostName != "" {
			v, ok = cl.in.hostName, true
		}
		if !ok && name == "mydomain" && strings.Contains(cl.in.hostName, ".") {
			_, v, _ = strings.Cut(cl.in.hostName, ".")
			ok = true
		}
		if !ok || !expand || depth > 8 {
			return v, ok
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] != '$' || i+1 == len(v) {
				b.WriteByte(v[i])
				continue
			}
			ref, rest := "", v[i+1:]
			if rest[0] == '{' || rest[0] == '(' {
				end := strings.IndexAny(rest, "})")
				if end < 0 {
					return "", false
				}
				ref, i = rest[1:end], i+1+end
			} else {
				n := 0
				for n < len(rest) && (rest[n] == '_' || rest[n] >= 'a' && rest[n] <= 'z' || rest[n] >= 'A' && rest[n] <= 'Z' || rest[n] >= '0' && rest[n] <= '9') {
					n++
				}
				if n == 0 {
					b.WriteByte('$')
					continue
				}
				ref, i = rest[:n], i+n
			}
			s, ok := lookup(ref, depth+1)
			if !ok {
				return "", false
			}
			b.WriteString(s)
		}
		return b.String(), true
	}
	var b strings.Builder
	for _, n := range names {
		v, ok := lookup(n, 0)
		if !ok {
			return maybe
		}
		if !hideName {
			b.WriteString(n + " = ")
		}
		b.WriteString(v + "\n")
	}
	out := lit(b.String())
	cl.out = &out
	cl.prints = false
	return yes
}
