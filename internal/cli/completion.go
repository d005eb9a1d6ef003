package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/internal/fsutil"
)

func init() {
	register(&command{
		name:    "completion",
		summary: "print a shell completion script: completion bash|zsh|fish",
		usage: `kiln completion bash|zsh|fish

Prints a script that completes kiln's commands and flags (and file names
after them), made from the same declarations as 'kiln help'.

EXAMPLES
  source <(kiln completion bash)
  kiln completion bash > /etc/bash_completion.d/kiln
  kiln completion zsh > "${fpath[1]}/_kiln"
  kiln completion fish > ~/.config/fish/completions/kiln.fish`,
		flags: func(*flag.FlagSet) any { return nil },
		run: func(_ context.Context, r *Run, _ any, args []string) error {
			if len(args) != 1 {
				return usageErrorf("want one shell: bash, zsh or fish")
			}
			switch args[0] {
			case "bash":
				return bashCompletion(r.Stdout)
			case "zsh":
				fmt.Fprintf(r.Stdout, "#compdef kiln\n# kiln's completion for zsh, through bash's (kiln completion zsh).\nautoload -U +X bashcompinit && bashcompinit\n")
				return bashCompletion(r.Stdout)
			case "fish":
				return fishCompletion(r.Stdout)
			}
			return usageErrorf("unknown shell %q: want bash, zsh or fish", args[0])
		},
	})
	register(&command{
		name:    "man",
		summary: "write kiln's man pages (kiln.1, kiln-VERB.1) from the help text into a directory",
		usage: `kiln man [DIR]

Writes kiln.1 and one kiln-VERB.1 per command into DIR (default: the
working directory), each with NAME, SYNOPSIS, DESCRIPTION, OPTIONS and
EXAMPLES made from 'kiln help VERB'.

EXAMPLES
  kiln man /usr/local/share/man/man1
  kiln man . && man -l kiln-switch.1`,
		flags: func(*flag.FlagSet) any { return nil },
		run: func(_ context.Context, r *Run, _ any, args []string) error {
			if len(args) > 1 {
				return usageErrorf("at most one directory")
			}
			dir := r.Dir
			if len(args) == 1 {
				dir = r.Path(args[0])
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, n := range commandNames() {
				if err := fsutil.WriteFile(filepath.Join(dir, "kiln-"+n+".1"), []byte(manPage(commands[n])), 0o644); err != nil {
					return err
				}
			}
			if err := fsutil.WriteFile(filepath.Join(dir, "kiln.1"), []byte(topManPage()), 0o644); err != nil {
				return err
			}
			r.Printf("wrote %d man pages in %s\n", len(commands)+1, dir)
			return nil
		},
	})
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// flagNames lists a flag set's flags as typed: -c, --dry-run; value
// reports which take a value.
func flagNames(define func(fs *flag.FlagSet)) (names []string, value map[string]bool, usage map[string]string) {
	fs := flag.NewFlagSet("completion", flag.ContinueOnError)
	define(fs)
	value, usage = map[string]bool{}, map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		n := "--" + f.Name
		if len(f.Name) == 1 {
			n = "-" + f.Name
		}
		names = append(names, n)
		bf, ok := f.Value.(interface{ IsBoolFlag() bool })
		value[n] = !ok || !bf.IsBoolFlag()
		_, u := flag.UnquoteUsage(f)
		usage[n] = u
	})
	return names, value, usage
}

func commandFlags(c *command) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		if c.flags != nil {
			c.flags(fs)
		}
	}
}

