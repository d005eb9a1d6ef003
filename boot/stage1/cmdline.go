package stage1

import "strings"

// Cmdline is what stage 1 reads from the kernel command line.
type Cmdline struct {
	Root       string // root=
	RootFSType string // rootfstype=
	RootFlags  string // rootflags=
	Init       string // init=
	RW         bool   // rw (ro when false and "ro" given; rw is kiln's default)
	Params     map[string]string
}

// ParseCmdline splits a kernel command line the way the kernel does
// (double quotes group words, the first '=' separates a key from its
// value) and picks out the parameters stage 1 uses. The last occurrence
// of a key wins, as in the kernel. Arguments after "--" belong to init and
// are ignored.
func ParseCmdline(s string) Cmdline {
	c := Cmdline{RW: true, Params: map[string]string{}}
	for _, word := range splitCmdline(s) {
		if word == "--" {
			break
		}
		key, val, _ := strings.Cut(word, "=")
		c.Params[key] = val
		switch key {
		case "root":
			c.Root = val
		case "rootfstype":
			c.RootFSType = val
		case "rootflags":
			c.RootFlags = val
		case "init":
			c.Init = val
		case "rw":
			c.RW = true
		case "ro":
			c.RW = false
		}
	}
	return c
}

func splitCmdline(s string) []string {
	var words []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if have {
				words = append(words, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		words = append(words, cur.String())
	}
	return words
}
