package activation

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
)

// addFstabMounts adds the mount and swap units systemd-fstab-generator
// makes from <toplevel>/etc/fstab, unless a unit file of that name exists
// (the generator's output ranks below /etc/systemd/system).
func (r unitResolver) addFstabMounts(units map[string]*UnitFile) error {
	p := path.Join(r.toplevel, "etc/fstab")
	host, masked, err := r.resolve(p)
	if errors.Is(err, os.ErrNotExist) || masked {
		return nil
	}
	if err != nil {
		return err
	}
	b, err := os.ReadFile(host)
	if err != nil {
		return err
	}
	for n, u := range fstabUnits(b) {
		if _, ok := units[n]; !ok {
			units[n] = u
		}
	}
	return nil
}

// fstabUnits parses fstab text into units named as systemd names them.
func fstabUnits(text []byte) map[string]*UnitFile {
	out := map[string]*UnitFile{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		for i := range f {
			f[i] = fstabUnescape(f[i])
		}
		what, where, typ, opts := f[0], f[1], f[2], "defaults"
		if len(f) > 3 {
			opts = f[3]
		}
		var name, section string
		var o []*unit.UnitOption
		switch {
		case typ == "swap":
			name, section = escapeUnitPath(fstabDevice(what))+".swap", "Swap"
			o = append(o, unit.NewUnitOption(section, "What", fstabDevice(what)))
		case path.IsAbs(where):
			name, section = escapeUnitPath(where)+".mount", "Mount"
			o = append(o, unit.NewUnitOption(section, "What", fstabDevice(what)),
				unit.NewUnitOption(section, "Where", path.Clean(where)),
				unit.NewUnitOption(section, "Type", typ))
		default:
			continue
		}
		o = append([]*unit.UnitOption{unit.NewUnitOption("Unit", "SourcePath", "/etc/fstab")}, o...)
		o = append(o, unit.NewUnitOption(section, "Options", opts))
		u := &UnitFile{Name: name, Path: "fstab", Options: o}
		if !contains(strings.Split(opts, ","), "noauto") {
			// The generator links each auto mount into its target.
			u.WantedBy = []string{"local-fs.target"}
			if section == "Swap" {
				u.WantedBy = []string{"swap.target"}
			}
		}
		out[name] = u
	}
	return out
}

// fstabDevice turns LABEL=x and UUID=x into the /dev/disk/by-* paths the
// generator uses.
func fstabDevice(spec string) string {
	for _, k := range []struct{ prefix, dir string }{{"LABEL=", "by-label"}, {"UUID=", "by-uuid"}, {"PARTUUID=", "by-partuuid"}, {"PARTLABEL=", "by-partlabel"}} {
		if v, ok := strings.CutPrefix(spec, k.prefix); ok {
			return "/dev/disk/" + k.dir + "/" + v
		}
	}
	return spec
}

// fstabUnescape decodes fstab's octal escapes (\040 for a space).
func fstabUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// escapeUnitPath is systemd-escape --path: "/" is "-", "/var/lib/x" is
// "var-lib-x", bytes outside [A-Za-z0-9:_.] (and a leading ".") as \xNN.
func escapeUnitPath(p string) string {
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '_' || (c == '.' && i > 0):
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}
