package system

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/toplevel"
)

// The package-derived layer of /etc: package conffiles, then what Debian's
// maintainer scripts would have generated from the packages (DESIGN.md
// §9.3), decided by what the locked packages hold, never by running them.

// packageEtc returns every package's etc/ tree as entries linking into the
// package (Target is the logical file). A relative symlink stays relative
// when it resolves inside /etc, else it becomes absolute (resolved at run
// time): the etc tree is not next to the package. Two packages shipping
// different files at one path are a conflict.
func packageEtc(pk Packages) ([]EtcEntry, error) {
	type owner struct {
		pkg, phys string
		link      bool
		target    string
	}
	owners := map[string]owner{}
	var out []EtcEntry
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		lp, _ := pk.Path(n)
		root := filepath.Join(d, "etc")
		if st, err := os.Lstat(root); err != nil || !st.IsDir() {
			continue
		}
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			rel := filepath.ToSlash(strings.TrimPrefix(p, root+"/"))
			o := owner{pkg: n, phys: p}
			ent := EtcEntry{Path: rel, Kind: toplevel.EtcLink}
			if e.Type()&fs.ModeSymlink != 0 {
				t, err := os.Readlink(p)
				if err != nil {
					return err
				}
				if !path.IsAbs(t) {
					if r := path.Join(path.Dir(rel), t); strings.HasPrefix(r, "../") || r == ".." {
						t = canonicalRuntime(path.Join("/etc", path.Dir(rel), t))
					}
				}
				o.link, o.target = true, t
				ent.Target = t
			} else {
				ent.Target = lp.String() + "/etc/" + rel
				if st, err := e.Info(); err == nil && st.Mode()&0o111 != 0 {
					ent.Mode = 0o755
				}
			}
			if prev, dup := owners[rel]; dup {
				same := prev.link == o.link && prev.target == o.target
				if !o.link && !prev.link {
					var err error
					if same, err = sameFileContent(prev.phys, o.phys); err != nil {
						return err
					}
				}
				if !same {
					return fmt.Errorf("%w: /etc/%s: packages %s and %s ship different files", ErrConflict, rel, prev.pkg, n)
				}
				return nil
			}
			owners[rel] = o
			out = append(out, ent)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("package %s: etc: %w", n, err)
		}
	}
	return out, nil
}

