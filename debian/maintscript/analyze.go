package maintscript

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// ControlDir is where a package's store path keeps its control files
// (debian.ControlDir; repeated here so that this package stays a leaf).
const ControlDir = ".kiln/control"

// Analyzer turns packages' maintainer scripts into declarations.
type Analyzer struct {
	// Closure is the merged tree of the packages installed together
	// (names relative to /, as an fs.FS takes them; DirsFS makes one from
	// store paths). Helpers a script sources are read from it, and file
	// tests and command lookups are answered by it. Nil: only the
	// package's own files are known.
	Closure fs.FS
	// Answers are debconf answers by question name. A question without
	// one reads as its template's default.
	Answers map[string]string
	// HostName is the machine's fully qualified host name, which scripts
	// read with hostname(1) ("" leaves it unknown).
	HostName string
}

// run is the state of one package's analysis, shared by its scripts.
type run struct {
	pkg      string
	an       *Analysis
	facts    *facts
	db       *debconfDB
	seen     map[string]bool
	hostName string
	// overrides are the paths dpkg-statoverride --add gave an override,
	// each with the line --list prints for it ("USER GROUP MODE PATH").
	overrides map[string]string
	// staged are copies of templates a script made under /var or /run
	// (a tmpfiles "C" line) and then edited, by path: what they hold is
	// known only as a File, which a later cp or ucf installs.
	staged map[string]*stagedFile
	// varText is the text of the files a script wrote under /var, /run
	// or /srv (a tmpfiles "f" line with that text), by path.
	varText map[string]string
}

type stagedFile struct {
	file      File
	edited    bool
	installed []string // where cp, mv or ucf copied it
}

// scripts are run in dpkg's order for a fresh install, then as on removal.
var scripts = []struct {
	name  string
	phase Phase
	args  [][]string // one run per argument list
}{
	{"config", Install, [][]string{{"configure", ""}}},
	{"preinst", Install, [][]string{{"install"}}},
	{"postinst", Install, [][]string{{"configure", ""}}},
	{"postinst", Triggered, nil}, // args from the triggers file
	{"prerm", Remove, [][]string{{"remove"}}},
	{"postrm", Remove, [][]string{{"remove"}, {"purge"}}},
}

// Package is one package of a closure: its name and its store path's
// tree.
type Package struct {
	Name  string
	Files fs.FS
}

// Analyze analyzes one package as if it were the first configured on a
// fresh system (see AnalyzeAll).
func (a *Analyzer) Analyze(name string, pkg fs.FS) (*Analysis, error) {
	out, err := a.AnalyzeAll([]Package{{Name: name, Files: pkg}})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// AnalyzeAll analyzes the packages of a closure in the order dpkg
// configures them on a fresh install (dependencies first), so that what
// one package's scripts made (an account, a file) is there for the next;
// the analyses are returned in the order of pkgs. It reads each package's
// control files, scripts and shipped sysusers.d and tmpfiles.d files. A
// script that does not parse is one Unhandled action; only an unreadable
// file is an error.
func (a *Analyzer) AnalyzeAll(pkgs []Package) ([]*Analysis, error) {
	sys := newSystem()
	if err := a.seedAccounts(sys); err != nil {
		return nil, err
	}
	sys.packages = map[string]bool{}
	for _, p := range pkgs {
		sys.packages[p.Name] = true
	}
	controls := make([][]byte, len(pkgs))
	sys.questions = map[string]bool{}
	for i, p := range pkgs {
		c, err := readOptional(p.Files, ControlDir+"/control")
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", p.Name, err)
		}
		controls[i] = c
		t, err := readOptional(p.Files, ControlDir+"/templates")
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", p.Name, err)
		}
		for q := range parseTemplates(t) {
			sys.questions[q] = true
		}
	}
	out := make([]*Analysis, len(pkgs))
	for _, i := range configureOrder(pkgs, controls) {
		an, err := a.analyze(pkgs[i], controls[i], sys)
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", pkgs[i].Name, err)
		}
		out[i] = an
	}
	return out, nil
}

func (a *Analyzer) analyze(p Package, control []byte, sys *system) (*Analysis, error) {
	name, pkg := p.Name, p.Files
	r := &run{
		hostName:  a.HostName,
		pkg:       name,
		an:        &Analysis{Package: name, Version: controlField(control, "Version")},
		seen:      map[string]bool{},
		overrides: map[string]string{},
		staged:    map[string]*stagedFile{},
		varText:   map[string]string{},
	}
	conffiles, err := readOptional(pkg, ControlDir+"/conffiles")
	if err != nil {
		return nil, err
	}
	r.facts = newFacts(pkg, a.Closure, conffiles, sys)
	templates, err := readOptional(pkg, ControlDir+"/templates")
	if err != nil {
		return nil, err
	}
	r.db = newDebconfDB(parseTemplates(templates), a.Answers)
	r.db.questions = sys.questions
	if err := r.shipped(pkg); err != nil {
		return nil, err
	}
	triggers, err := readOptional(pkg, ControlDir+"/triggers")
	if err != nil {
		return nil, err
	}
	interests := r.triggersFile(triggers)
	// The removal scripts run on a copy of the machine's state: what
	// they remove stays for the packages configured after this one (a
	// fresh install never runs them).
	var installed *system
	defer func() {
		if installed != nil {
			*sys = *installed
		}
	}()
	for _, sc := range scripts {
		if sc.phase == Remove && installed == nil {
			r.endStaged()
			installed = sys.clone()
		}
		src, err := readOptional(pkg, ControlDir+"/"+sc.name)
		if err != nil {
			return nil, err
		}
		if src == nil {
			continue
		}
		argv := sc.args
		if sc.phase == Triggered {
			if len(interests) == 0 {
				continue
			}
			argv = [][]string{{"triggered", strings.Join(interests, " ")}}
		}
		if sh := shebang(src); sh != "" {
			r.foreignScript(sc.name, sc.phase, sh, src)
			continue
		}
		f, perr := parseFile(sc.name, src)
		if perr != nil {
			r.parseError(sc.name, perr)
			continue
		}
		for _, args := range argv {
			r.interp(sc.name, sc.phase).runFile(f, args)
		}
	}
	if installed == nil {
		r.endStaged()
	}
	return r.an, nil
}

