package maintscript

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Files a script makes: links, copies of templates (with edits), text
// written into them, and what removing them undoes.

func ln(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"t": true, "target-directory": true, "S": true, "suffix": true})
	if len(o.pos) != 2 || !o.pos[0].known || !cl.paths(o.pos[1:]) {
		if len(o.pos) != 2 || !o.pos[0].known {
			cl.unhandled("ln with other than TARGET LINK")
		}
		return maybe
	}
	if !o.has("s", "symbolic") {
		cl.unhandled("ln without -s (a hard link)")
		return maybe
	}
	target, link := o.pos[0].s, path.Clean(o.pos[1].s)
	if k, _ := cl.in.facts.kind(link); k == 'd' && !o.has("T", "no-target-directory", "n") {
		link = path.Join(link, path.Base(target))
	}
	switch areaOf(lit(link)) {
	case areaStore:
		if k, t := cl.in.facts.kind(link); k == 'l' && t == target {
			cl.ignore("the closure ships this link already")
		} else {
			cl.addFile(File{Path: link, Kind: Link, Target: target})
		}
	case areaEtc:
		cl.addFile(File{Path: link, Kind: Link, Target: target})
	case areaState:
		t := cl.tmpfile(link, "L")
		if t.Type == "r" || t.Type == "R" {
			t.Type = "L+" // replaces what the package shipped there
		}
		t.Argument = target
		cl.in.facts.makeLink(link, target)
	case areaTemp:
	case areaLocal:
		cl.ignore(localReason)
	default:
		cl.unhandled("makes a link outside /etc and /var: " + link)
		return maybe
	}
	return yes
}

func cp(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"t": true, "target-directory": true, "S": true, "suffix": true})
	if len(o.pos) != 2 {
		cl.unhandled("cp of several files")
		return maybe
	}
	return copyFile(cl, o.pos[0], o.pos[1])
}

func mv(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"t": true, "target-directory": true, "S": true, "suffix": true})
	if len(o.pos) != 2 {
		cl.unhandled("mv of several files")
		return maybe
	}
	src := o.pos[0]
	if src.temp == 0 && areaOf(src) == areaTemp {
		cl.unhandled("moves a scratch file whose text the analysis does not follow: " + src.s)
		return maybe
	}
	if src.temp == 0 && src.known && cl.in.facts.test("-e", src.s) != yes {
		cl.ignore("moves a file left by an older version: a fresh system has none")
		return yes
	}
	return copyFile(cl, src, o.pos[1])
}

// copyFile makes dst a copy of src (a file the closure ships, or a
// temporary file the script wrote): a File in /etc, a tmpfiles "C" entry
// under /var.
// randomSource are the kernel's sources of randomness a copy makes a
// secret from.
var randomSource = map[string]bool{"/proc/sys/kernel/random/uuid": true, "/dev/urandom": true, "/dev/random": true}

