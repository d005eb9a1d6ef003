package modules

import (
	"bytes"
	"fmt"
	"strings"
)

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
	b.WriteString("merge per label, and other values must agree.\n")
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
