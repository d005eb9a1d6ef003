package system

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

// GenerateEtc returns every /etc entry that follows from the typed
// configuration (as opposed to files shipped by packages): host name and
// hosts, fstab, sysctl, modules-load, locale and time zone, systemd-networkd
// (DHCP, static interfaces, VLANs, bridges) and resolver setup, the nftables
// firewall, the ssh server, journald settings, sudo rules, systemd units
// generated from `services`, `timers` and `units`, and the enablement links that Debian's maintainer
// scripts would have made with `systemctl enable`.
//
// The result is sorted by path, except that the entries of the user's `etc`
// option come last, themselves sorted: they win over everything, and a
// generated entry with the same path is dropped.
//
// Package-provided units that a module enables (ssh.service,
// systemd-networkd.service, getty@.service, ...) are read from pk to follow
// their [Install] sections; a unit no package provides is an error.
//
// A service with enable = false is still generated (so it can be started by
// hand or pulled in by another unit) but gets no enablement links, as NixOS
// does for units that are not wanted by anything.
func GenerateEtc(sys *modules.System, pk Packages) ([]EtcEntry, error) {
	return generateEtc(sys, pk, nil)
}

// generateEtc is GenerateEtc with the packages' maintainer scripts'
// declarations (nil: none).
func generateEtc(sys *modules.System, pk Packages, scripts *scriptDecls) ([]EtcEntry, error) {
	g := &generator{sys: sys, pk: pk, units: newUnitSet(pk), scripts: scripts}
	steps := []func() error{
		g.hostName,
		g.fstab,
		g.kernelFiles,
		g.localeAndTime,
		g.network,
		g.staticNetwork,
		g.firewall,
		g.ssh,
		g.journald,
		g.sudo,
		g.services,
		g.timers,
		g.rawUnits,
		g.healthChecks,
		g.gettys,
		g.enableAll,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	user, err := userEtc(sys.Etc)
	if err != nil {
		return nil, err
	}
	final := make(map[string]EtcEntry, len(g.out)+len(user))
	for _, e := range append(append([]EtcEntry{}, g.out...), user...) {
		final[e.Path] = e
	}
	dropIns, err := triggerDropIns(g.triggers, final)
	if err != nil {
		return nil, err
	}
	return layer(append(g.out, dropIns...), user)
}

// generator accumulates entries; each step adds the files of one concern.
type generator struct {
	sys     *modules.System
	pk      Packages
	units   *unitSet
	scripts *scriptDecls
	out     []EtcEntry
	// enable lists the units to enable, in the order the steps asked.
	enable []string
	// triggers are the units to reload or restart when files they read
	// in /etc change (generate_triggers.go).
	triggers []trigger
}

// file adds a generated text file linked through /etc/static.
func (g *generator) file(p, text string) {
	g.out = append(g.out, EtcEntry{Path: p, Data: []byte(text), Kind: toplevel.EtcLink})
}

// symlink adds a symlink recreated verbatim in /etc.
func (g *generator) symlink(p, target string) {
	g.out = append(g.out, EtcEntry{Path: p, Target: target, Kind: toplevel.EtcSymlink})
}

// layer sorts the generated entries, rejects two generated entries with one
// path, and appends the user's entries, which replace generated ones.
func layer(gen, user []EtcEntry) ([]EtcEntry, error) {
	sort.SliceStable(gen, func(i, j int) bool { return gen[i].Path < gen[j].Path })
	for i := 1; i < len(gen); i++ {
		if gen[i].Path == gen[i-1].Path && !sameEntry(gen[i], gen[i-1]) {
			return nil, fmt.Errorf("generate /etc/%s: two different definitions", gen[i].Path)
		}
	}
	overridden := make(map[string]bool, len(user))
	for _, e := range user {
		overridden[e.Path] = true
	}
	out := make([]EtcEntry, 0, len(gen)+len(user))
	for i, e := range gen {
		if overridden[e.Path] || i > 0 && gen[i-1].Path == e.Path {
			continue
		}
		out = append(out, e)
	}
	return append(out, user...), nil
}

func sameEntry(a, b EtcEntry) bool {
	return a.Path == b.Path && string(a.Data) == string(b.Data) && a.Source == b.Source &&
		a.Target == b.Target && a.Kind == b.Kind && a.Mode == b.Mode && a.User == b.User && a.Group == b.Group
}

// userEtc turns the `etc` option into entries, sorted by path. Text becomes
// Data; an empty mode makes a link through /etc/static, any other mode a
// root-owned copy with that mode.
func userEtc(files map[string]modules.EtcFile) ([]EtcEntry, error) {
	var out []EtcEntry
	for _, p := range sortedNames(files) {
		f := files[p]
		if err := checkEtcPath(p); err != nil {
			return nil, fmt.Errorf("etc %q: %w", p, err)
		}
		if f.Text != "" && f.Source != "" {
			return nil, fmt.Errorf("etc %q: text and source are both set", p)
		}
		if f.Source != "" && !filepath.IsAbs(f.Source) {
			return nil, fmt.Errorf("etc %q: source %q is not an absolute path", p, f.Source)
		}
		e := EtcEntry{Path: p, Kind: toplevel.EtcLink, Source: f.Source}
		if f.Source == "" {
			e.Data = []byte(f.Text)
		}
		if f.Mode != "" {
			m, err := strconv.ParseUint(f.Mode, 8, 32)
			if err != nil || m > 0o7777 {
				return nil, fmt.Errorf("etc %q: mode %q is not an octal file mode", p, f.Mode)
			}
			e.Kind, e.Mode, e.User, e.Group = toplevel.EtcCopy, fs.FileMode(m&0o777), "root", "root"
			e.Mode |= specialBits(m)
		}
		out = append(out, e)
	}
	return out, nil
}

// specialBits converts the setuid, setgid and sticky bits of a Unix mode
// into their fs.FileMode flags.
func specialBits(m uint64) fs.FileMode {
	var out fs.FileMode
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

// checkEtcPath accepts a clean, relative, slash-separated path.
func checkEtcPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "." ||
		p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("path must be relative to /etc, clean and inside it")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("path contains the control character %q", r)
		}
	}
	if p == "static" || strings.HasPrefix(p, "static/") {
		return fmt.Errorf("path is under /etc/static, which activation owns")
	}
	return nil
}

func sortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