func copyFile(cl *call, src, dst value) tri {
	vs := []value{src, dst}
	if !cl.paths(vs) {
		return maybe
	}
	src, dst = vs[0], vs[1]
	if src.temp == 0 && randomSource[path.Clean(src.s)] && cl.name != "mv" {
		// A secret made from the kernel's randomness (varnish's
		// /etc/varnish/secret, a copy of a random UUID): one per
		// machine, never in the store.
		d := FirstRun{Name: "random-secret", Args: append([]string{cl.argv0}, cl.argStrings()...), User: cl.in.user,
			Creates: path.Clean(dst.s), From: cl.source()}
		if cl.in.once(d) {
			cl.in.an.FirstRun = append(cl.in.an.FirstRun, d)
		}
		cl.in.facts.make(d.Creates, 'f')
		return yes
	}
	if src.temp == 0 && areaOf(src) == areaTemp && areaOf(dst) != areaTemp {
		cl.unhandled("installs a scratch file whose text the analysis does not follow: " + src.s)
		return maybe
	}
	if k, _ := cl.in.facts.kind(dst.s); k == 'd' {
		dst = lit(path.Join(dst.s, path.Base(src.s)))
	}
	f := File{Path: path.Clean(dst.s), Kind: Copy, Template: src.s}
	var moved []Source
	if st := cl.in.staged[path.Clean(src.s)]; src.temp == 0 && st != nil && areaOf(dst) != areaState {
		// Installing a staging copy: the template with its edits.
		f.Kind, f.Template, f.Edits, f.Content = st.file.Kind, st.file.Template, append([]Edit(nil), st.file.Edits...), st.file.Content
		st.installed = append(st.installed, f.Path)
	}
	if src.temp > 0 {
		t := cl.in.tempFiles[src.temp]
		if t == nil {
			cl.unhandled("installs a file the script generated in a way the analysis does not follow")
			return maybe
		}
		f.Kind, f.Template, f.Edits, f.Content = t.Kind, t.Template, t.Edits, t.Content
	}
	if old := cl.file(path.Clean(src.s)); src.temp == 0 && old != nil && cl.name != "mv" && (old.Kind == Content || old.Kind == Copy) {
		// A copy of a file the script made (cp -a conf conf.tmp): the
		// same text.
		f.Kind, f.Template, f.Edits, f.Content = old.Kind, old.Template, append([]Edit(nil), old.Edits...), old.Content
	}
	if src.temp == 0 && cl.file(path.Clean(src.s)) != nil && cl.name == "mv" {
		// Moving what the script made (ln -s x a.tmp; mv a.tmp a).
		old := *cl.file(path.Clean(src.s))
		f.Kind, f.Template, f.Target, f.Edits, f.Content = old.Kind, old.Template, old.Target, old.Edits, old.Content
		// What made the moved file made the destination.
		cl.in.an.Files = slices.DeleteFunc(cl.in.an.Files, func(x File) bool { return x.Path == old.Path })
		moved = old.From
		if f.Kind == Link && areaOf(dst) == areaStore {
			if fsys, name, fi := cl.in.facts.find(f.Path); fi != nil && fi.Mode()&fs.ModeSymlink != 0 {
				if t, _ := fs.ReadLink(fsys, name); t == f.Target {
					// The link the package ships, put back as it was.
					cl.in.an.Files = append(cl.in.an.Files, File{Path: old.Path, From: old.From})
					cl.dropFile(old.Path)
					cl.dropFile(f.Path)
					delete(cl.in.facts.made, f.Path)
					cl.ignore("the closure ships this link already")
					return yes
				}
			}
		}
	}
	switch areaOf(dst) {
	case areaEtc, areaStore:
		cl.addFile(f)
		if nf := cl.file(f.Path); nf != nil && len(moved) > 0 {
			// Before the mv itself, the last source.
			last := nf.From[len(nf.From)-1]
			from := nf.From[: len(nf.From)-1 : len(nf.From)-1]
			for _, src := range moved {
				if !hasSource(from, src) {
					from = append(from, src)
				}
			}
			nf.From = append(from, last)
		}
	case areaState:
		if f.Kind != Copy || len(f.Edits) > 0 {
			cl.unhandled("writes a generated file under /var: " + dst.s)
			return maybe
		}
		t := cl.tmpfile(f.Path, "C")
		t.Argument = f.Template
		cl.in.facts.make(f.Path, 'f')
		f.From = []Source{cl.source()}
		cl.in.staged[f.Path] = &stagedFile{file: f}
	case areaTemp:
		if dst.temp > 0 {
			cl.in.tempFiles[dst.temp] = &f
		}
	default:
		cl.unhandled("copies a file outside /etc and /var: " + dst.s)
		return maybe
	}
	return yes
}

// unmake drops what this analysis declared at p (and under it): a file
// made and removed again leaves nothing. It reports whether there was one.
func (cl *call) unmake(p string) bool {
	found := false
	for _, f := range append([]File(nil), cl.in.an.Files...) {
		if under(f.Path, p) {
			found = true
			cl.dropFile(f.Path)
		}
	}
	var tmp []Tmpfile
	for _, t := range cl.in.an.Tmpfiles {
		if !t.Shipped && under(t.Path, p) {
			found = true
			for _, src := range t.From {
				n := Note{Reason: "made a path the script later removed: nothing of it remains", From: src}
				if cl.in.once(n) {
					cl.in.an.Ignored = append(cl.in.an.Ignored, n)
				}
			}
			continue
		}
		tmp = append(tmp, t)
	}
	cl.in.an.Tmpfiles = tmp
	for m := range cl.in.facts.made {
		if under(m, p) {
			delete(cl.in.facts.made, m)
		}
	}
	return found
}

// dropFile removes this analysis's File at p, noting the commands that
// had made it: nothing of them remains.
func (cl *call) dropFile(p string) {
	var out []File
	for _, f := range cl.in.an.Files {
		if f.Path != p {
			out = append(out, f)
			continue
		}
		for _, src := range f.From {
			n := Note{Reason: "made a file the script later moved or removed: nothing of it remains", From: src}
			if cl.in.once(n) {
				cl.in.an.Ignored = append(cl.in.an.Ignored, n)
			}
		}
	}
	cl.in.an.Files = out
}

