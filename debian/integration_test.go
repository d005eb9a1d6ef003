package debian

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// realArchive returns an Archive on the machine's configured mirror, or
// skips the test when there is none or -short is set.
func realArchive(t testing.TB) *Archive {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the network (-short)")
	}
	m, err := FindMirror("", os.Getenv, "/etc/apt")
	if err != nil {
		t.Skipf("no mirror: %v", err)
	}
	kr, err := ReadKeyring(DefaultKeyring)
	if err != nil {
		t.Skipf("no Debian keyring: %v", err)
	}
	return &Archive{
		Mirror:   m,
		Keyring:  kr,
		Client:   &http.Client{Timeout: 5 * time.Minute},
		CacheDir: sharedCache(),
		Warnf:    t.Logf,
	}
}

// sharedCache is $XDG_CACHE_HOME/kiln (or ~/.cache/kiln), shared between
// test runs so reruns download nothing.
func sharedCache() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "kiln")
	}
	h, _ := os.UserHomeDir()
	return filepath.Join(h, ".cache", "kiln")
}

func TestRealResolve(t *testing.T) {
	a := realArchive(t)
	ctx := context.Background()
	u, inputs, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d candidates from %d suites", u.Len(), len(inputs))
	req := Request{Packages: DefaultPackages}
	res, err := Resolve(u, req)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, n := range res.Names() {
		size += res.Packages[n].Size
		t.Logf("%s %s (%s)", n, res.Packages[n].Version, res.Chain(n))
	}
	t.Logf("%d packages, %d MiB of debs", len(res.Packages), size>>20)
}
