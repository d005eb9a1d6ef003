package maintscript

import (
	"errors"
	"testing"
)

func TestApplyEdits(t *testing.T) {
	read := func(p string) (string, error) {
		if p == "/usr/share/x/tls.cf" {
			return "smtpd_tls = yes\n", nil
		}
		return "", errors.New("no " + p)
	}
	const mainCf = "# c\nmyhostname = old\n  continued\nmydomain = d\n"
	for _, tc := range []struct {
		name, in string
		edits    []Edit
		want     string
		err      string
	}{
		// postgresql-common postinst: setup_createclusterconf
		{"sed", "#ssl = off\nssl = off\n", []Edit{{Tool: "sed", Args: []string{"-e", "s/^ssl =.*/ssl = on/"}}}, "#ssl = off\nssl = on\n", ""},
		{"sed delete and two commands", "a\nb\nc\n", []Edit{{Tool: "sed", Args: []string{"-e", "/b/d; s/c/C/"}}}, "a\nC\n", ""},
		{"postconf set and append", mainCf, []Edit{{Tool: "postconf", Args: []string{"-e", "myhostname = h", "relayhost="}}}, "# c\nmyhostname = h\nmydomain = d\nrelayhost = \n", ""},
		{"postconf remove", mainCf, []Edit{{Tool: "postconf", Args: []string{"-X", "myhostname"}}}, "# c\nmydomain = d\n", ""},
		{"postconf comment", mainCf, []Edit{{Tool: "postconf", Args: []string{"-#", "mydomain"}}}, "# c\nmyhostname = old\n  continued\n#mydomain = d\n", ""},
		{"appends", "a\n", []Edit{{Tool: "append", Args: []string{"b\n"}}, {Tool: "append-file", Args: []string{"/usr/share/x/tls.cf"}}}, "a\nb\nsmtpd_tls = yes\n", ""},
		{"uncomputed sed", "a\n", []Edit{{Tool: "sed", Args: []string{"-e", "1i x"}}}, "", `sed -e 1i x: sed command "1i x" is not computed`},
		{"missing file", "a\n", []Edit{{Tool: "append-file", Args: []string{"/nope"}}}, "", "append-file /nope: no /nope"},
		{"unknown tool", "a\n", []Edit{{Tool: "ed"}}, "", "ed : no editor for ed"},
	} {
		got, err := ApplyEdits(tc.in, tc.edits, read)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%s: error %v, want %s", tc.name, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case got != tc.want:
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
