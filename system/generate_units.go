package system

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/kiln-os/kiln/store"
)

// Where units live on a kiln system. Enablement links point at one of these
// directories on their first hop (DESIGN.md §9.5): systemd only follows
// links whose target is in its unit search path.
const (
	etcUnitDir = "/etc/systemd/system"
	usrUnitDir = "/usr/lib/systemd/system"
	// etcUnitPath is etcUnitDir relative to /etc, where entries are written.
	etcUnitPath = "systemd/system"
)

// unitNameRE is a systemd unit name (systemd.unit(5)): a prefix with an
// optional "@instance", and a type suffix.
var unitNameRE = regexp.MustCompile(`^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$`)

func checkUnitName(name string) error {
	if len(name) > 255 || !unitNameRE.MatchString(name) {
		return fmt.Errorf("%q is not a unit name (NAME.TYPE, e.g. backup.timer)", name)
	}
	return nil
}

// splitInstance splits "getty@tty1.service" into the template
// "getty@.service" and the instance "tty1"; other names come back whole.
func splitInstance(name string) (template, instance string) {
	at := strings.IndexByte(name, '@')
	dot := strings.LastIndexByte(name, '.')
	if at < 0 || dot < at {
		return name, ""
	}
	return name[:at+1] + name[dot:], name[at+1 : dot]
}

// unitFile is a unit found for enabling: the directory its enablement links
// point into and its parsed options.
type unitFile struct {
	name string // file name, the template's for an instance
	dir  string // etcUnitDir or usrUnitDir
	opts []*unit.UnitOption
}

// unitSet finds units by name among the generated ones (in /etc) and those
// of the packages (in /usr/lib, where the sw forest puts lib/ and usr/lib/).
type unitSet struct {
	pk        Packages
	generated map[string][]byte // name → text
	pkgIndex  map[string]string // name → physical file, built on first use
}

func newUnitSet(pk Packages) *unitSet {
	return &unitSet{pk: pk, generated: map[string][]byte{}}
}

// add records a generated unit; a second definition is an error.
func (s *unitSet) add(name string, text []byte) error {
	if _, dup := s.generated[name]; dup {
		return fmt.Errorf("unit %s is defined twice (services and units, or a module)", name)
	}
	s.generated[name] = text
	return nil
}

// find looks a unit up by name: generated units first (they override the
// packages', as /etc does /usr/lib), then the packages'; an instance falls
// back to its template.
func (s *unitSet) find(name string) (unitFile, error) {
	template, _ := splitInstance(name)
	for _, n := range []string{name, template} {
		if text, ok := s.generated[n]; ok {
			opts, err := unit.DeserializeOptions(bytes.NewReader(text))
			if err != nil {
				return unitFile{}, fmt.Errorf("parse unit %s: %w", n, err)
			}
			return unitFile{name: n, dir: etcUnitDir, opts: opts}, nil
		}
	}
	if s.pkgIndex == nil {
		if err := s.indexPackages(); err != nil {
			return unitFile{}, err
		}
	}
	for _, n := range []string{name, template} {
		file, ok := s.pkgIndex[n]
		if !ok {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return unitFile{}, fmt.Errorf("read unit %s: %w", n, err)
		}
		opts, err := unit.DeserializeOptions(bytes.NewReader(data))
		if err != nil {
			return unitFile{}, fmt.Errorf("parse unit %s: %w", file, err)
		}
		return unitFile{name: n, dir: usrUnitDir, opts: opts}, nil
	}
	return unitFile{}, fmt.Errorf("unit %s: no generated unit and no package in the closure provides it", name)
}

