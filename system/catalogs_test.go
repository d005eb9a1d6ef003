package system

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/modules"
)

// TestCatalogsMatchDebianTools analyzes bookworm's xml-core, sgml-base
// and polkitd, makes their catalogs, then runs the packages' own
// update-xmlcatalog (with the arguments the analysis kept) and
// update-catalog --update-super in a mount namespace whose /etc, /var
// and /usr/share are overlays with the packages' files: every catalog
// kiln writes is byte for byte what the tools write.
func TestCatalogsMatchDebianTools(t *testing.T) {
	testenv.NeedRoot(t, "a mount namespace with overlays over /etc, /var and /usr/share")
	testenv.NeedTools(t, "unshare", "perl", "mount")
	pk := realPackages(t, "xml-core", "sgml-base", "polkitd")
	sys := modules.System{}
	d, err := analyzeScripts(&sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	p := &BuildPlan{sys: &sys, pk: pk, scripts: d}
	xml, err := p.xmlCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]EtcEntry{"sgml/xml-core.cat": {Path: "sgml/xml-core.cat", Source: filepath.Join(pk.root, "xml-core", "etc/sgml/xml-core.cat")}}
	sgml := p.sgmlCatalog(byPath)
	if len(p.warnings) > 0 {
		t.Errorf("warnings: %v", p.warnings)
	}
	got := map[string]string{}
	for _, e := range xml {
		got["/etc/"+e.Path] = string(e.Data)
	}
	if len(sgml) != 1 {
		t.Fatalf("sgml entries %v", sgml)
	}
	// The tmpfiles line's argument, unescaped as systemd-tmpfiles does
	// (only \n and %% occur here).
	line := strings.TrimSuffix(string(sgml[0].Data), "\n")
	const prefix = "f+ " + sgmlSuperCatalog + " 0644 root root - "
	if !strings.HasPrefix(line, prefix) {
		t.Fatalf("tmpfiles line %q", line)
	}
	got[sgmlSuperCatalog] = strings.NewReplacer(`\n`, "\n", "%%", "%").Replace(strings.TrimPrefix(line, prefix))

	// The script: each package's files copied over the overlays, then the
	// tools run in the order the scripts call them.
	var script strings.Builder
	script.WriteString("set -e\nmount --make-rprivate /\nmount -t tmpfs tmpfs \"$T\"\n")
	for _, dir := range []string{"/etc", "/var", "/usr/share"} {
		n := strings.ReplaceAll(dir, "/", "_")
		script.WriteString("mkdir \"$T/u" + n + "\" \"$T/w" + n + "\"\n")
		script.WriteString("mount -t overlay overlay -o lowerdir=" + dir + ",upperdir=\"$T/u" + n + "\",workdir=\"$T/w" + n + "\" " + dir + "\n")
	}
	script.WriteString("rm -rf /etc/xml /etc/sgml /var/lib/xml-core /var/lib/sgml-base\nmkdir -p /etc/xml /etc/sgml /var/lib/xml-core /var/lib/sgml-base\n")
	for _, n := range []string{"xml-core", "sgml-base", "polkitd"} {
		for _, sub := range []string{"etc/sgml", "etc/xml", "usr/share/xml", "usr/share/xml-core", "usr/share/sgml"} {
			src := filepath.Join(pk.root, n, sub)
			if _, err := os.Stat(src); err == nil {
				script.WriteString("mkdir -p /" + sub + " && cp -rT " + src + " /" + sub + "\n")
			}
		}
	}
	tool := func(pkg, rel string) string { return "perl " + filepath.Join(pk.root, pkg, rel) }
	for _, an := range d.an {
		for _, c := range an.Caches {
			if c.From.Phase != "" && c.From.Phase != maintscript.Install {
				continue
			}
			var args []string
			for _, a := range c.Args {
				args = append(args, "'"+a+"'")
			}
			switch c.Name {
			case "xml-catalog":
				script.WriteString(tool("xml-core", "usr/sbin/update-xmlcatalog") + " " + strings.Join(args, " ") + "\n")
			case "sgml-catalog":
				script.WriteString(tool("sgml-base", "usr/sbin/update-catalog") + " " + strings.Join(args, " ") + "\n")
			}
		}
	}
	script.WriteString("for f in /etc/xml/*.xml /etc/xml/catalog " + sgmlSuperCatalog + "; do printf '=== %s\\n' \"$f\"; cat \"$f\"; done\n")
	cmd := exec.Command("unshare", "-m", "sh", "-c", script.String())
	cmd.Env = append(os.Environ(), "T="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string]string{}
	for _, part := range strings.Split(string(out), "=== ")[1:] {
		name, text, _ := strings.Cut(part, "\n")
		want[name] = text
	}
	if len(want) != 4 {
		t.Errorf("the tools wrote %d catalogs, want 4 (xml-core.xml, polkitd.xml, catalog, supercatalog):\n%s", len(want), out)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("catalogs (-Debian's tools +kiln):\n%s", d)
	}
}

