package debian

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/testenv"

	"github.com/kiln-os/kiln/store"
)

// realArchive returns an Archive on the machine's configured mirror, or
// skips the test when there is none or -short is set.
func realArchive(t testing.TB) *Archive {
	t.Helper()
	testenv.NeedLiveArchive(t)
	m, err := FindMirror("", os.Getenv, "/etc/apt")
	if err != nil {
		testenv.SkipOrFail(t, "no mirror: %v", err)
	}
	kr, err := ReadKeyring(DefaultKeyring)
	if err != nil {
		testenv.SkipOrFail(t, "no Debian keyring: %v", err)
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

// TestRealRealize resolves, fetches and unpacks the real closure of systemd,
// (bookworm ships it in /lib: the system builder merges /usr)
// the cloud kernel and systemd-boot-efi into an empty store.
func TestRealRealize(t *testing.T) {
	a := realArchive(t)
	ctx := context.Background()
	u, inputs, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Packages: []string{"systemd", "linux-image-cloud-amd64", "systemd-boot-efi"}}
	res, err := Resolve(u, req)
	if err != nil {
		t.Fatal(err)
	}
	l := NewLock(inputs, req, res)
	st, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	opts := FetchOptions{Mirror: a.Mirror, Client: a.Client, CacheDir: sharedCache()}
	start := time.Now()
	paths, err := Realize(ctx, st, l, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("realized %d packages in %v", len(paths), time.Since(start))
	if len(paths) != len(l.Packages) {
		t.Errorf("got %d paths for %d locked packages", len(paths), len(l.Packages))
	}
	kernel, _ := l.Why("linux-image-cloud-amd64")
	t.Logf("why linux-image-cloud-amd64: %v", kernel)
	var image string
	for _, p := range l.Packages {
		if kernelImage.MatchString(p.Name) {
			image = p.Name
		}
	}
	checks := map[string][]string{
		"systemd":          {"lib/systemd/systemd", ".kiln/control/control", ".kiln/control/postinst", ".kiln/control/conffiles"},
		"systemd-boot-efi": {"usr/lib/systemd/boot/efi/systemd-bootx64.efi"},
		image:              {"boot/vmlinuz-" + strings.TrimPrefix(image, "linux-image-")},
	}
	for name, files := range checks {
		sp := paths[name]
		if !st.Valid(sp) {
			t.Errorf("%s: %s not valid", name, sp)
		}
		for _, f := range files {
			if _, err := os.Lstat(filepath.Join(st.Physical(sp), f)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	start = time.Now()
	if _, err := Realize(ctx, st, l, opts); err != nil {
		t.Fatal(err)
	}
	t.Logf("second Realize (all valid): %v", time.Since(start))
}
