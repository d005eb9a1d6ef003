package maintscript

import (
	"fmt"
	"strings"
)

// Text renders the analysis for people: one line per declaration or
// action, each followed by where it comes from.
func (an *Analysis) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "package %s %s\n", an.Package, an.Version)
	item := func(head string, from ...Source) {
		b.WriteString(head + "\n")
		for _, s := range from {
			b.WriteString("  " + s.short() + "\n")
		}
	}
	for _, u := range an.Users {
		item("user "+u.describe(), u.From)
	}
	for _, g := range an.Groups {
		item("group "+g.Name+opt(g.System, " system")+kv("gid", g.GID), g.From)
	}
	for _, m := range an.Members {
		item("member "+m.User+" of "+m.Group, m.From)
	}
	for _, t := range an.Tmpfiles {
		item("tmpfiles "+t.line()+opt(t.Shipped, " (shipped)"), t.From...)
	}
	for _, a := range an.Alternatives {
		s := fmt.Sprintf("alternative %s %s -> %s priority %d", a.Name, a.Link, a.Path, a.Priority)
		for _, sl := range a.Slaves {
			s += fmt.Sprintf("; slave %s %s -> %s", sl.Name, sl.Link, sl.Path)
		}
		item(s, a.From)
	}
	for _, u := range an.Units {
		item("unit "+string(u.Op)+" "+u.Name+opt(u.UserUnit, " (user)")+opt(u.SysV, " (sysv)")+opt(u.IfEnabled, " (if enabled)"), u.From)
	}
	for _, w := range an.Wrappers {
		item("wrapper "+w.Path+kv("capabilities", w.Capabilities)+kv("owner", w.Owner)+kv("group", w.Group)+kv("mode", w.Mode), w.From)
	}
	for _, f := range an.Files {
		item("file "+f.describe(), f.From...)
	}
	for _, d := range an.Debconf {
		s := "debconf " + d.Op + " " + d.Question + kv("type", d.Type)
		if d.Missing {
			s += " (no such question: db_get fails)"
		} else if d.Op != "input" {
			if d.Known {
				s += fmt.Sprintf(" value=%q", d.Value)
			} else {
				s += " value=unknown"
			}
		}
		item(s, d.From)
	}
	for _, c := range an.Caches {
		item("cache "+c.Name, c.From)
	}
	for _, t := range an.Triggers {
		s := "trigger activate " + t.Name
		if t.Interest {
			s = "trigger interest " + t.Name
		}
		item(s+opt(!t.Await, " (noawait)"), t.From)
	}
	for _, f := range an.FirstRun {
		head := "first-run " + f.Name + kv("creates", f.Creates) + kv("user", f.User) + ": " + strings.Join(f.Args, " ")
		for _, t := range f.Then {
			head += "; then " + strings.Join(t, " ")
		}
		item(head, f.From)
		for _, in := range f.Inputs {
			item("first-run "+f.Name+" input "+in.Arg+": "+in.describe(), in.File.From...)
		}
	}
	for _, s := range an.Shells {
		item("shell "+s.Path, s.From)
	}
	for _, n := range an.Ignored {
		item("ignored: "+n.Reason, n.From)
	}
	for _, n := range an.Unhandled {
		item("UNHANDLED: "+n.Reason, n.From)
	}
	return b.String()
}

func opt(b bool, s string) string {
	if b {
		return s
	}
	return ""
}

func kv(k, v string) string {
	if v == "" {
		return ""
	}
	return " " + k + "=" + v
}

func (s Source) short() string {
	out := fmt.Sprintf("%s:%d", s.Script, s.Line)
	if s.Phase != "" && s.Phase != Install {
		out += " (" + string(s.Phase) + ")"
	}
	if s.Snippet != "" {
		out += " [" + s.Snippet + "]"
	}
	if len(s.Via) > 0 {
		out += " via " + strings.Join(s.Via, ", ")
	}
	return out + ": " + s.Command
}

func (u User) describe() string {
	s := u.Name + opt(u.Change, " (change)") + opt(u.System, " system") + kv("uid", u.UID) + kv("group", u.Group)
	if len(u.Groups) > 0 {
		s += " groups=" + strings.Join(u.Groups, ",")
	}
	s += kv("home", u.Home) + opt(u.CreateHome, " create-home") + kv("shell", u.Shell)
	if u.Comment != "" {
		s += fmt.Sprintf(" comment=%q", u.Comment)
	}
	return s
}

