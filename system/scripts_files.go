package system

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
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
// dependencies), skipped once the path that means done exists. The state
// never enters the store. openssh-server's host keys are kiln's ssh
// module's (kiln-sshd-keygen.service). The commands of one package with
// one name (slapd's two slapadd) are one unit, run in the script's order.
// A temporary file a command reads is an /etc file with the text the
// script wrote into it (its edits applied here); a secret in it is made
// by a script run on the machine (firstRunScript), so it never enters
// the store either. The inputs are returned by unit, to go with it.
func (d *scriptDecls) firstRunUnits(pk Packages, enabled []string, enabledUnits map[string]bool) (map[string]string, map[string][]EtcEntry, error) {
	out := map[string]string{}
	if d == nil {
		return out, nil, nil
	}
	files := map[string][]EtcEntry{}
	for _, an := range d.an {
		if an.Package == "openssh-server" {
			continue
		}
		groups := map[string][]maintscript.FirstRun{}
		var order []string
		for _, f := range an.FirstRun {
			name := "kiln-first-run-" + unitWord(an.Package) + "-" + unitWord(f.Name) + ".service"
			if len(f.Args) == 0 {
				continue
			}
			if _, ok := groups[name]; !ok {
				order = append(order, name)
			}
			groups[name] = append(groups[name], f)
		}
		for _, name := range order {
			if _, dup := out[name]; dup {
				continue
			}
			text, fl, err := firstRunUnit(pk, an, name, groups[name], enabled, enabledUnits)
			if err != nil {
				return nil, nil, err
			}
			out[name] = text
			files[name] = fl
		}
	}
	return out, files, nil
}

// firstRunStampDir holds the stamps of first-run units that ran.
const firstRunStampDir = "/kiln/var/lib/first-run"

// firstRunUnit is the unit of one package's first-run commands fs.
func firstRunUnit(pk Packages, an *maintscript.Analysis, name string, frs []maintscript.FirstRun, enabled []string, enabledUnits map[string]bool) (string, []EtcEntry, error) {
	f := frs[0]
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n[Unit]\nDescription=kiln first run: %s %s\n", oneLineSource(f.From), an.Package, f.Name)
	b.WriteString("After=systemd-tmpfiles-setup.service local-fs.target\n")
	// A command without a path that means done (munin-node-configure's
	// plugin links) runs once: a stamp in kiln's state says it did.
	creates, stamp := f.Creates, ""
	if creates == "" {
		stamp = firstRunStampDir + "/" + strings.TrimSuffix(name, ".service")
		creates = stamp
	}
	fmt.Fprintf(&b, "ConditionPathExists=!%s\n", quoteUnitPath(creates))
	// The units this package's scripts start come up after the
	// state exists: on Debian they start after the command, once
	// its daemon-reload (pg_createcluster's) let generators see
	// it. Starting them again after it does the same here.
	// A start deb-systemd-invoke makes skips a unit that is not
	// enabled (bind9's --no-enable named-resolvconf.service).
	restart := map[string]bool{}
	before := append([]string(nil), enabled...)
	for _, u := range an.Units {
		if u.Op == maintscript.Start && !u.UserUnit && !u.SysV && strings.HasSuffix(u.Name, ".service") && (!u.IfEnabled || enabledUnits[u.Name]) {
			restart[u.Name] = true
		}
		// An init script's unit (slapd's, which systemd-sysv-generator
		// makes) starts after the state too.
		if u.Op == maintscript.Enable && u.SysV && !slices.Contains(before, u.Name) {
			before = append(before, u.Name)
		}
	}
	for _, u := range before {
		if !restart[u] {
			fmt.Fprintf(&b, "Before=%s\n", u)
		}
	}
	b.WriteString("\n[Service]\nType=oneshot\nRemainAfterExit=yes\n")
	if f.User != "" {
		fmt.Fprintf(&b, "User=%s\n", f.User)
	}
	dir := "kiln-first-run/" + strings.TrimSuffix(strings.TrimPrefix(name, "kiln-first-run-"), ".service")
	var files []EtcEntry
	var then [][]string
	for i, f := range frs {
		args := append([]string(nil), f.Args...)
		var secrets []firstRunSecret
		for j, in := range f.Inputs {
			text, err := firstRunInputText(pk, in.File)
			if err != nil {
				return "", nil, fmt.Errorf("%s: first-run input %s: %w", oneLineSource(f.From), in.Arg, err)
			}
			p := fmt.Sprintf("%s/input-%d-%d", dir, i+1, j+1)
			files = append(files, EtcEntry{Path: p, Data: []byte(text), Kind: toplevel.EtcLink})
			for k, a := range args {
				if a == in.Arg {
					args[k] = "/etc/" + p
					if len(in.Secrets) > 0 {
						secrets = append(secrets, firstRunSecret{arg: k, path: "/etc/" + p, secrets: in.Secrets})
					}
					break
				}
			}
		}
		if len(secrets) > 0 {
			sh, err := firstRunScript(args, secrets)
			if err != nil {
				return "", nil, fmt.Errorf("%s: %w", oneLineSource(f.From), err)
			}
			p := fmt.Sprintf("%s/run-%d.sh", dir, i+1)
			files = append(files, EtcEntry{Path: p, Data: []byte(sh), Kind: toplevel.EtcLink})
			args = []string{"/bin/sh", "/etc/" + p}
		}
		fmt.Fprintf(&b, "ExecStart=%s\n", execLine(args))
		for _, t := range f.Then {
			if !slices.ContainsFunc(then, func(x []string) bool { return slices.Equal(x, t) }) {
				then = append(then, t)
			}
		}
	}
	// What the script did to the state after making it: a recursive
	// chown of its directory (slapd's), then the chown and chmod of
	// single files (rabbitmq's Erlang cookie), lines of
	// kiln-packages.conf that boot applied before the state existed.
	for _, t := range then {
		fmt.Fprintf(&b, "ExecStartPost=%s\n", execLine(t))
	}
	b.WriteString("ExecStartPost=-/usr/bin/systemd-tmpfiles --create /etc/tmpfiles.d/kiln-packages.conf\n")
	if stamp != "" {
		fmt.Fprintf(&b, "ExecStartPost=/usr/bin/mkdir -p %s\nExecStartPost=/usr/bin/touch %s\n", firstRunStampDir, quoteUnitPath(stamp))
	}
	for _, u := range orderedKeys(restart) {
		fmt.Fprintf(&b, "ExecStartPost=-/usr/bin/systemctl --no-block restart %s\n", u)
	}
	b.WriteString("\n[Install]\nWantedBy=multi-user.target\n")
	return b.String(), files, nil
}