// TestXMLCatalogForms: update-xmlcatalog's forms and failures as the
// tool has them: an entry registered twice with different values, a root
// delegate to a package catalog nobody made, a local catalog outside
// /etc, unknown arguments; --del removes an entry, an empty catalog is
// not written.
func TestXMLCatalogForms(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"xml-core": {"usr/share/xml-core/catalog.header=<catalog>\n", "usr/share/xml-core/catalog.footer=</catalog>\n"},
		"a":        {"usr/share/xml/a/catalog.xml=<catalog/>", "usr/share/xml/a/other.xml=<catalog/>", "usr/share/xml/a/x.dtd=x"},
	})
	src := func(line int, args ...string) maintscript.Cache {
		return maintscript.Cache{Name: "xml-catalog", Args: args, From: maintscript.Source{Package: "a", Script: "postinst", Line: line, Command: "update-xmlcatalog " + strings.Join(args, " ")}}
	}
	d := &scriptDecls{an: []*maintscript.Analysis{{Package: "a", Caches: []maintscript.Cache{
		src(1, "--add", "--type", "public", "--id", "A", "--package", "a", "--local", "/usr/share/xml/a/catalog.xml"),
		src(2, "--add", "--type=uri", "--id=http://a/", "--package=a", "--local=/usr/share/xml/a/catalog.xml"),
		src(3, "--add", "--type", "public", "--id", "A", "--package", "a", "--local", "/usr/share/xml/a/other.xml"),
		src(4, "--add", "--root", "--type", "public", "--id", "A", "--package", "a"),
		src(5, "--add", "--root", "--type", "system", "--id", "S", "--package", "nobody"),
		src(6, "--add", "--local", "/usr/share/xml/a/catalog.xml", "--file", "/usr/share/xml/a/x.dtd", "--type", "system", "--id", "X"),
		src(7, "--add", "--local", "/etc/xml/local.xml", "--file", "/usr/share/xml/a/x.dtd", "--type", "system", "--id", "X"),
		src(8, "--add", "--local", "/etc/xml/gone.xml", "--file", "/usr/share/xml/a/x.dtd", "--type", "public", "--id", "G"),
		src(9, "--del", "--local", "/etc/xml/gone.xml", "--type", "public", "--id", "G"),
		src(10, "--add", "--type", "doctype", "--id", "D", "--package", "a", "--local", "/usr/share/xml/a/catalog.xml"),
		{Name: "xml-catalog", From: maintscript.Source{Package: "a", Script: "postinst", Line: 11, Command: "update-xmlcatalog $ARGS"}},
	}}}}
	p := &BuildPlan{sys: &modules.System{}, pk: pk, scripts: d}
	etc, err := p.xmlCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range etc {
		got[e.Path] = string(e.Data)
	}
	want := map[string]string{
		"xml/a.xml":     "<catalog>\n<delegatePublic publicIdStartString=\"A\" catalog=\"file:///usr/share/xml/a/catalog.xml\"/>\n<delegateURI uriStartString=\"http://a/\" catalog=\"file:///usr/share/xml/a/catalog.xml\"/>\n</catalog>\n",
		"xml/catalog":   "<catalog>\n<delegatePublic publicIdStartString=\"A\" catalog=\"file:///etc/xml/a.xml\"/>\n</catalog>\n",
		"xml/local.xml": "<catalog>\n<system systemId=\"X\" uri=\"/usr/share/xml/a/x.dtd\"/>\n</catalog>\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("catalogs (-want +got):\n%s", diff)
	}
	var warns []string
	for _, w := range p.warnings {
		warns = append(warns, w.Text)
	}
	for i, frag := range []string{
		"line 3: update-xmlcatalog --add --type public --id A --package a --local /usr/share/xml/a/other.xml: the entry delegatePublic publicIdStartString=\"A\" is already registered with catalog=\"file:///usr/share/xml/a/catalog.xml\"",
		"line 6: update-xmlcatalog --add --local /usr/share/xml/a/catalog.xml --file /usr/share/xml/a/x.dtd --type system --id X: writes /usr/share/xml/a/catalog.xml, outside /etc",
		"line 10: update-xmlcatalog --add --type doctype --id D --package a --local /usr/share/xml/a/catalog.xml: not a form update-xmlcatalog accepts",
		"line 11: update-xmlcatalog $ARGS: its arguments are not known",
		"line 5: update-xmlcatalog --add --root --type system --id S --package nobody: the package catalog /etc/xml/nobody.xml is not made",
	} {
		if i >= len(warns) || !strings.Contains(warns[i], frag) {
			t.Errorf("warning %d: want %q in %q", i, frag, warns)
		}
	}
	if len(warns) != 5 {
		t.Errorf("%d warnings, want 5: %q", len(warns), warns)
	}
}
