package debian

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ulikunitz/xz"

	"github.com/kiln-os/kiln/internal/testenv"
)

// fixture is a small Debian archive served over HTTP: real .debs built by
// dpkg-deb, a Packages index, and an InRelease clearsigned with a key made
// for the test.
type fixture struct {
	root    string // the archive root on disk
	srv     *httptest.Server
	key     *openpgp.Entity
	keyring openpgp.EntityList
	debs    map[string]string // package name → pool path
	// serve, when set, may answer a request instead of the file server.
	mu    sync.Mutex
	serve func(w http.ResponseWriter, r *http.Request) bool
}

type fixtureDeb struct {
	name, version, depends, compress string
	essential                        bool
	files                            map[string]string // path → content; "->x" makes a symlink, "=>x" a hardlink
	scripts                          map[string]string // DEBIAN/ files
}

var fixtureDebs = []fixtureDeb{
	{
		name: "hello", version: "1:2.0~rc1-1", depends: "libhello (>= 1.0)", compress: "xz",
		files: map[string]string{
			"usr/bin/hello":                            "#!/bin/sh\necho hello\n",
			"usr/bin/hi":                               "->hello",
			"usr/bin/hello-again":                      "=>usr/bin/hello",
			"etc/hello.conf":                           "greeting=hello\n",
			"usr/share/doc/hello/x":                    "doc\n",
			"usr/share/doc/hello/copyright":            "license\n",
			"usr/share/man/man1/hello.1.gz":            "man\n",
			"usr/share/locale/fr/LC_MESSAGES/hello.mo": "bonjour\n",
			"usr/share/locale/locale.alias":            "french fr_FR.ISO-8859-1\n",
			"tmp/junk":                                 "never unpacked\n",
			"run/hello/pid":                            "never unpacked\n",
		},
		scripts: map[string]string{
			"postinst":  "#!/bin/sh\necho configured\n",
			"conffiles": "/etc/hello.conf\n",
		},
	},
	{
		name: "libhello", version: "1.2", compress: "zstd",
		files: map[string]string{"usr/lib/x86_64-linux-gnu/libhello.so.1": "ELF?\n"},
	},
	{
		name: "base", version: "1", compress: "gzip", essential: true,
		files: map[string]string{"usr/share/base/README": "base\n"},
	},
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		testenv.SkipOrFail(t, "%v", "dpkg-deb not installed")
	}
	f := &fixture{root: t.TempDir(), debs: map[string]string{}}
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return fixtureNow.Add(-time.Hour) }}
	key, err := openpgp.NewEntity("kiln test archive", "", "archive@example.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.key, f.keyring = key, openpgp.EntityList{key}
	var index bytes.Buffer
	for _, d := range fixtureDebs {
		stanza := f.buildDeb(t, d)
		index.WriteString(stanza + "\n")
	}
	f.writeIndex(t, "bookworm", index.Bytes())
	f.writeIndex(t, "bookworm-updates", nil)
	f.writeIndex(t, "bookworm-security", nil)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		serve := f.serve
		f.mu.Unlock()
		if serve != nil && serve(w, r) {
			return
		}
		http.FileServer(http.Dir(f.root)).ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) setServe(fn func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	f.serve = fn
	f.mu.Unlock()
}

func (f *fixture) mirror() *Mirror { return &Mirror{Default: f.srv.URL, Suites: map[string]string{}} }

func (f *fixture) archive(t *testing.T) *Archive {
	return &Archive{Mirror: f.mirror(), Keyring: f.keyring, CacheDir: t.TempDir(), Warnf: t.Logf,
		Now: func() time.Time { return fixtureNow }}
}

// fixtureNow is the one clock of everything the fixture archive signs and
// verifies (key creation, signatures, Valid-Until), so that no test
// depends on the day it runs. Its InRelease files are dated an hour
// before and valid for a week.
var fixtureNow = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// buildDeb makes a .deb with dpkg-deb and returns its Packages stanza.
func (f *fixture) buildDeb(t *testing.T, d fixtureDeb) string {
	t.Helper()
	stage := t.TempDir()
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: amd64\nMaintainer: kiln <kiln@example.invalid>\nDescription: test package\n", d.name, d.version)
	if d.depends != "" {
		control += "Depends: " + d.depends + "\n"
	}
	if d.essential {
		control += "Essential: yes\n"
	}
	write := func(name, content string, mode os.FileMode) {
		p := filepath.Join(stage, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("DEBIAN/control", control, 0o644)
	for n, c := range d.scripts {
		write("DEBIAN/"+n, c, 0o755)
	}
	names := make([]string, 0, len(d.files))
	for n := range d.files {
		names = append(names, n)
	}
	sort.Strings(names) // hardlink targets sort before their links here
	for _, n := range names {
		c := d.files[n]
		p := filepath.Join(stage, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		switch {
		case strings.HasPrefix(c, "->"):
			if err := os.Symlink(c[2:], p); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(c, "=>"):
			if err := os.Link(filepath.Join(stage, c[2:]), p); err != nil {
				t.Fatal(err)
			}
		default:
			write(n, c, 0o755)
		}
	}
	pool := fmt.Sprintf("pool/main/%c/%s/%s_%s_amd64.deb", d.name[0], d.name, d.name, sanitizeVersion(d.version))
	out := filepath.Join(f.root, pool)
	os.MkdirAll(filepath.Dir(out), 0o755)
	cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+d.compress, "--build", stage, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	f.debs[d.name] = pool
	sum := sha256.Sum256(data)
	return fmt.Sprintf("%sFilename: %s\nSize: %d\nSHA256: %s\n", control, pool, len(data), hex.EncodeToString(sum[:]))
}

// writeIndex writes Packages.xz and Packages.gz and a signed InRelease.
func (f *fixture) writeIndex(t *testing.T, suite string, index []byte) {
	t.Helper()
	dir := filepath.Join(f.root, "dists", suite)
	var xzb, gzb bytes.Buffer
	xw, _ := xz.NewWriter(&xzb)
	xw.Write(index)
	xw.Close()
	gw := gzip.NewWriter(&gzb)
	gw.Write(index)
	gw.Close()
	var list strings.Builder
	for name, data := range map[string][]byte{"main/binary-amd64/Packages.xz": xzb.Bytes(), "main/binary-amd64/Packages.gz": gzb.Bytes()} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&list, " %s %d %s\n", sha256Hex(data), len(data), name)
	}
	release := fmt.Sprintf("Origin: Debian\nSuite: %s\nDate: Sat, 21 Nov 2026 08:00:00 UTC\nValid-Until: Sat, 28 Nov 2026 08:00:00 UTC\nSHA256:\n%s", suite, list.String())
	f.writeInRelease(t, suite, release, f.key)
}

func (f *fixture) writeInRelease(t *testing.T, suite, text string, key *openpgp.Entity) {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, key.PrivateKey, &packet.Config{Time: func() time.Time { return fixtureNow }})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(text))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.root, "dists", suite, "InRelease"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) file(name string) string { return filepath.Join(f.root, name) }