// pkgFile reads a package-relative file from the first package holding it.
func pkgFile(pk Packages, rel string) ([]byte, bool, error) {
	_, p, ok := find(pk, rel)
	if !ok {
		return nil, false, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// derivedEtc is what the maintainer scripts of the locked packages would
// have generated in /etc.
func derivedEtc(pk Packages, alts []alternative, scripts *scriptDecls) ([]EtcEntry, error) {
	var out []EtcEntry
	add := func(p string, data []byte) { out = append(out, EtcEntry{Path: p, Data: data, Kind: toplevel.EtcLink}) }

	pam, err := pamAuthUpdate(pk)
	if err != nil {
		return nil, err
	}
	out = append(out, pam...)
	// base-files' postinst copies these from /usr/share/base-files.
	for _, f := range []string{"profile", "motd"} {
		b, ok, err := pkgFile(pk, "usr/share/base-files/"+f)
		if err != nil {
			return nil, fmt.Errorf("base-files %s: %w", f, err)
		}
		if ok {
			add(f, b)
		}
	}
	// libpam-modules' postinst creates an empty /etc/environment.
	add("environment", []byte{})
	// libc-bin's postinst installs nsswitch.conf.
	ns, ok, err := pkgFile(pk, "usr/share/libc-bin/nsswitch.conf")
	if err != nil {
		return nil, fmt.Errorf("libc-bin nsswitch.conf: %w", err)
	}
	if !ok {
		ns = []byte(defaultNsswitch)
	}
	add("nsswitch.conf", ns)
	add("shells", shells(pk, scripts.shells()))
	// kmod's postinst creates /etc/modules, which its
	// modules-load.d/modules.conf links to.
	if _, ok := pk.Path("kmod"); ok {
		add("modules", []byte(etcModules))
	}
	osr, err := osRelease(pk)
	if err != nil {
		return nil, err
	}
	add("os-release", osr)
	for _, a := range alts {
		out = append(out, EtcEntry{Path: "alternatives/" + a.Name, Kind: toplevel.EtcLink, Target: a.Target})
		if rel, ok := strings.CutPrefix(a.Link, "/etc/"); ok {
			out = append(out, EtcEntry{Path: rel, Kind: toplevel.EtcSymlink, Target: "/etc/alternatives/" + a.Name})
		}
	}
	return out, nil
}

const etcModules = `# /etc/modules: kernel modules to load at boot time, one per line.
# kiln writes kernel.modules to /etc/modules-load.d/kiln.conf instead.
`

const defaultNsswitch = `passwd:         files systemd
group:          files systemd
shadow:         files
gshadow:        files

hosts:          files dns
networks:       files

protocols:      db files
services:       db files
ethers:         db files
rpc:            db files

netgroup:       nis
`

// knownShells are the login shells add-shell would register when their
// package is present.
var knownShells = []string{"sh", "bash", "rbash", "dash", "zsh", "fish", "tmux", "screen"}

func shells(pk Packages, added []string) []byte {
	var b bytes.Buffer
	b.WriteString("# /etc/shells: valid login shells\n")
	seen := map[string]bool{}
	for _, s := range knownShells {
		if _, _, ok := find(pk, "usr/bin/"+s); ok {
			fmt.Fprintf(&b, "/bin/%s\n/usr/bin/%s\n", s, s)
			seen["/bin/"+s], seen["/usr/bin/"+s] = true, true
		}
	}
	for _, s := range added { // add-shell in a postinst
		if !seen[s] {
			seen[s] = true
			fmt.Fprintf(&b, "%s\n", s)
		}
	}
	return b.Bytes()
}

// osRelease is Debian's os-release with kiln as the variant, so tools
// keep recognizing Debian.
func osRelease(pk Packages) ([]byte, error) {
	b, ok, err := pkgFile(pk, "usr/lib/os-release")
	if err != nil {
		return nil, fmt.Errorf("base-files os-release: %w", err)
	}
	if !ok {
		b = []byte("NAME=\"Debian GNU/Linux\"\nID=debian\n")
	}
	var out bytes.Buffer
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if strings.HasPrefix(l, "VARIANT=") || strings.HasPrefix(l, "VARIANT_ID=") {
			continue
		}
		out.WriteString(l + "\n")
	}
	out.WriteString("VARIANT=\"kiln\"\nVARIANT_ID=kiln\n")
	return out.Bytes(), nil
}

// An alternative is a link update-alternatives would have made:
// /usr/<Link> → /etc/alternatives/<Name> → Target.
type alternative struct {
	Name   string
	Link   string // forest-relative, e.g. bin/awk
	Target string // absolute, e.g. /usr/bin/mawk
}

// alternativeTable lists the alternatives kiln makes, candidates in
// priority order (Debian's priorities for the common ones).
var alternativeTable = []struct {
	name, link string
	candidates []string
}{
	{"awk", "bin/awk", []string{"/usr/bin/mawk", "/usr/bin/gawk", "/usr/bin/original-awk"}},
	{"nawk", "bin/nawk", []string{"/usr/bin/mawk", "/usr/bin/gawk", "/usr/bin/original-awk"}},
	{"pager", "bin/pager", []string{"/usr/bin/less", "/usr/bin/more"}},
	{"which", "bin/which", []string{"/usr/bin/which.debianutils"}},
	{"editor", "bin/editor", []string{"/usr/bin/nano", "/usr/bin/vim.basic", "/usr/bin/vim.tiny"}},
	{"vi", "bin/vi", []string{"/usr/bin/vim.basic", "/usr/bin/vim.tiny", "/usr/bin/nvi"}},
	{"view", "bin/view", []string{"/usr/bin/vim.basic", "/usr/bin/vim.tiny"}},
	// tar's etc/rmt links to /usr/sbin/rmt.
	{"rmt", "sbin/rmt", []string{"/usr/sbin/rmt-tar"}},
}

// chooseAlternatives picks, for each alternative, the first candidate a
// locked package provides.
func chooseAlternatives(pk Packages) []alternative {
	var out []alternative
	for _, a := range alternativeTable {
		for _, c := range a.candidates {
			if _, _, ok := find(pk, strings.TrimPrefix(c, "/")); ok {
				out = append(out, alternative{Name: a.name, Link: a.link, Target: c})
				break
			}
		}
	}
	return out
}

// varTmpfiles turns the var/ contents of the packages into a tmpfiles.d
// file (dpkg would have unpacked them into /var; /var is the machine's, so
// systemd-tmpfiles creates what is missing at boot).
func varTmpfiles(pk Packages) ([]byte, error) { return varTmpfilesExcept(pk, nil) }

// varTmpfilesExcept is varTmpfiles without the paths of skip: those a
// package's own tmpfiles.d file makes (with its owner: lighttpd's
// /var/log/lighttpd), which a bare line here, sorting first, would
// override.
func varTmpfilesExcept(pk Packages, skip map[string]bool) ([]byte, error) {
	var lines []string
	seen := map[string]bool{}
	for p := range skip {
		seen[p] = true
	}
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		lp, _ := pk.Path(n)
		root := filepath.Join(d, "var")
		if st, err := os.Lstat(root); err != nil || !st.IsDir() {
			continue
		}
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel := "/var" + filepath.ToSlash(strings.TrimPrefix(p, root))
			if seen[rel] {
				return nil
			}
			seen[rel] = true
			switch {
			case e.IsDir():
				mode, user, group := varDirMode(rel)
				lines = append(lines, fmt.Sprintf("d %s %s %s %s -", tmpfilesEscape(rel), mode, user, group))
			case e.Type()&fs.ModeSymlink != 0:
				t, err := os.Readlink(p)
				if err != nil {
					return err
				}
				lines = append(lines, fmt.Sprintf("L %s - - - - %s", tmpfilesEscape(rel), t))
			default:
				lines = append(lines, fmt.Sprintf("C %s - - - - %s/%s", tmpfilesEscape(rel), lp.String(), strings.TrimPrefix(rel, "/")))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("package %s: var: %w", n, err)
		}
	}
	// An empty directory a package ships in etc/ (ssl-cert's
	// /etc/ssl/private) has no entry in the etc tree: make it.
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		root := filepath.Join(d, "etc")
		_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.IsDir() || p == root {
				return nil
			}
			if ents, err := os.ReadDir(p); err == nil && len(ents) == 0 {
				rel := "/etc" + filepath.ToSlash(strings.TrimPrefix(p, root))
				if !seen[rel] {
					seen[rel] = true
					lines = append(lines, fmt.Sprintf("d %s 0755 root root -", tmpfilesEscape(rel)))
				}
			}
			return nil
		})
	}
	if len(lines) == 0 {
		return nil, nil
	}
	sort.Strings(lines)
	// Parents before children: sort by path, not by type letter.
	sort.SliceStable(lines, func(i, j int) bool { return strings.Fields(lines[i])[1] < strings.Fields(lines[j])[1] })
	return []byte("# Generated by kiln from the packages' /var contents and empty /etc directories.\n" + strings.Join(lines, "\n") + "\n"), nil
}

