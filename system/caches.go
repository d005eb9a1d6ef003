package system

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/toplevel"
)

// The caches the packages' scripts rebuild (update-ca-certificates,
// newaliases, locale-gen, …): which kiln makes and how they enter a
// generation's /etc, and the warning for the rest. The builders are in
// cacerts.go, locales.go, glibschemas.go, catalogs.go, aliases.go,
// javacerts.go and build.go (hwdb, the journal catalog).

// cacheEtc adds to the etc entries what the caches kiln makes put in
// /etc: the CA links and bundle (below the entries there, so an entry
// the configuration sets itself wins), then the units that make a cache
// on the machine (newaliases, Java's trust store), which read the
// entries. The SGML and XML catalogs (catalogs.go) are below the
// entries too. One layering for all of them: a no-op rebuild plans this.
func (p *BuildPlan) cacheEtc(etc []EtcEntry) ([]EtcEntry, error) {
	byPath := make(map[string]EtcEntry, len(etc)+512)
	for _, e := range etc {
		byPath[e.Path] = e
	}
	ca, err := p.caCerts(byPath)
	if err != nil {
		return nil, err
	}
	xml, err := p.xmlCatalogs()
	if err != nil {
		return nil, err
	}
	ca = append(ca, xml...)
	for _, e := range ca {
		if _, ok := byPath[e.Path]; !ok {
			byPath[e.Path] = e
		}
	}
	// After the XML catalogs: /etc/sgml is read as the generation has it.
	sgml := p.sgmlCatalog(byPath)
	for _, e := range sgml {
		if _, ok := byPath[e.Path]; !ok {
			byPath[e.Path] = e
		}
	}
	ca = append(ca, sgml...)
	aliases, err := p.mailAliases(byPath)
	if err != nil {
		return nil, err
	}
	java, err := p.javaCerts(byPath)
	if err != nil {
		return nil, err
	}
	if len(ca)+len(aliases)+len(java) == 0 {
		return etc, nil
	}
	return layerEtc(ca, append(aliases, java...), etc)
}

// builtCaches are the caches a generation has without running their
// tool on the machine: built here (ca-certificates, hwdb), or needing
// nothing on kiln, with why.
var builtCaches = map[string]string{
	"ca-certificates":  "",
	"hwdb":             "",
	"journal-catalog":  "",
	"mail-aliases":     "", // kiln-newaliases.service (aliases.go)
	"locales":          "", // locales.go
	"glib-schemas":     "", // glibschemas.go
	"gio-modules":      "GIO opens every module of gio/modules when giomodule.cache is missing: the cache only spares it opening those an extension point does not need",
	"sgml-catalog":     "", // catalogs.go
	"xml-catalog":      "", // catalogs.go
	"ldconfig":         "", // checked by ldconfigWarning
	"mime":             "shared-mime-info's cache only speeds up desktop lookups",
	"fontconfig":       "fontconfig writes its cache itself (/var/cache/fontconfig as root, ~/.cache otherwise) when a program first lists the fonts",
	"desktop-database": "desktop menus: not used on a server",
	"icon-cache":       "desktop icons: not used on a server",
}

// emptyCaches are caches made from files the closure may not have: with
// none of them, the cache is empty and nothing reads it.
var emptyCaches = map[string][]string{
	"glib-schemas":     {"usr/share/glib-2.0/schemas/*.gschema.xml", "usr/share/glib-2.0/schemas/*.gschema.override"},
	"postgresql-dicts": {"usr/share/hunspell/*.dic", "usr/share/myspell/*.dic", "usr/share/myspell/dicts/*.dic"},
	// update-catalog --update-super lists the centralized catalogs
	// (/etc/sgml/PKG.cat) of the packages that ship SGML catalogs under
	// /usr/share/sgml; sgml-base alone ships none, only empty directories.
	"sgml-catalog": {"etc/sgml/*.cat", "usr/share/sgml/*/catalog", "usr/share/sgml/*/*/catalog",
		"usr/share/sgml/*/*/*/catalog", "usr/share/sgml/*/*/*/*/catalog"},
}

