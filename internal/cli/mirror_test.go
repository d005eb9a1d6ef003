package cli

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/kiln-os/kiln/internal/testenv"
)

// testArchive is a signed Debian archive on disk (file:// URLs): an
// InRelease per suite, clearsigned with a key made for the test at a
// fixed time, and a gzipped Packages index. Packages are index entries
// only: kiln lock, search and show never download a .deb.
type testArchive struct {
	root, keyring string
	key           *openpgp.Entity
}

// archiveTime is when the test key and every InRelease were made.
var archiveTime = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

func newTestArchive(t *testing.T) *testArchive {
	t.Helper()
	cfg := &packet.Config{Time: func() time.Time { return archiveTime }, RSABits: 2048}
	key, err := openpgp.NewEntity("kiln test archive", "", "test@kiln.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := &testArchive{root: t.TempDir(), key: key}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	a.keyring = filepath.Join(t.TempDir(), "keyring.asc")
	if err := os.WriteFile(a.keyring, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return a
}

// publish writes the suites' indices: packages for bookworm, none for
// the others; date is InRelease's Date.
func (a *testArchive) publish(t *testing.T, packages string, date time.Time) {
	t.Helper()
	for _, suite := range []string{"bookworm", "bookworm-updates", "bookworm-security"} {
		text := ""
		if suite == "bookworm" {
			text = packages
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte(text))
		zw.Close()
		dir := filepath.Join(a.root, "dists", suite)
		if err := os.MkdirAll(filepath.Join(dir, "main/binary-amd64"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main/binary-amd64/Packages.gz"), gz.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(gz.Bytes())
		release := fmt.Sprintf("Suite: %s\nDate: %s\nSHA256:\n %s %d main/binary-amd64/Packages.gz\n",
			suite, date.Format(time.RFC1123Z), hex.EncodeToString(sum[:]), gz.Len())
		var signed bytes.Buffer
		cfg := &packet.Config{Time: func() time.Time { return date }}
		w, err := clearsign.Encode(&signed, a.key.PrivateKey, cfg)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(release))
		w.Close()
		if err := os.WriteFile(filepath.Join(dir, "InRelease"), signed.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// args are the global flags that read this archive with a cache of the test's own.
func (a *testArchive) env(t *testing.T) map[string]string {
	return map[string]string{"XDG_CACHE_HOME": t.TempDir(), "KILN_MIRROR": "file://" + a.root}
}

// stanza is one Packages entry.
func stanza(name, version, desc, extra string) string {
	sum := sha256.Sum256([]byte(name + version))
	return fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: amd64\n%sFilename: pool/main/%s_%s_amd64.deb\nSize: 123456\nInstalled-Size: 400\nSection: utils\nSHA256: %s\nDescription: %s\n long text that search does not read\n\n",
		name, version, extra, name, version, hex.EncodeToString(sum[:]), desc)
}

// testPackages is a tiny archive: an Essential base, htop, a virtual awk.
var testPackages = stanza("base-files", "12.4", "Debian base system miscellaneous files", "Essential: yes\n") +
	stanza("libc6", "2.36-9", "GNU C Library: Shared libraries", "") +
	stanza("htop", "3.2.2-2", "interactive processes viewer", "Depends: libc6 (>= 2.34)\n") +
	stanza("mawk", "1.3.4", "Pattern scanning and text processing language", "Provides: awk\n") +
	stanza("curl", "7.88.1-10", "command line tool for transferring data with URL syntax", "Depends: libc6\n") +
	stanza("nginx", "1.22.1-9", "small, powerful, scalable web/proxy server", "")

// basePackages are stanzas for what every configuration wants, so that a
// host file locks against the test archive.
func basePackages() string {
	var b bytes.Buffer
	for _, n := range []string{"base-passwd", "bash", "coreutils", "dash", "dbus", "findutils", "grep", "gzip",
		"hostname", "iproute2", "kmod", "less", "libc-bin", "libpam-modules", "libpam-runtime",
		"linux-image-cloud-amd64", "login", "ncurses-base", "passwd", "procps", "sed", "systemd",
		"systemd-boot", "systemd-boot-efi", "systemd-resolved", "tzdata", "udev", "util-linux", "openssh-server"} {
		b.WriteString(stanza(n, "1.0", "base system package "+n, ""))
	}
	return b.String()
}

// sha256Of is the sha256 stanza gives the .deb of name+version.
func sha256Of(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// publishDebs builds a real .deb (dpkg-deb) for each package name, each
// with one file of size bytes, puts it in the archive's pool and
// publishes bookworm's index of them; the first name is Essential.
func (a *testArchive) publishDebs(t *testing.T, names []string, size int) {
	t.Helper()
	testenv.NeedTools(t, "dpkg-deb")
	var index bytes.Buffer
	for i, n := range names {
		src := filepath.Join(t.TempDir(), n)
		os.MkdirAll(filepath.Join(src, "DEBIAN"), 0o755)
		os.MkdirAll(filepath.Join(src, "usr/share", n), 0o755)
		ess := ""
		if i == 0 {
			ess = "Essential: yes\n"
		}
		control := fmt.Sprintf("Package: %s\nVersion: 1.0\nArchitecture: amd64\nMaintainer: kiln <test@kiln.invalid>\n%sDescription: test package %s\n", n, ess, n)
		os.WriteFile(filepath.Join(src, "DEBIAN/control"), []byte(control), 0o644)
		data := make([]byte, size) // random: the .deb stays near size
		rand.NewChaCha8([32]byte{byte(i)}).Read(data)
		os.WriteFile(filepath.Join(src, "usr/share", n, "data"), data, 0o644)
		pool := filepath.Join("pool/main", n+"_1.0_amd64.deb")
		deb := filepath.Join(a.root, pool)
		os.MkdirAll(filepath.Dir(deb), 0o755)
		if out, err := exec.Command("dpkg-deb", "-Zgzip", "--root-owner-group", "--build", src, deb).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb: %v\n%s", err, out)
		}
		b, err := os.ReadFile(deb)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&index, "%sFilename: %s\nSize: %d\nSHA256: %s\n\n", strings.TrimSuffix(control, "Description: test package "+n+"\n")+"Description: test package "+n+"\n", pool, len(b), hex.EncodeToString(sum[:]))
	}
	a.publish(t, index.String(), archiveTime)
}
