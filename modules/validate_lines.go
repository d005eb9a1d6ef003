package modules

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/kiln-os/kiln/internal/lineformat"
)

// The checks of values that land in line-oriented files (passwd, unit
// files, loader entries, fstab, sysctl.d), made here so that the error
// names the file and line of the definition; the writers in package
// lineformat refuse the same values again when the files are made.

// site is where the option at path got its value: the winning
// definition's expression, else the block that declares the innermost
// element on the path.
func (c *Config) site(path ...string) hcl.Range {
	var r hcl.Range
	n := c.root
	for _, k := range path {
		if n = n.children[k]; n == nil {
			break
		}
		var best hcl.Range
		for _, d := range n.defs {
			if d.isDefault {
				continue
			}
			if d.expr != nil && d.won {
				best = d.expr.Range()
				break
			}
			if best == (hcl.Range{}) {
				best = d.rng
			}
		}
		if best != (hcl.Range{}) {
			r = best
		}
	}
	return r
}

// siteOf is site for one element of a list option (or one key of a map):
// the winning definition that holds it, when there are several.
func (c *Config) siteOf(elem string, path ...string) hcl.Range {
	n := c.root
	for _, k := range path {
		if n = n.children[k]; n == nil {
			return c.site(path...)
		}
	}
	for _, d := range n.defs {
		if !d.won || d.expr == nil || d.value.IsNull() || !d.value.IsKnown() {
			continue
		}
		t := d.value.Type()
		switch {
		case (t.IsListType() || t.IsTupleType() || t.IsSetType()) && containsString(d.value, elem):
			return d.expr.Range()
		case (t.IsMapType() || t.IsObjectType()) && d.value.LengthInt() > 0:
			for k := range d.value.AsValueMap() {
				if k == elem {
					return d.expr.Range()
				}
			}
		}
	}
	return c.site(path...)
}

// diagAt makes one error at the site of an option.
func (c *Config) diagAt(option []string, summary, detail string) *hcl.Diagnostic {
	r := c.site(option...)
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &r}
}

// optionName writes a path as users write it: users.bob.shell,
// etc["ssh/sshd_config"].mode.
func optionName(p []string) string {
	var b strings.Builder
	for i, k := range p {
		switch {
		case i == 0:
			b.WriteString(k)
		case validName(k) || i != 1 && !strings.ContainsAny(k, ".\"[]/ "):
			b.WriteString("." + k)
		default:
			b.WriteString("[" + strconv.Quote(k) + "]")
		}
	}
	return b.String()
}

func validateLines(c *Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	s := &c.System
	check := func(err error, advice string, option ...string) {
		if err != nil {
			name := optionName(option)
			diags = append(diags, c.diagAt(option, fmt.Sprintf("Invalid value for %s", name), err.Error()+". "+advice))
		}
	}
	for _, name := range sortedKeys(s.Users) {
		u := s.Users[name]
		for _, f := range []struct{ key, value string }{{"home", u.Home}, {"shell", u.Shell}} {
			check(lineformat.ColonField(f.value), "It becomes a field of /etc/passwd.", "users", name, f.key)
			if f.value != "" && lineformat.ColonField(f.value) == nil && !path.IsAbs(f.value) {
				check(fmt.Errorf("%q is not an absolute path", f.value), "", "users", name, f.key)
			}
		}
		if err := hashedPasswordFile(u.HashedPasswordFile); err != nil {
			check(err, "Give the absolute path of a file on the machine that holds the hash (root only, never in the configuration: the store is world-readable).", "users", name, "hashed_password_file")
		}
	}
	for _, name := range sortedKeys(s.Services) {
		sv := s.Services[name]
		for _, f := range []struct{ key, value string }{{"description", sv.Description}, {"exec_start", sv.ExecStart}, {"exec_reload", sv.ExecReload}, {"user", sv.User}} {
			check(lineformat.UnitValue(f.value), "It becomes one line of "+name+".service.", "services", name, f.key)
		}
	}
	for _, p := range s.Kernel.Params {
		if p == "" || strings.ContainsAny(p, "\n\r\x00") {
			r := c.siteOf(p, "kernel", "params")
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for kernel.params",
				Detail: fmt.Sprintf("The parameter %q is empty or has a line break. Each parameter goes on the options line of the boot loader entry.", p), Subject: &r})
		}
	}
	for _, key := range sortedKeys(s.Kernel.Sysctl) {
		if _, err := lineformat.SysctlLine(key, s.Kernel.Sysctl[key]); err != nil {
			r := c.siteOf(key, "kernel", "sysctl")
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid value for kernel.sysctl[%q]", key),
				Detail: err.Error() + ". It becomes a line of /etc/sysctl.d/60-kiln.conf.", Subject: &r})
		}
	}
	if m := s.Bootloader.ConsoleMode; m != "" && m != "keep" && m != "auto" && m != "max" {
		if _, err := strconv.ParseUint(m, 10, 16); err != nil {
			check(fmt.Errorf("%q is not a console mode", m), "systemd-boot's console-mode is keep, auto, max or a mode number.", "bootloader", "console_mode")
		}
	}
	if t := s.Bootloader.Timeout; t < 0 {
		check(fmt.Errorf("%d is negative", t), "The menu shows for 0 or more seconds (0: hidden, hold a key to show it).", "bootloader", "timeout")
	}
	for _, p := range sortedKeys(s.Etc) {
		for _, r := range p {
			if r < 0x20 || r == 0x7f {
				diags = append(diags, c.diagAt([]string{"etc", p}, fmt.Sprintf("Invalid etc path %q", p),
					fmt.Sprintf("The path contains the control character %q.", r)))
				break
			}
		}
	}
	for _, where := range sortedKeys(s.Mounts) {
		m := s.Mounts[where]
		if m.Device != "" {
			_, err := lineformat.FstabLine(m.Device, where)
			check(err, "It becomes a field of /etc/fstab.", "mounts", where, "device")
		}
		for _, o := range m.Options {
			if _, err := lineformat.FstabField(o); err != nil || strings.ContainsAny(o, ", \t") {
				check(fmt.Errorf("option %q is empty or holds a comma, a blank or a control character", o), "List each mount option as its own string.", "mounts", where, "options")
			}
		}
	}
	return diags
}