// endStaged notes the edited copies under /var and /run once the
// install-time scripts ran: one a script installed elsewhere was a
// staging copy, which needs nothing (on Debian it stays in /run until a
// reboot); one it did not is a generated file kiln cannot make there.
func (r *run) endStaged() {
	for _, p := range slices.Sorted(maps.Keys(r.staged)) {
		st := r.staged[p]
		if !st.edited {
			continue
		}
		for _, src := range st.file.From {
			n := Note{Reason: "writes a generated file under /var: " + p, From: src}
			list := &r.an.Unhandled
			if len(st.installed) > 0 {
				n.Reason = "a staging copy under " + p + ", installed as " + strings.Join(st.installed, ", ") + ": nothing of it needs to stay"
				list = &r.an.Ignored
			}
			if r.once(n) {
				*list = append(*list, n)
			}
		}
	}
	r.staged = map[string]*stagedFile{}
}

// seedAccounts starts the fresh system's accounts from base-passwd's
// tables, which its postinst installs first of all.
func (a *Analyzer) seedAccounts(sys *system) error {
	fa := newFacts(nil, a.Closure, nil, sys)
	for _, t := range []struct {
		file string
		into map[string]bool
	}{{"/usr/share/base-passwd/passwd.master", sys.users}, {"/usr/share/base-passwd/group.master", sys.groups}} {
		b, err := fa.read(t.file)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if name, _, ok := strings.Cut(l, ":"); ok && name != "" {
				t.into[name] = true
			}
		}
	}
	return nil
}

func (r *run) interp(script string, phase Phase) *interp {
	return &interp{run: r, script: script, phase: phase, funcs: map[string]function{}, tempFiles: map[int]*File{}, tempNames: map[string]int{}, shellScripts: map[int][]string{}}
}

// runFile runs a script with the positional parameters args and dpkg's
// environment.
func (in *interp) runFile(f *file, args []string) {
	e := &env{vars: map[string]value{}, cwd: lit("/")}
	for _, a := range args {
		e.args = append(e.args, lit(a))
	}
	for k, v := range map[string]string{
		"DPKG_MAINTSCRIPT_PACKAGE":          in.pkg,
		"DPKG_MAINTSCRIPT_NAME":             in.script,
		"DPKG_MAINTSCRIPT_ARCH":             "amd64",
		"DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT": "1",
		"DPKG_ADMINDIR":                     "/var/lib/dpkg",
		"DPKG_ROOT":                         "",
		"PATH":                              "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME":                              "/root",
		"IFS":                               " \t\n",
	} {
		e.set(k, lit(v))
	}
	in.stmts(e, f, f.ast.Stmts)
}

// shebang is the interpreter of a script that is not a shell script, or
// "" for a shell script.
func shebang(src []byte) string {
	line, _, _ := strings.Cut(string(src), "\n")
	if !strings.HasPrefix(line, "#!") {
		return ""
	}
	f := strings.Fields(strings.TrimPrefix(line, "#!"))
	if len(f) == 0 {
		return ""
	}
	switch path.Base(f[0]) {
	case "sh", "bash", "dash":
		return ""
	}
	return path.Base(f[0])
}

// foreignScript notes a script in another language: a debconf config
// script only asks questions (debconf-devel(7)), which on kiln read as
// their answers or defaults; any other is not analyzed.
func (r *run) foreignScript(script string, phase Phase, interp string, text []byte) {
	src := Source{Package: r.pkg, Script: script, Line: 1, Command: "#!" + interp, Phase: phase}
	if model, ok := perlConfigs[r.pkg]; ok && script == "config" && interp == "perl" {
		model(&perlConfig{r: r, lines: strings.Split(string(text), "\n")})
		r.an.Ignored = append(r.an.Ignored, Note{Reason: "a debconf config script in perl: on a fresh, non-interactive install it asks questions and sets the answers the debconf lines of this analysis show (kiln's model of it)", From: src})
		return
	}
	if script == "config" {
		r.an.Ignored = append(r.an.Ignored, Note{Reason: "a debconf config script in " + interp + ": it only asks questions, which read as their answers or defaults on kiln", From: src})
		return
	}
	if phase == Remove {
		r.an.Ignored = append(r.an.Ignored, Note{Reason: "a " + interp + " script that runs only on removal", From: src})
		return
	}
	r.an.Unhandled = append(r.an.Unhandled, Note{Reason: "a " + interp + " script, which the analysis does not read", From: src})
}

func (r *run) parseError(script string, err error) {
	line := 0
	var pe syntax.ParseError
	if errors.As(err, &pe) {
		line = int(pe.Pos.Line())
	}
	r.an.Unhandled = append(r.an.Unhandled, Note{
		Reason: fmt.Sprintf("the script does not parse: %v", err),
		From:   Source{Package: r.pkg, Script: script, Line: line, Phase: Install},
	})
}

func readOptional(fsys fs.FS, name string) ([]byte, error) {
	b, err := fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// controlField is a single-line field of a control file.
func controlField(control []byte, name string) string {
	sc := bufio.NewScanner(bytes.NewReader(control))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
