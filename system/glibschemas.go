package system

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/store"
)

// The GSettings schema cache: what libglib2.0-0's postinst (and its
// trigger on /usr/share/glib-2.0/schemas) makes with glib-compile-schemas,
// compiled at build time by the closure's own glib-compile-schemas over
// every package's schemas and overrides into the part `glib-schemas`
// (usr/share/glib-2.0/schemas/gschemas.compiled), laid over the packages
// in sw. Without it every g_settings_new of a schema aborts the program.

// PartGlibSchemas is the store path of the compiled GSettings schemas.
const PartGlibSchemas = "glib-schemas"

const glibSchemasBuilder = "glib-schemas/1"

// glibSchemaDir is where GLib reads schemas and their compiled cache.
const glibSchemaDir = "usr/share/glib-2.0/schemas"

// glibCompileSchemas is the tool libglib2.0-0 ships (Debian keeps it in
// the library package; libglib2.0-bin's /usr/bin one links to it).
const glibCompileSchemas = "usr/lib/x86_64-linux-gnu/glib-2.0/glib-compile-schemas"

// planGlibSchemas plans the part when a script asks for the cache and a
// package of the closure ships schemas (the cache is empty otherwise).
func (p *BuildPlan) planGlibSchemas() error {
	if !p.scripts.declaresCache("glib-schemas") || !closureHas(p.pk, emptyCaches["glib-schemas"]) {
		return nil
	}
	k := store.NewKey(glibSchemasBuilder)
	for _, rel := range []string{glibCompileSchemas, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"} {
		n, _, ok := find(p.pk, rel)
		if !ok {
			return fmt.Errorf("glib-schemas: no package has /%s", rel)
		}
		sp, _ := p.pk.Path(n)
		k.AddPath(rel, sp)
	}
	for _, n := range packagesHaving(p.pk, glibSchemaDir) {
		sp, _ := p.pk.Path(n)
		k.AddPath("schemas", sp)
	}
	var err error
	p.Parts[PartGlibSchemas], err = k.Path("glib-schemas")
	return err
}

// buildGlibSchemas compiles every package's schemas (the files of their
// usr/share/glib-2.0/schemas, gathered as links into one directory, as
// dpkg unpacks them into one) with the closure's glib-compile-schemas
// into out/usr/share/glib-2.0/schemas/gschemas.compiled.
func buildGlibSchemas(ctx context.Context, pk Packages, out string) error {
	_, compile, ok := find(pk, glibCompileSchemas)
	if !ok {
		return fmt.Errorf("glib-schemas: no package has /%s", glibCompileSchemas)
	}
	tool, err := newClosureTool(pk)
	if err != nil {
		return fmt.Errorf("glib-schemas: %w", err)
	}
	src, err := os.MkdirTemp("", "kiln-gschemas-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	owner := map[string]string{}
	for _, n := range packagesHaving(pk, glibSchemaDir) {
		d, _ := pk.Dir(n)
		ents, err := os.ReadDir(filepath.Join(d, glibSchemaDir))
		if err != nil {
			return fmt.Errorf("glib-schemas: %w", err)
		}
		for _, e := range ents {
			if e.IsDir() || e.Name() == "gschemas.compiled" {
				continue
			}
			if o, dup := owner[e.Name()]; dup {
				return fmt.Errorf("glib-schemas: /%s/%s is in both %s and %s", glibSchemaDir, e.Name(), o, n)
			}
			owner[e.Name()] = n
			if err := os.Symlink(filepath.Join(d, glibSchemaDir, e.Name()), filepath.Join(src, e.Name())); err != nil {
				return err
			}
		}
	}
	dir := filepath.Join(out, glibSchemaDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// --strict: a schema the tool rejects is an error here, not a
	// cache silently missing it (the postinst's `|| true`).
	cmd := tool.command(ctx, compile, "glib-compile-schemas", "--strict", "--targetdir="+dir, src)
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("glib-schemas: glib-compile-schemas over %d files: %w: %s", len(owner), err, strings.TrimSpace(string(o)))
	}
	return nil
}
