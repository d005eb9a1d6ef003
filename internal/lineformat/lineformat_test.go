package lineformat

import (
	"errors"
	"testing"
)

// The refusals as their callers show them (callers add the option path).
func TestRefusals(t *testing.T) {
	unit := func(v string) error {
		var u Unit
		u.Section("Service")
		u.Set("ExecStart", v, "services.x.exec_start")
		_, err := u.Text()
		return err
	}
	loader := func(v string) error {
		var l Loader
		l.Set("options", v, "kernel.params")
		_, err := l.Text()
		return err
	}
	colon := func(v string) error { _, err := ColonRecord("bob", "x", "1", "1", "", "/home/bob", v); return err }
	fstab := func(v string) error { _, err := FstabLine(v, "/srv", "ext4", "defaults", "0", "2"); return err }
	sysctl := func(v string) error { _, err := SysctlLine("vm.swappiness", v); return err }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"unit backslash", unit(`/bin/sh -c id \`), `services.x.exec_start: "/bin/sh -c id \\" ends in a backslash (it would continue the line), which a unit file cannot carry`},
		{"unit newline", unit("a\nUser=root"), `services.x.exec_start: "a\nUser=root" contains a newline, which a unit file cannot carry`},
		{"unit blank", unit(" a"), `services.x.exec_start: " a" starts or ends with white space, which a unit file cannot carry`},
		{"unit even backslashes", unit(`a\\`), ``},
		{"loader newline", loader("quiet\ninitrd /x"), `kernel.params: "quiet\ninitrd /x" contains a newline, which a systemd-boot entry or loader.conf cannot carry`},
		{"loader quotes", loader(`"a"`), ``},
		{"colon", colon("/bin/sh:x"), `field 7: "/bin/sh:x" contains a colon, which an account file (passwd, group, shadow) cannot carry`},
		{"fstab comment", fstab("#x"), `"#x" starts with # (the line would be a comment), which fstab cannot carry`},
		{"fstab space", fstab("LABEL=my disk"), ``},
		{"sysctl newline", sysctl("1\nx=1"), `"1\nx=1" contains a newline, which a sysctl.d file cannot carry`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				if tc.err != nil {
					t.Fatalf("got %v, want none", tc.err)
				}
				return
			}
			if tc.err == nil || tc.err.Error() != tc.want {
				t.Fatalf("got %v, want %s", tc.err, tc.want)
			}
			var e *Error
			if !errors.As(tc.err, &e) {
				t.Errorf("%v is not a *lineformat.Error", tc.err)
			}
		})
	}
	if got, _ := LoaderValue(`"a"`); got != `""a""` {
		t.Errorf("LoaderValue(%q) = %q", `"a"`, got)
	}
	if got, _ := FstabLine("LABEL=my disk", "/srv", "ext4"); got != "LABEL=my\\040disk /srv ext4\n" {
		t.Errorf("FstabLine = %q", got)
	}
}
