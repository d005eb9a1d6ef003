package modules

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

//go:generate go test -run TestOptionsMarkdownInSync -update

// OptionsMarkdown renders option documentation as docs/options.md.
func OptionsMarkdown(docs []OptionDoc) []byte {
	var b bytes.Buffer
	b.WriteString("# kiln options\n\n")
	b.WriteString("Every option a kiln system can set, generated from their declarations\n")
	b.WriteString("(`kiln options` prints the same list; `go test ./modules -update` refreshes\n")
	b.WriteString("this file). `<name>` stands for a block label: `users \"alice\" { uid = 1000 }`\n")
	b.WriteString("sets `users.<name>.uid` for alice.\n\n")
	b.WriteString("Definitions merge by priority: an option's default is priority 1500,\n")
	b.WriteString("`mkDefault(v)` 1000, a plain definition 100, `mkForce(v)` 50 and\n")
	b.WriteString("`mkOverride(n, v)` n; the lowest number wins. Lists concatenate (in import\n")
	b.WriteString("order, `mkBefore` first and `mkAfter` last), maps merge per key, blocks\n")
	b.WriteString("merge per label, and other values must agree.\n\n")
	b.WriteString("A module file holds definitions (`networking { host_name = \"web\" }`),\n")
	b.WriteString("`imports = [\"./file.hcl\", \"./dir\"]`, `config { when = <bool> ... }` blocks\n")
	b.WriteString("(definitions that count only when `when` is true), `assert { condition, message }`\n")
	b.WriteString("blocks and `option \"dotted.path\" { type, default, description, example }`\n")
	b.WriteString("declarations (a default may use `name`, the label of its block). Values may\n")
	b.WriteString("refer to `config.<option path>` and to `pkgs.NAME` (`pkgs[\"NAME\"]`), the store\n")
	b.WriteString("path of a Debian package, which pulls it into the system.\n\n")
	b.WriteString("Functions: ")
	names := make([]string, 0, len(baseFunctions)+1)
	for n := range baseFunctions {
		names = append(names, n)
	}
	names = append(names, "file")
	sort.Strings(names)
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "`%s`", n)
	}
	b.WriteString(" (`file` reads a path relative to the module).\n")
	for _, d := range docs {
		fmt.Fprintf(&b, "\n## `%s`\n\n", d.Path)
		if d.Description != "" {
			fmt.Fprintf(&b, "%s\n\n", d.Description)
		}
		fmt.Fprintf(&b, "- type: `%s`\n", d.Type)
		if d.Default != "" {
			fmt.Fprintf(&b, "- default: %s\n", code(d.Default))
		}
		if d.Example != "" {
			fmt.Fprintf(&b, "- example: %s\n", code(d.Example))
		}
		fmt.Fprintf(&b, "- declared in: %s\n", d.DeclaredIn)
	}
	return b.Bytes()
}

// code quotes HCL source as inline code, choosing a fence its content
// does not hold.
func code(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}
