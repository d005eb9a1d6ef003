package system

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/toplevel"
)

// activationEtc are /etc files activation or kiln's own generators own:
// a script's version of them is not taken.
var activationEtc = map[string]bool{
	"passwd": true, "group": true, "shadow": true, "gshadow": true, "subuid": true, "subgid": true,
	"hostname": true, "hosts": true, "machine-id": true, "resolv.conf": true, "localtime": true, "timezone": true,
	"shells": true, "profile": true, "motd": true, "nsswitch.conf": true, "fstab": true,
}

// etcFiles turns the files the scripts make in /etc into etc entries,
// layered below kiln's generated ones and the configuration: a link; a
// copy of a template the closure ships (ucf, cp), with the edits that
// followed (sed, postconf, appends: maintscript.ApplyEdits) and the owner
// and mode a later chown or chmod gave it; literal content. A copy of
// another /etc file, an edit ApplyEdits cannot compute, or a file in /usr
// is not made yet: it is a warning.
func (d *scriptDecls) etcFiles(pk Packages) (out []EtcEntry, warnings []Warning) {
	if d == nil {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, an := range d.an {
		for _, f := range an.Files {
			rel, ok := strings.CutPrefix(path.Clean(f.Path), "/etc/")
			if !ok || seen[rel] || activationEtc[rel] || strings.ContainsAny(rel, "$*?`") {
				first, _, _ := strings.Cut(strings.TrimPrefix(path.Clean(f.Path), "/"), "/")
				if !ok && f.Kind != maintscript.Directory && first != "usr" && swTopLevel[first] == "" {
					// (/usr's files: usrFiles)
					warnings = append(warnings, Warning{Text: fmt.Sprintf("%s: %s %s outside /etc and /usr is not made yet", f.From[0], f.Kind, f.Path)})
				}
				continue
			}
			e, err := scriptEtcEntry(pk, rel, f)
			if err != nil {
				warnings = append(warnings, Warning{Text: fmt.Sprintf("%s: %v", f.From[0], err)})
				continue
			}
			if e == nil {
				continue
			}
			seen[rel] = true
			out = append(out, *e)
		}
	}
	return out, warnings
}

func scriptEtcEntry(pk Packages, rel string, f maintscript.File) (*EtcEntry, error) {
	e := &EtcEntry{Path: rel, Kind: toplevel.EtcLink}
	switch f.Kind {
	case maintscript.Link:
		return &EtcEntry{Path: rel, Kind: toplevel.EtcSymlink, Target: f.Target}, nil
	case maintscript.Content:
		e.Data = []byte(f.Content)
	case maintscript.Copy:
		if f.Template == "/dev/null" {
			e.Data = []byte{}
			break
		}
		if !strings.HasPrefix(f.Template, "/usr/") {
			return nil, fmt.Errorf("/etc/%s: a copy of %s (not a file of the closure) is not made yet", rel, f.Template)
		}
		_, phys, ok := find(pk, strings.TrimPrefix(f.Template, "/"))
		if !ok {
			return nil, fmt.Errorf("/etc/%s: template %s: no locked package ships it", rel, f.Template)
		}
		if len(f.Edits) == 0 {
			e.Source = phys
			break
		}
		// A copy with edits (sed, postconf, appends): made here, from
		// the template, as the script's tools would.
		b, err := os.ReadFile(phys)
		if err != nil {
			return nil, fmt.Errorf("/etc/%s: template %s: %w", rel, f.Template, err)
		}
		text, err := maintscript.ApplyEdits(string(b), f.Edits, func(p string) (string, error) {
			_, phys, ok := find(pk, strings.TrimPrefix(path.Clean(p), "/"))
			if !ok {
				return "", fmt.Errorf("no locked package ships %s", p)
			}
			b, err := os.ReadFile(phys)
			return string(b), err
		})
		if err != nil {
			return nil, fmt.Errorf("/etc/%s: a copy of %s with edits: %w", rel, f.Template, err)
		}
		e.Data = []byte(text)
	default:
		return nil, nil // a directory (activation makes the parents) or a removal
	}
	if f.Mode != "" || f.User != "" || f.Group != "" {
		e.Kind = toplevel.EtcCopy
		e.Mode = 0o644
		if f.Mode != "" {
			m, err := strconv.ParseUint(f.Mode, 8, 32)
			if err != nil {
				// chmod's symbolic form (samba-common's a+r) on the
				// copy's 0644.
				if m, err = symbolicMode(0o644, f.Mode); err != nil {
					return nil, fmt.Errorf("/etc/%s: mode %q: %w", rel, f.Mode, err)
				}
			}
			e.Mode = 0
			e.Mode |= specialBits(m) | fs.FileMode(m&0o777)
		}
		e.User, e.Group = numericRoot(f.User), numericRoot(f.Group)
	}
	return e, nil
}

// numericRoot names uid/gid 0 root (activation resolves names).
func numericRoot(s string) string {
	if s == "0" {
		return "root"
	}
	return s
}

// firstRunUnits are units that make, on the machine, the state a script
// makes once (a database cluster, keys): Type=oneshot, run before the
// services the scripts enable (enabled: those with default
// dependencies), skipped once the path that means done exists. The state never enters the store. openssh-server's host keys
// are kiln's ssh module's (kiln-sshd-keygen.service).
func (d *scriptDecls) firstRunUnits(enabled []string, enabledUnits map[string]bool) map[string]string {
	out := map[string]string{}
	if d == nil {
		return out
	}
	for _, an := range d.an {
		if an.Package == "openssh-server" {
			continue
		}
		for _, f := range an.FirstRun {
			name := "kiln-first-run-" + unitWord(an.Package) + "-" + unitWord(f.Name) + ".service"
			if _, dup := out[name]; dup || len(f.Args) == 0 {
				continue
			}
			var b strings.Builder
			fmt.Fprintf(&b, "# %s\n[Unit]\nDescription=kiln first run: %s %s\n", oneLineSource(f.From), an.Package, f.Name)
			b.WriteString("After=systemd-tmpfiles-setup.service local-fs.target\n")
			if f.Creates != "" {
				fmt.Fprintf(&b, "ConditionPathExists=!%s\n", quoteUnitPath(f.Creates))
			}
			// The units this package's scripts start come up after the
			// state exists: on Debian they start after the command, once
			// its daemon-reload (pg_createcluster's) let generators see
			// it. Starting them again after it does the same here.
			// A start deb-systemd-invoke makes skips a unit that is not
			// enabled (bind9's --no-enable named-resolvconf.service).
			restart := map[string]bool{}
			for _, u := range an.Units {
				if u.Op == maintscript.Start && !u.UserUnit && !u.SysV && strings.HasSuffix(u.Name, ".service") && (!u.IfEnabled || enabledUnits[u.Name]) {
					restart[u.Name] = true
				}
			}
			for _, u := range enabled {
				if !restart[u] {
					fmt.Fprintf(&b, "Before=%s\n", u)
				}
			}
			b.WriteString("\n[Service]\nType=oneshot\nRemainAfterExit=yes\n")
			if f.User != "" {
				fmt.Fprintf(&b, "User=%s\n", f.User)
			}
			quoted := make([]string, len(f.Args))
			for i, a := range f.Args {
				quoted[i] = a
				if a == "" || strings.ContainsAny(a, " \t\n\"'\\;%") {
					quoted[i] = quoteEnv(a)
				}
			}
			fmt.Fprintf(&b, "ExecStart=%s\n", strings.ReplaceAll(strings.Join(quoted, " "), "$", "$$"))
			// What the script did to the state after making it (the
			// chown and chmod of rabbitmq's Erlang cookie) are lines of
			// kiln-packages.conf, which boot applied before the state
			// existed: apply them again.
			b.WriteString("ExecStartPost=-/usr/bin/systemd-tmpfiles --create /etc/tmpfiles.d/kiln-packages.conf\n")
			for _, u := range orderedKeys(restart) {
				fmt.Fprintf(&b, "ExecStartPost=-/usr/bin/systemctl --no-block restart %s\n", u)
			}
			b.WriteString("\n[Install]\nWantedBy=multi-user.target\n")
			out[name] = b.String()
		}
	}
	return out
}

var unitWordRE = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func unitWord(s string) string { return unitWordRE.ReplaceAllString(s, "-") }

// quoteUnitPath escapes specifiers in a path for a unit setting.
func quoteUnitPath(p string) string { return strings.ReplaceAll(p, "%", "%%") }
