package cache

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/store"
)

// Nix is the real reader of this format (Debian's nix-bin): it must
// accept kiln's keys, narinfos, signatures and compressed NARs, and kiln
// must accept Nix's keys.

// nixCmd runs nix with its state, configuration and caches in a temp dir.
func nixCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	testenv.NeedTools(t, "nix", "nix-store")
	home := t.TempDir()
	conf := filepath.Join(home, "conf")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "nix.conf"), []byte("experimental-features = nix-command\nsubstituters =\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		"NIX_CONF_DIR="+conf, "NIX_STATE_DIR="+filepath.Join(home, "state"), "NIX_LOG_DIR="+filepath.Join(home, "log"),
		"NIX_REMOTE=")
	return cmd
}

func TestNixReadsKilnKeys(t *testing.T) {
	dir := t.TempDir()
	k := testKey(t, "kiln-made-1", 5)
	secret, public, err := WriteKeyPair(dir, k)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := nixCmd(t, "nix", "key", "convert-secret-to-public")
	cmd.Stdin = f
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nix key convert-secret-to-public: %v\n%s", err, out)
	}
	want, _ := os.ReadFile(public)
	if strings.TrimSpace(string(out)) != strings.TrimSpace(string(want)) {
		t.Errorf("nix derives %q from kiln's secret key, kiln wrote %q", out, want)
	}
}

func TestKilnReadsNixKeys(t *testing.T) {
	dir := t.TempDir()
	secret, public := filepath.Join(dir, "nix-made-1.secret"), filepath.Join(dir, "nix-made-1.public")
	if out, err := nixCmd(t, "nix-store", "--generate-binary-cache-key", "nix-made-1", secret, public).CombinedOutput(); err != nil {
		t.Fatalf("nix-store --generate-binary-cache-key: %v\n%s", err, out)
	}
	os.Chmod(secret, 0o600)
	k, err := ReadSecretKeyFile(secret)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ReadPublicKeyFile(public)
	if err != nil {
		t.Fatal(err)
	}
	if k.Public().String() != pub.String() {
		t.Errorf("kiln derives %s from Nix's secret key, Nix wrote %s", k.Public(), pub)
	}
}

// `nix store verify` checks a kiln cache: signatures with the trusted key,
// then each NAR (downloaded, decompressed, hashed) against its narinfo.
func TestNixVerifiesKilnCache(t *testing.T) {
	src := openStore(t)
	c := buildClosure(t, src, "nix")
	k := testKey(t, "fleet-1", 1)
	cache := fileCache(t)
	push(t, cache, src, k, c.app)
	url := cache.URL + "?store=" + store.LogicalDir
	verify := func(key string, paths ...store.Path) (string, error) {
		args := []string{"nix", "store", "verify", "--store", url, "--trusted-public-keys", key}
		for _, p := range paths {
			args = append(args, p.String())
		}
		out, err := nixCmd(t, args...).CombinedOutput()
		return string(out), err
	}
	out, err := verify(k.Public().String(), c.all()...)
	if err != nil {
		t.Fatalf("nix store verify of kiln's cache: %v\n%s", err, out)
	}
	t.Logf("nix store verify: %s", out)
	// Nix refuses what kiln refuses: an untrusted key, a changed NAR.
	if out, err := verify(testKey(t, "other-1", 2).Public().String(), c.app); err == nil || !strings.Contains(out, "untrusted") {
		t.Errorf("nix store verify with another key = %v\n%s; want the path untrusted", err, out)
	}
	n, err := cache.NarInfo(t.Context(), c.app)
	if err != nil {
		t.Fatal(err)
	}
	put(t, cache, n.URL, mustGet(t, cache, narURL(t, cache, c.lib)))
	out, err = verify(k.Public().String(), c.app)
	t.Logf("nix store verify of a changed NAR: %s", out)
	if err == nil || !strings.Contains(out, "hash") {
		t.Errorf("nix store verify of a changed NAR = %v\n%s; want a hash mismatch", err, out)
	}
}
