package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/internal/testenv"
)

// TestAuditLists: kiln audit reads the real packages' scripts and lists
// each declaration with its provenance (redis-tools' postinst makes the
// redis user; nginx is enabled; nftables, whose postinst is the
// --no-enable form, is not), human and --json, and a closure without
// unhandled actions passes.
func TestAuditLists(t *testing.T) {
	testenv.NeedLiveArchive(t)
	cache, _ := os.UserCacheDir()
	env := map[string]string{"XDG_CACHE_HOME": cache, "KILN_MIRROR": os.Getenv("KILN_MIRROR")}
	dir := t.TempDir()
	host := filepath.Join(dir, "host.hcl")
	src := "networking {\n  host_name = \"web1\"\n}\npackages = [pkgs.redis-server, pkgs.nftables, pkgs.nginx]\n"
	if err := os.WriteFile(host, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "store")
	if code, out, errs := runCLIWith(t, nil, env, "--store", st, "lock", "-c", host); code != ExitOK {
		t.Fatalf("kiln lock: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs := runCLIWith(t, nil, env, "--store", st, "audit", "-c", host)
	if code != ExitOK {
		t.Fatalf("kiln audit: exit %d\n%s", code, errs)
	}
	for _, want := range []string{
		"\nuser redis system home=/var/lib/redis create-home shell=/usr/sbin/nologin\n  postinst:23: adduser --system --home /var/lib/redis --quiet --group ${USER}\n",
		"\nunit enable nginx.service\n  postinst:73 [dh_installsystemd/13.11.4]: deb-systemd-helper enable 'nginx.service' >/dev/null\n",
		"\nunit no-enable nftables.service\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kiln audit output lacks %q", want)
		}
	}
	if !strings.Contains(errs, " 0 unhandled\n") {
		t.Errorf("stderr: %s", errs)
	}
	code, out, errs = runCLIWith(t, nil, env, "--store", st, "--json", "audit", "-c", host)
	if code != ExitOK {
		t.Fatalf("kiln --json audit: exit %d\n%s", code, errs)
	}
	var ans []maintscript.Analysis
	if err := json.Unmarshal([]byte(out), &ans); err != nil {
		t.Fatalf("--json output: %v", err)
	}
	found := false
	for _, an := range ans {
		for _, u := range an.Units {
			if an.Package == "nftables" && u.Name == "nftables.service" {
				found = u.Op == maintscript.NoEnable && u.From.Script == "postinst" && u.From.Line > 0
			}
		}
	}
	if !found {
		t.Errorf("--json: nftables.service is not declared no-enable from its postinst")
	}
}
