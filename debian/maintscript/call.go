package maintscript

import (
	"fmt"
	"path"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// call is one simple command about to run.
type call struct {
	in   *interp
	e    *env
	f    *file
	s    *syntax.Stmt
	c    *syntax.CallExpr
	name string  // the command's base name
	args []value // its arguments
	// stdout is the file the command's output goes to (a redirection);
	// "" is the terminal or /dev/null. tempOut is set when it is a
	// temporary file (mktemp).
	stdout    value
	appendOut bool
	stdin     *value // a here-document's or here-string's text
	// stdinTemp is the temporary file (mktemp's number) the command
	// reads from, when its input is one.
	stdinTemp int
	// stdinFile is the file (an absolute path) a < redirection reads.
	stdinFile string
	// out is what the command prints, when known (used inside $(...)).
	out *value
	// argv0 is the command as invoked (a path or a name).
	argv0 string
	// devnull: the output goes to /dev/null. prints: the command prints
	// something the analysis does not compute.
	devnull, prints bool
}

func (in *interp) call(e *env, f *file, s *syntax.Stmt, c *syntax.CallExpr) tri {
	if len(c.Args) == 0 {
		for _, a := range c.Assigns {
			if a.Name != nil {
				e.set(a.Name.Value, in.assignValue(e, f, a))
			}
		}
		return yes
	}
	var args []value
	for _, w := range c.Args {
		for _, v := range in.fields(e, f, w) {
			args = append(args, in.temp(v))
		}
	}
	if len(args) == 0 {
		return yes
	}
	if len(in.aliases) > 0 {
		args = in.aliased(e, f, c, args)
	}
	cl := &call{in: in, e: e, f: f, s: s, c: c, args: args[1:], stdin: in.input}
	in.redirects(cl, s.Redirs)
	if !args[0].known {
		// "$idl start", idl="invoke-rc.d $service": an init script's
		// action on a unit found on the system.
		if args[0].origin == foundUnits && len(args) == 2 && foundUnitAction(cl, args[1].s, []value{args[0]}) {
			return maybe
		}
		in.unhandled(f, s, fmt.Sprintf("the command name %s cannot be resolved", args[0].s))
		return maybe
	}
	if fn, ok := in.funcs[args[0].s]; ok {
		return in.callFunc(e, f, s, fn, args[1:])
	}
	cl.name, cl.argv0 = path.Base(args[0].s), args[0].s
	return in.dispatch(cl)
}

func (in *interp) assignValue(e *env, f *file, a *syntax.Assign) value {
	if a.Array != nil {
		return unknown("$" + a.Name.Value)
	}
	v := in.word(e, f, a.Value)
	if a.Append {
		old, _ := in.lookup(e, a.Name.Value)
		if !old.known || !v.known {
			return unknown("$" + a.Name.Value)
		}
		return lit(old.s + v.s)
	}
	return v
}

// dispatch runs the builtin or recognizer for cl's command. On removal
// nothing is declared: what a recognizer would declare becomes a note.
func (in *interp) dispatch(cl *call) tri {
	if in.phase != Remove {
		r := in.dispatch1(cl)
		in.emit(cl)
		return r
	}
	saved := in.an
	in.an = &Analysis{Package: saved.Package}
	r := in.dispatch1(cl)
	in.emit(cl)
	scratch := in.an
	in.an = saved
	in.an.Ignored = append(in.an.Ignored, scratch.Ignored...)
	if len(scratch.sources()) > 0 && len(scratch.Ignored) == 0 {
		cl.ignore("runs only on removal or purge: kiln removes a package by switching to a generation without it")
	}
	return r
}

// ucfState is ucf's own state: the registry of the files it manages
// (hashfile, registry) and the cache of its three-way merges. No later
// ucf run reads it on kiln, whose /etc each generation makes.
const ucfState = "/var/lib/ucf"

// intoUCFState says whether the command writes only into ucf's state:
// its output, or the destination of cp, mv, install, ln, touch, mkdir
// and rm; ucf's own scripts are not.
func (cl *call) intoUCFState() bool {
	if cl.in.an.Package == "ucf" {
		return false // ucf's postinst makes the empty registry
	}
	if cl.stdout.known && cl.stdout.s != "" {
		return under(path.Clean(cl.stdout.s), ucfState)
	}
	switch cl.name {
	case "cp", "mv", "install", "ln", "touch", "mkdir", "rm":
	default:
		return false
	}
	last := ""
	for _, a := range cl.args {
		if !a.known {
			return false
		}
		if !strings.HasPrefix(a.s, "-") {
			last = a.s
		}
	}
	return last != "" && path.IsAbs(last) && under(path.Clean(last), ucfState)
}

func (in *interp) dispatch1(cl *call) tri {
	if cl.intoUCFState() {
		cl.ignore("ucf's own state (its registry and merge cache under /var/lib/ucf): kiln's /etc is made by each generation, and no later ucf run reads it")
		return yes
	}
	if b, ok := builtins[cl.name]; ok {
		return b(cl)
	}
	if strings.HasPrefix(cl.name, "db_") {
		return debconfCommand(cl)
	}
	if r, ok := recognizers[cl.name]; ok {
		// A program prints something (into $(...)) unless it is one of
		// those that only act, or its handler computed the output.
		cl.prints = !silent[cl.name]
		return r(cl)
	}
	if r, ok := cl.runScript(); ok {
		return r
	}
	if cl.stdout.s != "" {
		return writeFile(cl)
	}
	cl.prints = true
	if in.subst > 0 {
		return maybe // computes a value for $(...)
	}
	cl.unhandled("no recognizer for " + cl.name)
	return maybe
}

// silent are the programs that print nothing on success.
var silent = map[string]bool{
	"adduser": true, "addgroup": true, "useradd": true, "groupadd": true, "usermod": true, "gpasswd": true,
	"deluser": true, "delgroup": true, "userdel": true, "groupdel": true, "mkdir": true, "install": true,
	"touch": true, "chown": true, "chgrp": true, "chmod": true, "setcap": true, "ln": true, "cp": true,
	"mv": true, "rm": true, "rmdir": true, "ucf": true, "ucfr": true, "deb-systemd-helper": true,
	"deb-systemd-invoke": true, "update-rc.d": true, "dpkg-maintscript-helper": true, "dpkg-trigger": true,
	"systemd-sysusers": true, "systemd-tmpfiles": true, "add-shell": true, "a2enmod": true,
	"a2enconf": true, "a2ensite": true, "chsh": true, "ldconfig": true,
}

// redirects records where cl's output goes and what its input is.
func (in *interp) redirects(cl *call, rs []*syntax.Redirect) {
	for _, r := range rs {
		switch r.Op {
		case syntax.Hdoc, syntax.DashHdoc:
			v := in.heredoc(cl.e, cl.f, r)
			cl.stdin = &v
		case syntax.WordHdoc:
			v := in.word(cl.e, cl.f, r.Word)
			cl.stdin = &v
		case syntax.RdrIn:
			// The file's text: what the scripts wrote into it, or what
			// the closure ships.
			t := in.temp(in.word(cl.e, cl.f, r.Word))
			if t.temp > 0 {
				cl.stdinTemp = t.temp
			} else if t.known && path.IsAbs(t.s) {
				cl.stdinFile = path.Clean(t.s)
			}
			if t.temp > 0 || t.known && path.IsAbs(t.s) {
				if t.temp == 0 {
					t = lit(path.Clean(t.s))
				}
				if text, ok := cl.knownText(t); ok {
					v := lit(text)
					cl.stdin = &v
				}
			}
		case syntax.RdrOut, syntax.AppOut, syntax.RdrClob, syntax.RdrAll, syntax.AppAll:
			if r.N != nil && r.N.Value != "1" {
				continue // stderr to a file: a log, not the result
			}
			t := in.temp(in.word(cl.e, cl.f, r.Word))
			if t.known && (t.s == "/dev/null" || strings.HasPrefix(t.s, "/dev/std")) {
				cl.stdout, cl.devnull = value{}, t.s == "/dev/null"
				continue
			}
			cl.stdout, cl.appendOut = t, r.Op == syntax.AppOut || r.Op == syntax.AppAll
		}
	}
}

func (in *interp) heredoc(e *env, f *file, r *syntax.Redirect) value {
	if r.Hdoc == nil {
		return lit("")
	}
	quoted := false
	for _, p := range r.Word.Parts {
		switch p := p.(type) {
		case *syntax.SglQuoted, *syntax.DblQuoted:
			quoted = true
		case *syntax.Lit:
			quoted = quoted || strings.Contains(p.Value, `\`)
		}
	}
	var v value
	if quoted {
		v = lit(string(f.src[r.Hdoc.Pos().Offset():r.Hdoc.End().Offset()]))
	} else {
		var b strings.Builder
		v = lit("")
		for _, p := range in.pieces(e, f, r.Hdoc.Parts, true) {
			if !p.v.known {
				v = unknown("<<" + f.text(r.Word))
				break
			}
			b.WriteString(p.v.s)
		}
		if v.known {
			v = lit(b.String())
		}
	}
	if v.known && r.Op == syntax.DashHdoc {
		lines := strings.Split(v.s, "\n")
		for i, l := range lines {
			lines[i] = strings.TrimLeft(l, "\t")
		}
		v = lit(strings.Join(lines, "\n"))
	}
	return v
}

// capture collects what commands print inside $(...) or into a file
// from a compound command: known text, or unknown once any command prints
// something the analysis cannot compute.
type capture struct {
	b       strings.Builder
	unknown bool
	temp    int // the output is exactly this temporary file's name (mktemp)
	// origin is what the unknown output is derived from (see
	// value.origin); plain is set once a command printed something
	// unknown of another or no origin.
	origin string
	plain  bool
}

// taint records the origin of unknown output ("": none known).
func (c *capture) taint(o string) {
	switch {
	case o == "" || c.origin != "" && c.origin != o:
		c.plain = true
	default:
		c.origin = o
	}
}

// derivedOrigin is the origin of a capture's unknown output.
func (c *capture) derivedOrigin() string {
	if c.plain {
		return ""
	}
	return c.origin
}

// cmdSubst is the value of $(...): its commands run (and are recorded),
// and its value is what they print, known only when every command that
// prints has a known output and no undecided branch was followed.
func (in *interp) cmdSubst(e *env, f *file, cs *syntax.CmdSubst) value {
	var temp int
	var origin string
	text, ok := in.captured(true, func() {
		in.stmts(e.clone(), f, cs.Stmts)
		temp, origin = in.capture.temp, in.capture.derivedOrigin()
	})
	if temp > 0 {
		return value{s: f.text(cs), temp: temp}
	}
	if !ok {
		return value{s: f.text(cs), origin: origin}
	}
	return lit(strings.TrimRight(text, "\n"))
}

// captured runs fn with its output captured; subst is set for $(...),
// where a command the analysis does not know only computes a value.
func (in *interp) captured(subst bool, fn func()) (string, bool) {
	text, known, _ := in.capturedFrom(subst, fn)
	return text, known
}

// capturedFrom is captured, with the origin of the output when it is
// unknown.
func (in *interp) capturedFrom(subst bool, fn func()) (string, bool, string) {
	saved, branches := in.capture, in.branches
	c := &capture{}
	in.capture = c
	if subst {
		in.subst++
		defer func() { in.subst-- }()
	}
	fn()
	in.capture = saved
	return c.b.String(), !c.unknown && in.branches == branches, c.derivedOrigin()
}

// emit adds cl's output to the capture, if one is active.
func (in *interp) emit(cl *call) {
	if in.capture == nil || cl.redirected() {
		return
	}
	c := in.capture
	switch {
	case cl.out != nil && cl.out.temp > 0 && c.b.Len() == 0 && c.temp == 0 && !c.unknown:
		c.temp = cl.out.temp
	case cl.out != nil && cl.out.known && c.temp == 0:
		c.b.WriteString(cl.out.s)
	case cl.out != nil || cl.prints || c.temp > 0 && cl.out != nil:
		c.unknown, c.temp = true, 0
		c.taint(cl.outputOrigin())
	}
}

// outputOrigin is what a command's unknown output is derived from: the
// origin its handler gave, else the one its unknown arguments and input
// share ("" when it has none of them: the output is the command's own).
func (cl *call) outputOrigin() string {
	if cl.out != nil && !cl.out.known && cl.out.origin != "" {
		return cl.out.origin
	}
	in := append([]value(nil), cl.args...)
	if cl.stdin != nil {
		in = append(in, *cl.stdin)
	}
	for _, v := range in {
		if !v.known {
			return commonOrigin(in...)
		}
	}
	return ""
}

func (cl *call) redirected() bool { return cl.devnull || cl.stdout.s != "" || cl.stdout.temp > 0 }

// source is the provenance of the statement s in f.
func (in *interp) source(f *file, s *syntax.Stmt) Source {
	line := f.line(s)
	return Source{
		Package: in.pkg,
		Script:  f.name,
		Line:    line,
		Command: stmtText(f, s),
		Phase:   in.phase,
		Snippet: f.snippetAt(line),
		Via:     append([]string(nil), in.via...),
	}
}

// stmtText is a simple command's text with its redirections (not a
// here-document's body), or a compound command's first line.
func stmtText(f *file, s *syntax.Stmt) string {
	c, ok := s.Cmd.(*syntax.CallExpr)
	if !ok {
		start := int(s.Pos().Offset())
		rest := string(f.src[start:])
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[:i]
		}
		return oneLine(rest)
	}
	end := c.End().Offset()
	for _, r := range s.Redirs {
		e := r.End().Offset()
		if r.Hdoc != nil {
			e = r.Word.End().Offset()
		}
		end = max(end, e)
	}
	start := s.Pos().Offset()
	return oneLine(string(f.src[start:end]))
}

func (cl *call) source() Source { return cl.in.source(cl.f, cl.s) }

func (cl *call) ignore(reason string) { cl.in.note(&cl.in.an.Ignored, cl.f, cl.s, reason) }

func (cl *call) unhandled(reason string) { cl.in.unhandled(cl.f, cl.s, reason) }

func (in *interp) unhandled(f *file, s *syntax.Stmt, reason string) {
	if in.phase == Remove {
		in.note(&in.an.Ignored, f, s, "runs only on removal or purge (kiln never purges: state under /var stays, as apt remove leaves it): "+reason)
		return
	}
	if in.script == "config" && in.subst > 0 {
		// The debconf config script may only ask questions (Debian
		// policy, debconf-devel(7)); what a command inside $(...) there
		// computes only shapes a question, whose default kiln reads.
		in.note(&in.an.Ignored, f, s, "computes a value for a debconf question in the config script: "+reason)
		return
	}
	in.note(&in.an.Unhandled, f, s, reason)
}

func (in *interp) note(list *[]Note, f *file, s *syntax.Stmt, reason string) {
	n := Note{Reason: reason, From: in.source(f, s)}
	if in.once(n) {
		*list = append(*list, n)
	}
}

// once reports whether d was not recorded before (a postrm runs twice,
// a function may be called twice with the same arguments).
func (r *run) once(d any) bool {
	k := fmt.Sprintf("%#v", d)
	if r.seen[k] {
		return false
	}
	r.seen[k] = true
	return true
}

// argStrings are the arguments as text, unknown ones as written.
func (cl *call) argStrings() []string {
	out := make([]string, len(cl.args))
	for i, a := range cl.args {
		out[i] = a.s
	}
	return out
}

// allKnown says whether every argument's text is known.
func (cl *call) allKnown() bool {
	for _, a := range cl.args {
		if !a.known {
			return false
		}
	}
	return true
}
