package system

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/store"
)

func TestParseLocale(t *testing.T) {
	for _, tc := range []struct{ name, charmap, input, cm, dir string }{
		{"en_US.UTF-8", "", "en_US", "UTF-8", "en_US.utf8"},
		{"de_DE.UTF-8", "UTF-8", "de_DE", "UTF-8", "de_DE.utf8"},
		{"fr_FR@euro", "ISO-8859-15", "fr_FR@euro", "ISO-8859-15", "fr_FR@euro"},
		{"de_DE.ISO-8859-15@euro", "ISO-8859-15", "de_DE@euro", "ISO-8859-15", "de_DE.iso885915@euro"},
		{"ja_JP.EUC-JP", "EUC-JP", "ja_JP", "EUC-JP", "ja_JP.eucjp"},
	} {
		s, err := parseLocale(tc.name, tc.charmap)
		if err != nil || s.Input != tc.input || s.Charmap != tc.cm || s.Dir != tc.dir {
			t.Errorf("parseLocale(%q, %q) = %+v, %v; want input %s charmap %s dir %s", tc.name, tc.charmap, s, err, tc.input, tc.cm, tc.dir)
		}
	}
	if _, err := parseLocale("en_US", ""); err == nil {
		t.Error("a locale without codeset or charmap is accepted")
	}
}

// TestLocalesCompile compiles the configuration's locale and the lines
// /etc/locale.gen selects with bookworm's localedef and sources, and has
// the machine's glibc (the same release) load them; a locale without the
// locales package is an error naming the option.
func TestLocalesCompile(t *testing.T) {
	needTool(t, "locale")
	pk := realPackages(t, "libc6", "libc-bin", "locales")
	sys := modules.System{Locale: "en_US.UTF-8"}
	scripts := &scriptDecls{an: []*maintscript.Analysis{{Package: "locales", Caches: []maintscript.Cache{{Name: "locales"}}}}}
	p := &BuildPlan{sys: &sys, pk: pk, scripts: scripts, Parts: map[string]store.Path{}}
	if err := p.planLocales([]byte("# de_AT.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\nfr_FR@euro ISO-8859-15\nC.UTF-8 UTF-8\n")); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Parts[PartLocales]; !ok || len(p.locales) != 3 {
		t.Fatalf("planned %v", p.locales)
	}
	out := filepath.Join(t.TempDir(), "locales")
	if err := buildLocales(t.Context(), pk, p.locales, out); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ locale, charmap, day string }{
		{"en_US.UTF-8", "UTF-8", "Thursday"},
		{"de_DE.UTF-8", "UTF-8", "Donnerstag"},
		{"fr_FR@euro", "ISO-8859-15", "jeudi"},
	} {
		cmd := exec.Command("sh", "-c", "locale charmap && date -u -d @0 +%A")
		cmd.Env = []string{"LOCPATH=" + filepath.Join(out, "usr", "lib", "locale"), "LC_ALL=" + tc.locale, "PATH=/usr/bin:/bin"}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		got, err := cmd.Output()
		if err != nil || stderr.Len() > 0 || string(got) != tc.charmap+"\n"+tc.day+"\n" {
			t.Errorf("%s: %q, %v, stderr %q; want %s and %s", tc.locale, got, err, stderr.String(), tc.charmap, tc.day)
		}
	}
	// Not selected: glibc does not find it.
	cmd := exec.Command("locale", "charmap")
	cmd.Env = []string{"LOCPATH=" + filepath.Join(out, "usr", "lib", "locale"), "LC_ALL=de_AT.UTF-8"}
	if b, _ := cmd.CombinedOutput(); !strings.Contains(string(b), "Cannot set") {
		t.Errorf("de_AT.UTF-8, commented out, loads: %q", b)
	}

	noSources := realPackages(t, "libc6", "libc-bin")
	p = &BuildPlan{sys: &sys, pk: noSources, Parts: map[string]store.Path{}}
	err := p.planLocales(nil)
	var oe *OptionError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "pkgs.locales") {
		t.Errorf("locale without the locales package: %v", err)
	}
}
