package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b  string
		limit int
		want  int
	}{
		{"", "", 0, 0},
		{"abc", "abc", 0, 0},
		{"kitten", "sitting", 0, 3},
		{"version", "versoin", 0, 1}, // a transposition costs 1
		{"ab", "ba", 0, 1},
		{"abc", "", 0, 3},
		{"", "abc", 0, 3},
		{"kitten", "sitting", 2, 2}, // capped
		{"a", "abcdef", 3, 3},       // capped by length alone
		{"systemd", "systemd-boot", 0, 5},
	} {
		if got := Distance(tc.a, tc.b, tc.limit); got != tc.want {
			t.Errorf("Distance(%q, %q, %d) = %d, want %d", tc.a, tc.b, tc.limit, got, tc.want)
		}
	}
}

func TestClosest(t *testing.T) {
	cands := []string{"build", "image", "switch", "rollback"}
	for _, tc := range []struct{ name, want string }{
		{"biuld", "build"},
		{"swtich", "switch"},
		{"imgae", "image"},
		{"frobnicate", ""},
	} {
		if got := Closest(tc.name, cands, 2); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