// readerCaches are caches only some programs read: with none of them in
// the closure, nothing reads the cache. X's core-font indices (fonts.dir,
// fonts.scale, fonts.alias, dh_installxfonts' update-fonts-*) are read by
// X servers and the X font server only; a font package pulled in for
// ghostscript or fontconfig needs none.
var readerCaches = map[string][]string{
	"x11-fonts": {"usr/lib/xorg/Xorg", "usr/bin/Xvfb", "usr/bin/Xephyr", "usr/bin/Xnest", "usr/bin/xfs",
		"usr/bin/Xtigervnc", "usr/bin/Xtightvnc", "usr/bin/Xvnc"},
}

// closureHas says whether a package of the closure has a file matching
// one of the globs (package-relative).
func closureHas(pk Packages, globs []string) bool {
	for _, g := range globs {
		// The packages holding the pattern's directory up to its first
		// wildcard are the ones to glob.
		dir, _ := path.Split(g)
		if i := strings.IndexAny(dir, "*?["); i >= 0 {
			dir, _ = path.Split(dir[:i])
		}
		for _, d := range dirsHaving(pk, strings.TrimSuffix(dir, "/")) {
			if m, _ := filepath.Glob(filepath.Join(d, g)); len(m) > 0 {
				return true
			}
		}
	}
	return false
}

// cacheWarnings are the caches the packages' scripts rebuild that no
// builder makes yet: one warning per cache, naming the first script line
// that asks for it. A cache made from files no package of pk has is
// empty and needs nothing.
func (d *scriptDecls) cacheWarnings(pk Packages) []Warning {
	if d == nil {
		return nil
	}
	first := map[string]string{}
	var names []string
	for _, an := range d.an {
		for _, c := range an.Caches {
			if _, ok := builtCaches[c.Name]; ok {
				continue
			}
			if globs, ok := emptyCaches[c.Name]; ok && pk != nil && !closureHas(pk, globs) {
				continue
			}
			if readers, ok := readerCaches[c.Name]; ok && pk != nil && !closureHas(pk, readers) {
				continue
			}
			if _, ok := first[c.Name]; !ok {
				first[c.Name] = c.From.String()
				names = append(names, c.Name)
			}
		}
	}
	sort.Strings(names)
	var out []Warning
	for _, n := range names {
		out = append(out, Warning{Text: fmt.Sprintf("cache %s is not built yet (%s): what reads it finds it missing", n, first[n])})
	}
	return out
}

// loaderSearches are the directories Debian's loader searches without
// ld.so.cache; /usr/local is empty on kiln.
var loaderSearches = map[string]bool{
	"/lib/x86_64-linux-gnu": true, "/usr/lib/x86_64-linux-gnu": true, "/lib": true, "/usr/lib": true,
	"/usr/local/lib": true, "/usr/local/lib/x86_64-linux-gnu": true,
}

// ldconfigWarning is the directories the packages' ld.so.conf.d files
// name that the loader does not search without ld.so.cache, which kiln
// does not build: a library only there is not found.
func ldconfigWarning(pk Packages) []Warning {
	var extra []string
	for _, d := range dirsHaving(pk, "etc/ld.so.conf.d") {
		n := filepath.Base(d)
		files, _ := filepath.Glob(filepath.Join(d, "etc", "ld.so.conf.d", "*.conf"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(b), "\n") {
				l = strings.TrimSpace(l)
				if l == "" || l[0] == '#' || strings.HasPrefix(l, "include") || loaderSearches[path.Clean(l)] {
					continue
				}
				extra = append(extra, fmt.Sprintf("%s (%s /etc/ld.so.conf.d/%s)", l, n, filepath.Base(f)))
			}
		}
	}
	if len(extra) == 0 {
		return nil
	}
	return []Warning{{Text: "ld.so.cache is not built yet: the loader does not search " + strings.Join(extra, ", ")}}
}

// enabledUnit is a unit kiln generates into /etc/systemd/system and its
// link from multi-user.target.wants.
func enabledUnit(name, text string) []EtcEntry {
	return []EtcEntry{
		{Path: etcUnitPath + "/" + name, Data: []byte(text), Kind: toplevel.EtcLink},
		{Path: etcUnitPath + "/multi-user.target.wants/" + name, Target: "/etc/" + etcUnitPath + "/" + name, Kind: toplevel.EtcSymlink},
	}
}
