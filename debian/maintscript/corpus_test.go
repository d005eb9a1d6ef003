package maintscript

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kiln-os/kiln/internal/golden"
)

// The corpus in testdata/ holds, per package, the control files and
// shipped sysusers.d/tmpfiles.d files of real bookworm .debs (see
// testdata/extract.sh), and the golden analysis of each.

// corpusPackages lists testdata's package directories.
func corpusPackages(t testing.TB) []string {
	ents, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if len(out) < 150 {
		t.Fatalf("testdata holds %d packages, want the whole corpus", len(out))
	}
	return out
}

// corpusClosure is the closure the corpus packages were fetched with:
// every package's tree (its testdata directory and the paths closure.txt
// says it ships: those the analysis looked up in the real closure), and
// their merge in name order, the first package holding a name winning, as
// the store's package set does.
func corpusClosure(t testing.TB, pkgs []string) (fs.FS, map[string]fs.FS) {
	f, err := os.Open("testdata/closure.txt")
	if err != nil {
		t.Fatalf("%v (go test -record-closure=FILE makes it; see testdata/extract.sh)", err)
	}
	defer f.Close()
	own := map[string]*memFS{}
	tree := func(p string) *memFS {
		if own[p] == nil {
			own[p] = newMemFS()
		}
		return own[p]
	}
	for _, p := range pkgs {
		dir := filepath.Join("testdata", p)
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(path, ".golden") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			tree(p).add(filepath.ToSlash(rel), &fstest.MapFile{Data: b, Mode: 0o644})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Then what the real closure answered (after the real files, which
	// carry their content).
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 3 {
			continue
		}
		name := strings.TrimPrefix(fl[1], "/")
		switch fl[0] {
		case "d":
			tree(fl[2]).add(name, &fstest.MapFile{Mode: fs.ModeDir | 0o755})
		case "x":
			tree(fl[2]).add(name, &fstest.MapFile{Mode: 0o755})
		case "f":
			tree(fl[2]).add(name, &fstest.MapFile{Mode: 0o644})
		case "l":
			tree(fl[2]).add(name, &fstest.MapFile{Mode: fs.ModeSymlink | 0o777, Data: []byte(fl[3])})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	closure := newMemFS()
	trees := map[string]fs.FS{}
	for _, p := range sortedKeys(own) {
		trees[p] = own[p]
		for name, mf := range own[p].MapFS {
			if _, ok := closure.MapFS[name]; !ok || closure.MapFS[name].Mode.IsDir() && !mf.Mode.IsDir() && name != "." {
				if !ok {
					closure.add(name, mf)
				}
			}
		}
	}
	return closure, trees
}

// memFS is a file tree in memory whose directories are all explicit, so
// that a missing name is found missing at once (fstest.MapFS scans every
// name for a directory it would synthesize).
type memFS struct {
	fstest.MapFS
	kids map[string]map[string]bool
}

func newMemFS() *memFS {
	return &memFS{MapFS: fstest.MapFS{".": {Mode: fs.ModeDir | 0o755}}, kids: map[string]map[string]bool{}}
}

func (m *memFS) add(name string, f *fstest.MapFile) {
	if old, ok := m.MapFS[name]; ok && (!old.Mode.IsDir() || f.Mode.IsDir()) {
		return
	}
	m.MapFS[name] = f
	for p := name; p != "."; {
		dir := path.Dir(p)
		if m.kids[dir] == nil {
			m.kids[dir] = map[string]bool{}
		}
		m.kids[dir][path.Base(p)] = true
		if _, ok := m.MapFS[dir]; ok {
			break
		}
		m.MapFS[dir] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
		p = dir
	}
}

func (m *memFS) Lstat(name string) (fs.FileInfo, error) {
	if _, ok := m.MapFS[name]; !ok {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
	}
	return m.MapFS.Lstat(name)
}

func (m *memFS) ReadLink(name string) (string, error) {
	if _, ok := m.MapFS[name]; !ok {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrNotExist}
	}
	return m.MapFS.ReadLink(name)
}

func (m *memFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, ok := m.MapFS[name]
	if !ok || !f.Mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	var out []fs.DirEntry
	for _, k := range sortedKeys(m.kids[name]) {
		fi, err := m.Lstat(path.Join(name, k))
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(fi))
	}
	return out, nil
}

func (m *memFS) Open(name string) (fs.File, error) {
	if _, ok := m.MapFS[name]; !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return m.MapFS.Open(name)
}

// unionFS looks a name up in each file system in turn.
type unionFS []fs.FS

func (u unionFS) Open(name string) (fs.File, error) {
	for _, f := range u {
		if f == nil {
			continue
		}
		if _, err := fs.Lstat(f, name); err == nil {
			return f.Open(name)
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (u unionFS) Lstat(name string) (fs.FileInfo, error) {
	for _, f := range u {
		if f == nil {
			continue
		}
		if fi, err := fs.Lstat(f, name); err == nil {
			return fi, nil
		}
	}
	return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
}

func (u unionFS) ReadDir(name string) ([]fs.DirEntry, error) { return mergeDirs(u, name) }

func (u unionFS) ReadLink(name string) (string, error) {
	for _, f := range u {
		if f == nil {
			continue
		}
		if t, err := fs.ReadLink(f, name); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return t, err
		}
	}
	return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrNotExist}
}

// corpusHost is the host name the corpus is analyzed for.
const corpusHost = "web1.example.org"

func corpusInput(pkgs []string, trees map[string]fs.FS) []Package {
	var in []Package
	for _, p := range pkgs {
		in = append(in, Package{Name: p, Files: trees[p]})
	}
	return in
}

func analyzeCorpus(t testing.TB) map[string]*Analysis {
	pkgs := corpusPackages(t)
	closure, trees := corpusClosure(t, pkgs)
	a := &Analyzer{Closure: closure, HostName: corpusHost}
	ans, err := a.AnalyzeAll(corpusInput(pkgs, trees))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Analysis{}
	for i, p := range pkgs {
		out[p] = ans[i]
	}
	return out
}

// TestCorpus checks the analysis of every corpus package against its
// golden file (go test -update rewrites them).
func TestCorpus(t *testing.T) {
	var real map[string]string
	if *recordClosure != "" {
		real = recordCorpus(t)
	}
	all := analyzeCorpus(t)
	for n, text := range real {
		// testdata must answer every question as the real closure did.
		if d := golden.Diff([]byte(text), []byte(all[n].Text())); d != "" {
			t.Errorf("%s: the analysis against testdata differs from the one against the real closure (-real +testdata):\n%s", n, d)
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata", n, "analysis.golden"), []byte(all[n].Text()))
		})
	}
}

// TestCorpusSummary checks the corpus-wide figures: actions recognized
// per phase, declarations per kind and every unhandled action.
func TestCorpusSummary(t *testing.T) {
	all := analyzeCorpus(t)
	golden.Check(t, "testdata/summary.golden", []byte(summarize(all)))
}

func summarize(all map[string]*Analysis) string {
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "packages: %d\n", len(names))
	for _, ph := range []Phase{Install, Triggered, Remove} {
		var c Counts
		for _, n := range names {
			x := all[n].Count(ph)
			c.Declared += x.Declared
			c.Ignored += x.Ignored
			c.Unhandled += x.Unhandled
		}
		total := c.Declared + c.Ignored + c.Unhandled
		fmt.Fprintf(&b, "%s actions: %d (%d declared, %d need nothing, %d unhandled): %.1f%% recognized\n",
			ph, total, c.Declared, c.Ignored, c.Unhandled, 100*float64(c.Declared+c.Ignored)/float64(max(total, 1)))
	}
	kinds := map[string]int{}
	for _, n := range names {
		an := all[n]
		kinds["users"] += len(an.Users)
		kinds["groups"] += len(an.Groups)
		kinds["members"] += len(an.Members)
		for _, tf := range an.Tmpfiles {
			if tf.Shipped {
				kinds["tmpfiles (shipped)"]++
			} else {
				kinds["tmpfiles (from scripts)"]++
			}
		}
		kinds["alternatives"] += len(an.Alternatives)
		for _, u := range an.Units {
			kinds["units "+string(u.Op)]++
		}
		kinds["wrappers"] += len(an.Wrappers)
		kinds["files"] += len(an.Files)
		kinds["debconf"] += len(an.Debconf)
		kinds["caches"] += len(an.Caches)
		kinds["triggers"] += len(an.Triggers)
		kinds["first-run"] += len(an.FirstRun)
		kinds["shells"] += len(an.Shells)
	}
	b.WriteString("declarations:\n")
	for _, k := range sortedKeys(kinds) {
		fmt.Fprintf(&b, "  %-24s %d\n", k, kinds[k])
	}
	byKind := map[string]int{}
	var lines []string
	for _, n := range names {
		for _, u := range all[n].Unhandled {
			k, _, _ := strings.Cut(u.Reason, ":")
			byKind[k]++
			lines = append(lines, fmt.Sprintf("  %s %s:%d: %s -- %s", n, u.From.Script, u.From.Line, u.From.Command, u.Reason))
		}
	}
	b.WriteString("unhandled by kind:\n")
	for _, k := range sortedKeys(byKind) {
		fmt.Fprintf(&b, "  %4d %s\n", byKind[k], k)
	}
	b.WriteString("unhandled:\n" + strings.Join(lines, "\n") + "\n")
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
