package maintscript

import (
	"path"
	"strings"
)

// Some tools print shell commands that a script then runs with sh: their
// output depends on the machine (munin-node-configure --shell runs each
// plugin's autoconf), so on kiln the same pipeline is a first-run
// command, run once on the machine before the package's units start.
// printers names the first-run state each makes.
var printers = map[string]string{
	"munin-node-configure": "munin-plugins",
}

// muninNodeConfigure --shell prints the ln -s commands that link, into
// /etc/munin/plugins, the plugins whose autoconf answers yes here; the
// postinst writes them into a temporary file and runs it with sh.
func muninNodeConfigure(cl *call) tri {
	shell := false
	for _, a := range cl.args {
		if !a.known {
			cl.unhandled("munin-node-configure with an argument the analysis cannot resolve: " + a.s)
			return maybe
		}
		shell = shell || a.s == "--shell"
	}
	if !shell {
		return maybe // only reports
	}
	if cl.stdout.temp == 0 {
		cl.unhandled("munin-node-configure --shell prints commands the analysis does not see run")
		return maybe
	}
	cl.in.shellScripts[cl.stdout.temp] = append([]string{cl.argv0}, cl.argStrings()...)
	return yes
}

// runPrinted is sh reading the temporary file temp: the commands a
// printer wrote there, run on the machine as a first-run pipeline.
func (cl *call) runPrinted(temp int) tri {
	argv, ok := cl.in.shellScripts[temp]
	if !ok {
		cl.unhandled("runs a shell script the script generated in a way the analysis does not follow")
		return maybe
	}
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = shQuote(a)
	}
	d := FirstRun{Name: printers[path.Base(argv[0])], Args: []string{"/bin/sh", "-c", strings.Join(words, " ") + " | /bin/sh"}, User: cl.in.user, From: cl.source()}
	if cl.in.once(d) {
		cl.in.an.FirstRun = append(cl.in.an.FirstRun, d)
	}
	return yes
}

// shQuote is s as one sh word.
func shQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`;&|<>()*?[]{}#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
