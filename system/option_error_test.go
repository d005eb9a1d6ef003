package system

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/modules"
)

// TestOptionErrorLocated: a build-time error about an option's value,
// however deeply wrapped, names the file:line that set it; a default's
// error names none.
func TestOptionErrorLocated(t *testing.T) {
	host := filepath.Join(t.TempDir(), "host.hcl")
	src := "networking { host_name = \"web\" }\n\ntime_zone = \"Mars/Olympus\"\nkernel {\n  initrd_modules = [\"nosuch\"]\n}\n"
	if err := os.WriteFile(host, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := modules.Load(host, modules.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	tests := []struct {
		option, want string
	}{
		{"time_zone", host + ":3: build etc: bad value"},
		{"kernel.initrd_modules", host + ":5: build etc: bad value"},
		{"networking.domain", "build etc: bad value"}, // a default
	}
	for _, tc := range tests {
		err := fmt.Errorf("build etc: %w", optionErrorf(tc.option, errors.New("bad value")))
		err = locate(err, cfg)
		if got := err.Error(); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.option, got, tc.want)
		}
	}
}

// TestServiceUserDeclared: an enabled service's user must exist (a
// configured user or one of the packages' sysusers); the error names the
// option and a near name.
func TestServiceUserDeclared(t *testing.T) {
	a := newAccounts()
	if _, err := a.parseSysusers("u www-data 33 - /var/www\n"); err != nil {
		t.Fatal(err)
	}
	sys := &modules.System{Services: map[string]modules.Service{
		"web": {Enable: true, User: "www-data"},
		"off": {Enable: false, User: "nosuchuser"},
	}}
	if err := a.checkServiceUsers(sys); err != nil {
		t.Fatalf("declared users: %v", err)
	}
	sys.Services["bad"] = modules.Service{Enable: true, User: "www-dta"}
	err := a.checkServiceUsers(sys)
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Option != "services.bad.user" || err.Error() != `service "bad": user "www-dta" is not declared (did you mean "www-data"?): add users "www-dta" {} or a package that makes it` {
		t.Errorf("got %v", err)
	}
}
