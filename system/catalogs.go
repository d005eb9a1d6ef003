package system

import (
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/toplevel"
)

// The SGML and XML catalogs, made at build time from the scripts'
// commands as sgml-base's update-catalog and xml-core's update-xmlcatalog
// make them on Debian:
//
//   - update-catalog --update-super (sgml-base's postinst and its
//     update-sgmlcatalog trigger, which `--add --super` calls activate):
//     /var/lib/sgml-base/supercatalog lists every centralized catalog
//     /etc/sgml/*.cat of the generation; /etc/sgml/catalog links to it
//     (the postinst's ln). /var is the machine's, so the text is a
//     tmpfiles.d `f+` line: written at boot and by every switch.
//   - update-xmlcatalog --add (dh_installxmlcatalogs' snippets): the root
//     catalog /etc/xml/catalog delegates to the package catalogs
//     /etc/xml/PKG.xml, which delegate to the packages' own catalogs
//     under /usr/share/xml; etc entries, with xml-core's header and
//     footer around the sorted entries (what --sort writes).
//
// update-xmlcatalog's database under /var/lib/xml-core only serves its
// next run, which never comes on kiln (no dpkg): it is not made.

const sgmlSuperCatalog = "/var/lib/sgml-base/supercatalog"

// sgmlCatalog is the tmpfiles.d entry writing the super catalog, and the
// warnings for update-catalog calls that change a centralized catalog
// (not made yet).
func (p *BuildPlan) sgmlCatalog(byPath map[string]EtcEntry) []EtcEntry {
	if p.scripts == nil {
		return nil
	}
	super := false
	for _, an := range p.scripts.an {
		for _, c := range an.Caches {
			if c.Name != "sgml-catalog" {
				continue
			}
			switch {
			case c.Args == nil:
				p.warnings = append(p.warnings, Warning{Text: fmt.Sprintf("SGML catalog not built: the arguments of %s are not known", c.From)})
			case slices.Contains(c.Args, "--update-super") || slices.Contains(c.Args, "--super"):
				super = true
			default:
				p.warnings = append(p.warnings, Warning{Text: fmt.Sprintf("SGML catalog not built yet: %s changes a centralized catalog", c.From)})
			}
		}
	}
	if !super {
		return nil
	}
	var cats []string
	for rel := range byPath {
		dir, name := path.Split(rel)
		// update_super: every name in /etc/sgml ending .cat, not hidden,
		// that is a readable file.
		if dir != "sgml/" || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".cat") {
			continue
		}
		cats = append(cats, "/etc/"+rel)
	}
	sort.Strings(cats)
	var b strings.Builder
	b.WriteString("--\n## This file is created by update-catalog with update-super.\n## Please see update-catalog(8) for how to modify this file.\n--\n")
	for _, c := range cats {
		b.WriteString("CATALOG " + c + "\n")
	}
	line := "f+ " + sgmlSuperCatalog + " 0644 root root - " + maintscript.TmpfilesArgument(b.String()) + "\n"
	return []EtcEntry{{Path: "tmpfiles.d/kiln-sgml-catalog.conf", Data: []byte(line), Kind: toplevel.EtcLink}}
}

// xmlCatalogCall is one update-xmlcatalog command line, parsed as its
// Getopt::Long does (--name value and --name=value).
type xmlCatalogCall struct {
	add, del, root                 bool
	typ, id, pkg, local, file      string
	hasPkg, hasLocal, hasFile, bad bool
}

func parseXMLCatalogArgs(args []string) xmlCatalogCall {
	var c xmlCatalogCall
	for i := 0; i < len(args); i++ {
		name, val, eq := strings.Cut(args[i], "=")
		arg := func() string {
			if eq {
				return val
			}
			if i+1 < len(args) {
				i++
				return args[i]
			}
			c.bad = true
			return ""
		}
		switch name {
		case "--add":
			c.add = true
		case "--del":
			c.del = true
		case "--root":
			c.root = true
		case "--sort", "--verbose":
		case "--type":
			c.typ = arg()
		case "--id":
			c.id = arg()
		case "--package":
			c.pkg, c.hasPkg = arg(), true
		case "--local":
			c.local, c.hasLocal = arg(), true
		case "--file":
			c.file, c.hasFile = arg(), true
		default:
			c.bad = true
		}
	}
	return c
}