// hashedPasswordFile refuses what is not the path of a file on the
// machine: a relative path (activation would read it from /), and a hash
// itself (file("alice.hash") puts the hash into activation.json, which is
// in the store).
func hashedPasswordFile(p string) error {
	if p == "" {
		return nil
	}
	if strings.HasPrefix(p, "$") || strings.ContainsAny(p, "\n:") {
		return fmt.Errorf("The value looks like a password hash or a file's content, not a path")
	}
	if !path.IsAbs(p) || path.Clean(p) != p {
		return fmt.Errorf("%q is not an absolute, clean path", p)
	}
	if strings.HasPrefix(p, "/kiln/") {
		return fmt.Errorf("%q is in the store, which every user can read", p)
	}
	return nil
}

// validateAccounts refuses two users with one uid and two groups with
// one gid, naming both definitions.
func validateAccounts(c *Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	s := &c.System
	dup := func(coll, idName string, ids map[string]*int) {
		first := map[int]string{}
		for _, name := range sortedKeys(ids) {
			id := ids[name]
			if id == nil {
				continue
			}
			other, seen := first[*id]
			if !seen {
				first[*id] = name
				continue
			}
			r := c.site(coll, other, idName)
			diags = append(diags, c.diagAt([]string{coll, name, idName},
				fmt.Sprintf("Duplicate %s %d", idName, *id),
				fmt.Sprintf("%s.%s.%s is %d, and so is %s.%s.%s at %s:%d; each needs its own.", coll, name, idName, *id, coll, other, idName, r.Filename, r.Start.Line)))
		}
	}
	uids := map[string]*int{}
	for n, u := range s.Users {
		uids[n] = u.UID
	}
	gids := map[string]*int{}
	for n, g := range s.Groups {
		gids[n] = g.GID
	}
	dup("users", "uid", uids)
	dup("groups", "gid", gids)
	return diags
}

// validateDeclared refuses settings that refer to what nothing declares,
// and modes and mounts that promise what kiln cannot keep.
func validateDeclared(c *Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	s := &c.System
	if u := s.Console.AutologinUser; u != "" && u != "root" {
		if _, ok := s.Users[u]; !ok {
			diags = append(diags, c.diagAt([]string{"console", "autologin_user"}, fmt.Sprintf("Unknown user %q", u),
				fmt.Sprintf("console.autologin_user names %q, which no users block declares.", u)))
		}
	}
	for _, p := range sortedKeys(s.Etc) {
		f := s.Etc[p]
		if f.Mode == "" {
			continue
		}
		m, err := strconv.ParseUint(f.Mode, 8, 32)
		if err != nil || m > 0o7777 {
			diags = append(diags, c.diagAt([]string{"etc", p, "mode"}, fmt.Sprintf("Invalid mode %q", f.Mode), "A mode is octal, e.g. \"0644\"."))
			continue
		}
		if m&0o004 == 0 {
			diags = append(diags, c.diagAt([]string{"etc", p, "mode"}, fmt.Sprintf("Mode %s hides etc[%q], but its content is in the store", f.Mode, p),
				"A mode that other users may not read says the file is secret, but text and source are copied into the store, which every user can read. "+
					"Keep secrets out of the configuration: declare them as secrets, which activation places from outside the store. "+
					"If the file is not secret, give it a mode others may read (0644, 0444; sudo accepts a 0444 sudoers file)."))
		}
	}
	if root, ok := s.Mounts["/"]; ok && (root.FSType == "tmpfs" || root.FSType == "ramfs") {
		diags = append(diags, c.diagAt([]string{"mounts", "/", "fs_type"}, "The root cannot be a "+root.FSType,
			"Stage 1 mounts the root file system that holds /kiln/store (root= on the kernel command line); a "+root.FSType+" over it would hide the store. Mount a tmpfs elsewhere, e.g. mounts \"/tmp\"."))
	}
	if b, ok := s.Mounts["/boot"]; ok && b.FSType != "vfat" {
		fs := b.FSType
		if fs == "" {
			fs = "no fs_type"
		}
		diags = append(diags, c.diagAt([]string{"mounts", "/boot", "fs_type"}, "/boot must be the EFI system partition",
			fmt.Sprintf("kiln installs the boot loader entries into /boot, the ESP (vfat); a mount with %s there would hide it. Mount it with fs_type = \"vfat\", or mount this file system elsewhere.", fs)))
	}
	return diags
}
