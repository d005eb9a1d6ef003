package lineformat

import (
	"fmt"
	"strings"
)

// fstab(5) as libmount reads it (mnt_parse_table_line; glibc's getmntent
// decodes the same escapes): fields are separated by blanks, a line whose
// first non-blank is '#' is a comment, and \NNN octal escapes stand for
// any byte. Space, tab, newline and backslash are escaped (\040 \011 \012
// \134, the escapes both readers know); a field that would start with
// '#', an empty field and other control characters are refused.

const fstabFormat = "fstab"

// FstabField returns v escaped for one fstab field.
func FstabField(v string) (string, error) {
	if v == "" {
		return "", refuse(fstabFormat, v, "is empty")
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
			// libmount splits fields at isspace (\r, \v, \f too) and
			// glibc knows no escape for them.
			return "", refuse(fstabFormat, v, fmt.Sprintf("contains the control character %q", c))
		}
	}
	return fstabEscaper.Replace(v), nil
}

var fstabEscaper = strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`)

// FstabLine returns one line of fstab from its fields, each escaped. The
// first field must not start with '#'.
func FstabLine(fields ...string) (string, error) {
	out := make([]string, len(fields))
	for i, f := range fields {
		e, err := FstabField(f)
		if err != nil {
			return "", err
		}
		out[i] = e
	}
	if len(out) == 0 || out[0][0] == '#' {
		first := ""
		if len(fields) > 0 {
			first = fields[0]
		}
		return "", refuse(fstabFormat, first, "starts with # (the line would be a comment)")
	}
	return strings.Join(out, " ") + "\n", nil
}
