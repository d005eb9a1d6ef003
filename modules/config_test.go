package modules

import "testing"

func TestValuePaths(t *testing.T) {
	cfg, diags := Load("testdata/refs/host.hcl", LoadOptions{Packages: packageSet()})
	if diags.HasErrors() {
		t.Fatal(DiagnosticText(diags, 0))
	}
	tests := []struct {
		path, want, err string
	}{
		{"networking.host_name", `"web"`, ""},
		{`etc["motd"].text`, `"Welcome to web, running nginx on web.\n"`, ""},
		{"etc.motd.mode", `""`, ""},
		{"kernel.params[1]", `"console=ttyS0,115200"`, ""},
		{`mounts["/"].fs_type`, `"ext4"`, ""},
		{"users.sshd", "", `no option "users.sshd" (defined: root)`},
		{"networking.nope", "", `no option "networking.nope"`},
		{"kernel.params[9]", "", `option path "kernel.params[9]": invalid index`},
		{"networking..x", "", `option path "networking..x": attribute name required`},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			v, err := cfg.Value(tc.path)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := valueText(v); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if got := len(cfg.Explain("nope")); got != 0 {
		t.Errorf("Explain(nope) returned %d definitions", got)
	}
}
