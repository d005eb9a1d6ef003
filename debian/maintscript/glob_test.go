package maintscript

import "testing"

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true},
		{"*", "a/b", true},
		{"configure", "configure", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[0-9][0-9]-*.conf", "10-fastcgi.conf", true},
		{"[!a]*", "abc", false},
		{"[!a]*", "bcd", true},
		{"[[:space:]]*", " x", true},
		{"[[:space:]]*", "x", false},
		{"[]]", "]", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{"[unclosed", "[unclosed", true},
		{"*.d", "redis-server.post-up.d", true},
	} {
		if got := globMatch(tc.pat, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pat, tc.s, got, tc.want)
		}
	}
}
