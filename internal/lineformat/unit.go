package lineformat

import (
	"fmt"
	"strings"
)

// Unit files and the other files systemd's conf-parser reads (.network,
// drop-ins). Its rules (systemd.syntax(5), src/shared/conf-parser.c):
// read_line ends a line at '\n', '\r' or NUL; a line whose first non-blank
// is '#' or ';' is a comment, even inside a continuation; a line ending in
// an odd number of backslashes continues on the next line (the backslash
// becomes a space); key and value are stripped of white space; a line that
// is not UTF-8 is ignored.
//
// A value has no escape for a line break or for its surrounding white
// space, so those are refused; a trailing backslash is refused rather than
// doubled, because the doubled backslash means something else to the
// settings that unescape (ExecStart=) and to those that do not
// (Description=).

const unitFormat = "a unit file"

// unitSpace is what systemd's strstrip removes (WHITESPACE).
const unitSpace = " \t\n\r"

// UnitValue checks one value of a unit file setting.
func UnitValue(v string) error {
	if err := checkLine(unitFormat, v); err != nil {
		return err
	}
	if strings.TrimLeft(v, unitSpace) != v || strings.TrimRight(v, unitSpace) != v {
		return refuse(unitFormat, v, "starts or ends with white space")
	}
	if n := len(v) - len(strings.TrimRight(v, `\`)); n%2 == 1 {
		return refuse(unitFormat, v, "ends in a backslash (it would continue the line)")
	}
	return nil
}

// Unit builds a unit file (or any file of systemd's ini dialect). The
// first refused value is kept and returned by Text; later calls do nothing.
type Unit struct {
	b       strings.Builder
	err     error
	started bool // a section was opened
}

// Comment adds "# text"; text must be one line.
func (u *Unit) Comment(text string) {
	if u.err != nil {
		return
	}
	// Current systemd skips comment lines before it looks for a
	// continuation; older readers (and go-systemd's) do not.
	if err := checkLine(unitFormat, text); err != nil || strings.HasSuffix(text, `\`) {
		u.err = fmt.Errorf("comment: %w", refuse(unitFormat, text, "is not one line without a trailing backslash"))
		return
	}
	u.b.WriteString("# " + text + "\n")
}

// Section opens [name], after a blank line unless it is the first.
func (u *Unit) Section(name string) {
	if u.err != nil {
		return
	}
	if name == "" || strings.ContainsAny(name, "[]"+lineBreaks) || checkLine(unitFormat, name) != nil {
		u.err = refuse(unitFormat, name, "is not a section name")
		return
	}
	if u.started {
		u.b.WriteString("\n")
	}
	u.started = true
	u.b.WriteString("[" + name + "]\n")
}

// Set adds key=value. option names where the value comes from (e.g.
// "services.web.exec_start") for the error; "" for kiln's own values.
func (u *Unit) Set(key, value, option string) {
	if u.err != nil {
		return
	}
	if !u.started {
		u.err = fmt.Errorf("unit file: %s= outside of a section", key)
		return
	}
	if key == "" || strings.ContainsAny(key, "=[]#;\\ \t"+lineBreaks) || checkLine(unitFormat, key) != nil {
		u.err = refuse(unitFormat, key, "is not a key")
		return
	}
	if err := UnitValue(value); err != nil {
		if option == "" {
			option = key + "="
		}
		u.err = &OptionError{Option: option, Err: err}
		return
	}
	u.b.WriteString(key + "=" + value + "\n")
}

// SetNonEmpty is Set, for a value that is not empty.
func (u *Unit) SetNonEmpty(key, value, option string) {
	if value != "" {
		u.Set(key, value, option)
	}
}

// Text returns the file, or the first refusal.
func (u *Unit) Text() (string, error) {
	if u.err != nil {
		return "", u.err
	}
	return u.b.String(), nil
}
