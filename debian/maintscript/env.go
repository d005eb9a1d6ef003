package maintscript

import (
	"maps"
	"slices"
	"strconv"
)

// A value is what a word expands to, as far as the analysis knows it.
type value struct {
	s     string // the text; for an unknown value, the word as written
	known bool
	temp  int // > 0: a temporary file mktemp made (its number in the script)
	// origin says, for an unknown value, what the script read at run
	// time that it is derived from, when that is one thing (foundUnits);
	// "" when it is not known or several.
	origin string
}

// foundUnits is the origin of names a script derives from the units
// installed on the system (systemctl list-unit-files, list-units).
const foundUnits = "systemctl's list of units"

// commonOrigin is the origin the unknown values among vs share: "" when
// one has none, two differ, or none is unknown.
func commonOrigin(vs ...value) string {
	o := ""
	for _, v := range vs {
		if v.known {
			continue
		}
		if v.origin == "" || o != "" && v.origin != o {
			return ""
		}
		o = v.origin
	}
	return o
}

// derived is an unknown value, shown as s, computed from vs.
func derived(s string, vs ...value) value { return value{s: s, origin: commonOrigin(vs...)} }

func lit(s string) value       { return value{s: s, known: true} }
func unknown(s string) value   { return value{s: s} }
func (v value) String() string { return v.s }

// tri is a condition's outcome: no, yes, or maybe (not decidable).
type tri int8

const (
	no tri = iota
	yes
	maybe
)

func (t tri) not() tri {
	switch t {
	case yes:
		return no
	case no:
		return yes
	}
	return maybe
}

func triOf(b bool) tri {
	if b {
		return yes
	}
	return no
}

// flow is how a path through the script goes on.
type flow uint8

const (
	running  flow = iota
	exited        // exit: the script ends on this path
	returned      // return: the function ends on this path
	broke         // break or continue: the loop body ends on this path
)

// env is the shell state on one path: variables, positional parameters
// and whether the path still runs. Branches work on clones and are joined.
type env struct {
	vars  map[string]value
	args  []value // $1 ...
	state flow
	cwd   value // the working directory (dpkg runs scripts in /)
	// opaque is set once the script sourced a file the analysis cannot
	// read: a variable it never saw set may then hold anything.
	opaque bool
	// breaking is set with broke by break (not continue): a while loop
	// run iteration by iteration stops.
	breaking bool
	// frames are the running functions' local variables (innermost
	// last): each one's value outside the function, put back when it
	// returns.
	frames []map[string]saved
}

// saved is a variable's value before local shadowed it.
type saved struct {
	v   value
	set bool
}

func (e *env) clone() *env {
	c := *e
	c.vars = maps.Clone(e.vars)
	c.args = append([]value(nil), e.args...)
	c.frames = make([]map[string]saved, len(e.frames))
	for i, f := range e.frames {
		c.frames[i] = maps.Clone(f)
	}
	return &c
}

// local makes name local to the running function (outside one it is
// an ordinary variable). Its value stays until assigned, as dash has it.
func (e *env) local(name string) {
	if len(e.frames) == 0 {
		return
	}
	top := e.frames[len(e.frames)-1]
	if _, ok := top[name]; !ok {
		v, set := e.vars[name]
		top[name] = saved{v, set}
	}
}

// popFrame ends a function: its locals get their outer values back.
func (e *env) popFrame() {
	if len(e.frames) == 0 {
		return
	}
	top := e.frames[len(e.frames)-1]
	e.frames = e.frames[:len(e.frames)-1]
	for name, s := range top {
		if s.set {
			e.vars[name] = s.v
		} else {
			delete(e.vars, name)
		}
	}
}

func (e *env) get(name string) (value, bool) {
	v, ok := e.vars[name]
	return v, ok
}

func (e *env) set(name string, v value) { e.vars[name] = v }

// join makes e the state after two alternative paths a and b. A path
// that ended contributes nothing to the variables after the join.
func (e *env) join(a, b *env) {
	switch {
	case a.state != running && b.state == running:
		*e = *b
		return
	case b.state != running && a.state == running:
		*e = *a
		return
	case a.state != running && b.state != running:
		// Both ended: the one that resumes later (return, break) wins.
		if a.state == exited {
			*e = *b
		} else {
			*e = *a
		}
		return
	}
	vars := map[string]value{}
	for k, va := range a.vars {
		if vb, ok := b.vars[k]; ok && va == vb {
			vars[k] = va
		} else if ok {
			vars[k] = derived("$"+k, va, vb)
		} else {
			vars[k] = unknown("$" + k)
		}
	}
	for k := range b.vars {
		if _, ok := a.vars[k]; !ok {
			vars[k] = unknown("$" + k)
		}
	}
	args := a.args
	if !slices.Equal(a.args, b.args) {
		args = nil
		for i := range max(len(a.args), len(b.args)) {
			args = append(args, unknown("$"+strconv.Itoa(i+1)))
		}
	}
	cwd := a.cwd
	if a.cwd != b.cwd {
		cwd = unknown("$PWD")
	}
	// Both paths run the same functions; a local either made is local.
	frames := make([]map[string]saved, len(a.frames))
	for i := range a.frames {
		frames[i] = maps.Clone(a.frames[i])
		if i < len(b.frames) {
			for k, v := range b.frames[i] {
				if _, ok := frames[i][k]; !ok {
					frames[i][k] = v
				}
			}
		}
	}
	*e = env{vars: vars, args: args, state: running, cwd: cwd, opaque: a.opaque || b.opaque, frames: frames}
}
