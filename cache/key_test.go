package cache

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/golden"
)

// testKey is made from a fixed seed: every signature it makes is fixed
// (ed25519 is deterministic), so golden files hold them.
func testKey(t testing.TB, name string, seed byte) SecretKey {
	t.Helper()
	k, err := GenerateKey(name, bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyTextForms(t *testing.T) {
	k := testKey(t, "cache.example.org-1", 7)
	var out bytes.Buffer
	out.WriteString(k.Encode() + "\n" + k.Public().String() + "\n")
	out.WriteString(k.Sign("1;/kiln/store/0123456789abcdfghijklmnpqrsvwxyz-x;sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73;8;") + "\n")
	golden.Check(t, "testdata/key.golden", out.Bytes())

	back, err := ParseSecretKey(k.Encode() + "\n")
	if err != nil || back.Encode() != k.Encode() {
		t.Fatalf("ParseSecretKey(Encode()) = %v, %v", back, err)
	}
	pub, err := ParsePublicKey(k.Public().String())
	if err != nil || pub.String() != k.Public().String() {
		t.Fatalf("ParsePublicKey(String()) = %v, %v", pub, err)
	}
	if strings.Contains(k.String(), k.Encode()[len(k.Name)+1:]) {
		t.Errorf("SecretKey.String() = %q shows the key", k.String())
	}
}

// A key pair of nix-store --generate-binary-cache-key (its documented
// example) reads as kiln keys, and the halves belong together.
func TestNixKeyReads(t *testing.T) {
	const secret = "cache.example.org-0:E7lAO+MsPwTFfPXsdPtW8GKui/5ho4KQHVcAGnX+Tti1V4dUxoVoqLyWJ4YESuZJwQ67GVIksDt47og+tPVUZw=="
	k, err := ParseSecretKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "cache.example.org-0" || k.Encode() != secret {
		t.Errorf("parsed %q as %q", secret, k.Encode())
	}
	if got, want := k.Public().String(), "cache.example.org-0:tVeHVMaFaKi8lieGBErmScEOuxlSJLA7eO6IPrT1VGc="; got != want {
		t.Errorf("public half %s, want %s", got, want)
	}
}

func TestParseKeyErrors(t *testing.T) {
	good := testKey(t, "k", 1)
	payload := good.Encode()[2:]
	for _, tc := range []struct{ name, text, want string }{
		{"no colon", "just-base64", "NAME:BASE64"},
		{"no name", ":" + payload, "NAME:BASE64"},
		{"space in name", "a b:" + payload, "without colons or spaces"},
		{"bad base64", "k:!!!", "illegal base64"},
		{"public key as secret", good.Public().String(), "has 32 bytes, want 64"},
		{"halves do not match", "k:" + swapPublicHalf(t, good, testKey(t, "k", 2)), "does not belong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSecretKey(tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseSecretKey(%q) = %v, want an error containing %q", tc.text, err, tc.want)
			}
		})
	}
	if _, err := ParsePublicKey(good.Encode()); err == nil || !strings.Contains(err.Error(), "has 64 bytes, want 32") {
		t.Errorf("ParsePublicKey(secret key) = %v", err)
	}
	if _, err := ParsePublicKeys([]string{good.Public().String(), "bad"}); err == nil || !strings.Contains(err.Error(), "trusted public key 2") {
		t.Errorf("ParsePublicKeys with a bad second key = %v, want it named", err)
	}
}

func swapPublicHalf(t *testing.T, a, b SecretKey) string {
	raw := append(append([]byte(nil), a.key[:32]...), b.key[32:]...)
	return SecretKey{Name: "k", key: raw}.Encode()[2:]
}

func TestWriteAndReadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	k := testKey(t, "fleet-1", 3)
	secret, public, err := WriteKeyPair(dir, k)
	if err != nil {
		t.Fatal(err)
	}
	if secret != filepath.Join(dir, "fleet-1.secret") || public != filepath.Join(dir, "fleet-1.public") {
		t.Errorf("wrote %s and %s", secret, public)
	}
	for name, mode := range map[string]os.FileMode{secret: 0o600, public: 0o644} {
		if st, err := os.Stat(name); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %04o", name, st.Mode(), err, mode)
		}
	}
	gotSecret, err := ReadSecretKeyFile(secret)
	if err != nil || gotSecret.Encode() != k.Encode() {
		t.Errorf("ReadSecretKeyFile = %v, %v", gotSecret, err)
	}
	gotPublic, err := ReadPublicKeyFile(public)
	if err != nil || gotPublic.String() != k.Public().String() {
		t.Errorf("ReadPublicKeyFile = %v, %v", gotPublic, err)
	}
	// Never replaced: the old key signs what machines already trust.
	if _, _, err := WriteKeyPair(dir, testKey(t, "fleet-1", 4)); err == nil || !strings.Contains(err.Error(), "never replaced") {
		t.Errorf("second WriteKeyPair = %v, want a refusal", err)
	}
	if again, _ := ReadSecretKeyFile(secret); again.Encode() != k.Encode() {
		t.Error("the secret key changed")
	}
	// Readable by others: refused.
	os.Chmod(secret, 0o644)
	if _, err := ReadSecretKeyFile(secret); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("ReadSecretKeyFile of a 0644 file = %v, want a refusal", err)
	}
}

// A real narinfo of cache.nixos.org, with its signature and the
// cache's published key: kiln's fingerprint and check are Nix's.
func TestVerifiesCacheNixosOrgSignature(t *testing.T) {
	const (
		key = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
		sig = "cache.nixos.org-1:uP5KU8MCmyRnKGlN5oEv6xWJBI5EO/Pf5aFztZuLSz8BpCcZ1fdBnJkVXhBAlxkdm/CemsgQskhwvyd2yghTAg=="
	)
	pub, err := ParsePublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// References as the narinfo lists them, in its order.
	refs := []string{"/nix/store/9df65igwjmf2wbw0gbrrgair6piqjgmi-glibc-2.31", "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10"}
	fp := fingerprint("/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10", "sha256:1mi14cqk363wv368ffiiy01knardmnlyphi6h9xv6dkjz44hk30i", 205968, refs)
	if err := verify(fp, []string{sig}, []PublicKey{pub}); err != nil {
		t.Fatalf("cache.nixos.org's signature: %v", err)
	}
	changed := strings.Replace(fp, "205968", "205969", 1)
	if err := verify(changed, []string{sig}, []PublicKey{pub}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("changed NarSize: %v, want ErrBadSignature", err)
	}
}
