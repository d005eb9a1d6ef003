package maintscript

import (
	"sort"
	"strings"
)

// configureOrder is the order dpkg configures pkgs in on a fresh install:
// a package after the packages it depends on (Depends, Pre-Depends),
// otherwise by name; a dependency cycle is broken at the name that sorts
// first. It returns indexes into pkgs.
func configureOrder(pkgs []Package, controls [][]byte) []int {
	index := map[string]int{}
	for i, p := range pkgs {
		index[p.Name] = i
	}
	deps := make([][]int, len(pkgs))
	for i, c := range controls {
		for _, field := range []string{"Pre-Depends", "Depends"} {
			for _, alt := range strings.Split(controlField(c, field), ",") {
				for _, d := range strings.Split(alt, "|") {
					name, _, _ := strings.Cut(strings.TrimSpace(d), " ")
					name, _, _ = strings.Cut(name, ":")
					if j, ok := index[name]; ok && j != i {
						deps[i] = append(deps[i], j)
					}
				}
			}
		}
		sort.Slice(deps[i], func(a, b int) bool { return pkgs[deps[i][a]].Name < pkgs[deps[i][b]].Name })
	}
	byName := make([]int, len(pkgs))
	for i := range byName {
		byName[i] = i
	}
	sort.Slice(byName, func(a, b int) bool { return pkgs[byName[a]].Name < pkgs[byName[b]].Name })
	state := make([]uint8, len(pkgs)) // 0 new, 1 visiting, 2 done
	var out []int
	var visit func(int)
	visit = func(i int) {
		if state[i] != 0 {
			return // done, or a cycle: break it here
		}
		state[i] = 1
		for _, j := range deps[i] {
			visit(j)
		}
		state[i] = 2
		out = append(out, i)
	}
	for _, i := range byName {
		visit(i)
	}
	return out
}