// rm of a path on a fresh install removes what an older version or a
// previous run left: there is none, unless the package ships it.
func rm(cl *call) tri {
	o := parseOptions(cl.args, nil)
	for _, p := range o.pos {
		if p.temp > 0 || areaOf(p) == areaTemp {
			continue
		}
		if !p.known {
			cl.ignore("removes files named at run time (leftovers: a fresh system has none)")
			return yes
		}
		if _, _, fi, own := cl.in.facts.findOwn(path.Clean(p.s)); fi != nil && own && !cl.in.facts.madeHere(p.s) {
			// What the package ships goes: at boot (tmpfiles "r"/"R")
			// under /var, or hidden by the overlay in /usr.
			q := path.Clean(p.s)
			switch areaOf(p) {
			case areaState:
				typ := "r"
				if o.has("r", "R", "recursive") {
					typ = "R"
				}
				cl.tmpfile(q, typ)
			case areaStore:
				cl.addFile(File{Path: q, Kind: Removed})
			default:
				cl.unhandled("removes a file the package ships: " + p.s)
				return maybe
			}
			cl.in.facts.made[q] = madePath{kind: '-'}
			continue
		}
		if cl.in.facts.madeHere(p.s) {
			if !cl.unmake(path.Clean(p.s)) {
				cl.unhandled("removes a file another package's script made: " + p.s)
				return maybe
			}
		}
	}
	cl.ignore("removes leftovers of an older version or a previous run, or what the script made earlier")
	return yes
}

// ucf installs a config file from a template (or a file the script
// generated), keeping the admin's changes on upgrades: on kiln it is a
// File of /etc.
func ucf(cl *call) tri {
	o := parseOptions(cl.args, map[string]bool{"src-dir": true, "state-dir": true, "sum-file": true})
	if o.has("purge", "p") {
		cl.ignore("forgets a config file on purge")
		return yes
	}
	if len(o.pos) != 2 {
		cl.unhandled("ucf without SOURCE DESTINATION")
		return maybe
	}
	r := copyFile(cl, o.pos[0], o.pos[1])
	if r == yes {
		if f := cl.file(path.Clean(o.pos[1].s)); f != nil {
			f.Register = true
		}
	}
	return r
}