// xmlCatalogs are the XML catalogs the scripts' update-xmlcatalog calls
// make, as etc entries (path relative to /etc); a call that fails on
// Debian too, or writes outside /etc, is a warning naming it.
func (p *BuildPlan) xmlCatalogs() ([]EtcEntry, error) {
	if p.scripts == nil {
		return nil, nil
	}
	type catalog struct {
		entries map[string]string
		from    maintscript.Source
	}
	cats := map[string]*catalog{} // absolute path → entries
	var order []string
	warn := func(from maintscript.Source, format string, a ...any) {
		p.warnings = append(p.warnings, Warning{Text: fmt.Sprintf("XML catalog: %s: %s", from, fmt.Sprintf(format, a...))})
	}
	type rootCall struct {
		c maintscript.Cache
		x xmlCatalogCall
	}
	var roots []rootCall
	apply := func(c maintscript.Cache, x xmlCatalogCall) {
		var file, key, entry string
		typ := x.typ
		elem := "delegate" + strings.ToUpper(typ[:1]) + typ[1:]
		start := typ + "IdStartString"
		if typ == "uri" {
			elem, start = "delegateURI", "uriStartString"
		}
		switch {
		case x.root:
			file, key, entry = "/etc/xml/catalog", elem+" "+start+`="`+x.id+`"`, `catalog="file:///etc/xml/`+x.pkg+`.xml"`
		case x.hasPkg:
			file, key, entry = "/etc/xml/"+x.pkg+".xml", elem+" "+start+`="`+x.id+`"`, `catalog="file://`+x.local+`"`
		default:
			attr := typ + "Id"
			if typ == "uri" {
				attr = "name"
			}
			file, key, entry = x.local, typ+" "+attr+`="`+x.id+`"`, `uri="`+x.file+`"`
		}
		if !strings.HasPrefix(file, "/etc/") {
			warn(c.From, "writes %s, outside /etc: not made yet", file)
			return
		}
		cat := cats[file]
		if cat == nil {
			cat = &catalog{entries: map[string]string{}, from: c.From}
			cats[file] = cat
			order = append(order, file)
		}
		if x.del {
			delete(cat.entries, key)
			return
		}
		if old, ok := cat.entries[key]; ok && old != entry {
			warn(c.From, "the entry %s is already registered with %s (update-xmlcatalog fails)", key, old)
			return
		}
		cat.entries[key] = entry
	}
	for _, an := range p.scripts.an {
		for _, c := range an.Caches {
			if c.Name != "xml-catalog" {
				continue
			}
			if c.Args == nil {
				warn(c.From, "its arguments are not known: not made")
				continue
			}
			x := parseXMLCatalogArgs(c.Args)
			switch {
			case x.bad || x.add == x.del || x.id == "" || (x.typ != "public" && x.typ != "system" && x.typ != "uri"):
				warn(c.From, "not a form update-xmlcatalog accepts")
			case x.root && x.add && (!x.hasPkg || x.hasLocal || x.hasFile):
				warn(c.From, "--add --root takes --package alone")
			case x.root:
				// Checked once every package catalog is made.
				roots = append(roots, rootCall{c, x})
			case x.hasPkg && (x.add && !x.hasLocal || x.hasFile):
				warn(c.From, "--package takes --local, and no --file")
			case x.hasPkg && x.add && !p.closureFile(x.local):
				warn(c.From, "the local catalog %s is in no package (update-xmlcatalog fails)", x.local)
			case !x.hasPkg && !x.hasLocal:
				warn(c.From, "no catalog given")
			case !x.hasPkg && x.add && !p.closureFile(x.file):
				warn(c.From, "the file %s is in no package (update-xmlcatalog fails)", x.file)
			default:
				apply(c, x)
			}
		}
	}
	for _, r := range roots {
		c, x := r.c, r.x
		if x.add {
			if cat := cats["/etc/xml/"+x.pkg+".xml"]; cat == nil || len(cat.entries) == 0 {
				warn(c.From, "the package catalog /etc/xml/%s.xml is not made (update-xmlcatalog fails)", x.pkg)
				continue
			}
		}
		apply(c, x)
	}
	if len(order) == 0 {
		return nil, nil
	}
	header, err := p.closureText("usr/share/xml-core/catalog.header")
	if err != nil {
		return nil, err
	}
	footer, err := p.closureText("usr/share/xml-core/catalog.footer")
	if err != nil {
		return nil, err
	}
	var out []EtcEntry
	for _, file := range order {
		cat := cats[file]
		if len(cat.entries) == 0 {
			continue // update-xmlcatalog removes an empty catalog
		}
		keys := make([]string, 0, len(cat.entries))
		for k := range cat.entries {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString(header)
		for _, k := range keys {
			b.WriteString("<" + k + " " + cat.entries[k] + "/>\n")
		}
		b.WriteString(footer)
		out = append(out, EtcEntry{Path: strings.TrimPrefix(file, "/etc/"), Data: []byte(b.String()), Kind: toplevel.EtcLink})
	}
	return out, nil
}

// closureFile says whether a package of the closure has the absolute path.
func (p *BuildPlan) closureFile(abs string) bool {
	_, phys, ok := find(p.pk, strings.TrimPrefix(path.Clean(abs), "/"))
	return ok && regularFileExists(phys)
}

// closureText is a file of the closure as update-xmlcatalog reads its
// header and footer: lines, each ending in a newline.
func (p *BuildPlan) closureText(rel string) (string, error) {
	_, phys, ok := find(p.pk, rel)
	if !ok {
		return "", fmt.Errorf("XML catalog: no package has /%s (xml-core)", rel)
	}
	b, err := os.ReadFile(phys)
	if err != nil {
		return "", fmt.Errorf("XML catalog: %w", err)
	}
	s := string(b)
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s, nil
}
