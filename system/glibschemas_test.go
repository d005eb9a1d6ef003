package system

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/debian/maintscript"
	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/store"
)

// TestGlibSchemasCompile compiles bookworm's gsettings-desktop-schemas
// (schemas and Debian's override file) with libglib2.0-0's own
// glib-compile-schemas, and reads the cache with bookworm's gsettings:
// every schema is there and the override's default wins. Without a
// schema in the closure nothing is planned.
func TestGlibSchemasCompile(t *testing.T) {
	pk := realPackages(t, "libc6", "libglib2.0-0", "libglib2.0-bin", "gsettings-desktop-schemas",
		"libffi8", "libpcre2-8-0", "libmount1", "libblkid1", "libselinux1", "zlib1g")
	scripts := &scriptDecls{an: []*maintscript.Analysis{{Package: "libglib2.0-0", Caches: []maintscript.Cache{{Name: "glib-schemas"}}}}}
	p := &BuildPlan{sys: &modules.System{}, pk: pk, scripts: scripts, Parts: map[string]store.Path{}}
	if err := p.planGlibSchemas(); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Parts[PartGlibSchemas]; !ok {
		t.Fatal("no glib-schemas part planned")
	}
	out := t.TempDir()
	if err := buildGlibSchemas(t.Context(), pk, out); err != nil {
		t.Fatal(err)
	}
	tool, err := newClosureTool(pk)
	if err != nil {
		t.Fatal(err)
	}
	gsettings := filepath.Join(pk.root, "libglib2.0-bin", "usr/bin/gsettings")
	run := func(args ...string) string {
		t.Helper()
		cmd := tool.command(t.Context(), gsettings, "gsettings", args...)
		cmd.Env = append(cmd.Env, "GSETTINGS_SCHEMA_DIR="+filepath.Join(out, glibSchemaDir), "GSETTINGS_BACKEND=memory",
			"GIO_MODULE_DIR="+t.TempDir(), "XDG_DATA_DIRS="+t.TempDir())
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gsettings %v: %v: %s", args, err, b)
		}
		return string(b)
	}
	schemas, _ := filepath.Glob(filepath.Join(pk.root, "gsettings-desktop-schemas", glibSchemaDir, "*.gschema.xml"))
	listed := strings.Fields(run("list-schemas"))
	if len(schemas) < 20 || len(listed) < len(schemas) {
		t.Errorf("gsettings lists %d schemas from %d schema files", len(listed), len(schemas))
	}
	if got := run("get", "org.gnome.system.proxy", "mode"); got != "'none'\n" {
		t.Errorf("org.gnome.system.proxy mode = %q", got)
	}
	// Debian's 10_gsettings-desktop-schemas.gschema.override.
	if got := run("get", "org.gnome.desktop.interface", "monospace-font-name"); got != "'Monospace 11'\n" {
		t.Errorf("the override is not compiled in: monospace-font-name = %q", got)
	}

	none := newTreePackages(t, map[string][]string{"libglib2.0-0": {"usr/share/glib-2.0/schemas/.keep="}})
	p = &BuildPlan{sys: &modules.System{}, pk: none, scripts: scripts, Parts: map[string]store.Path{}}
	if err := p.planGlibSchemas(); err != nil || p.Parts[PartGlibSchemas] != (store.Path{}) {
		t.Errorf("no schema in the closure: planned %v, %v", p.Parts, err)
	}
}