// indexPackages maps unit names to files over every package's
// lib/systemd/system and usr/lib/systemd/system. A unit that is a symlink to
// another unit in the same directory (an alias such as autovt@.service) is
// indexed as the file it names. The first package in name order wins.
func (s *unitSet) indexPackages() error {
	s.pkgIndex = map[string]string{}
	for _, p := range s.pk.Names() {
		dir, ok := s.pk.Dir(p)
		if !ok {
			continue
		}
		for _, sub := range []string{"lib/systemd/system", "usr/lib/systemd/system"} {
			d := filepath.Join(dir, sub)
			ents, err := os.ReadDir(d)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("index units of package %s: %w", p, err)
			}
			for _, e := range ents {
				file := filepath.Join(d, e.Name())
				if e.Type()&os.ModeSymlink != 0 {
					t, err := os.Readlink(file)
					if err != nil || strings.Contains(t, "/") {
						continue // /dev/null masks and links elsewhere
					}
					file = filepath.Join(d, t)
				}
				if _, seen := s.pkgIndex[e.Name()]; !seen && regularFileExists(file) {
					s.pkgIndex[e.Name()] = file
				}
			}
		}
	}
	return nil
}

func regularFileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// enableAll makes the enablement links of every unit asked for, as
// `systemctl enable` would, and default.target.
func (g *generator) enableAll() error {
	g.symlink(etcUnitPath+"/default.target", usrUnitDir+"/multi-user.target")
	for _, name := range sortedNames(g.sys.Services) {
		s := g.sys.Services[name]
		if !s.Enable {
			continue
		}
		for _, by := range s.WantedBy {
			if _, err := g.units.find(by); err != nil {
				return fmt.Errorf("services %q: wanted_by %q: no generated unit and no package in the closure provides it", name, by)
			}
		}
	}
	done := map[string]bool{}
	for _, name := range g.enable {
		if err := g.enableUnit(name, done); err != nil {
			return err
		}
	}
	return g.scriptUnits(done)
}

// enableUnit follows the [Install] section of one unit: WantedBy= and
// RequiredBy= make .wants/.requires links, Alias= makes alias links, Also=
// enables more units. A template without an instance is enabled with its
// DefaultInstance=, or gets no links.
func (g *generator) enableUnit(name string, done map[string]bool) error {
	if done[name] {
		return nil
	}
	done[name] = true
	u, err := g.units.find(name)
	if err != nil {
		return fmt.Errorf("enable %w", err)
	}
	install := map[string][]string{}
	for _, o := range u.opts {
		if o.Section == "Install" {
			install[o.Name] = append(install[o.Name], strings.Fields(o.Value)...)
		}
	}
	linkName := name
	if strings.Contains(name, "@.") { // a template, not an instance
		linkName = ""
		if d := install["DefaultInstance"]; len(d) > 0 {
			linkName = strings.Replace(name, "@.", "@"+d[len(d)-1]+".", 1)
		}
	}
	target := u.dir + "/" + u.name
	for _, dep := range []struct{ key, suffix string }{{"WantedBy", ".wants"}, {"RequiredBy", ".requires"}} {
		for _, by := range install[dep.key] {
			if err := checkInstallName(name, dep.key, by); err != nil {
				return err
			}
			if linkName != "" {
				g.symlink(etcUnitPath+"/"+by+dep.suffix+"/"+linkName, target)
			}
		}
	}
	for _, alias := range install["Alias"] {
		if err := checkInstallName(name, "Alias", alias); err != nil {
			return err
		}
		g.symlink(etcUnitPath+"/"+alias, target)
	}
	for _, also := range install["Also"] {
		if err := checkInstallName(name, "Also", also); err != nil {
			return err
		}
		if err := g.enableUnit(also, done); err != nil {
			return err
		}
	}
	return nil
}

func checkInstallName(unitName, key, value string) error {
	if strings.Contains(value, "%") {
		return fmt.Errorf("enable unit %s: [Install] %s=%s uses specifiers, which kiln does not expand", unitName, key, value)
	}
	if err := checkUnitName(value); err != nil {
		return fmt.Errorf("enable unit %s: [Install] %s=: %w", unitName, key, err)
	}
	return nil
}

