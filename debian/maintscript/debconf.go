package maintscript

import (
	"strconv"
	"strings"
)

// question is one template of the package's debconf templates file.
type question struct {
	name, typ, def, choices string
	hasDefault              bool
}

// parseTemplates reads a debconf templates file (RFC 822 stanzas).
func parseTemplates(b []byte) map[string]question {
	out := map[string]question{}
	var q question
	flush := func() {
		if q.name != "" {
			out[q.name] = q
		}
		q = question{}
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == "" {
			flush()
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Template":
			if q.name != "" {
				flush()
			}
			q.name = v
		case "Type":
			q.typ = v
		case "Default":
			q.def, q.hasDefault = v, true
		case "Choices":
			q.choices = v
		}
	}
	flush()
	return out
}

// debconfDB is the debconf database as a fresh, non-interactive install
// on kiln has it: answers given in the configuration, else what a script
// set, else the template's default.
type debconfDB struct {
	templates map[string]question
	answers   map[string]string
	set       map[string]value
	substs    map[string]map[string]value // db_subst: question → key → value
	// flags are what db_fset set: question → flag → value.
	flags map[string]map[string]value
	// questions are the questions the closure's templates files define
	// (nil: unknown); loaded is set once a script registered questions of
	// its own (db_register, db_x_loadtemplatefile).
	questions map[string]bool
	loaded    bool
}

// missing says whether no such question exists on a fresh install: no
// package of the closure has a template for it, nothing registered it and
// no answer names it (user-setup's passwd/username, which the installer
// asks, on a system installed with apt). db_get of it fails (code 10).
func (db *debconfDB) missing(q string) bool {
	if db.questions == nil || db.loaded || db.questions[q] {
		return false
	}
	_, answered := db.answers[q]
	_, set := db.set[q]
	_, own := db.templates[q]
	return !answered && !set && !own
}

// flag is db_fget's answer on a fresh system: what a script set with
// db_fset; else "seen" is true only for a question answered in the
// configuration (preseeded answers are marked seen), "isdefault" is its
// opposite (debconf keeps it as the inverse of seen), and any other flag
// (a package's own, like postfix's "changed") is false.
func (db *debconfDB) flag(q, name string) value {
	if name == "isdefault" {
		seen := db.flag(q, "seen")
		if !seen.known {
			return unknown("$RET")
		}
		return lit(strconv.FormatBool(seen.s != "true"))
	}
	if v, ok := db.flags[q][name]; ok {
		return v
	}
	if name == "seen" {
		_, answered := db.answers[q]
		return lit(strconv.FormatBool(answered))
	}
	return lit("false")
}

func (db *debconfDB) setFlag(q, name string, v value) {
	if name == "isdefault" { // the inverse of seen
		name = "seen"
		if v.known {
			v = lit(strconv.FormatBool(v.s != "true"))
		}
	}
	if db.flags[q] == nil {
		db.flags[q] = map[string]value{}
	}
	db.flags[q][name] = v
}

func newDebconfDB(t map[string]question, answers map[string]string) *debconfDB {
	return &debconfDB{templates: t, answers: answers, set: map[string]value{}, substs: map[string]map[string]value{},
		flags: map[string]map[string]value{}}
}

// choices is a question's Choices with db_subst's values put in.
func (db *debconfDB) choices(q string) value {
	t, ok := db.templates[q]
	if !ok {
		return unknown("$RET")
	}
	out := t.choices
	for k, v := range db.substs[q] {
		if !v.known {
			if strings.Contains(out, "${"+k+"}") {
				return unknown("$RET")
			}
			continue
		}
		out = strings.ReplaceAll(out, "${"+k+"}", v.s)
	}
	return lit(out)
}

// get is a question's value; unknown for a question the package has no
// template for (another package's, or a shared one) and no answer.
func (db *debconfDB) get(q string) value {
	if a, ok := db.answers[q]; ok {
		return lit(a)
	}
	if v, ok := db.set[q]; ok {
		return v
	}
	if t, ok := db.templates[q]; ok {
		if t.typ == "boolean" && !t.hasDefault {
			return lit("false")
		}
		return lit(t.def)
	}
	return unknown("$RET")
}

// debconfCommand is a db_* command of confmodule. Asking, reading and
// setting questions are declarations; the rest (db_go, db_stop, ...)
// only drive the conversation.
func debconfCommand(cl *call) tri {
	db := cl.in.db
	arg := func(i int) value {
		if i < len(cl.args) {
			return cl.args[i]
		}
		return unknown("")
	}
	switch cl.name {
	case "db_get":
		q := arg(0)
		if q.known && db.missing(q.s) {
			cl.e.set("RET", lit(q.s+" doesn't exist"))
			d := Debconf{Question: q.s, Op: "get", Missing: true, From: cl.source()}
			if cl.in.once(d) {
				cl.in.an.Debconf = append(cl.in.an.Debconf, d)
			}
			return no
		}
		v := unknown("$RET")
		if q.known {
			v = db.get(q.s)
		}
		cl.e.set("RET", v)
		cl.declareDebconf(q, "get", v)
		if v.known {
			return yes
		}
		return maybe
	case "db_input":
		cl.declareDebconf(arg(1), "input", value{})
		return maybe
	case "db_set":
		q, v := arg(0), joinValues(cl.args[min(1, len(cl.args)):], " ")
		if q.known {
			db.set[q.s] = v
		}
		cl.declareDebconf(q, "set", v)
		return yes
	case "db_fget":
		if q, f := arg(0), arg(1); q.known && f.known {
			cl.e.set("RET", db.flag(q.s, f.s))
		} else {
			cl.e.set("RET", unknown("$RET"))
		}
		return yes
	case "db_fset":
		if q, f := arg(0), arg(1); q.known && f.known {
			db.setFlag(q.s, f.s, arg(2))
		}
		return yes
	case "db_subst":
		if q, k := arg(0), arg(1); q.known && k.known {
			if db.substs[q.s] == nil {
				db.substs[q.s] = map[string]value{}
			}
			db.substs[q.s][k.s] = joinValues(cl.args[min(2, len(cl.args)):], " ")
		}
		return yes
	case "db_metaget":
		if q, f := arg(0), arg(1); q.known && f.known && (f.s == "choices" || f.s == "Choices") {
			cl.e.set("RET", db.choices(q.s))
			return yes
		}
		cl.e.set("RET", unknown("$RET"))
		return yes
	case "db_x_loadtemplatefile", "db_register":
		db.loaded = true
		cl.e.set("RET", unknown("$RET"))
		return yes
	case "db_capb", "db_version":
		cl.e.set("RET", unknown("$RET"))
		return yes
	}
	return yes
}

func (cl *call) declareDebconf(q value, op string, v value) {
	d := Debconf{Question: q.s, Op: op, From: cl.source()}
	if t, ok := cl.in.db.templates[q.s]; ok {
		d.Type, d.Default = t.typ, t.def
	}
	if op != "input" {
		d.Value, d.Known = v.s, v.known
	}
	if cl.in.once(d) {
		cl.in.an.Debconf = append(cl.in.an.Debconf, d)
	}
}
