package cli

import (
	"strings"
	"testing"
)

// TestInstallUsage covers the flag errors of kiln install (installing
// itself is image.TestInstallFile's and the server VM scenario's).
func TestInstallUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no disk", []string{"install"}, "--disk is required"},
		{"argument", []string{"install", "--disk", "x.img", "extra"}, `unexpected argument "extra"`},
		{"esp size", []string{"install", "--disk", "x.img", "--esp-size", "big"}, "--esp-size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, tc.args...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, ExitUsage, tc.want)
			}
		})
	}
}
