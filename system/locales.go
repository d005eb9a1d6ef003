package system

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/store"
)

// The locales cache: what locale-gen makes from /etc/locale.gen (the
// locales package's postinst, from its debconf answer), and the locale
// the configuration's `locale` names, compiled at build time by the
// closure's localedef from the closure's sources into the part
// `locales` (usr/lib/locale/NAME/, one directory per locale, which glibc
// reads when there is no locale-archive), laid over the packages in sw.
// The C locales are glibc's own and need nothing.

// PartLocales is the store path of the compiled locales.
const PartLocales = "locales"

const localesBuilder = "locales/1"

// localeSpec is one locale to compile: its name as written (en_US.UTF-8),
// localedef's input (en_US, de_DE@euro) and charmap, and the directory
// glibc looks it up by (en_US.utf8).
type localeSpec struct {
	Name, Input, Charmap, Dir string
}

// builtinLocale says whether glibc has the locale without compiling it.
func builtinLocale(name string) bool {
	switch name {
	case "", "C", "POSIX", "C.UTF-8", "C.utf8":
		return true
	}
	return false
}

// normalizeCodeset is glibc's _nl_normalize_codeset: letters lowercased,
// digits kept, everything else dropped; "iso" before an all-digit one.
func normalizeCodeset(cs string) string {
	var b strings.Builder
	digits := true
	for _, c := range cs {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case c >= 'A' && c <= 'Z':
			b.WriteRune(c + 'a' - 'A')
		default:
			continue
		}
		if !(c >= '0' && c <= '9') {
			digits = false
		}
	}
	if digits {
		return "iso" + b.String()
	}
	return b.String()
}

// parseLocale splits NAME (lang_TERRITORY[.codeset][@modifier]) and the
// charmap into a localeSpec; charmap "" takes the name's codeset.
func parseLocale(name, charmap string) (localeSpec, error) {
	base, mod, _ := strings.Cut(name, "@")
	lang, cs, hasCS := strings.Cut(base, ".")
	if charmap == "" {
		if !hasCS {
			return localeSpec{}, fmt.Errorf("locale %q: no codeset (write e.g. %s.UTF-8)", name, name)
		}
		charmap = cs
	}
	s := localeSpec{Name: name, Input: lang, Charmap: charmap, Dir: lang}
	if hasCS {
		s.Dir += "." + normalizeCodeset(cs)
	}
	if mod != "" {
		s.Input += "@" + mod
		s.Dir += "@" + mod
	}
	return s, nil
}

// planLocales says which locales the generation compiles: the
// configuration's locale and, when the locales package's scripts run
// locale-gen, every line /etc/locale.gen selects (locale.gen is its
// content as the generation has it, nil when there is none).
func (p *BuildPlan) planLocales(localeGen []byte) error {
	want := map[string]localeSpec{}
	i18n := ""
	if _, _, ok := find(p.pk, "usr/share/i18n/SUPPORTED"); ok {
		i18n = "usr/share/i18n"
	}
	if l := p.sys.Locale; !builtinLocale(l) {
		if i18n == "" {
			return optionErrorf("locale", fmt.Errorf("locale %q: no package has locale sources to compile it: add pkgs.locales to packages", l))
		}
		s, err := parseLocale(l, "")
		if err != nil {
			return optionErrorf("locale", err)
		}
		if _, _, ok := find(p.pk, "usr/share/i18n/locales/"+strings.SplitN(s.Input, "@", 2)[0]); !ok {
			return optionErrorf("locale", fmt.Errorf("locale %q: the locales package has no %s", l, s.Input))
		}
		want[s.Dir] = s
	}
	if localeGen != nil && i18n != "" && p.scripts.declaresCache("locales") {
		sc := bufio.NewScanner(bytes.NewReader(localeGen))
		for n := 1; sc.Scan(); n++ {
			f := strings.Fields(sc.Text())
			if len(f) == 0 || strings.HasPrefix(f[0], "#") {
				continue
			}
			if len(f) != 2 {
				return fmt.Errorf("/etc/locale.gen line %d: want NAME CHARMAP, got %q", n, sc.Text())
			}
			if builtinLocale(f[0]) {
				continue
			}
			s, err := parseLocale(f[0], f[1])
			if err != nil {
				return fmt.Errorf("/etc/locale.gen line %d: %w", n, err)
			}
			want[s.Dir] = s
		}
	}
	if len(want) == 0 {
		return nil
	}
	k := store.NewKey(localesBuilder)
	for _, rel := range []string{"usr/bin/localedef", "usr/share/i18n/SUPPORTED", "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"} {
		n, _, ok := find(p.pk, rel)
		if !ok {
			return fmt.Errorf("locales: no package has /%s", rel)
		}
		sp, _ := p.pk.Path(n)
		k.AddPath(rel, sp)
	}
	for _, d := range sortedNames(want) {
		s := want[d]
		k.Add("locale", s.Input+" "+s.Charmap+" "+s.Dir)
		p.locales = append(p.locales, s)
	}
	var err error
	p.Parts[PartLocales], err = k.Path("locales")
	return err
}

