package maintscript

import (
	"fmt"
	"regexp"
	"strings"
)

// ApplyEdits makes what a script made of a copied file: text is the
// template's, edits the File's, in order. readFile reads a closure file
// (an append-file edit). It fails, naming the edit, for what it cannot
// compute the way the tool would (a sed command outside s///, /RE/d,
// /RE/p).
func ApplyEdits(text string, edits []Edit, readFile func(string) (string, error)) (string, error) {
	for _, e := range edits {
		var err error
		if e.Unknown {
			return "", fmt.Errorf("%s %s: an argument the analysis cannot resolve", e.Tool, strings.Join(e.Args, " "))
		}
		switch e.Tool {
		case "sed":
			text, err = applySed(text, e.Args)
		case "append":
			for _, a := range e.Args {
				text += a
			}
		case "append-file":
			for _, a := range e.Args {
				var b string
				if b, err = readFile(a); err != nil {
					break
				}
				text += b
			}
		case "postconf":
			text, err = applyPostconf(text, e.Args)
		default:
			err = fmt.Errorf("no editor for %s", e.Tool)
		}
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", e.Tool, strings.Join(e.Args, " "), err)
		}
	}
	return text, nil
}

// applySed runs a sed Edit's script (sed.go) on text; its arguments are
// -e SCRIPT, with -n and -E before them.
func applySed(text string, args []string) (string, error) {
	quiet, ext := false, false
	var exprs []string
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-n":
			quiet = true
		case args[i] == "-E":
			ext = true
		case args[i] == "-e" && i+1 < len(args):
			i++
			exprs = append(exprs, args[i])
		default:
			return "", fmt.Errorf("argument %q", args[i])
		}
	}
	prog, ok := parseSedScript(strings.Join(exprs, "\n"), ext)
	if !ok {
		return "", fmt.Errorf("sed command %q is not computed", strings.Join(exprs, "\n"))
	}
	return prog.run(text, quiet), nil
}

// applyPostconf edits main.cf as postconf does: -e sets each NAME=VALUE
// (the parameter's line and its continuation lines replaced, else the
// line appended), -X removes parameters, -# comments them out.
func applyPostconf(text string, args []string) (string, error) {
	if len(args) == 0 {
		return text, nil
	}
	mode := args[0]
	ls := lines(text)
	for _, a := range args[1:] {
		name, value, set := strings.Cut(a, "=")
		name = strings.TrimSpace(name)
		if mode == "-e" && !set || name == "" {
			return "", fmt.Errorf("parameter %q", a)
		}
		re := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `\s*=`)
		var out []string
		done := false
		for i := 0; i < len(ls); i++ {
			if !re.MatchString(ls[i]) {
				out = append(out, ls[i])
				continue
			}
			j := i + 1
			for j < len(ls) && ls[j] != "" && (ls[j][0] == ' ' || ls[j][0] == '\t') {
				j++ // continuation lines
			}
			switch mode {
			case "-e":
				if !done {
					out = append(out, name+" = "+strings.TrimSpace(value))
				}
				done = true
			case "-#":
				for _, l := range ls[i:j] {
					out = append(out, "#"+l)
				}
			case "-X":
			default:
				return "", fmt.Errorf("option %s", mode)
			}
			i = j - 1
		}
		if mode == "-e" && !done {
			out = append(out, name+" = "+strings.TrimSpace(value))
		}
		ls = out
	}
	return joinLines(ls), nil
}
