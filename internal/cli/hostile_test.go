package cli

import (
	"strings"
	"testing"
)

// Issue 9 as a user meets it: each hostile or careless configuration is
// refused by `kiln eval` (which `kiln build` shares) with the option and
// the file:line that defined it, and exit status 1, never a crash.
func TestHostileConfigsRefused(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // in stderr
	}{
		{"shell adds a root account", "users \"bob\" {\n  shell = \"/bin/bash\\nevil2::0:0::/:/bin/sh\"\n}\n",
			[]string{"Invalid value for users.bob.shell", "host.hcl line 2", "contains a newline"}},
		{"home with a colon", "users \"bob\" {\n  home = \"/home/a:b\"\n}\n",
			[]string{"Invalid value for users.bob.home", "host.hcl line 2", "contains a colon"}},
		{"trailing backslash drops User=", "services \"x\" {\n  exec_start = \"/bin/sh -c id \\\\\"\n  user = \"nobody\"\n}\n",
			[]string{"Invalid value for services.x.exec_start", "host.hcl line 2", "ends in a backslash"}},
		{"kernel parameter splits options", "kernel {\n  params = [\"quiet\\ninitrd /x\"]\n}\n",
			[]string{"Invalid value for kernel.params", "host.hcl line 2"}},
		{"console mode adds loader.conf keys", "bootloader {\n  console_mode = \"max\\neditor yes\"\n}\n",
			[]string{"Invalid value for bootloader.console_mode", "host.hcl line 2"}},
		{"etc name with a newline", "etc \"x\\ny\" {\n  text = \"a\"\n}\n",
			[]string{`Invalid etc path "x\ny"`, "host.hcl line 1"}},
		{"deep nesting", "kernel {\n  params = " + strings.Repeat("[", 70000) + strings.Repeat("]", 70000) + "\n}\n",
			[]string{"Nesting too deep", "host.hcl line 2"}},
		{"duplicate uid", "users \"alice\" {\n  uid = 1500\n}\nusers \"bob\" {\n  uid = 1500\n}\n",
			[]string{"Duplicate uid 1500", "host.hcl line 5", "users.alice.uid at ", "host.hcl:2"}},
		{"secret mode in the store", "etc \"ssh/ssh_host_ed25519_key\" {\n  text = \"k\"\n  mode = \"0600\"\n}\n",
			[]string{"Mode 0600 hides", "host.hcl line 3", "secrets"}},
		{"hash inlined by file()", "users \"alice\" {\n  hashed_password_file = \"$6$salt$hash\\n\"\n}\n",
			[]string{"Invalid value for users.alice.hashed_password_file", "host.hcl line 2", "looks like a password hash"}},
		{"relative hashed_password_file", "users \"alice\" {\n  hashed_password_file = \"alice.hash\"\n}\n",
			[]string{"not an absolute, clean path", "host.hcl line 2"}},
		{"undeclared autologin_user", "console {\n  autologin_user = \"mallory\"\n}\n",
			[]string{`Unknown user "mallory"`, "host.hcl line 2"}},
		{"negative timeout", "bootloader {\n  timeout = -1\n}\n",
			[]string{"Invalid value for bootloader.timeout", "host.hcl line 2"}},
		{"tmpfs root", "mounts \"/\" {\n  device = \"tmpfs\"\n  fs_type = \"tmpfs\"\n}\n",
			[]string{"The root cannot be a tmpfs", "host.hcl line 3"}},
		{"mount over /boot", "mounts \"/boot\" {\n  device = \"/dev/vdb\"\n  fs_type = \"ext4\"\n}\n",
			[]string{"/boot must be the EFI system partition", "host.hcl line 3"}},
		{"escape bytes in a diagnostic", "ssh {\n  port = \"\x1b[2J\"\n}\n",
			[]string{`\x1b[2J`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := writeHost(t, tc.src)
			code, _, stderr := runCLI(t, nil, "eval", "-c", host)
			if code != ExitFailure {
				t.Fatalf("exit = %d, want %d; stderr:\n%s", code, ExitFailure, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.ContainsAny(stderr, "\x1b\x07") {
				t.Errorf("stderr has raw control bytes: %q", stderr)
			}
		})
	}
}