// varDirMode gives the owner and mode of well-known /var directories
// (base-files' postinst and Debian policy); others are 0755 root.
func varDirMode(p string) (mode, user, group string) {
	switch p {
	case "/var/tmp":
		return "1777", "root", "root"
	case "/var/mail", "/var/spool/mail":
		return "2775", "root", "mail"
	case "/var/local":
		return "2775", "root", "staff"
	case "/var/log/journal":
		return "2755", "root", "systemd-journal"
	}
	return "0755", "root", "root"
}

func tmpfilesEscape(p string) string {
	if !strings.ContainsAny(p, " \t\\\"'") {
		return p
	}
	return strconv.Quote(p)
}

// pamProfile is one /usr/share/pam-configs file.
type pamProfile struct {
	name      string
	priority  int
	deflt     bool
	fields    map[string][]string // "Auth", "Auth-Initial", ... → lines
	types     map[string]string   // "auth" → Primary or Additional
	interOnly bool
}

var pamTypes = []string{"auth", "account", "password", "session"}

// pamAuthUpdate makes /etc/pam.d/common-* as pam-auth-update does: the
// templates of libpam-runtime filled from every default profile in
// /usr/share/pam-configs, by priority. Without them login fails with
// "PAM Failure".
func pamAuthUpdate(pk Packages) ([]EtcEntry, error) {
	var profs []pamProfile
	for _, n := range pk.Names() {
		d, _ := pk.Dir(n)
		files, _ := filepath.Glob(filepath.Join(d, "usr/share/pam-configs/*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("pam profile: %w", err)
			}
			p, err := parsePamProfile(filepath.Base(f), b)
			if err != nil {
				return nil, fmt.Errorf("pam profile %s: %w", f, err)
			}
			if p.deflt {
				profs = append(profs, p)
			}
		}
	}
	if len(profs) == 0 {
		return nil, nil
	}
	sort.SliceStable(profs, func(i, j int) bool {
		if profs[i].priority != profs[j].priority {
			return profs[i].priority > profs[j].priority
		}
		return profs[i].name < profs[j].name
	})
	var out []EtcEntry
	for _, file := range []string{"auth", "account", "password", "session", "session-noninteractive"} {
		tmpl, ok, err := pkgFile(pk, "usr/share/pam/common-"+file)
		if err != nil {
			return nil, fmt.Errorf("pam template common-%s: %w", file, err)
		}
		if !ok {
			continue
		}
		typ := strings.TrimSuffix(file, "-noninteractive")
		prim, add := pamBlocks(profs, typ, file != typ)
		s, err := fillPamTemplate(string(tmpl), prim, add)
		if err != nil {
			return nil, fmt.Errorf("pam template common-%s: %w", file, err)
		}
		out = append(out, EtcEntry{Path: "pam.d/common-" + file, Data: []byte(s), Kind: toplevel.EtcLink})
	}
	return out, nil
}