// sed filters a template into a file, or edits one in place.
func sed(cl *call) tri {
	var exprs []string
	var files []value
	inPlace, quiet, ext := false, false, false
	unknownExpr := false
	args := cl.args
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case !a.known || a.s == "-" || !strings.HasPrefix(a.s, "-"):
			if len(exprs) == 0 {
				exprs = append(exprs, a.s)
				unknownExpr = unknownExpr || !a.known
			} else {
				files = append(files, a)
			}
		case a.s == "--expression" && i+1 < len(args):
			i++
			exprs = append(exprs, args[i].s)
			unknownExpr = unknownExpr || !args[i].known
		case strings.HasPrefix(a.s, "--expression="):
			exprs = append(exprs, strings.TrimPrefix(a.s, "--expression="))
		case strings.HasPrefix(a.s, "--in-place"):
			inPlace = true
		case a.s == "--quiet" || a.s == "--silent":
			quiet = true
		case a.s == "--regexp-extended":
			ext = true
		case strings.HasPrefix(a.s, "--"):
		default: // a cluster of short options: -ne 'SCRIPT', -i.bak
		short:
			for k := 1; k < len(a.s); k++ {
				switch a.s[k] {
				case 'n':
					quiet = true
				case 'E', 'r':
					ext = true
				case 'i':
					inPlace = true
					break short // the rest is a backup suffix
				case 'e':
					if k+1 < len(a.s) {
						exprs = append(exprs, a.s[k+1:])
					} else if i+1 < len(args) {
						i++
						exprs = append(exprs, args[i].s)
						unknownExpr = unknownExpr || !args[i].known
					}
					break short
				}
			}
		}
	}
	if !inPlace && cl.stdout.s == "" && cl.stdout.temp == 0 {
		return sedFilter(cl, exprs, files, quiet, ext) // into a pipe or $(...)
	}
	for _, x := range append(files, lit(strings.Join(exprs, ";"))) {
		if !x.known && x.temp == 0 {
			cl.unhandled("sed with an expression or file the analysis cannot resolve: " + x.s)
			return maybe
		}
	}
	if inPlace {
		for _, p := range files {
			if p.temp > 0 {
				// A temporary file the script wrote (slapd's copy of
				// slapd.init.ldif for slapadd): its edits follow it.
				t := cl.in.tempFiles[p.temp]
				if t == nil || t.Kind == Link {
					cl.unhandled("edits a temporary file the script wrote in a way the analysis does not follow: " + p.s)
					return maybe
				}
				e := sedEdit(exprs, quiet, ext)
				e.Unknown = unknownExpr
				t.Edits = append(t.Edits, e)
				if src := cl.source(); !hasSource(t.From, src) {
					t.From = append(t.From, src)
				}
				continue
			}
			if unknownExpr {
				cl.unhandled("sed with an expression the analysis cannot resolve: " + strings.Join(exprs, "; "))
				return maybe
			}
			if text, ok := cl.in.varText[path.Clean(p.s)]; ok {
				// A file the script wrote under /var: its new text.
				prog, ok := parseSedScript(strings.Join(exprs, "\n"), ext)
				if !ok {
					cl.unhandled("edits a file under /var with sed the analysis does not follow: " + p.s)
					return maybe
				}
				cl.varFile(path.Clean(p.s), prog.run(text, quiet))
				continue
			}
			f := cl.file(path.Clean(p.s))
			if st := cl.in.staged[path.Clean(p.s)]; f == nil && st != nil {
				// A copy under /var or /run edited in place: no longer
				// the template's copy tmpfiles would make.
				if !st.edited {
					cl.in.an.Tmpfiles = slices.DeleteFunc(cl.in.an.Tmpfiles, func(t Tmpfile) bool { return t.Path == st.file.Path && !t.Shipped })
					st.edited = true
				}
				f = &st.file
			}
			if f == nil || f.Kind == Link {
				cl.unhandled("edits a file in place that the script did not make: " + p.s)
				return maybe
			}
			if prog, ok := parseSedScript(strings.Join(exprs, "\n"), ext); ok && f.Kind == Content && len(f.Edits) == 0 {
				f.Content = prog.run(f.Content, quiet) // a text the script wrote
			} else {
				f.Edits = append(f.Edits, sedEdit(exprs, quiet, ext))
			}
			if src := cl.source(); !hasSource(f.From, src) {
				f.From = append(f.From, src)
			}
		}
		return yes
	}
	if len(files) == 0 {
		return sedFilter(cl, exprs, nil, quiet, ext) // its input into a file
	}
	if len(files) != 1 {
		cl.unhandled("sed of several files into one")
		return maybe
	}
	if old := cl.file(path.Clean(files[0].s)); old != nil && old.Kind != Link && old.Kind != Directory {
		// A file the scripts made, filtered into another.
		if old.Kind == Content && len(old.Edits) == 0 {
			return sedFilter(cl, exprs, files, quiet, ext)
		}
		return written(cl, File{Kind: old.Kind, Template: old.Template, Content: old.Content,
			Edits: append(append([]Edit(nil), old.Edits...), sedEdit(exprs, quiet, ext))})
	}
	return written(cl, File{Kind: Copy, Template: files[0].s, Edits: []Edit{sedEdit(exprs, quiet, ext)}})
}

func sedEdit(exprs []string, quiet, ext bool) Edit {
	e := Edit{Tool: "sed"}
	if quiet {
		e.Args = append(e.Args, "-n")
	}
	if ext {
		e.Args = append(e.Args, "-E")
	}
	for _, x := range exprs {
		e.Args = append(e.Args, "-e", x)
	}
	return e
}

// cat copies files (or a here-document) into its output.
func cat(cl *call) tri {
	if cl.stdout.s == "" && cl.stdout.temp == 0 {
		// Output for a pipe or $(...): known for one file with a known text.
		if len(cl.args) == 1 && cl.args[0].temp > 0 {
			if text, ok := cl.knownText(cl.args[0]); ok {
				v := lit(text)
				cl.out = &v
			}
		} else if len(cl.args) == 1 && cl.args[0].known {
			if f := cl.file(cl.args[0].s); f != nil && f.Kind == Content && len(f.Edits) == 0 {
				v := lit(f.Content)
				cl.out = &v
			} else if b, err := cl.in.facts.read(cl.args[0].s); err == nil && b != nil && !cl.in.facts.madeHere(cl.args[0].s) {
				v := lit(string(b))
				cl.out = &v
			}
		}
		return maybe
	}
	if cl.stdin != nil && len(cl.args) == 0 {
		return writeFile(cl)
	}
	if len(cl.args) == 1 && cl.args[0].temp > 0 {
		// A temporary file the script wrote: its text.
		text, ok := cl.knownText(cl.args[0])
		if !ok {
			cl.unhandled("cat of a temporary file whose text the analysis cannot compute")
			return maybe
		}
		return written(cl, File{Kind: Content, Content: text})
	}
	if len(cl.args) != 1 || !cl.args[0].known {
		cl.unhandled("cat of several files into one")
		return maybe
	}
	if cl.args[0].s == "/dev/null" {
		return written(cl, File{Kind: Content})
	}
	return written(cl, File{Kind: Copy, Template: cl.args[0].s})
}

