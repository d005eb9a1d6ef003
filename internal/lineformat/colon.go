package lineformat

import (
	"fmt"
	"strings"
)

// Colon files: /etc/passwd, group, shadow and gshadow. glibc's files
// backend (nss/nss_files/files-parse.c) reads one record a line, fields
// separated by ':'; group member lists are separated by ','. No field has
// an escape, so ':' and line breaks are refused. A record's first field is
// a name that starts the line: leading white space (isspace: also \v and
// \f) is skipped and a line that then starts with '#' is a comment, '+'
// or '-' a NIS compat entry.

const colonFormat = "an account file (passwd, group, shadow)"

// ColonField checks one field of a colon file.
func ColonField(v string) error {
	if err := checkLine(colonFormat, v); err != nil {
		return err
	}
	if strings.Contains(v, ":") {
		return refuse(colonFormat, v, "contains a colon")
	}
	return nil
}

// ColonList checks one element of a comma-separated field (group members).
func ColonList(v string) error {
	if err := ColonField(v); err != nil {
		return err
	}
	if v == "" || strings.Contains(v, ",") {
		return refuse(colonFormat, v, "is empty or contains a comma")
	}
	return nil
}

// ColonRecord returns one record as a line (with its newline). The first
// field, the name, must be non-empty and must not start with white space,
// '#', '+' or '-'.
func ColonRecord(fields ...string) (string, error) {
	if len(fields) == 0 || fields[0] == "" || strings.ContainsAny(fields[0][:1], " \t\v\f#+-") {
		name := ""
		if len(fields) > 0 {
			name = fields[0]
		}
		return "", refuse(colonFormat, name, "is not a record name (empty, or starting with white space, #, + or -)")
	}
	for i, f := range fields {
		if err := ColonField(f); err != nil {
			return "", fmt.Errorf("field %d: %w", i+1, err)
		}
	}
	return strings.Join(fields, ":") + "\n", nil
}
