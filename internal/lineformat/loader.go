package lineformat

import (
	"strings"
)

// systemd-boot's entries (loader/entries/*.conf) and loader.conf. Its
// reader (line_get_key_value in src/boot/efi) ends a line at '\n' or '\r'
// and the file at NUL; strips blanks (space, tab) around the line; skips
// empty lines and lines starting with '#'; splits the key at the first
// blank and skips the blanks after it; and when the value starts and ends
// with '"', removes both. A line without a value is skipped.
//
// So a value is written in double quotes when it would otherwise lose
// its surrounding blanks or quotes; line breaks, NUL and the empty value
// are refused (the format has no escape for them).

const loaderFormat = "a systemd-boot entry or loader.conf"

// LoaderValue returns v as it must be written after "key ".
func LoaderValue(v string) (string, error) {
	if err := checkLine(loaderFormat, v); err != nil {
		return "", err
	}
	if v == "" {
		return "", refuse(loaderFormat, v, "is empty")
	}
	if strings.Trim(v, " \t") != v || len(v) >= 1 && v[0] == '"' && v[len(v)-1] == '"' {
		return `"` + v + `"`, nil
	}
	return v, nil
}

// Loader builds an entry or loader.conf. The first refused value is kept
// and returned by Text.
type Loader struct {
	b   strings.Builder
	err error
}

// Set adds "key value". option names where the value comes from (e.g.
// "kernel.params") for the error.
func (l *Loader) Set(key, value, option string) {
	if l.err != nil {
		return
	}
	if key == "" || strings.ContainsAny(key, " \t#"+lineBreaks) {
		l.err = refuse(loaderFormat, key, "is not a key")
		return
	}
	w, err := LoaderValue(value)
	if err != nil {
		if option == "" {
			option = key
		}
		l.err = &OptionError{Option: option, Err: err}
		return
	}
	l.b.WriteString(key + " " + w + "\n")
}

// Text returns the file, or the first refusal.
func (l *Loader) Text() (string, error) {
	if l.err != nil {
		return "", l.err
	}
	return l.b.String(), nil
}
