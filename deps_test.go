package kiln_test

import (
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
)

// The import ladder, as Go's own go/build/deps_test.go writes it: every
// package of the module is listed with the packages of the module it may
// import, named one by one (internal helpers included), and its tests
// with what they may import besides; a package that is not listed, an
// import that is not allowed and a rule for a package that no longer
// exists all fail. Standard library and third-party imports are free,
// except where a negative rule below forbids one. docs/design.md's layout
// table states the same directions between the domain packages, and a
// test checks that it does.

// module is the module path.
const module = "github.com/kiln-os/kiln"

// rules maps each package (relative to the module, "." for the root) to
// the packages of the module its non-test files may import.
var rules = map[string][]string{
	// Helpers: each one a leaf or nearly.
	"internal/fsutil":     nil,
	"internal/parallel":   nil,
	"internal/suggest":    nil,
	"internal/versioned":  nil,
	"internal/testenv":    nil,
	"internal/sshtest":    nil,
	"internal/s3test":     {"internal/testenv"},
	"internal/golden":     {"internal/fsutil"},
	"internal/lineformat": nil,

	// The contracts and the store, below everything of the domain.
	"toplevel": {"internal/versioned", "internal/lineformat"},
	"store":    {"internal/fsutil", "internal/versioned"},
	"modules":  {"internal/fsutil", "internal/suggest", "internal/lineformat"},

	// The domain.
	"debian":             {"store", "internal/fsutil", "internal/parallel", "internal/suggest", "internal/versioned"},
	"boot":               {"store", "toplevel", "internal/fsutil", "internal/lineformat"},
	"boot/stage1":        {"toplevel"},
	"activation":         {"store", "toplevel", "secrets", "internal/fsutil", "internal/versioned", "internal/lineformat"},
	"secrets":            {"internal/fsutil"},
	"system":             {"modules", "store", "debian", "debian/maintscript", "boot", "toplevel", "cache", "internal/fsutil", "internal/lineformat", "internal/suggest"},
	"debian/maintscript": nil,
	"cache":              {"store", "internal/fsutil", "internal/parallel"},
	"image":              {"store", "boot", "toplevel", "internal/fsutil", "internal/parallel"},
	"machine":            {"store", "boot", "activation", "toplevel", "internal/versioned", "internal/fsutil"},
	"testvm":             {"internal/fsutil"},
	"shell":              {"store", "debian", "system"},
	"fleet":              {"store", "machine", "internal/parallel", "internal/suggest"},

	// The command line and what drives it.
	"internal/testdriver": {"testvm", "internal/suggest"},
	"internal/cli": {"modules", "store", "debian", "system", "boot/stage1", "activation", "image", "machine",
		"shell", "secrets", "cache", "fleet", "debian/maintscript", "testvm", "internal/testdriver", "internal/suggest", "internal/fsutil"},
	"cmd/kiln": {"internal/cli"},

	// Packages of tests only.
	".":     nil,
	"tests": nil,
}

// testRules are what a package's tests (its _test.go files, in the package
// or as package _test) may import besides rules.
var testRules = map[string][]string{
	"internal/fsutil":     nil,
	"internal/parallel":   nil,
	"internal/suggest":    nil,
	"internal/versioned":  nil,
	"internal/testenv":    nil,
	"internal/sshtest":    nil,
	"internal/s3test":     {"internal/testenv"},
	"internal/golden":     nil,
	"internal/lineformat": nil,
	"toplevel":            {"internal/golden", "internal/testenv"},
	"store":               {"internal/golden", "internal/testenv"},
	"modules":             {"modules", "internal/golden"},
	"debian":              {"internal/golden", "internal/testenv"},
	"boot":                {"internal/golden", "internal/testenv"},
	"boot/stage1":         {"internal/testenv"},
	"activation":          {"internal/golden", "internal/testenv"},
	"system":              {"internal/golden", "internal/testenv"},
	"image":               {"internal/golden", "internal/testenv"},
	"machine":             {"internal/sshtest", "internal/golden"},
	"testvm":              {"internal/golden", "internal/testenv"},
	"shell":               {"internal/testenv"},
	"fleet":               {"modules", "internal/golden"},
	"secrets":             nil,
	"debian/maintscript":  {"internal/fsutil", "internal/golden"},
	"cache":               {"internal/golden", "internal/testenv", "internal/s3test"},
	"internal/testdriver": {"internal/golden"},
	"internal/cli":        {"boot", "toplevel", "internal/sshtest", "internal/s3test", "internal/testenv", "internal/golden"},
	"cmd/kiln":            nil,
	".":                   {"modules", "internal/testenv", "internal/cli"},
	"tests":               {"store", "testvm", "internal/golden", "internal/testenv", "internal/s3test"},
}

