// Package suggest finds near names for "did you mean" messages: unknown
// commands, options, packages and test steps.
package suggest

// Distance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and transpositions of neighbours
// cost 1. With limit > 0 it stops early and returns limit once the
// distance is known to be at least limit.
func Distance(a, b string, limit int) int {
	if limit > 0 {
		if d := len(a) - len(b); d >= limit || -d >= limit {
			return limit
		}
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
			best = min(best, d)
		}
		if limit > 0 && best >= limit {
			return limit
		}
		prev2, prev, cur = prev, cur, prev2
	}
	if limit > 0 {
		return min(prev[len(b)], limit)
	}
	return prev[len(b)]
}

// Closest returns the candidate nearest to name within maxDist, ties to
// the first in candidates' order, or "" when none is that near.
func Closest(name string, candidates []string, maxDist int) string {
	best, bestD := "", maxDist+1
	for _, c := range candidates {
		if d := Distance(name, c, maxDist+1); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
