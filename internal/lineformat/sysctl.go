package lineformat

import "strings"

// sysctl.d(5) as systemd-sysctl reads it: one "key = value" a line (ended
// at '\n', '\r' or NUL), key and value stripped of white space, lines
// starting with '#' or ';' comments, no continuation and no escapes. A
// value that is empty after stripping is written as is ("key =" sets the
// empty string).

const sysctlFormat = "a sysctl.d file"

// SysctlLine returns "key = value\n".
func SysctlLine(key, value string) (string, error) {
	if key == "" || strings.ContainsAny(key, "=#; \t"+lineBreaks) || key[0] == '-' && len(key) == 1 {
		return "", refuse(sysctlFormat, key, "is not a sysctl name")
	}
	if err := checkLine(sysctlFormat, value); err != nil {
		return "", err
	}
	if strings.Trim(value, unitSpace) != value {
		return "", refuse(sysctlFormat, value, "starts or ends with white space")
	}
	return key + " = " + value + "\n", nil
}