func (t Tmpfile) line() string {
	f := []string{t.Type, t.Path, orDash(t.Mode), orDash(t.User), orDash(t.Group), orDash(t.Age)}
	if t.Argument != "" {
		f = append(f, t.Argument)
	}
	return strings.Join(f, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (f File) describe() string {
	s := f.Path + " " + string(f.Kind)
	switch f.Kind {
	case Link:
		s += " -> " + f.Target
	case Copy:
		s += " of " + f.Template
	case Content:
		s += fmt.Sprintf(" %q", f.Content)
	}
	for _, e := range f.Edits {
		s += fmt.Sprintf(" edit %s %q", e.Tool, strings.Join(e.Args, " "))
	}
	return s + kv("mode", f.Mode) + kv("user", f.User) + kv("group", f.Group) + opt(f.Register, " (ucf)")
}

// Counts are the actions of scripts (not of shipped files) by class: a
// command that made declarations, one that needs nothing, one that no
// recognizer handles.
type Counts struct {
	Declared, Ignored, Unhandled int
}

// Count counts the distinct script commands of the analysis, for phase.
func (an *Analysis) Count(phase Phase) Counts {
	key := func(s Source) string {
		return fmt.Sprintf("%s:%d:%s:%s", s.Script, s.Line, s.Command, strings.Join(s.Via, ","))
	}
	declared := map[string]bool{}
	for _, s := range an.sources() {
		if s.Phase == phase && isScript(s.Script) {
			declared[key(s)] = true
		}
	}
	var c Counts
	c.Declared = len(declared)
	seen := map[string]bool{}
	for _, n := range an.Ignored {
		if k := key(n.From); n.From.Phase == phase && isScript(n.From.Script) && !declared[k] && !seen[k] {
			seen[k] = true
			c.Ignored++
		}
	}
	for _, n := range an.Unhandled {
		if k := key(n.From); n.From.Phase == phase && !seen[k] {
			seen[k] = true
			c.Unhandled++
		}
	}
	return c
}

// isScript tells a maintainer script (or a helper it sources) from a
// shipped data file.
func isScript(name string) bool {
	switch name {
	case "templates", "triggers":
		return false
	}
	return !strings.HasPrefix(name, "usr/lib/") && !strings.HasPrefix(name, "lib/")
}

// sources lists the provenance of every declaration.
func (an *Analysis) sources() []Source {
	var out []Source
	for _, u := range an.Users {
		out = append(out, u.From)
	}
	for _, g := range an.Groups {
		out = append(out, g.From)
	}
	for _, m := range an.Members {
		out = append(out, m.From)
	}
	for _, t := range an.Tmpfiles {
		out = append(out, t.From...)
	}
	for _, a := range an.Alternatives {
		out = append(out, a.From)
	}
	for _, u := range an.Units {
		out = append(out, u.From)
	}
	for _, w := range an.Wrappers {
		out = append(out, w.From)
	}
	for _, f := range an.Files {
		out = append(out, f.From...)
	}
	for _, d := range an.Debconf {
		out = append(out, d.From)
	}
	for _, c := range an.Caches {
		out = append(out, c.From)
	}
	for _, t := range an.Triggers {
		out = append(out, t.From)
	}
	for _, f := range an.FirstRun {
		out = append(out, f.From)
		for _, in := range f.Inputs {
			out = append(out, in.File.From...)
		}
	}
	for _, s := range an.Shells {
		out = append(out, s.From)
	}
	return out
}

// describe says what a first-run input holds: the template or text,
// its edits, and the secrets the machine puts in.
func (in FirstRunInput) describe() string {
	var parts []string
	if in.File.Kind == Copy {
		parts = append(parts, "copy of "+in.File.Template)
	} else {
		parts = append(parts, fmt.Sprintf("text %q", in.File.Content))
	}
	for _, e := range in.File.Edits {
		parts = append(parts, e.Tool+" "+strings.Join(e.Args, " "))
	}
	for _, s := range in.Secrets {
		parts = append(parts, "secret "+s.Placeholder+" made by "+s.Kind+" on the machine")
	}
	return strings.Join(parts, ", ")
}
