package maintscript

import (
	"path"
	"regexp"
	"strings"
)

// grepOptions are the grep options the analysis follows.
type grepOptions struct {
	pats                                         []string
	files                                        []value
	quiet, ext, fixed, icase, invert, line, word bool
	noNames                                      bool // -h: no file name before each line
	unsupported                                  bool // -c, -l, or an option not followed
}

func parseGrep(name string, args []value) grepOptions {
	o := grepOptions{ext: name == "egrep", fixed: name == "fgrep"}
	long := map[string]*bool{"--quiet": &o.quiet, "--silent": &o.quiet, "--extended-regexp": &o.ext,
		"--fixed-strings": &o.fixed, "--ignore-case": &o.icase, "--invert-match": &o.invert,
		"--line-regexp": &o.line, "--word-regexp": &o.word, "--no-filename": &o.noNames}
	short := map[rune]*bool{'q': &o.quiet, 'E': &o.ext, 'F': &o.fixed, 'i': &o.icase, 'v': &o.invert,
		'x': &o.line, 'w': &o.word, 's': new(bool), 'h': &o.noNames}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case !a.known:
			o.unsupported = true
		case a.s == "-e" && i+1 < len(args):
			i++
			o.pats = append(o.pats, args[i].s)
		case a.s == "--":
			o.files = append(o.files, args[i+1:]...)
			i = len(args)
		case a.s == "--no-messages":
		case strings.HasPrefix(a.s, "--"):
			if f := long[a.s]; f != nil {
				*f = true
			} else {
				o.unsupported = true
			}
		case strings.HasPrefix(a.s, "-") && len(a.s) > 1:
			for _, c := range a.s[1:] {
				if f := short[c]; f != nil {
					*f = true
				} else {
					o.unsupported = true
				}
			}
		case len(o.pats) == 0:
			o.pats = append(o.pats, a.s)
		default:
			o.files = append(o.files, a)
		}
	}
	return o
}

// grep searches files whose text is known (the closure's, or what the
// scripts wrote): the status and the matching lines are then known too.
func grep(cl *call) tri {
	o := parseGrep(cl.name, cl.args)
	if o.unsupported || len(o.pats) == 0 {
		return query(cl)
	}
	// Each input's text, and the name grep puts before its lines (with
	// several files and no -h).
	type input struct{ name, text string }
	var ins []input
	switch {
	case len(o.files) == 0 && cl.stdin != nil && cl.stdin.known:
		ins = append(ins, input{text: cl.stdin.s})
	case len(o.files) > 0:
		for _, f := range o.files {
			t, ok := cl.knownText(f)
			if !ok {
				return query(cl)
			}
			in := input{text: t}
			if len(o.files) > 1 && !o.noNames {
				in.name = f.s + ":"
			}
			ins = append(ins, in)
		}
	default:
		return query(cl)
	}
	re, ok := grepRegexp(o.pats, o.ext, o.fixed, o.icase, o.line, o.word)
	if !ok {
		return query(cl)
	}
	var out []string
	for _, in := range ins {
		for _, l := range lines(in.text) {
			if re.MatchString(l) != o.invert {
				out = append(out, in.name+l)
			}
		}
	}
	if !o.quiet {
		v := lit(joinLines(out))
		cl.out = &v
	}
	return triOf(len(out) > 0)
}

// knownText is the text of the file at p, when the analysis knows it:
// what the scripts wrote, or what the closure ships and no script touched.
func (cl *call) knownText(p value) (string, bool) {
	if p.temp > 0 {
		// mktemp made it empty; what the script wrote into it.
		if f := cl.in.tempFiles[p.temp]; f != nil {
			return cl.fileText(f)
		}
		return "", true
	}
	if !p.known {
		return "", false
	}
	if p.s == "/dev/null" {
		return "", true
	}
	if f := cl.file(path.Clean(p.s)); f != nil {
		return cl.fileText(f)
	}
	if text, ok := cl.in.varText[path.Clean(p.s)]; ok {
		return text, true
	}
	if cl.in.facts.madeHere(p.s) {
		return "", false
	}
	b, err := cl.in.facts.read(p.s)
	if err != nil || b == nil {
		return "", cl.in.facts.test("-e", p.s) == no // a missing file: no lines
	}
	return string(b), true
}

// grepRegexp translates grep's patterns (basic, extended or fixed) into
// one Go regexp.
func grepRegexp(pats []string, ext, fixed, icase, line, word bool) (*regexp.Regexp, bool) {
	var alts []string
	for _, p := range pats {
		switch {
		case fixed:
			p = regexp.QuoteMeta(p)
		case !ext:
			p = breToERE(p)
		}
		if word {
			p = `\b(?:` + p + `)\b`
		}
		if line {
			p = `^(?:` + p + `)$`
		}
		alts = append(alts, "(?:"+p+")")
	}
	expr := strings.Join(alts, "|")
	if icase {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	return re, err == nil
}

// breToERE turns a POSIX basic regular expression into an extended one:
// \( \) \{ \} \| \+ \? are the operators, the bare characters literals.
func breToERE(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p) && strings.IndexByte("(){}|+?", p[i+1]) >= 0:
			i++
			b.WriteByte(p[i])
		case c == '\\' && i+1 < len(p):
			b.WriteByte(c)
			i++
			b.WriteByte(p[i])
		case strings.IndexByte("(){}|+?", c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
