package system

import (
	"fmt"
	"strconv"
	"strings"
)

// tmpfilesMode turns a mode a script gave (octal, tmpfiles' ~ and :
// prefixes, or chmod's symbolic g+r,o-rwx) into tmpfiles' octal form.
// tmpfiles has no relative modes: a symbolic one is applied to what the
// path would have without it (0755 for a directory, 0644 for a file).
func tmpfilesMode(mode string, dir bool) (string, error) {
	if mode == "" || mode == "-" {
		return "-", nil
	}
	if _, err := strconv.ParseUint(strings.TrimLeft(mode, "~:"), 8, 32); err == nil {
		return mode, nil
	}
	base := uint64(0o644)
	if dir {
		base = 0o755
	}
	m, err := symbolicMode(base, mode)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%04o", m), nil
}

// symbolicMode applies chmod's symbolic clauses ([ugoa]*[+-=][rwxXst]*,
// comma-separated) to base.
func symbolicMode(base uint64, spec string) (uint64, error) {
	m := base
	for _, clause := range strings.Split(spec, ",") {
		i := strings.IndexAny(clause, "+-=")
		if i < 0 {
			return 0, fmt.Errorf("mode %q: no +, - or =", spec)
		}
		who, op, perms := clause[:i], clause[i], clause[i+1:]
		if who == "" || strings.Contains(who, "a") {
			who = "ugo"
		}
		var bits uint64
		for _, w := range who {
			shift := map[rune]uint{'u': 6, 'g': 3, 'o': 0}[w]
			if !strings.ContainsRune("ugo", w) {
				return 0, fmt.Errorf("mode %q: who %q", spec, w)
			}
			for _, p := range perms {
				switch p {
				case 'r':
					bits |= 4 << shift
				case 'w':
					bits |= 2 << shift
				case 'x', 'X':
					bits |= 1 << shift
				case 's':
					if w == 'u' {
						bits |= 0o4000
					} else if w == 'g' {
						bits |= 0o2000
					}
				case 't':
					bits |= 0o1000
				default:
					return 0, fmt.Errorf("mode %q: permission %q", spec, p)
				}
			}
			if op == '=' {
				m &^= 7 << shift
			}
		}
		switch op {
		case '+', '=':
			m |= bits
		case '-':
			m &^= bits
		}
	}
	return m, nil
}
