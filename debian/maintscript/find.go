package maintscript

import (
	"path"
	"strconv"
	"strings"
)

// find is a query unless it deletes or runs commands; its simple forms
// (-type, -name, -maxdepth, -mindepth, -print) list what the closure
// ships and the scripts made.
func find(cl *call) tri {
	for _, a := range cl.args {
		switch a.s {
		case "-delete":
			cl.ignore("removes leftovers of an older version: a fresh system has none")
			return yes
		case "-exec", "-execdir", "-ok":
			cl.unhandled("find -exec runs a command on files found at run time")
			return maybe
		}
	}
	if sel, ok := ownershipSelection(cl.args); ok && cl.in.capture != nil && cl.in.subst == 0 {
		// Into a pipe: xargs changes the owner of what it lists.
		cl.in.ownerFind = sel
		return yes
	}
	if out, ok := cl.findList(); ok {
		v := lit(out)
		cl.out = &v
		return yes
	}
	return maybe
}

func (cl *call) findList() (string, bool) {
	var roots []string
	typ, name := byte(0), ""
	minDepth, maxDepth := 0, 1<<30
	args := cl.args
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !a.known {
			return "", false
		}
		next := func() (string, bool) {
			if i+1 < len(args) && args[i+1].known {
				i++
				return args[i].s, true
			}
			return "", false
		}
		var v string
		var ok bool
		switch {
		case !strings.HasPrefix(a.s, "-") && len(roots) == i:
			roots = append(roots, a.s)
			continue
		case a.s == "-print":
			continue
		case a.s == "-type":
			if v, ok = next(); ok && len(v) == 1 {
				typ = v[0]
				continue
			}
		case a.s == "-name":
			if v, ok = next(); ok {
				name = v
				continue
			}
		case a.s == "-maxdepth" || a.s == "-mindepth":
			if v, ok = next(); ok {
				n, err := strconv.Atoi(v)
				if err == nil {
					if a.s == "-maxdepth" {
						maxDepth = n
					} else {
						minDepth = n
					}
					continue
				}
			}
		}
		return "", false
	}
	if len(roots) == 0 {
		return "", false
	}
	w := findWalk{fa: cl.in.facts, typ: typ, name: name, minDepth: minDepth, maxDepth: maxDepth}
	for _, r := range roots {
		abs := r
		if !path.IsAbs(abs) {
			if !cl.e.cwd.known {
				return "", false
			}
			abs = path.Join(cl.e.cwd.s, r)
		}
		if !w.walk(abs, strings.TrimSuffix(r, "/"), 0) || len(w.out) > 10000 {
			return "", false
		}
	}
	return joinLines(w.out), true
}

type findWalk struct {
	fa                 *facts
	typ                byte
	name               string
	minDepth, maxDepth int
	out                []string
}

// walk lists p (shown as shown) and what is under it; false when a root
// does not exist (find then fails).
func (w *findWalk) walk(p, shown string, depth int) bool {
	k := w.fa.resolve(p)
	if k == 0 {
		return depth > 0
	}
	if depth >= w.minDepth && (w.name == "" || globMatch(w.name, path.Base(p))) &&
		(w.typ == 0 || w.typ == 'f' && (k == 'f' || k == 'x') || w.typ == 'd' && k == 'd') {
		w.out = append(w.out, shown)
	}
	if k != 'd' || depth >= w.maxDepth {
		return true
	}
	for _, n := range w.fa.list(p) {
		if !w.walk(path.Join(p, n), shown+"/"+n, depth+1) {
			return false
		}
	}
	return true
}