func bashCompletion(w io.Writer) error {
	globals, gval, _ := flagNames(func(fs *flag.FlagSet) { globalFlags(fs, &Globals{}) })
	var valued []string
	for _, g := range globals {
		if gval[g] {
			valued = append(valued, g)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# kiln's completion for bash (kiln completion bash).\n_kiln() {\n")
	fmt.Fprintf(&b, "  local cur=${COMP_WORDS[COMP_CWORD]} verb= i w skip=\n")
	fmt.Fprintf(&b, "  for ((i = 1; i < COMP_CWORD; i++)); do\n    w=${COMP_WORDS[i]}\n")
	fmt.Fprintf(&b, "    if [[ -n $skip ]]; then skip=; continue; fi\n")
	fmt.Fprintf(&b, "    case $w in\n      %s) skip=1 ;;\n      -*) ;;\n      *) verb=$w; break ;;\n    esac\n  done\n", strings.Join(valued, "|"))
	fmt.Fprintf(&b, "  local flags=%q\n", strings.Join(globals, " "))
	fmt.Fprintf(&b, "  case $verb in\n")
	fmt.Fprintf(&b, "    \"\") COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", strings.Join(append(commandNames(), globals...), " "))
	for _, n := range commandNames() {
		names, _, _ := flagNames(commandFlags(commands[n]))
		if len(names) > 0 {
			fmt.Fprintf(&b, "    %s) flags+=%q ;;\n", n, " "+strings.Join(names, " "))
		}
	}
	fmt.Fprintf(&b, "  esac\n")
	fmt.Fprintf(&b, "  case $cur in\n    -*) COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\")) ;;\n    *) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n  esac\n}\n")
	fmt.Fprintf(&b, "complete -o filenames -F _kiln kiln\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func fishCompletion(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# kiln's completion for fish (kiln completion fish).\ncomplete -c kiln -f\n")
	flagLine := func(cond, name string, takes bool, usage string) {
		opt := "-l " + strings.TrimPrefix(name, "--")
		if !strings.HasPrefix(name, "--") {
			opt = "-o " + strings.TrimPrefix(name, "-")
		}
		if takes {
			opt += " -r -F"
		}
		fmt.Fprintf(&b, "complete -c kiln%s %s -d %s\n", cond, opt, fishQuote(usage))
	}
	globals, gval, gusage := flagNames(func(fs *flag.FlagSet) { globalFlags(fs, &Globals{}) })
	for _, g := range globals {
		flagLine("", g, gval[g], gusage[g])
	}
	for _, n := range commandNames() {
		c := commands[n]
		fmt.Fprintf(&b, "complete -c kiln -n __fish_use_subcommand -a %s -d %s\n", n, fishQuote(c.summary))
		names, val, usage := flagNames(commandFlags(c))
		for _, f := range names {
			flagLine(" -n '__fish_seen_subcommand_from "+n+"'", f, val[f], usage[f])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fishQuote(s string) string {
	if len(s) > 70 {
		s = s[:69] + "…"
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// manPage renders kiln help VERB as roff.
func manPage(c *command) string {
	var help strings.Builder
	commandUsage(&help, c)
	text := help.String()
	synopsis, rest, _ := strings.Cut(strings.TrimPrefix(text, "Usage: "), "\n")
	var b strings.Builder
	fmt.Fprintf(&b, ".TH KILN-%s 1 \"\" \"kiln %s\" \"kiln manual\"\n", strings.ToUpper(c.name), Version)
	fmt.Fprintf(&b, ".SH NAME\nkiln-%s \\- %s\n.SH SYNOPSIS\n.nf\n%s\n.fi\n", c.name, roff(c.summary), roff(synopsis))
	section := "DESCRIPTION"
	fmt.Fprintf(&b, ".SH DESCRIPTION\n.nf\n")
	for _, line := range strings.Split(strings.TrimSpace(rest), "\n") {
		switch {
		case line == "EXAMPLES" || line == "Flags:":
			section = map[string]string{"EXAMPLES": "EXAMPLES", "Flags:": "OPTIONS"}[line]
			fmt.Fprintf(&b, ".fi\n.SH %s\n.nf\n", section)
			continue
		case strings.HasPrefix(line, "Global flags ("):
			fmt.Fprintf(&b, ".fi\n.SH SEE ALSO\n.BR kiln (1)\n.nf\n")
			continue
		}
		fmt.Fprintf(&b, "%s\n", roff(line))
	}
	fmt.Fprintf(&b, ".fi\n")
	return b.String()
}

func topManPage() string {
	var help strings.Builder
	topUsage(&help)
	var b strings.Builder
	fmt.Fprintf(&b, ".TH KILN 1 \"\" \"kiln %s\" \"kiln manual\"\n.SH NAME\nkiln \\- build whole Debian systems from declarative HCL modules\n.SH DESCRIPTION\n.nf\n", Version)
	for _, line := range strings.Split(strings.TrimSpace(help.String()), "\n") {
		fmt.Fprintf(&b, "%s\n", roff(line))
	}
	fmt.Fprintf(&b, ".fi\n.SH EXAMPLES\n.nf\n")
	for _, e := range []string{"kiln search curl", "kiln lock -c web1.hcl", "kiln image -c web1.hcl -o web1.img", "kiln switch --target-host web1 -c web1.hcl"} {
		fmt.Fprintf(&b, "%s\n", roff(e))
	}
	fmt.Fprintf(&b, ".fi\n.SH SEE ALSO\n")
	for _, n := range commandNames() {
		fmt.Fprintf(&b, ".BR kiln-%s (1)\n", n)
	}
	return b.String()
}

// roff escapes a line of text for roff: backslashes, and a leading dot
// or quote that would read as a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
