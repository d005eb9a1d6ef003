package modules

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/golden"
)

func TestOptionsMarkdownInSync(t *testing.T) {
	golden.Check(t, "../docs/options.md", OptionsMarkdown(Options()))
}

// TestOptionsCoverSystem keeps the one declaration honest: every field of
// System is an option (or a block of them), and every core option decodes
// into a field.
func TestOptionsCoverSystem(t *testing.T) {
	declared := map[string]bool{}
	for _, d := range Options() {
		declared[d.Path] = true
		if d.Description == "" {
			t.Errorf("option %s has no description", d.Path)
		}
		if d.Type == "" {
			t.Errorf("option %s has no type", d.Path)
		}
	}
	fields := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for i := 0; i < typ.NumField(); i++ {
			tag := typ.Field(i).Tag.Get("kiln")
			if tag == "-" || tag == "" {
				continue
			}
			p := prefix + tag
			ft := typ.Field(i).Type
			switch {
			case ft.Kind() == reflect.Struct:
				walk(ft, p+".")
			case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), p+"."+labelSegment+".")
			default:
				fields[p] = true
			}
		}
	}
	walk(reflect.TypeOf(System{}), "")
	for f := range fields {
		if !declared[f] {
			t.Errorf("System field %s is not a declared option", f)
		}
	}
	for d := range declared {
		if !fields[d] {
			t.Errorf("option %s has no System field", d)
		}
	}
}

func TestOptionsSorted(t *testing.T) {
	docs := Options()
	for i := 1; i < len(docs); i++ {
		if strings.Compare(docs[i-1].Path, docs[i].Path) >= 0 {
			t.Errorf("options not sorted: %s before %s", docs[i-1].Path, docs[i].Path)
		}
	}
	if len(docs) < 40 {
		t.Errorf("only %d options", len(docs))
	}
}
