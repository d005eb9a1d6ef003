package system

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/toplevel"
)

// TestCACertsMatchUpdateCACertificates builds /etc/ssl/certs from
// bookworm's ca-certificates and compares it with what the package's own
// update-ca-certificates, run with the machine's openssl, makes from the
// same configuration: every NAME.pem link, every subject-hash link, and
// the bundle byte for byte.
func TestCACertsMatchUpdateCACertificates(t *testing.T) {
	needTool(t, "openssl")
	pk := realPackages(t, "ca-certificates")
	pkgDir := filepath.Join(pk.root, "ca-certificates")
	certsDir := filepath.Join(pkgDir, "usr", "share", "ca-certificates")
	var certs []string
	err := filepath.WalkDir(certsDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".crt") {
			rel, _ := filepath.Rel(certsDir, p)
			certs = append(certs, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) < 100 {
		t.Fatalf("ca-certificates ships %d certificates", len(certs))
	}
	sort.Strings(certs)
	// As the postinst writes it, with one certificate deselected and one
	// that no package ships.
	conf := "# comment\n" + strings.Join(certs[1:], "\n") + "\n!" + certs[0] + "\nmozilla/Not_Shipped.crt\n"

	got, err := caCertsEtc(pk, []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	gotLinks := map[string]string{}
	var gotBundle []byte
	for _, e := range got {
		name, ok := strings.CutPrefix(e.Path, "ssl/certs/")
		if !ok {
			t.Fatalf("entry outside ssl/certs: %s", e.Path)
		}
		if e.Kind == toplevel.EtcSymlink {
			gotLinks[name] = e.Target
		} else {
			gotBundle = e.Data
		}
	}

	// The real script over a temporary root.
	root := t.TempDir()
	etcCerts := filepath.Join(root, "etc-ssl-certs")
	confFile := filepath.Join(root, "ca-certificates.conf")
	if err := os.MkdirAll(etcCerts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", filepath.Join(pkgDir, "usr", "sbin", "update-ca-certificates"),
		"--certsconf", confFile, "--certsdir", certsDir, "--localcertsdir", filepath.Join(root, "none"),
		"--etccertsdir", etcCerts, "--hooksdir", filepath.Join(root, "none"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("update-ca-certificates: %v\n%s", err, out)
	}
	ents, err := os.ReadDir(etcCerts)
	if err != nil {
		t.Fatal(err)
	}
	wantLinks := map[string]string{}
	var wantBundle []byte
	for _, e := range ents {
		p := filepath.Join(etcCerts, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			tg, err := os.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			if rel, ok := strings.CutPrefix(tg, certsDir+"/"); ok {
				tg = "/usr/share/ca-certificates/" + rel
			}
			wantLinks[e.Name()] = tg
			continue
		}
		if e.Name() != "ca-certificates.crt" {
			t.Fatalf("update-ca-certificates made %s", e.Name())
		}
		if wantBundle, err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	if d := cmp.Diff(wantLinks, gotLinks); d != "" {
		t.Errorf("/etc/ssl/certs links (-update-ca-certificates +kiln):\n%s", d)
	}
	hashes := 0
	for n := range wantLinks {
		if !strings.HasSuffix(n, ".pem") {
			hashes++
		}
	}
	if hashes < 100 {
		t.Errorf("update-ca-certificates made %d hash links", hashes)
	}
	if !bytes.Equal(gotBundle, wantBundle) {
		t.Errorf("ca-certificates.crt: kiln's is %d bytes, update-ca-certificates' %d", len(gotBundle), len(wantBundle))
	}
	if _, ok := gotLinks[pemName(filepath.Base(certs[0]))]; ok {
		t.Errorf("the deselected %s is linked", certs[0])
	}
}

// TestSubjectHashCanonical: the canonical form folds case and blanks of
// string values, so names that differ only in them hash alike, and a
// different name does not.
func TestSubjectHashCanonical(t *testing.T) {
	name := func(cn string) []byte {
		// SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, PrintableString cn } } }
		ava := append([]byte{0x06, 0x03, 0x55, 0x04, 0x03, 0x13, byte(len(cn))}, cn...)
		seq := append([]byte{0x30, byte(len(ava))}, ava...)
		set := append([]byte{0x31, byte(len(seq))}, seq...)
		return append([]byte{0x30, byte(len(set))}, set...)
	}
	a, err := subjectHash(name("Example  Root CA"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := subjectHash(name(" example root ca "))
	c, _ := subjectHash(name("Example Root CB"))
	if a != b || a == c {
		t.Errorf("hashes %08x %08x %08x: want the first two equal, the third different", a, b, c)
	}
}

// TestCacheWarnings: a cache no builder makes is a warning naming the
// script line that asks for it, once per cache; a built one is not.
func TestCacheWarnings(t *testing.T) {
	src := func(pkg string, line int, cmd string) maintscript.Source {
		return maintscript.Source{Package: pkg, Script: "postinst", Line: line, Command: cmd}
	}
	d := &scriptDecls{an: []*maintscript.Analysis{
		{Package: "a", Caches: []maintscript.Cache{{Name: "perl-sax-parsers", From: src("a", 3, "update-perl-sax-parsers")}, {Name: "ca-certificates", From: src("a", 4, "update-ca-certificates")}}},
		{Package: "b", Caches: []maintscript.Cache{{Name: "perl-sax-parsers", From: src("b", 9, "update-perl-sax-parsers --add")}, {Name: "gdk-pixbuf-loaders", From: src("b", 2, "gdk-pixbuf-query-loaders")}}},
	}}
	var got []string
	for _, w := range d.cacheWarnings(nil) {
		got = append(got, w.Text)
	}
	want := []string{
		"cache gdk-pixbuf-loaders is not built yet (b postinst line 2: gdk-pixbuf-query-loaders): what reads it finds it missing",
		"cache perl-sax-parsers is not built yet (a postinst line 3: update-perl-sax-parsers): what reads it finds it missing",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if !d.declaresCache("ca-certificates") || d.declaresCache("hwdb") {
		t.Error("declaresCache")
	}
}

// TestEmptyCacheNeedsNothing: postgresql-dicts warns only when a
// package has a dictionary to convert.
func TestEmptyCacheNeedsNothing(t *testing.T) {
	d := &scriptDecls{an: []*maintscript.Analysis{{Package: "postgresql-common", Caches: []maintscript.Cache{{Name: "postgresql-dicts"}}}}}
	none := newTreePackages(t, map[string][]string{"postgresql-common": {"usr/share/hunspell/.keep="}})
	if w := d.cacheWarnings(none); len(w) != 0 {
		t.Errorf("no dictionary in the closure: %v", w)
	}
	some := newTreePackages(t, map[string][]string{"postgresql-common": {"usr/share/hunspell/.keep="},
		"hunspell-en-us": {"usr/share/hunspell/en_US.dic=1\nx\n"}})
	if w := d.cacheWarnings(some); len(w) != 1 || !strings.Contains(w[0].Text, "postgresql-dicts") {
		t.Errorf("a dictionary in the closure: %v", w)
	}
}

// TestReaderCacheNeedsNothing: X's core-font indices warn only when the
// closure has an X server to read them.
func TestReaderCacheNeedsNothing(t *testing.T) {
	d := &scriptDecls{an: []*maintscript.Analysis{{Package: "fonts-urw-base35", Caches: []maintscript.Cache{{Name: "x11-fonts"}}}}}
	fonts := map[string][]string{"fonts-urw-base35": {"usr/share/fonts/X11/Type1/C059-Bold.t1=x"}}
	if w := d.cacheWarnings(newTreePackages(t, fonts)); len(w) != 0 {
		t.Errorf("no X server in the closure: %v", w)
	}
	fonts["xvfb"] = []string{"usr/bin/Xvfb=#!"}
	if w := d.cacheWarnings(newTreePackages(t, fonts)); len(w) != 1 || !strings.Contains(w[0].Text, "x11-fonts") {
		t.Errorf("with Xvfb: %v", w)
	}
}
