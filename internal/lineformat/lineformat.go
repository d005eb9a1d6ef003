// Package lineformat writes the line-oriented files kiln generates
// (passwd/group/shadow, systemd unit and network files, systemd-boot
// entries and loader.conf, fstab, sysctl.d) so that every value reads
// back as the value written, under the rules of the program that reads the
// file: a value a format cannot carry is escaped where the format has an
// escape, and refused otherwise. Refusals are *Error values naming the
// value and why; callers add the option path.
//
// Each writer has a fuzz test that parses its output with the reader's
// rules (glibc's files-parse for the colon files, systemd's conf-parser
// with its line continuation, systemd-boot's line_get_key_value, libmount's
// fstab parser, systemd-sysctl) and checks the round trip.
//
// It does not validate meaning (whether a shell exists, whether a unit
// name is well formed): that belongs to the option's owner.
package lineformat

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error is a value a format cannot carry.
type Error struct {
	Format string // "passwd", "unit file", ...
	Value  string
	Reason string
}

func (e *Error) Error() string {
	v := e.Value
	if len(v) > 80 {
		v = v[:80] + "..."
	}
	return fmt.Sprintf("%q %s, which %s cannot carry", v, e.Reason, e.Format)
}

func refuse(format, value, reason string) error {
	return &Error{Format: format, Value: value, Reason: reason}
}

// lineBreaks are the bytes some reader ends a line at: glibc and libmount
// split on '\n', systemd's read_line and systemd-boot also on '\r' and
// NUL.
const lineBreaks = "\n\r\x00"

// checkLine refuses line breaks and invalid UTF-8 (systemd ignores a line
// that is not UTF-8).
func checkLine(format, v string) error {
	if i := strings.IndexAny(v, lineBreaks); i >= 0 {
		return refuse(format, v, fmt.Sprintf("contains %s", describe(v[i])))
	}
	if !utf8.ValidString(v) {
		return refuse(format, v, "is not valid UTF-8")
	}
	return nil
}

func describe(c byte) string {
	switch c {
	case '\n':
		return "a newline"
	case '\r':
		return "a carriage return"
	case 0:
		return "a NUL byte"
	case ':':
		return "a colon"
	case ',':
		return "a comma"
	}
	return fmt.Sprintf("%q", c)
}

// OptionError is a refusal with the option the value came from.
type OptionError struct {
	Option string // "services.web.exec_start", or the file's key
	Err    error
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }
