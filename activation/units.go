package activation

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"

	"github.com/kiln-os/kiln/internal/fsutil"
	"github.com/kiln-os/kiln/store"
)

// UnitFile is one unit as a toplevel provides it: the main file's options
// (in file order, sections kept), its drop-ins in the order systemd applies
// them, and which units' .wants/.requires directories name it.
type UnitFile struct {
	Name string
	// Path is the machine path the unit was found at (in the toplevel's
	// etc or sw); "fstab" for mounts made from <toplevel>/etc/fstab the way
	// systemd-fstab-generator makes them.
	Path   string
	Masked bool // a link to /dev/null
	// Package is the store path holding the unit file when that is a
	// package (not the toplevel, its etc tree or its sw forest): a new
	// package version changes the unit even when its text stays, as
	// the program it runs changed.
	Package store.Path
	Options []*unit.UnitOption
	DropIns []DropIn
	// WantedBy lists the units whose NAME.wants/ or NAME.requires/
	// directory links to this one, sorted.
	WantedBy []string
}

// DropIn is one NAME.d/*.conf file.
type DropIn struct {
	Name    string // file name, e.g. "override.conf"
	Path    string
	Options []*unit.UnitOption
}

// Merged returns the main file's options followed by the drop-ins', in the
// order systemd reads them.
func (u *UnitFile) Merged() []*unit.UnitOption {
	out := append([]*unit.UnitOption{}, u.Options...)
	for _, d := range u.DropIns {
		out = append(out, d.Options...)
	}
	return out
}

// Get returns the last value of section.key (drop-ins included), as
// systemd's last assignment wins for single-valued keys.
func (u *UnitFile) Get(section, key string) (string, bool) {
	v, ok := "", false
	for _, o := range u.Merged() {
		if o.Section == section && o.Name == key {
			v, ok = o.Value, true
		}
	}
	return v, ok
}

// Values returns every value of section.key split into words, honouring
// empty assignments that reset the list.
func (u *UnitFile) Values(section, key string) []string {
	var out []string
	for _, o := range u.Merged() {
		if o.Section != section || o.Name != key {
			continue
		}
		if strings.TrimSpace(o.Value) == "" {
			out = nil
			continue
		}
		out = append(out, strings.Fields(o.Value)...)
	}
	return out
}

// Bool returns section.key as a systemd boolean, def when unset or not a
// boolean.
func (u *UnitFile) Bool(section, key string, def bool) bool {
	v, ok := u.Get(section, key)
	if !ok {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "y", "true", "t", "on":
		return true
	case "0", "no", "n", "false", "f", "off":
		return false
	}
	return def
}

// marker reads a switching marker (X-RestartIfChanged and friends). NixOS
// puts them in [Service]; kiln's generator writes them in [Unit] (systemd
// ignores X- keys in any section), so both are read, [Unit] first.
func (u *UnitFile) marker(key string, def bool) bool {
	if _, ok := u.Get("Unit", key); ok {
		return u.Bool("Unit", key, def)
	}
	return u.Bool("Service", key, def)
}

// unitNameRE matches a unit file name systemd loads.
var unitNameRE = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]+\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$`)

// unitDirs are where a toplevel's units live, in systemd's search order
// (what comes first wins).
var unitDirs = []string{"etc/systemd/system", "sw/lib/systemd/system"}

// LoadUnits reads every unit toplevel (a logical store path) provides under
// root: <toplevel>/etc/systemd/system first, then
// <toplevel>/sw/lib/systemd/system, with drop-ins NAME.d/*.conf from both
// (a drop-in in etc hides one of the same name in sw), instances named in
// .wants/.requires directories (from their template), and mounts from
// <toplevel>/etc/fstab. Symlinks are followed as the machine would see them
// once toplevel is current: /etc, /usr, /lib point into the toplevel.
func LoadUnits(root, top string) (map[string]*UnitFile, error) {
	r := unitResolver{root: root, toplevel: top, own: map[store.Path]bool{}}
	if p, err := store.ParsePath(top); err == nil {
		r.own[p] = true
	}
	for _, d := range []string{"etc", "sw"} {
		if h, _, err := r.resolve(path.Join(top, d)); err == nil {
			r.own[r.storePath(h)] = true
		}
	}
	units := map[string]*UnitFile{}
	dropIns := map[string]map[string]string{} // unit → conf name → logical path
	wantedBy := map[string]map[string]bool{}
	for _, dir := range unitDirs {
		logical := path.Join(top, dir)
		entries, err := r.readDir(logical)
		if err != nil {
			return nil, fmt.Errorf("load units of %s: %w", top, err)
		}
		for _, e := range entries {
			p := path.Join(logical, e.name)
			switch {
			case e.dir && (strings.HasSuffix(e.name, ".wants") || strings.HasSuffix(e.name, ".requires")):
				owner := e.name[:strings.LastIndexByte(e.name, '.')]
				links, err := r.readDir(p)
				if err != nil {
					return nil, fmt.Errorf("load units of %s: %w", top, err)
				}
				for _, l := range links {
					if wantedBy[l.name] == nil {
						wantedBy[l.name] = map[string]bool{}
					}
					wantedBy[l.name][owner] = true
				}
			case e.dir && strings.HasSuffix(e.name, ".d"):
				confs, err := r.readDir(p)
				if err != nil {
					return nil, fmt.Errorf("load units of %s: %w", top, err)
				}
				name := strings.TrimSuffix(e.name, ".d")
				for _, c := range confs {
					if c.dir || !strings.HasSuffix(c.name, ".conf") {
						continue
					}
					if dropIns[name] == nil {
						dropIns[name] = map[string]string{}
					}
					if _, seen := dropIns[name][c.name]; !seen {
						dropIns[name][c.name] = path.Join(p, c.name)
					}
				}
			case !e.dir && unitNameRE.MatchString(e.name):
				if _, seen := units[e.name]; seen {
					continue
				}
				u, err := r.loadUnit(e.name, p)
				if errors.Is(err, os.ErrNotExist) {
					continue // a dangling link: systemd reports such a unit as not found
				}
				if err != nil {
					return nil, fmt.Errorf("load units of %s: %w", top, err)
				}
				units[e.name] = u
			}
		}
	}
	if err := r.addSysVUnits(units); err != nil {
		return nil, fmt.Errorf("load units of %s: %w", top, err)
	}
	addInstances(units, wantedBy, dropIns)
	if err := r.addFstabMounts(units); err != nil {
		return nil, fmt.Errorf("load units of %s: %w", top, err)
	}
	for name, u := range units {
		if err := r.attachDropIns(u, name, dropIns); err != nil {
			return nil, fmt.Errorf("load units of %s: %w", top, err)
		}
		for by := range wantedBy[name] {
			if !contains(u.WantedBy, by) {
				u.WantedBy = append(u.WantedBy, by)
			}
		}
		sort.Strings(u.WantedBy)
	}
	return units, nil
}

// addInstances makes units for instances (getty@tty1.service) that
// enablement links or drop-in directories (postgresql@15-main.service.d)
// name, from their template's file: an instance's own drop-in changes
// that instance, which a switch must see even when only a generator or
// another unit starts it.
func addInstances(units map[string]*UnitFile, wantedBy map[string]map[string]bool, dropIns map[string]map[string]string) {
	names := map[string]bool{}
	for name := range wantedBy {
		names[name] = true
	}
	for name := range dropIns {
		names[name] = true
	}
	for name := range names {
		if _, ok := units[name]; ok {
			continue
		}
		if tmpl := templateOf(name); tmpl != "" && units[tmpl] != nil {
			t := units[tmpl]
			units[name] = &UnitFile{Name: name, Path: t.Path, Masked: t.Masked, Package: t.Package, Options: t.Options}
		}
	}
}

// templateOf returns foo@.service for foo@bar.service, "" for a name that
// is no instance.
func templateOf(name string) string {
	at := strings.IndexByte(name, '@')
	dot := strings.LastIndexByte(name, '.')
	if at < 0 || dot < at || at+1 == dot {
		return ""
	}
	return name[:at+1] + name[dot:]
}

// attachDropIns adds the drop-ins of name (and of its template, which
// apply to every instance), sorted by file name as systemd applies them;
// an instance's own drop-in hides the template's of the same name.
func (r unitResolver) attachDropIns(u *UnitFile, name string, dropIns map[string]map[string]string) error {
	confs := map[string]string{}
	if tmpl := templateOf(name); tmpl != "" {
		for c, p := range dropIns[tmpl] {
			confs[c] = p
		}
	}
	for c, p := range dropIns[name] {
		confs[c] = p
	}
	for _, c := range sortedKeys(confs) {
		host, masked, err := r.resolve(confs[c])
		if err != nil {
			return err
		}
		if masked {
			continue
		}
		opts, err := parseUnitFile(host)
		if err != nil {
			return fmt.Errorf("drop-in %s: %w", confs[c], err)
		}
		u.DropIns = append(u.DropIns, DropIn{Name: c, Path: confs[c], Options: opts})
	}
	return nil
}

func (r unitResolver) loadUnit(name, p string) (*UnitFile, error) {
	host, masked, err := r.resolve(p)
	if err != nil {
		return nil, err
	}
	u := &UnitFile{Name: name, Path: p, Masked: masked}
	if masked {
		return u, nil
	}
	if sp := r.storePath(host); !sp.IsZero() && !r.own[sp] {
		u.Package = sp
	}
	if u.Options, err = parseUnitFile(host); err != nil {
		return nil, fmt.Errorf("unit %s: %w", p, err)
	}
	return u, nil
}

func parseUnitFile(host string) ([]*unit.UnitOption, error) {
	b, err := os.ReadFile(host)
	if err != nil {
		return nil, err
	}
	opts, err := unit.DeserializeOptions(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	return opts, nil
}

// unitResolver follows symlinks the way the machine will once toplevel is
// current: /etc/… is the toplevel's etc tree, /usr/… (and the merged-/usr
// /lib, /bin, /sbin, /lib64) its sw forest, store paths are under root.
type unitResolver struct {
	root, toplevel string
	own            map[store.Path]bool // the toplevel's own store paths: itself, etc, sw
}

// storePath returns the store path that host path h lies in, zero when it
// is outside the store (or not under a valid store path name).
func (r unitResolver) storePath(h string) store.Path {
	rel, err := filepath.Rel(r.root, h)
	if err != nil {
		return store.Path{}
	}
	parts := strings.SplitN(filepath.ToSlash(rel), "/", 4)
	if len(parts) < 3 || "/"+parts[0]+"/"+parts[1] != store.LogicalDir {
		return store.Path{}
	}
	p, err := store.ParsePath(parts[2])
	if err != nil {
		return store.Path{}
	}
	return p
}

func (r unitResolver) mapPath(p string) string { return intoToplevel(r.toplevel, p) }

// intoToplevel maps machine path p to where it will lead once top is the
// current system: /etc into top's etc tree, /usr (and the merged-/usr
// /lib, /lib64, /bin, /sbin) into its sw forest. Other paths stay.
func intoToplevel(top, p string) string {
	p = path.Clean(p)
	switch {
	case p == "/etc" || strings.HasPrefix(p, "/etc/"):
		return path.Join(top, "etc", strings.TrimPrefix(p, "/etc"))
	case p == "/usr" || strings.HasPrefix(p, "/usr/"):
		return path.Join(top, "sw", strings.TrimPrefix(p, "/usr"))
	}
	for _, d := range []string{"/lib", "/lib64", "/bin", "/sbin"} {
		if p == d || strings.HasPrefix(p, d+"/") {
			return path.Join(top, "sw", p)
		}
	}
	return p
}

// resolve returns the host path of logical path p after following every
// symlink, and whether it ends at /dev/null (a masked unit).
func (r unitResolver) resolve(p string) (host string, masked bool, err error) {
	for hops := 0; hops < 40; hops++ {
		p = r.mapPath(p)
		if p == "/dev/null" {
			return "", true, nil
		}
		dir, err := resolveIn(r.root, r.mapPath(path.Dir(p)))
		if err != nil {
			return "", false, err
		}
		// resolveIn followed the directory's links in the machine's view;
		// a link into /usr or /etc there would escape the toplevel, so the
		// file itself is followed here, hop by hop.
		h := dir + "/" + path.Base(p)
		fi, err := os.Lstat(h)
		if err != nil {
			return "", false, err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			return h, false, nil
		}
		t, err := os.Readlink(h)
		if err != nil {
			return "", false, err
		}
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(p), t)
		}
		p = t
	}
	return "", false, fmt.Errorf("resolve %s: too many levels of symbolic links", p)
}

type dirEntry struct {
	name string
	dir  bool
}

// readDir lists logical directory p (missing: empty), classifying each
// entry after following its links in the toplevel's view.
func (r unitResolver) readDir(p string) ([]dirEntry, error) {
	host, masked, err := r.resolve(p)
	if errors.Is(err, os.ErrNotExist) || masked {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(host)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []dirEntry
	for _, e := range entries {
		d := dirEntry{name: e.Name(), dir: e.IsDir()}
		if e.Type()&os.ModeSymlink != 0 {
			if h, masked, err := r.resolve(path.Join(p, e.Name())); err == nil && !masked {
				if fi, err := os.Stat(h); err == nil {
					d.dir = fi.IsDir()
				}
			}
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// sysvStartRE is an init script's start link in /etc/rcN.d.
var sysvStartRE = regexp.MustCompile(`^S[0-9][0-9](.+)$`)

// addSysVUnits adds the units systemd-sysv-generator makes at boot and
// daemon-reload from init scripts without a native unit (exim4, slapd):
// NAME.service for /etc/init.d/NAME, wanted by multi-user.target when a
// start link in /etc/rc2.d … rc5.d names it. The unit's options are the
// generator's kind (forking) and the script's digest, so a changed
// script restarts it and a switch that adds one starts it.
func (r unitResolver) addSysVUnits(units map[string]*UnitFile) error {
	started := map[string]bool{}
	for _, lvl := range []string{"2", "3", "4", "5"} {
		links, err := r.readDir(path.Join(r.toplevel, "etc", "rc"+lvl+".d"))
		if err != nil {
			return err
		}
		for _, l := range links {
			if m := sysvStartRE.FindStringSubmatch(l.name); m != nil {
				started[m[1]] = true
			}
		}
	}
	for _, name := range sortedKeys(started) {
		unitName := name + ".service"
		if _, native := units[unitName]; native {
			continue
		}
		p := path.Join(r.toplevel, "etc", "init.d", name)
		host, masked, err := r.resolve(p)
		if errors.Is(err, os.ErrNotExist) || masked {
			continue
		}
		if err != nil {
			return err
		}
		sum, err := fsutil.SHA256(host)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("init script %s: %w", p, err)
		}
		u := &UnitFile{Name: unitName, Path: p, WantedBy: []string{"multi-user.target"}, Options: []*unit.UnitOption{
			{Section: "Unit", Name: "SourcePath", Value: "/etc/init.d/" + name},
			{Section: "Service", Name: "Type", Value: "forking"},
			{Section: "Service", Name: "X-Kiln-InitScript-SHA256", Value: sum},
		}}
		if sp := r.storePath(host); !sp.IsZero() && !r.own[sp] {
			u.Package = sp
		}
		units[unitName] = u
	}
	return nil
}