// writeFile is a command whose output goes into a file: with a known
// text (echo, printf, a here-document) the file has that content.
func writeFile(cl *call) tri {
	if cl.stdin == nil || !cl.stdin.known || (cl.name != "cat" && cl.name != "echo" && cl.name != "printf") {
		cl.unhandled(fmt.Sprintf("writes %s with %s", cl.stdout.s, cl.name))
		return maybe
	}
	return written(cl, File{Kind: Content, Content: cl.stdin.s})
}

// written records f as the content of cl's output file.
func written(cl *call, f File) tri {
	dst := cl.stdout
	if dst.temp > 0 {
		if old := cl.in.tempFiles[dst.temp]; cl.appendOut && old != nil {
			text, ok := cl.fileText(old)
			if !ok || f.Kind != Content {
				cl.unhandled("appends to a temporary file whose text the analysis cannot compute")
				return maybe
			}
			f.Content = text + f.Content
		}
		cl.in.tempFiles[dst.temp] = &f
		return yes
	}
	if v := []value{dst}; cl.paths(v) {
		dst = v[0]
	} else {
		return maybe
	}
	f.Path = path.Clean(dst.s)
	if text, ok := cl.in.varText[f.Path]; ok && cl.appendOut && f.Kind == Content {
		return cl.varFile(f.Path, text+f.Content)
	}
	if cl.appendOut {
		old := cl.file(f.Path)
		switch {
		case old != nil && old.Kind == Content && len(old.Edits) == 0 && f.Kind == Content:
			f.Content = old.Content + f.Content
		case old != nil && old.Kind != Link && old.Kind != Directory:
			// Appended to a file the scripts made from a template.
			add := Edit{Tool: "append", Args: []string{f.Content}}
			if f.Kind == Copy {
				add = Edit{Tool: "append-file", Args: []string{f.Template}}
			}
			if len(f.Edits) > 0 {
				cl.unhandled("appends an edited file to " + dst.s)
				return maybe
			}
			old.Edits = append(old.Edits, add)
			if src := cl.source(); !hasSource(old.From, src) {
				old.From = append(old.From, src)
			}
			return yes
		case cl.in.facts.test("-e", f.Path) != no:
			cl.unhandled("appends to " + dst.s + ", which the closure ships or another script made")
			return maybe
		}
	}
	switch areaOf(dst) {
	case areaEtc, areaStore:
		cl.addFile(f)
	case areaState:
		if f.Kind != Content {
			cl.unhandled("writes a generated file under /var: " + dst.s)
			return maybe
		}
		return cl.varFile(f.Path, f.Content)
	case areaTemp:
	default:
		cl.unhandled(fmt.Sprintf("writes %s with %s", dst.s, cl.name))
		return maybe
	}
	return yes
}

// varFile records that the script left text in the file p under /var:
// a tmpfiles "f" line, which makes the file with that text unless it
// exists (as on a fresh install, where the script made it).
func (cl *call) varFile(p, text string) tri {
	t := cl.tmpfile(p, "f")
	if t.Type != "f" {
		cl.unhandled("writes a generated file under /var that the script also made otherwise: " + p)
		return maybe
	}
	t.Argument = TmpfilesArgument(text)
	cl.in.varText[p] = text
	cl.in.facts.make(p, 'f')
	return yes
}

// TmpfilesArgument is text as the argument field of a tmpfiles.d "f"
// line, which systemd-tmpfiles writes as it is after undoing C escapes
// and specifiers (%%): backslashes, control characters, % and blanks at
// either end are escaped.
func TmpfilesArgument(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '%':
			b.WriteString("%%")
		case c < 0x20 || c == 0x7f || c == ' ' && (i == 0 || i == len(text)-1):
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
