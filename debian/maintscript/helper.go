package maintscript

import (
	"bytes"
	"fmt"
	"maps"
	"path"
	"strings"
)

// runScript runs a shell script of the closure that a script executes by
// its path (mysql-common's configure-symlinks, which mariadb-common's
// postinst runs): its commands are read as the caller's are, reported at
// the helper's lines, with its own arguments and variables (only the
// DPKG_MAINTSCRIPT_* environment dpkg exports) and functions. ok is false
// for a program that is not such a script.
func (cl *call) runScript() (r tri, ok bool) {
	if !path.IsAbs(cl.argv0) {
		return maybe, false
	}
	src, err := cl.in.facts.read(cl.argv0)
	if err != nil || src == nil || !shellScript(src) {
		return maybe, false
	}
	f, err := parseFile(cl.argv0, src)
	if err != nil {
		cl.unhandled(fmt.Sprintf("runs %s, which does not parse: %v", cl.argv0, err))
		return maybe, true
	}
	if len(cl.in.via) >= 16 {
		cl.unhandled("helper scripts nest too deeply to follow")
		return maybe, true
	}
	e := &env{vars: map[string]value{}, cwd: cl.e.cwd, args: append([]value(nil), cl.args...)}
	for k, v := range cl.e.vars {
		if strings.HasPrefix(k, "DPKG_") {
			e.vars[k] = v
		}
	}
	funcs := cl.in.funcs
	cl.in.funcs = maps.Clone(funcs)
	cl.in.via = append(cl.in.via, fmt.Sprintf("%s:%d %s", cl.f.name, cl.f.line(cl.s), path.Base(cl.argv0)))
	r = cl.in.stmts(e, f, f.ast.Stmts)
	cl.in.via = cl.in.via[:len(cl.in.via)-1]
	cl.in.funcs = funcs
	return r, true
}

// shellScript says whether src is a script for sh, dash or bash.
func shellScript(src []byte) bool {
	line, _, _ := bytes.Cut(src, []byte("\n"))
	line = bytes.TrimSpace(bytes.TrimPrefix(line, []byte("#!")))
	if len(line) == len(src) || !bytes.HasPrefix(src, []byte("#!")) {
		return false
	}
	prog, _, _ := strings.Cut(string(line), " ")
	switch prog {
	case "/bin/sh", "/usr/bin/sh", "/bin/dash", "/usr/bin/dash", "/bin/bash", "/usr/bin/bash":
		return true
	}
	return false
}