// rawUnits writes the `units` option: a unit with text verbatim, enabled
// from its own [Install] section unless enable = false; a unit without
// text is a package's, enabled when enable = true. drop_in becomes
// NAME.d/kiln.conf.
func (g *generator) rawUnits() error {
	for _, name := range sortedNames(g.sys.Units) {
		if err := checkUnitName(name); err != nil {
			return fmt.Errorf("units %q: %w", name, err)
		}
		u := g.sys.Units[name]
		if d := u.DropIn; d != "" {
			if !strings.HasSuffix(d, "\n") {
				d += "\n"
			}
			if _, err := unit.DeserializeOptions(strings.NewReader(d)); err != nil {
				return fmt.Errorf("units %q: parse drop_in: %w", name, err)
			}
			g.file(etcUnitPath+"/"+name+".d/kiln.conf", d)
		}
		if u.Text == nil {
			if u.Enable != nil && *u.Enable {
				g.enable = append(g.enable, name)
			}
			continue
		}
		text := *u.Text
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		if _, err := unit.DeserializeOptions(strings.NewReader(text)); err != nil {
			return fmt.Errorf("units %q: parse text: %w", name, err)
		}
		if err := g.addUnit(name, text); err != nil {
			return fmt.Errorf("units %q: %w", name, err)
		}
		if u.Enable == nil || *u.Enable {
			g.enable = append(g.enable, name)
		}
	}
	return nil
}

// scriptUnits enables the units the packages' postinst scripts enable
// (Debian's "installed means enabled"), unless units.NAME.enable = false.
func (g *generator) scriptUnits(done map[string]bool) error {
	var names []string
	enabled := map[string]bool{}
	for _, u := range g.scripts.unitEnables(g.sys) {
		enabled[u.Name] = true
		if err := g.enableUnit(u.Name, done); err != nil {
			return fmt.Errorf("%s: %w", u.From, err)
		}
		if g.ordinaryService(u.Name) {
			names = append(names, u.Name)
		}
		g.storeExecPaths(u.Name)
	}
	// An init script without a native unit is enabled as update-rc.d
	// defaults does it, by start links in the multi-user runlevels, which
	// systemd-sysv-generator reads at boot (and activation at a switch).
	for _, name := range g.scripts.sysvEnables(g.sys) {
		for _, lvl := range []string{"2", "3", "4", "5"} {
			g.symlink("rc"+lvl+".d/S01"+name, "../init.d/"+name)
		}
	}
	first, inputs, err := g.scripts.firstRunUnits(g.pk, names, enabled)
	if err != nil {
		return err
	}
	for _, name := range sortedNames(first) {
		if c, ok := g.sys.Units[name]; ok && (c.Text != nil || c.Enable != nil && !*c.Enable) {
			continue // replaced or turned off by the configuration
		}
		// Its inputs (slapd's LDIF) come with it.
		g.out = append(g.out, inputs[name]...)
		if err := g.addUnit(name, first[name]); err != nil {
			return err
		}
		if err := g.enableUnit(name, done); err != nil {
			return err
		}
	}
	return nil
}

// addUnit writes a generated unit into /etc/systemd/system.
func (g *generator) addUnit(name, text string) error {
	if err := g.units.add(name, []byte(text)); err != nil {
		return err
	}
	g.file(etcUnitPath+"/"+name, text)
	return nil
}

// ordinaryService says whether a unit is a service with default
// dependencies (after basic.target), which a first-run unit can be
// ordered before without a cycle.
func (g *generator) ordinaryService(name string) bool {
	if !strings.HasSuffix(name, ".service") || strings.Contains(name, "@") {
		return false
	}
	u, err := g.units.find(name)
	if err != nil {
		return false
	}
	for _, o := range u.opts {
		if o.Section == "Unit" && o.Name == "DefaultDependencies" && strings.TrimSpace(o.Value) == "no" {
			return false
		}
	}
	return true
}

// storeExecPaths lets a package unit that restricts where programs may
// run (ExecPaths=, with NoExecPaths=/: redis-server's) run them from the
// store, where /usr's programs are: a drop-in adds ExecPaths=/kiln/store.
func (g *generator) storeExecPaths(name string) {
	u, err := g.units.find(name)
	if err != nil {
		return
	}
	for _, o := range u.opts {
		if o.Section == "Service" && o.Name == "ExecPaths" {
			g.file(etcUnitPath+"/"+name+".d/kiln-store.conf", "[Service]\nExecPaths="+store.LogicalDir+"\n")
			return
		}
	}
}