// helpers are the internal packages the layout table leaves out.
var helpers = []string{"internal/fsutil", "internal/parallel", "internal/suggest", "internal/versioned",
	"internal/testenv", "internal/sshtest", "internal/s3test", "internal/golden", "internal/lineformat"}

// forbidden are negative rules: a package that must not depend on an
// import path (a prefix), directly or not.
var forbidden = []struct {
	pkg, dep, why string
}{
	{"system", "github.com/godbus/", "the builder runs anywhere and never talks to systemd"},
	{"system", module + "/activation", "the builder writes the activation spec (package toplevel); it never activates"},
	{"toplevel", "github.com/", "the contracts are a leaf: no third-party package"},
	{"store", module + "/toplevel", "the store knows nothing of systems"},
	{"boot/stage1", "github.com/godbus/", "stage 1 runs in the initrd, without a bus"},
}

func TestImportLadder(t *testing.T) {
	dirs := goDirs(t)
	for _, dir := range dirs {
		if _, ok := rules[dir]; !ok {
			t.Errorf("package %s has no rule in deps_test.go: add one (and to docs/design.md's layout table)", dir)
		}
		if _, ok := testRules[dir]; !ok {
			t.Errorf("package %s has no test rule in deps_test.go", dir)
		}
	}
	for _, m := range []map[string][]string{rules, testRules} {
		for dir := range m {
			if !slices.Contains(dirs, dir) {
				t.Errorf("deps_test.go has a rule for %s, which is no package", dir)
			}
		}
	}
	for _, dir := range dirs {
		bp, err := build.ImportDir(dir, build.ImportComment)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		check := func(what string, imports []string, allowed []string) {
			for _, imp := range ours(imports) {
				if imp != dir && !slices.Contains(allowed, imp) {
					t.Errorf("%s%s imports %s, which deps_test.go does not allow (allowed: %v)", dir, what, imp, allowed)
				}
			}
		}
		check("", bp.Imports, rules[dir])
		withTests := append(append([]string{}, rules[dir]...), testRules[dir]...)
		check("'s tests", bp.TestImports, withTests)
		check("'s external tests", bp.XTestImports, withTests)
	}
}

// The negative rules hold over the whole dependency graph, third-party
// packages included (go list -deps).
func TestForbiddenDependencies(t *testing.T) {
	testenv.NeedTools(t, "go")
	for _, f := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "./"+f.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps ./%s: %v", f.pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, module) && !strings.HasPrefix(f.dep, module) {
				continue // a rule on third-party packages
			}
			if strings.HasPrefix(dep, f.dep) && dep != module+"/"+f.pkg {
				t.Errorf("%s depends on %s: %s", f.pkg, dep, f.why)
			}
		}
	}
}

// docs/design.md's layout table says which domain package may import
// which: the same as rules, helpers aside.
func TestDesignLayoutTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("docs", "design.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, layout, _ := strings.Cut(string(doc), "\n## 2. ")
	layout, _, _ = strings.Cut(layout, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9/]+)` \\| [^|]* \\| ([^|]*) \\|$")
	name := regexp.MustCompile("`([a-z0-9/]+)`")
	var seen []string
	for _, m := range row.FindAllStringSubmatch(layout, -1) {
		pkg := m[1]
		if _, ok := rules[pkg]; !ok {
			t.Errorf("docs/design.md's layout table has %s, which deps_test.go does not", pkg)
			continue
		}
		seen = append(seen, pkg)
		var doc []string
		for _, n := range name.FindAllStringSubmatch(m[2], -1) {
			doc = append(doc, n[1])
		}
		var want []string
		for _, imp := range rules[pkg] {
			if !slices.Contains(helpers, imp) {
				want = append(want, imp)
			}
		}
		sort.Strings(doc)
		sort.Strings(want)
		if !slices.Equal(doc, want) {
			t.Errorf("docs/design.md says %s may import %v; deps_test.go says %v", pkg, doc, want)
		}
	}
	for pkg := range rules {
		if !slices.Contains(helpers, pkg) && pkg != "." && !slices.Contains(seen, pkg) {
			t.Errorf("docs/design.md's layout table has no row for %s", pkg)
		}
	}
}

// ours returns the module's packages among imports, relative to the module.
func ours(imports []string) []string {
	var out []string
	for _, imp := range imports {
		switch {
		case imp == module:
			out = append(out, ".")
		case strings.HasPrefix(imp, module+"/"):
			out = append(out, strings.TrimPrefix(imp, module+"/"))
		}
	}
	return out
}

// goDirs lists the directories of the module holding Go files.
func goDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			if dir := filepath.Dir(p); !slices.Contains(dirs, dir) {
				dirs = append(dirs, dir)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(dirs)
	if len(dirs) < 20 {
		t.Fatalf("found only %d packages", len(dirs))
	}
	return dirs
}
