package system

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/store"
)

func TestDocOutputs(t *testing.T) {
	doc, err := store.FixedPath("deb-doc/2", strings.Repeat("ab", 32), "x-1-doc")
	if err != nil {
		t.Fatal(err)
	}
	pk := newTreePackages(t, map[string][]string{
		"x": {"usr/bin/x", "usr/share/doc/x/copyright", debian.DocMarker + "=" + doc.String() + "\n"},
		"y": {"usr/bin/y"},
	})
	// Marker without the output in the store: an error naming both.
	if _, err := docOutputs(pk); err == nil || !strings.Contains(err.Error(), doc.String()) {
		t.Fatalf("docOutputs without %s: %v, want an error naming it", doc, err)
	}
	phys := filepath.Join(pk.dir, doc.Base())
	for _, f := range []string{"usr/share/doc/x/changelog.gz", "usr/share/locale/fr/LC_MESSAGES/x.mo"} {
		os.MkdirAll(filepath.Dir(filepath.Join(phys, f)), 0o755)
		if err := os.WriteFile(filepath.Join(phys, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := docOutputs(pk)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].pkg != "x" || docs[0].path != doc || docs[0].phys != phys {
		t.Fatalf("docOutputs = %+v, want x's %s", docs, doc)
	}
	// In the forest, the main output and the documentation merge.
	f := newForest()
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		sp, _ := pk.Path(n)
		if err := f.add(swSource{Name: n, Logical: sp.String(), Phys: d}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.add(swSource{Name: doc.Name(), Logical: doc.String(), Phys: phys}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "sw")
	if _, err := f.write(out); err != nil {
		t.Fatal(err)
	}
	xp, _ := pk.Path("x")
	for link, want := range map[string]string{
		"share/doc/x/copyright":    xp.String() + "/usr/share/doc/x/copyright",
		"share/doc/x/changelog.gz": doc.String() + "/usr/share/doc/x/changelog.gz",
		"share/locale":             doc.String() + "/usr/share/locale",
	} {
		if got, err := os.Readlink(filepath.Join(out, link)); err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %s", link, got, err, want)
		}
	}
}