// execLine is argv as a unit's Exec= value.
func execLine(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\;%") {
			quoted[i] = quoteEnv(a)
		}
	}
	return strings.ReplaceAll(strings.Join(quoted, " "), "$", "$$")
}

// firstRunInputText is what a script wrote into a first-run command's
// temporary file: a template of the closure with its edits, or text.
func firstRunInputText(pk Packages, f maintscript.File) (string, error) {
	text := f.Content
	if f.Kind == maintscript.Copy {
		_, phys, ok := find(pk, strings.TrimPrefix(path.Clean(f.Template), "/"))
		if !ok {
			return "", fmt.Errorf("template %s: no locked package ships it", f.Template)
		}
		b, err := os.ReadFile(phys)
		if err != nil {
			return "", err
		}
		text = string(b)
	}
	return maintscript.ApplyEdits(text, f.Edits, func(p string) (string, error) {
		_, phys, ok := find(pk, strings.TrimPrefix(path.Clean(p), "/"))
		if !ok {
			return "", fmt.Errorf("no locked package ships %s", p)
		}
		b, err := os.ReadFile(phys)
		return string(b), err
	})
}

// firstRunSecret is an input of a first-run command (argument arg, the
// /etc file path) with text the machine replaces.
type firstRunSecret struct {
	arg     int
	path    string
	secrets []maintscript.Secret
}

// secretCommands make a secret's value on the machine, by kind: the
// {SSHA} hash of a random password of 120 bits, as slapd's postinst's
// generate_admin_pass and create_password_hash make it.
var secretCommands = map[string]string{
	"slappasswd": `slappasswd -s "$(head -c 15 /dev/urandom | base64 | tr -d '[:space:]')"`,
}

// firstRunScript runs argv with each secret input replaced by a private
// temporary copy holding the secrets made here, removed afterwards.
func firstRunScript(argv []string, inputs []firstRunSecret) (string, error) {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Generated by kiln: makes the secrets of a first-run input on the machine.\nset -e\numask 077\n")
	var temps []string
	for i := range inputs {
		t := fmt.Sprintf("t%d", i+1)
		temps = append(temps, `"$`+t+`"`)
		fmt.Fprintf(&b, "%s=$(mktemp)\n", t)
	}
	b.WriteString("trap 'rm -f " + strings.Join(temps, " ") + "' EXIT\n")
	n := 0
	for i, in := range inputs {
		t := fmt.Sprintf("t%d", i+1)
		sed := []string{"sed"}
		for _, s := range in.secrets {
			cmd, ok := secretCommands[s.Kind]
			if !ok {
				return "", fmt.Errorf("a secret of kind %q is not made yet", s.Kind)
			}
			n++
			fmt.Fprintf(&b, "s%d=$(%s)\n", n, cmd)
			d := "|"
			if strings.Contains(s.Placeholder, d) {
				d = "#"
			}
			sed = append(sed, "-e", `"s`+d+regexp.QuoteMeta(s.Placeholder)+d+`$s`+strconv.Itoa(n)+d+`g"`)
		}
		fmt.Fprintf(&b, "%s %s >\"$%s\"\n", strings.Join(sed, " "), shellQuote(in.path), t)
		argv[in.arg] = "$" + t
	}
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = shellQuote(a)
		if strings.HasPrefix(a, "$t") {
			words[i] = `"` + a + `"`
		}
	}
	b.WriteString(strings.Join(words, " ") + "\n")
	return b.String(), nil
}

// shellQuote is s as one sh word.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`;&|<>()*?[]{}#~!=%") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var unitWordRE = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func unitWord(s string) string { return unitWordRE.ReplaceAllString(s, "-") }

// quoteUnitPath escapes specifiers in a path for a unit setting.
func quoteUnitPath(p string) string { return strings.ReplaceAll(p, "%", "%%") }
