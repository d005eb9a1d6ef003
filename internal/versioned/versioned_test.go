package versioned

import (
	"errors"
	"strings"
	"testing"
)

type doc struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	Added   string `json:"added,omitempty"` // in version 2
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		version    int
		want       string // error substring; "" for success
		unsupport  bool
	}{
		{"current", `{"version":2,"name":"a","added":"x"}`, 2, "", false},
		{"older", `{"version":1,"name":"a"}`, 1, "", false},
		{"newer", `{"version":3,"name":"a","later":true}`, 3, "version 3 not supported (this kiln reads 1 to 2): it was written by a newer kiln", true},
		{"no version", `{"name":"a"}`, 0, "version 0 not supported (this kiln reads 1 to 2)", true},
		{"negative", `{"version":-1}`, -1, "version -1 not supported", true},
		{"unknown field", `{"version":2,"bogus":1}`, 2, `unknown field "bogus"`, false},
		{"not json", `version 2`, 0, "invalid character", false},
		{"trailing data", `{"version":1}{"version":1}`, 0, "invalid character", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			v, err := Decode([]byte(tc.json), 2, &d)
			if v != tc.version {
				t.Errorf("version %d, want %d", v, tc.version)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.want == "":
				if d.Name != "a" || d.Version != v {
					t.Errorf("decoded %+v", d)
				}
			case err == nil || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if got := errors.Is(err, ErrUnsupported); got != tc.unsupport {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v", got, tc.unsupport)
			}
		})
	}
}

func TestVersionErrorOfOneVersion(t *testing.T) {
	_, err := Decode([]byte(`{"version":2}`), 1, &doc{})
	if err == nil || err.Error() != "version 2 not supported (this kiln reads version 1): it was written by a newer kiln" {
		t.Errorf("error %v", err)
	}
}
