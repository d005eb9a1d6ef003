package kiln_test

import (
	"go/build"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/kiln-os/kiln"

// allowed lists, for each of kiln's packages, which of kiln's packages it may
// import (DESIGN.md §2). Standard library and third-party imports are free.
// Packages not listed may import nothing of ours except internal helpers.
var allowed = map[string][]string{
	"cmd/kiln":     {"internal/cli"},
	"internal/cli": {"*"},
	"modules":      {"internal/suggest", "internal/golden"},
	"store":        {"internal/..."},
	"cache":        {"store", "internal/..."},
	"debian":       {"store", "internal/..."},
	"boot":         {"store", "internal/..."},
	"image":        {"store", "boot", "internal/..."},
	"activation":   {"store", "boot", "internal/..."},
	"system":       {"modules", "store", "debian", "boot", "boot/stage1", "activation", "internal/..."},
	"testvm":       {"internal/fsutil", "internal/golden", "internal/testenv"},
	// The declarative VM test engine and the end-to-end tests drive everything.
	"internal/testdriver": {"*"},
	"tests":               {"*"},
}

func TestImportLadder(t *testing.T) {
	pkgs, err := filepath.Glob("*")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, p := range pkgs {
		dirs = append(dirs, walkGoDirs(p)...)
	}
	sort.Strings(dirs)
	checked := 0
	for _, dir := range dirs {
		bp, err := build.ImportDir(dir, 0)
		if err != nil {
			continue // no Go files
		}
		rules, ok := rulesFor(dir)
		if !ok {
			continue
		}
		checked++
		for _, imp := range append(bp.Imports, bp.TestImports...) {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			rel := strings.TrimPrefix(imp, module+"/")
			if strings.HasPrefix(rel, dir+"/") || rel == dir {
				continue // its own subpackages
			}
			if !permitted(rules, rel) {
				t.Errorf("%s imports %s, which DESIGN.md §2 does not allow (allowed: %v)", dir, rel, rules)
			}
		}
	}
	if checked == 0 {
		t.Fatal("checked no packages")
	}
}

func rulesFor(dir string) ([]string, bool) {
	for d := dir; d != "."; d = filepath.Dir(d) {
		if r, ok := allowed[d]; ok {
			return r, true
		}
	}
	if strings.HasPrefix(dir, "internal/") {
		return []string{"internal/..."}, true
	}
	return nil, false
}

func permitted(rules []string, imp string) bool {
	for _, r := range rules {
		switch {
		case r == "*", r == imp:
			return true
		case strings.HasSuffix(r, "/...") && strings.HasPrefix(imp, strings.TrimSuffix(r, "...")):
			return imp != "internal/cli"
		}
	}
	return false
}

func walkGoDirs(root string) []string {
	var out []string
	matches, _ := filepath.Glob(filepath.Join(root, "*.go"))
	if len(matches) > 0 {
		out = append(out, root)
	}
	subs, _ := filepath.Glob(filepath.Join(root, "*"))
	for _, s := range subs {
		if strings.HasPrefix(filepath.Base(s), ".") || filepath.Base(s) == "testdata" {
			continue
		}
		out = append(out, walkGoDirs(s)...)
	}
	return out
}