// The comments that delimit, in libpam-runtime's templates, the blocks
// pam-auth-update writes.
const (
	pamPrimaryMark    = `# here are the per-package modules (the "Primary" block)`
	pamFallbackMark   = `# here's the fallback if no module succeeds`
	pamAdditionalMark = `# and here are more per-package modules (the "Additional" block)`
	pamEndMark        = `# end of pam-auth-update config`
)

// fillPamTemplate writes the Primary block after its comment and the
// Additional block after its, dropping the template's lines up to the
// next comment, as pam-auth-update does: what stands there (bookworm's
// "$session_nonint_primary", say) is a placeholder, never a PAM line.
func fillPamTemplate(tmpl, prim, add string) (string, error) {
	var b strings.Builder
	state := 0
	for _, l := range strings.SplitAfter(tmpl, "\n") {
		switch {
		case state == 1 && strings.HasPrefix(l, pamFallbackMark), state == 3 && strings.HasPrefix(l, pamEndMark):
			state++
		case state == 1 || state == 3:
			continue
		}
		b.WriteString(l)
		switch {
		case state == 0 && strings.HasPrefix(l, pamPrimaryMark):
			b.WriteString(prim)
			state = 1
		case state == 2 && strings.HasPrefix(l, pamAdditionalMark):
			b.WriteString(add)
			state = 3
		}
	}
	if state < 4 {
		return "", fmt.Errorf("no pam-auth-update block comments (%q … %q)", pamPrimaryMark, pamEndMark)
	}
	return b.String(), nil
}

// pamBlocks renders the Primary and Additional blocks of one type. In the
// Primary block "success=end" jumps over the rest of the block; with no
// primary module the stack starts with "[default=1] pam_permit.so".
func pamBlocks(profs []pamProfile, typ string, nonInteractive bool) (string, string) {
	title := strings.ToUpper(typ[:1]) + typ[1:]
	var prim, add []string
	for _, p := range profs {
		if nonInteractive && p.interOnly {
			continue
		}
		kind := p.types[typ]
		lines := p.fields[title]
		if kind == "Primary" && len(prim) == 0 {
			if l, ok := p.fields[title+"-Initial"]; ok {
				lines = l
			}
		}
		for _, l := range lines {
			if kind == "Primary" {
				prim = append(prim, l)
			} else if kind == "Additional" {
				add = append(add, l)
			}
		}
	}
	var pb strings.Builder
	if len(prim) == 0 {
		pb.WriteString(typ + "\t[default=1]\t\t\tpam_permit.so\n")
	}
	for i, l := range prim {
		l = strings.ReplaceAll(l, "success=end", "success="+strconv.Itoa(len(prim)-i))
		pb.WriteString(typ + "\t" + l + "\n")
	}
	var ab strings.Builder
	for _, l := range add {
		ab.WriteString(typ + "\t" + l + "\n")
	}
	return pb.String(), ab.String()
}

func parsePamProfile(name string, b []byte) (pamProfile, error) {
	p := pamProfile{name: name, fields: map[string][]string{}, types: map[string]string{}}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		if strings.TrimSpace(l) == "" {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			if cur == "" {
				return p, fmt.Errorf("continuation line before a field: %q", l)
			}
			p.fields[cur] = append(p.fields[cur], strings.TrimSpace(l))
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return p, fmt.Errorf("bad line %q", l)
		}
		v = strings.TrimSpace(v)
		cur = k
		switch {
		case k == "Default":
			p.deflt = v == "yes"
		case k == "Priority":
			n, err := strconv.Atoi(v)
			if err != nil {
				return p, fmt.Errorf("priority %q: %w", v, err)
			}
			p.priority = n
		case k == "Session-Interactive-Only":
			p.interOnly = v == "yes"
		case strings.HasSuffix(k, "-Type"):
			p.types[strings.ToLower(strings.TrimSuffix(k, "-Type"))] = v
		default:
			if _, ok := p.fields[k]; !ok {
				p.fields[k] = nil
			}
		}
	}
	return p, sc.Err()
}