// buildLocales compiles the planned locales with the closure's localedef
// (as locale-gen does: -c, the package's alias file) into
// out/usr/lib/locale.
func buildLocales(ctx context.Context, pk Packages, locales []localeSpec, out string) error {
	_, localedef, ok := find(pk, "usr/bin/localedef")
	if !ok {
		return fmt.Errorf("localedef not in the locked packages")
	}
	_, supported, ok := find(pk, "usr/share/i18n/SUPPORTED")
	if !ok {
		return fmt.Errorf("no locale sources in the locked packages")
	}
	tool, err := newClosureTool(pk)
	if err != nil {
		return fmt.Errorf("locales: %w", err)
	}
	dir := filepath.Join(out, "usr", "lib", "locale")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "kiln-charmaps-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, s := range locales {
		// localedef reads a charmap by name only from its compiled-in
		// directory, and a path only uncompressed.
		cm, err := charmapFile(pk, s.Charmap, tmp)
		if err != nil {
			return fmt.Errorf("locale %s: %w", s.Name, err)
		}
		args := []string{"-i", s.Input, "-c", "-f", cm}
		if _, alias, ok := find(pk, "usr/share/locale/locale.alias"); ok {
			args = append(args, "-A", alias)
		}
		args = append(args, "--no-archive", filepath.Join(dir, s.Dir))
		cmd := tool.command(ctx, localedef, "localedef", args...)
		cmd.Env = append(cmd.Env, "I18NPATH="+filepath.Dir(supported))
		o, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		// Exit status 1 is warnings, the locale written all the same (-c).
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1 && regularFileExists(filepath.Join(dir, s.Dir, "LC_CTYPE"))) {
			return fmt.Errorf("locale %s: localedef: %w: %s", s.Name, err, strings.TrimSpace(string(o)))
		}
	}
	return nil
}

// localeGen is /etc/locale.gen as the generation will have it: the
// configuration's etc."locale.gen", else what the locales package's
// postinst writes (nil: none).
func (p *BuildPlan) localeGen() ([]byte, error) {
	if f, ok := p.sys.Etc["locale.gen"]; ok {
		if f.Source != "" {
			return os.ReadFile(f.Source)
		}
		return []byte(f.Text), nil
	}
	if p.scripts == nil {
		return nil, nil
	}
	for _, an := range p.scripts.an {
		for _, f := range an.Files {
			if path.Clean(f.Path) != "/etc/locale.gen" {
				continue
			}
			e, err := scriptEtcEntry(p.pk, "locale.gen", f)
			if err != nil || e == nil {
				return nil, err
			}
			b, _, err := e.content()
			return b, err
		}
	}
	return nil, nil
}

// charmapFile is the closure's charmap name, uncompressed under dir.
func charmapFile(pk Packages, name, dir string) (string, error) {
	if strings.ContainsAny(name, "/") || name == "" || name[0] == '.' {
		return "", fmt.Errorf("charmap %q: not a charmap name", name)
	}
	out := filepath.Join(dir, name)
	if regularFileExists(out) {
		return out, nil
	}
	rel := "usr/share/i18n/charmaps/" + name
	if _, p, ok := find(pk, rel); ok {
		return p, nil
	}
	_, p, ok := find(pk, rel+".gz")
	if !ok {
		return "", fmt.Errorf("charmap %s: the locales package has no /%s(.gz)", name, rel)
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("charmap %s: %w", name, err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return "", fmt.Errorf("charmap %s: %w", name, err)
	}
	return out, os.WriteFile(out, b, 0o644)
}
